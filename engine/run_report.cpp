#include <aquaduct/engine.hpp>

#include "engine/json_writer.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace aquaduct {

using engine_detail::json_quote;

int run_report::exit_code() const noexcept {
  if (interrupted) return 130;
  bool failed = false;
  for (const auto& j : jobs) {
    if (j.auth_refused) return 3;
    failed = failed || j.status != "completed";
  }
  return failed ? 1 : 0;
}

namespace {
std::string optional_text(const std::optional<std::string>& s) { return s ? json_quote(*s) : "null"; }
}  // namespace

std::string run_report::to_json() const {
  std::string out = fmt::format(R"({{"status":{},"started_at":{},"wall_s":{:.3f},"peak_rss_bytes":{},"interrupted":{},"jobs":[)",
                                json_quote(status), json_quote(started_at), wall_s, peak_rss_bytes, interrupted);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto& j = jobs[i];
    out += fmt::format(R"({}{{"name":{},"job_id":{},"status":{},"submit_s":{:.3f},"wait_s":{:.3f},"error":{},"queries":[)",
                       i ? "," : "", json_quote(j.name), json_quote(j.job_id), json_quote(j.status), j.submit_s,
                       j.wait_s, optional_text(j.error));
    for (std::size_t k = 0; k < j.queries.size(); ++k) {
      const auto& q = j.queries[k];
      out += fmt::format(
          R"({}{{"name":{},"status":{},"full":{},"rows":{},"files":{},"bytes_downloaded":{},"bytes_decoded":{},"download_s":{:.3f},"error":{}}})",
          k ? "," : "", json_quote(q.name), json_quote(q.status), q.full, q.rows, q.files, q.bytes_downloaded,
          q.bytes_decoded, q.download_s, optional_text(q.error));
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

std::string run_report::to_table() const {
  // Columns as wide as their longest name (a window's job name carries its window).
  std::size_t job_w = 20, query_w = 24;
  for (const auto& j : jobs) {
    job_w = std::max(job_w, j.name.size());
    for (const auto& q : j.queries) query_w = std::max(query_w, q.name.size());
  }
  std::string out = fmt::format("{:<{}} {:<{}} {:>10} {:>12} {:>5} {:>8}  {}\n", "job", job_w, "query", query_w, "rows",
                                "bytes", "files", "seconds", "status");
  for (const auto& j : jobs) {
    for (const auto& q : j.queries)
      out += fmt::format("{:<{}} {:<{}} {:>10} {:>12} {:>5} {:>8.2f}  {}\n", j.name, job_w, q.name, query_w, q.rows,
                         q.bytes_decoded, q.files, q.download_s, q.status);
  }
  for (const auto& j : jobs) {
    if (j.error) out += fmt::format("error: {}\n", *j.error);
    for (const auto& q : j.queries)
      if (q.error && (!j.error || q.error->find(*j.error) == std::string::npos) && j.status == "failed")
        out += fmt::format("error: {}\n", *q.error);
  }
  out += fmt::format("{}: {} job(s) in {:.2f} s\n", status, jobs.size(), wall_s);
  return out;
}

}  // namespace aquaduct

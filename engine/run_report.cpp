#include <aquaduct/engine.hpp>

#include "engine/json_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace aquaduct {

using engine_detail::json_quote;

std::string_view to_string(outcome o) noexcept {
  switch (o) {
    case outcome::pending: return "pending";
    case outcome::completed: return "completed";
    case outcome::failed: return "failed";
    case outcome::aborted: return "aborted";
    case outcome::cancelled: return "cancelled";
  }
  return "unknown";
}

std::string_view to_string(run_status s) noexcept {
  switch (s) {
    case run_status::ok: return "ok";
    case run_status::failed: return "failed";
    case run_status::interrupted: return "interrupted";
  }
  return "unknown";
}

std::string_view to_string(job_state s) noexcept {
  switch (s) {
    case job_state::queued: return "queued";
    case job_state::running: return "running";
    case job_state::downloading: return "downloading";
    case job_state::done: return "done";
    case job_state::failed: return "failed";
  }
  return "unknown";
}

int run_report::exit_code() const noexcept {
  if (interrupted) return 130;
  bool failed = false, refused = false;
  for (const auto& j : jobs) {
    if (j.auth_refused) return 3;
    failed = failed || j.status != outcome::completed;
    refused = refused || (j.refused && j.status != outcome::completed);
  }
  return refused ? 2 : failed ? 1 : 0;
}

namespace {
std::string optional_text(const std::optional<std::string>& s) { return s ? json_quote(*s) : "null"; }
}  // namespace

namespace {

// One line of the table: a plain query, or every window of a windowed query
// added up ("invoices (9 windows)").
struct table_line {
  std::string job, query;  // job: the config's name
  outcome status = outcome::completed;
  // downloaded: bytes as sent by the service (compressed when the job's format
  // is gzip or zip); decoded: CSV bytes after decompression.
  std::uint64_t rows = 0, downloaded = 0, decoded = 0, files = 0, windows = 0;
  double seconds = 0;
  std::string split = {};  // how the query was split to finish, and why
};

std::vector<table_line> table_lines(const std::vector<job_report>& jobs) {
  std::vector<table_line> lines;
  std::map<std::pair<std::string, std::string>, std::size_t> windowed;  // (job, query) -> its line
  for (const auto& j : jobs) {
    const std::string base = j.window.empty() ? j.name : j.name.substr(0, j.name.size() - j.window.size() - 3);
    for (const auto& q : j.queries) {
      table_line* l = nullptr;
      if (!j.window.empty()) {
        auto [it, fresh] = windowed.try_emplace({base, q.name}, lines.size());
        if (fresh) lines.push_back({base, q.name});
        l = &lines[it->second];
        l->windows++;
      } else {
        l = &lines.emplace_back(table_line{j.name, q.name});
      }
      l->rows += q.rows;
      l->downloaded += q.bytes_downloaded;
      l->decoded += q.bytes_decoded;
      l->files += q.files;
      l->seconds = std::max(l->seconds, q.download_s);
      if (q.status != outcome::completed) l->status = q.status;
      if (!q.split.empty()) l->split = q.split;
    }
  }
  return lines;
}

}  // namespace

std::string run_report::to_json() const {
  std::string out = fmt::format(R"({{"status":{},"started_at":{},"wall_s":{:.3f},"peak_rss_bytes":{},"interrupted":{},"jobs":[)",
                                json_quote(to_string(status)), json_quote(started_at), wall_s, peak_rss_bytes, interrupted);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto& j = jobs[i];
    out += fmt::format(R"({}{{"name":{},"window":{},"job_id":{},"status":{},"submit_s":{:.3f},"wait_s":{:.3f},"error":{},"queries":[)",
                       i ? "," : "", json_quote(j.name), j.window.empty() ? "null" : json_quote(j.window), json_quote(j.job_id), json_quote(to_string(j.status)), j.submit_s,
                       j.wait_s, optional_text(j.error));
    for (std::size_t k = 0; k < j.queries.size(); ++k) {
      const auto& q = j.queries[k];
      out += fmt::format(
          R"({}{{"name":{},"status":{},"full":{},"rows":{},"files":{},"bytes_downloaded":{},"bytes_decoded":{},"download_s":{:.3f},"error":{},"split":{}}})",
          k ? "," : "", json_quote(q.name), json_quote(to_string(q.status)), q.full, q.rows, q.files, q.bytes_downloaded,
          q.bytes_decoded, q.download_s, optional_text(q.error), q.split.empty() ? "null" : json_quote(q.split));
    }
    out += "]}";
  }
  // Per configured job and query: a windowed query's windows added up, as in the table.
  out += "],\"summary\":[";
  const std::vector<table_line> lines = table_lines(jobs);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const table_line& l = lines[i];
    out += fmt::format(R"({}{{"job":{},"query":{},"windows":{},"status":{},"rows":{},"files":{},"bytes_downloaded":{},"bytes_decoded":{},"download_s":{:.3f},"split":{}}})",
        i ? "," : "", json_quote(l.job), json_quote(l.query), l.windows, json_quote(to_string(l.status)), l.rows,
        l.files, l.downloaded, l.decoded, l.seconds, l.split.empty() ? "null" : json_quote(l.split));
  }
  out += "]}\n";
  return out;
}

std::string run_report::to_table() const {
  std::vector<table_line> lines = table_lines(jobs);
  for (auto& l : lines)
    if (l.windows) l.job += fmt::format(" ({} window{})", l.windows, l.windows == 1 ? "" : "s");
  // Columns as wide as their longest name.
  std::size_t job_w = 20, query_w = 24;
  for (const auto& l : lines) {
    job_w = std::max(job_w, l.job.size());
    query_w = std::max(query_w, l.query.size());
  }
  // The byte columns are named as in the JSON report and the commit log
  // records: "downloaded" as sent (compressed), "decoded" the CSV bytes.
  std::string out = fmt::format("{:<{}} {:<{}} {:>10} {:>12} {:>12} {:>5} {:>8}  {}\n", "job", job_w, "query", query_w,
                                "rows", "downloaded", "decoded", "files", "seconds", "status");
  for (const auto& l : lines)
    out += fmt::format("{:<{}} {:<{}} {:>10} {:>12} {:>12} {:>5} {:>8.2f}  {}\n", l.job, job_w, l.query, query_w, l.rows,
                       l.downloaded, l.decoded, l.files, l.seconds, to_string(l.status));
  for (const auto& l : lines)
    if (!l.split.empty()) out += fmt::format("split: {} {}: {}\n", l.job, l.query, l.split);
  for (const auto& j : jobs) {
    // A query's own error says more than its job's summary of it.
    std::vector<std::string> query_errors;
    for (const auto& q : j.queries)
      if (q.error && (!j.error || q.error->find(*j.error) == std::string::npos) && j.status == outcome::failed)
        query_errors.push_back(*q.error);
    if (j.error && (query_errors.empty() || *j.error != "one or more queries failed"))
      out += fmt::format("error: {}\n", *j.error);
    for (const auto& e : query_errors) out += fmt::format("error: {}\n", e);
  }
  out += fmt::format("{}: {} AQuA job(s) in {:.2f} s\n", to_string(status), jobs.size(), wall_s);
  return out;
}

}  // namespace aquaduct

#include "engine/job_runner.hpp"

#include "engine/json_writer.hpp"
#include "engine/result_pipeline.hpp"

#include <aquaduct/error.hpp>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>
#include <random>

namespace aquaduct::engine_detail {

using clock = std::chrono::steady_clock;

namespace {

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

std::string random_key() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string key;
  for (int i = 0; i < 2; ++i) {
    const std::uint64_t v = rng();
    for (int b = 0; b < 16; ++b) key += hex[(v >> (b * 4)) & 15];
  }
  return key;
}

double unit_random() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

bool terminal(const std::string& status) {
  return status == "completed" || status == "aborted" || status == "cancelled" || status == "error" ||
         status == "failed";
}

const decode::aqua_batch* find_batch(const decode::aqua_job& job, const std::string& name) {
  const auto b = std::find_if(job.batches.begin(), job.batches.end(),
                              [&](const decode::aqua_batch& x) { return x.name == name; });
  return b == job.batches.end() ? nullptr : &*b;
}

// The batches' messages, for a job that did not complete.
std::string batch_messages(const decode::aqua_job& job) {
  std::string out;
  for (const auto& b : job.batches)
    if (!b.message.empty()) out += (out.empty() ? "" : "; ") + b.name + ": " + b.message;
  return out.empty() ? job.message : out;
}

asio::awaitable<void> run_batch(const run_context& ctx, aqua_client& client, const job_config& job,
                                const decode::aqua_job& remote, const decode::aqua_batch& batch, query_report& q) {
  q.full = batch.full;
  if (batch.status != "completed") {
    q.status = batch.status.empty() ? "failed" : batch.status;
    q.error = "batch " + batch.status + (batch.message.empty() ? "" : ": " + batch.message);
    co_return;
  }
  const auto started = clock::now();
  stream_schema schema;
  schema.job = job.name;
  schema.job_id = remote.id;
  schema.query = batch.name;
  schema.load = batch.full ? load_kind::full : load_kind::incremental;
  if (!job.null_replacement.empty()) schema.null_value = job.null_replacement;
  for (const auto& qc : job.queries)
    if (qc.name == batch.name && qc.deleted) schema.deleted = deleted_column{qc.deleted->column, qc.deleted->format};
  result_pipeline pipe(job.format, std::move(schema), ctx.sinks);
  try {
    for (const auto& file_id : batch.files) {
      pipe.begin_file(file_id);
      try {
        co_await client.download(file_id, [&](std::string_view bytes) { pipe.put(bytes); });
      } catch (const located_error&) {
        throw;
      } catch (const std::system_error& e) {
        throw located_error(e.code(), pipe.location() + ": " + e.what());
      }
      pipe.end_file();
    }
    pipe.expect_rows(batch.record_count);
    pipe.commit(file_token{remote.id, batch.name, batch.files, pipe.rows()});
    q.status = "completed";
  } catch (const std::system_error& e) {
    pipe.abort();
    q.status = "failed";
    q.error = e.what();
  }
  q.bytes_downloaded = pipe.bytes_in();  // counted as fed, so a failed download still reports what arrived
  q.rows = pipe.rows();
  q.files = pipe.files();
  q.bytes_decoded = pipe.bytes_decoded();
  q.download_s = seconds_since(started);
}

}  // namespace

std::chrono::milliseconds poll_delay(const poll_config& poll, unsigned attempt, double unit) {
  const double exp = static_cast<double>(poll.initial_ms) * std::pow(poll.multiplier, static_cast<double>(attempt));
  const double capped = std::min(exp, static_cast<double>(poll.max_ms));
  // Full jitter keeps many jobs from polling in lockstep; never below 1 ms.
  const double ms = poll.full_jitter ? std::max(1.0, capped * unit) : capped;
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::string submit_body(const job_config& job) {
  std::string b = "{\"format\":" + json_quote(job.format) + ",\"version\":" + json_quote(job.version) +
                  ",\"name\":" + json_quote(job.name) + ",\"encrypted\":\"none\"" +
                  ",\"useQueryLabels\":" + (job.use_query_labels ? "true" : "false") +
                  ",\"dateTimeUtc\":" + (job.date_time_utc ? "true" : "false");
  if (!job.null_replacement.empty()) b += ",\"nullReplacement\":" + json_quote(job.null_replacement);
  b += ",\"queries\":[";
  for (std::size_t i = 0; i < job.queries.size(); ++i) {
    const auto& q = job.queries[i];
    if (i) b += ',';
    b += "{\"name\":" + json_quote(q.name) + ",\"query\":" + json_quote(q.query) + ",\"type\":" + json_quote(q.type);
    if (!q.api_version.empty()) b += ",\"apiVersion\":" + json_quote(q.api_version);
    if (q.deleted)
      b += ",\"deleted\":{\"column\":" + json_quote(q.deleted->column) + ",\"format\":" +
           json_quote(q.deleted->format) + (q.deleted->force_export ? ",\"forceExport\":true" : "") + "}";
    b += '}';
  }
  b += "]}";
  return b;
}

asio::awaitable<job_report> run_job(std::shared_ptr<const run_context> ctx, job_config job) {
  job_report report;
  report.name = job.name;
  for (const auto& q : job.queries) {
    query_report qr;
    qr.name = q.name;
    report.queries.push_back(std::move(qr));
  }
  auto ex = co_await asio::this_coro::executor;
  aqua_client client(ctx->aqua);
  const auto started = clock::now();
  try {
    decode::aqua_job remote = co_await client.submit(submit_body(job), random_key());
    report.job_id = remote.id;
    report.submit_s = seconds_since(started);

    const auto waiting = clock::now();
    const auto give_up = waiting + std::chrono::seconds(ctx->source.poll.timeout_s);
    asio::steady_timer timer(ex);
    for (unsigned attempt = 0; !terminal(remote.status); ++attempt) {
      if (clock::now() >= give_up) {
        // Free the tenant's job slot before reporting the timeout.
        std::string cancel_note;
        try {
          co_await client.cancel_job(remote.id);
        } catch (const std::system_error& e) {
          cancel_note = " (cancelling it failed too: " + std::string(e.what()) + ")";
        }
        throw std::system_error(aqua_errc::job_timeout, "job " + job.name + " (" + remote.id + ") still " +
                                                            remote.status + " after " +
                                                            std::to_string(ctx->source.poll.timeout_s) + " s" +
                                                            cancel_note);
      }
      timer.expires_after(std::min<clock::duration>(poll_delay(ctx->source.poll, attempt, unit_random()),
                                                    give_up - clock::now() + std::chrono::milliseconds(1)));
      co_await timer.async_wait(asio::use_awaitable);
      remote = co_await client.get_job(remote.id);
    }
    report.wait_s = seconds_since(waiting);

    if (remote.status == "completed") {
      report.status = "completed";
      for (auto& q : report.queries) {
        const decode::aqua_batch* b = find_batch(remote, q.name);
        if (!b) {
          q.status = "failed";
          q.error = "the service's job has no batch named " + q.name;
        } else {
          co_await run_batch(*ctx, client, job, remote, *b, q);
        }
        if (q.status != "completed") report.status = "failed";
      }
      if (report.status != "completed") report.error = "one or more queries failed";
    } else {
      report.status = remote.status;
      const std::string why = batch_messages(remote);
      report.error = "job " + job.name + " (" + remote.id + ") ended " + remote.status + (why.empty() ? "" : ": " + why);
      for (auto& q : report.queries) {
        const decode::aqua_batch* b = find_batch(remote, q.name);
        q.status = b && !b->status.empty() ? b->status : remote.status;
        if (b && !b->message.empty()) q.error = b->message;
      }
    }
  } catch (const std::system_error& e) {
    report.status = "failed";
    report.error = e.what();
    report.auth_refused = e.code() == make_error_condition(condition::auth);
    for (auto& q : report.queries)
      if (q.status == "pending") q.status = "failed";
  }
  co_return report;
}

}  // namespace aquaduct::engine_detail

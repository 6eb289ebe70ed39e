// The AQuA protocol of one job (aqua_job.hpp).
#include "engine/aqua_job.hpp"

#include "engine/json_writer.hpp"
#include "engine/result_pipeline.hpp"

#include <aquaduct/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>
#include <random>

namespace aquaduct::engine_detail {

using clock = std::chrono::steady_clock;

namespace {

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

// A job abandoned before it ended: cancelled on the server, in the background.
asio::awaitable<void> cancel_abandoned(run_context& ctx, std::string job_id, std::string name) {
  aqua_client client(ctx.aqua, name);
  std::string outcome;
  try {
    const decode::aqua_job j = co_await client.cancel_job(job_id);
    outcome = "cancelled it on the server (" + j.status + ")";
  } catch (const std::system_error& e) {
    outcome = "cancelling it on the server failed: " + std::string(e.what());
  }
  ctx.log.warning({.message = "the job was left before it ended; " + outcome, .job = name, .job_id = job_id});
}

}  // namespace

std::chrono::milliseconds poll_delay(const poll_config& poll, unsigned attempt, double unit) {
  const double exp = static_cast<double>(poll.initial_ms) * std::pow(poll.multiplier, static_cast<double>(attempt));
  const double capped = std::min(exp, static_cast<double>(poll.max_ms));
  // Full jitter keeps many jobs from polling in lockstep; never below 1 ms.
  const double ms = poll.full_jitter ? std::max(1.0, capped * unit) : capped;
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::string submit_body(const job_config& job, const std::vector<query_config>& queries, const submit_extras& extras) {
  std::string b = "{\"format\":" + json_quote(job.format) + ",\"version\":" + json_quote(job.version) +
                  ",\"name\":" + json_quote(job.name) + ",\"encrypted\":" + json_quote(job.encrypted) +
                  ",\"useQueryLabels\":" + (job.use_query_labels ? "true" : "false") +
                  ",\"dateTimeUtc\":" + (job.date_time_utc ? "true" : "false");
  if (!job.null_replacement.empty()) b += ",\"nullReplacement\":" + json_quote(job.null_replacement);
  if (job.stateful()) b += ",\"partner\":" + json_quote(job.partner) + ",\"project\":" + json_quote(job.project);
  if (job.offset_s) b += ",\"offset\":" + std::to_string(job.offset_s);
  if (extras.incremental_time) b += ",\"incrementalTime\":" + json_quote(*extras.incremental_time);
  if (!job.source_data.empty()) b += ",\"sourceData\":" + json_quote(job.source_data);
  if (job.use_last_completed_job_queries) b += ",\"useLastCompletedJobQueries\":true";
  // A job's own notify_url replaces the callout listener's (polling still finds the end).
  const std::string& notify = job.notify_url.empty() ? extras.notify_url : job.notify_url;
  if (!notify.empty()) b += ",\"notifyUrl\":" + json_quote(notify);
  b += ",\"queries\":[";
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const auto& q = queries[i];
    if (i) b += ',';
    b += "{\"name\":" + json_quote(q.name) + ",\"query\":" + json_quote(q.query) + ",\"type\":" + json_quote(q.type);
    if (!q.api_version.empty()) b += ",\"apiVersion\":" + json_quote(q.api_version);
    if (!q.convert_to_currencies.empty()) b += ",\"convertToCurrencies\":" + json_quote(q.convert_to_currencies);
    if (q.deleted)
      b += ",\"deleted\":{\"column\":" + json_quote(q.deleted->column) + ",\"format\":" +
           json_quote(q.deleted->format) + (q.deleted->force_export ? ",\"forceExport\":true" : "") + "}";
    b += '}';
  }
  b += "]}";
  return b;
}

bool terminal(const std::string& status) {
  return status == "completed" || status == "aborted" || status == "cancelled" || status == "error" ||
         status == "failed";
}

std::string error_code_of(const decode::aqua_batch& batch) {
  if (!batch.error_code.empty()) return batch.error_code;
  // The code a message leads with: five digits, then the end, ':' or a space.
  const std::string& m = batch.message;
  std::size_t n = 0;
  while (n < m.size() && n < 6 && m[n] >= '0' && m[n] <= '9') ++n;
  if (n == 5 && (m.size() == 5 || m[5] == ':' || m[5] == ' ')) return m.substr(0, 5);
  return {};
}

bool ran_out_of_time(const decode::aqua_job& job) {
  const auto timed_out = [](const std::string& code) { return code == "90027" || code == "90029"; };
  if (timed_out(job.error_code)) return true;
  return std::any_of(job.batches.begin(), job.batches.end(),
                     [&](const decode::aqua_batch& b) { return timed_out(error_code_of(b)); });
}

remote_job::remote_job(run_context& ctx, std::string job_id, std::string display_name)
    : ctx_(&ctx), id_(std::move(job_id)), name_(std::move(display_name)) {}

remote_job::~remote_job() {
  if (!armed_ || !ctx_->cleanup_executor) return;
  ctx_->cleanup.spawn(ctx_->cleanup_executor, cancel_abandoned(*ctx_, id_, name_));
}

asio::awaitable<decode::aqua_job> submit_job(run_context& ctx, aqua_client& client, std::string display_name,
                                             std::string body, clock::time_point give_up, asio::steady_timer& timer) {
  for (unsigned attempt = 0;; ++attempt) {
    try {
      co_return co_await client.submit(body, random_key());
    } catch (const std::system_error& e) {
      if (e.code() != aqua_errc::job_limit || clock::now() >= give_up) throw;
    }
    timer.expires_after(poll_delay(ctx.source.poll, attempt, unit_random()));
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ctx.interrupted) throw located_error(aqua_errc::interrupted, "job " + display_name + ": interrupted");
  }
}

asio::awaitable<decode::aqua_job> wait_for_job(run_context& ctx, aqua_client& client, std::string display_name,
                                               decode::aqua_job remote, remote_job& job, clock::time_point give_up,
                                               asio::steady_timer& timer) {
  ctx.pollers[remote.id] = &timer;
  struct unregister {
    run_context& c;
    std::string id;
    ~unregister() { c.pollers.erase(id); }
  } unreg{ctx, remote.id};
  std::optional<std::string> timeout;
  for (unsigned attempt = 0; !terminal(remote.status) && !ctx.interrupted; ++attempt) {
    if (clock::now() >= give_up) {
      timeout = "job " + display_name + " (" + remote.id + ") still " + remote.status + " after " +
                std::to_string(ctx.source.poll.timeout_s) + " s";
      break;
    }
    timer.expires_after(std::min<clock::duration>(poll_delay(ctx.source.poll, attempt, unit_random()),
                                                  give_up - clock::now() + std::chrono::milliseconds(1)));
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ctx.interrupted) break;
    remote = co_await client.get_job(remote.id);  // a failure throws: the guard cancels the job
  }
  if (terminal(remote.status)) {
    job.dismiss();
    co_return remote;
  }
  // Interrupted or out of time: cancel now, and say how it went.
  std::string note;
  try {
    remote = co_await client.cancel_job(remote.id);
  } catch (const std::system_error& e) {
    note = " (cancelling it on the server failed: " + std::string(e.what()) + ")";
  }
  job.dismiss();
  if (timeout) throw std::system_error(aqua_errc::job_timeout, *timeout + note);
  throw located_error(aqua_errc::interrupted,
                      "job " + display_name + " (" + remote.id + ") interrupted: cancelled on the server" + note);
}

}  // namespace aquaduct::engine_detail

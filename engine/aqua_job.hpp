#pragma once
// The AQuA protocol of one job, as the engine speaks it (aqua-contract.md §1):
// the submit body, submit (again later while the tenant is at its job limit),
// poll with backoff until terminal (a callout wakes the poller early), and
// cancel. A job that exists on the service is held by a remote_job guard:
// whatever ends the unit before the job is terminal (a poll that keeps
// failing, an exception, an interrupt) cancels it on the server, so its tenant
// slot and its stateful session are freed.
#include "engine/run_context.hpp"

#include "decode/aqua_models.hpp"

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace aquaduct::engine_detail {

// Fields of the submit body beyond the job's own.
struct submit_extras {
  std::optional<std::string> incremental_time;  // "YYYY-MM-DD HH:MM:SS" in the data centre's zone
  std::string notify_url;
};
// The JSON body of POST /v1/batch-query/ for `job` with `queries`.
std::string submit_body(const job_config& job, const std::vector<query_config>& queries, const submit_extras& extras);
inline std::string submit_body(const job_config& job) { return submit_body(job, job.queries, {}); }

// The delay before poll number `attempt` (0-based): exponential from
// initial_ms by multiplier, capped at max_ms, with full jitter when asked.
std::chrono::milliseconds poll_delay(const poll_config& poll, unsigned attempt, double unit_random);

// Job statuses after which the service does nothing more with the job.
bool terminal(const std::string& status);

// The AQuA error code of a job or batch that did not complete: its errorCode
// field, else the code a message leads with ("90027: ..."); empty when none.
std::string error_code_of(const decode::aqua_batch& batch);
// Whether the service gave up for processing time (90027, 90029): a smaller
// window may make it.
bool ran_out_of_time(const decode::aqua_job& job);

// A job on the service, cancelled there when the guard goes before the job
// ended (terminal) or was dismissed. The cancel runs in the run's cleanup
// group, which the run awaits before it ends.
class remote_job {
 public:
  remote_job(run_context& ctx, std::string job_id, std::string display_name);
  ~remote_job();
  remote_job(const remote_job&) = delete;
  remote_job& operator=(const remote_job&) = delete;
  // The job is terminal, or cancelled here: nothing left to cancel.
  void dismiss() noexcept { armed_ = false; }

 private:
  run_context* ctx_;
  std::string id_, name_;
  bool armed_ = true;
};

// POST the job. Over the tenant's job limit (90028: other clients' jobs count
// too) no job was created: wait and submit again with a new key, until
// `give_up`.
asio::awaitable<decode::aqua_job> submit_job(run_context& ctx, aqua_client& client, std::string display_name,
                                             std::string body, std::chrono::steady_clock::time_point give_up,
                                             asio::steady_timer& timer);

// Polls until the job is terminal; a callout (ctx.wake) or an interrupt cuts a
// wait short. Interrupted or out of time, the job is cancelled on the server
// (its slot freed) and the wait throws (aqua_errc::interrupted or
// job_timeout); a poll that fails throws its error, and `job`'s guard cancels.
asio::awaitable<decode::aqua_job> wait_for_job(run_context& ctx, aqua_client& client, std::string display_name,
                                               decode::aqua_job remote, remote_job& job,
                                               std::chrono::steady_clock::time_point give_up,
                                               asio::steady_timer& timer);

}  // namespace aquaduct::engine_detail

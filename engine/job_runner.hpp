#pragma once
// The life of one AQuA job, as a coroutine that reads like the protocol:
// submit -> poll with backoff until a terminal state -> for each completed
// batch, stream every file through the result pipeline into the sinks ->
// commit. Failures end up in the job_report, never as an exception.
#include "engine/aqua_client.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

#include <asio/awaitable.hpp>

#include <memory>
#include <vector>

namespace aquaduct::engine_detail {

// What every job of a run shares. Owned by the engine for the whole run.
struct run_context {
  source_config source;
  aqua_session aqua;  // the run's HTTP client (one pool), credentials, headers, retry policy
  std::vector<sink*> sinks;
};

asio::awaitable<job_report> run_job(std::shared_ptr<const run_context> ctx, job_config job);

// The JSON body of POST /v1/batch-query/ for `job`.
std::string submit_body(const job_config& job);

// The delay before poll number `attempt` (0-based): exponential from
// initial_ms by multiplier, capped at max_ms, with full jitter when asked.
std::chrono::milliseconds poll_delay(const poll_config& poll, unsigned attempt, double unit_random);

}  // namespace aquaduct::engine_detail

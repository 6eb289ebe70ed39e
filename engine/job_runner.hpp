#pragma once
// The life of one AQuA job, as a coroutine that reads like the protocol:
//   wait for a job slot (and the session's turn) -> submit (one Idempotency-Key)
//   -> poll with backoff, woken early by a callout -> give the slot back
//   -> per completed batch, stream every file (under a download slot) through
//      the result pipeline, on the sink threads -> commit -> move the cursor.
// Failures end up in the job_report, never as an exception.
//
// What a run is made of (engine/job_plan.hpp builds it from the config):
//   work_unit    one AQuA job to submit: a config job's plain queries together,
//                or one window of a windowed (partitioned or incremental) query
//   window_group a windowed query's one logical result: its windows run in
//                parallel and feed one set of sink streams, committed once
#include "engine/aqua_client.hpp"
#include "engine/limiter.hpp"
#include "engine/run_log.hpp"
#include "engine/state_store.hpp"
#include "engine/windows.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace aquaduct::engine_detail {

class result_pipeline;

// Counters the progress display reads from any thread: the run's, and one
// set per configured job.
struct run_counters {
  std::atomic<std::uint32_t> jobs_total{0}, jobs_submitted{0}, jobs_active{0}, jobs_done{0}, jobs_failed{0};
  std::atomic<std::uint32_t> downloads_active{0};
  std::atomic<std::uint64_t> rows{0}, rows_committed{0}, bytes_downloaded{0}, bytes_decoded{0};
  progress_counters read() const;
};

// Moves one counter of the run and the same counter of one job together.
class job_meter {
 public:
  job_meter(run_counters& run, run_counters& job) : run_(&run), job_(&job) {}
  template <class T>
  void add(std::atomic<T> run_counters::*counter, T n) const {
    (run_->*counter) += n;
    (job_->*counter) += n;
  }
  template <class T>
  void sub(std::atomic<T> run_counters::*counter, T n) const {
    (run_->*counter) -= n;
    (job_->*counter) -= n;
  }

 private:
  run_counters* run_;
  run_counters* job_;
};

// What every job of a run shares. Owned by the engine for the whole run; used
// on the run's io_context only, apart from the atomics and the sink pool.
struct run_context {
  std::string config_path;
  source_config source;
  data_center_zone zone = data_center_zone::pacific;
  aqua_session aqua;  // the run's HTTP client (one pool), credentials, headers, retry policy
  std::vector<sink*> sinks;
  asio::thread_pool* sink_pool = nullptr;  // sink writes and commits run here, never on the I/O thread
  state_store* state = nullptr;            // null: no --state-dir
  std::string notify_url;                  // the callout listener's URL, empty without one
  run_log log;

  std::unique_ptr<async_limiter> stateless_jobs, stateful_jobs, downloads;
  std::unique_ptr<async_limiter> json_batches;  // batch_results jobs at once (the service queues 10 batches per client)
  std::vector<std::function<void()>> on_interrupt;  // extra stops (cancellation signals of batch_results jobs)
  std::map<std::string, std::unique_ptr<async_limiter>> sessions;  // "partner/project" -> its turn
  std::map<std::string, asio::steady_timer*> pollers;              // job id -> its poll timer (a callout wakes it)
  bool interrupted = false;
  mutable run_counters counters;  // counters are observations: a const context still moves them
  // One per configured job, made before the run starts (the map never
  // changes after that, so any thread may look a job up).
  std::map<std::string, std::unique_ptr<run_counters>, std::less<>> job_counters;
  mutable run_counters other_jobs;  // units of a job not in the map (tests that build a context by hand)
  job_meter meter(std::string_view job) const;

  async_limiter& session(const job_config& job);
  // Wakes the poller of `job_id` now (a callout arrived).
  void wake(std::string_view job_id);
  // Stops the run: waiters wake, pollers cancel their jobs on the server,
  // downloads stop at their next piece and abort their sink streams.
  void interrupt();
};

struct window_group;

// One AQuA job to submit.
struct work_unit {
  const job_config* job = nullptr;
  std::vector<query_config> queries;  // as sent: a window's query text is already windowed
  std::string display_name;           // the job's name, plus the window for a window
  std::optional<std::string> incremental_time;  // stateful: from our own committed cursors
  // Stateful, and none of the queries has a cursor: when the service's session
  // is new too (no completed job), incrementalTime is left out for a full load.
  bool session_may_be_new = false;
  window_group* group = nullptr;      // set for a window of a windowed query
  std::optional<time_window> window;
  unsigned reruns = 0;                // times this unit was submitted again (purged files)
};

// A windowed query's one logical result.
struct window_group {
  const job_config* job = nullptr;
  query_config query;                 // as configured (not windowed)
  std::string by;                     // the window column
  std::chrono::seconds min_step{3600};
  load_kind load = load_kind::full;
  std::optional<cursor> next_cursor;  // saved after the commit (incremental mode)
  std::unique_ptr<result_pipeline> pipe;
  std::unique_ptr<async_limiter> feed = std::make_unique<async_limiter>(1);  // one window feeds at a time
  std::size_t pending = 0;            // windows not yet fed
  bool failed = false;
  std::string error;
  std::vector<std::string> job_ids, file_ids;
  std::vector<query_report*> window_reports;
  query_report summary;               // the whole query, for the report
  ~window_group();
};

// The unit of one window of `g`: the query restricted to `w` (an error from
// windowed_query goes to `error`). The caller counts it in g.pending.
work_unit window_unit(const job_config& job, window_group& g, time_window w, std::string& error);

// Runs one unit to its end; a window may add units (its halves, a rerun)
// through `spawn`.
asio::awaitable<job_report> run_unit(run_context& ctx, work_unit unit,
                                     std::function<void(work_unit)> spawn);

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

// Runs `work` on the sink pool and resumes on the caller's executor; an
// exception from `work` is rethrown here.
asio::awaitable<void> on_sink_thread(run_context& ctx, std::function<void()> work);

}  // namespace aquaduct::engine_detail

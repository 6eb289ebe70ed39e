#pragma once
// What every AQuA job of a run shares: the HTTP session, the sinks and their
// thread pool, the cursors, the tenant's limits (async_limiters), the spool
// budget, the progress counters and the log. Owned by the engine for the
// whole run; used on the run's io_context only, apart from the atomics, the
// spool budget and the sink pool.
#include "decode/pgp_decoder.hpp"
#include "engine/aqua_client.hpp"
#include "engine/column_types.hpp"
#include "engine/limiter.hpp"
#include "engine/run_log.hpp"
#include "engine/state_store.hpp"
#include "engine/task_group.hpp"
#include "engine/windows.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace aquaduct::engine_detail {

struct fleet_unit;

// Counters the progress display reads from any thread: the run's, and one
// set per configured job.
struct run_counters {
  std::atomic<std::uint32_t> jobs_total{0}, jobs_submitted{0}, jobs_active{0}, jobs_done{0}, jobs_failed{0},
      jobs_split{0}, id_pages{0};
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

// The disk that result files parked in spool files may take at once
// ([source] max_spool_bytes), shared by every download of the run. A file
// spools only while there is room: a download that finds none waits for its
// turn and streams from the service instead, and a window waits on the service
// (its files stay there) until its group delivers it. Thread-safe: spool
// files grow on the sink threads.
class spool_budget {
 public:
  spool_budget(std::uint64_t max_bytes, std::uint32_t max_files) : max_bytes_(max_bytes), max_files_(max_files) {}
  // Whether another file may spool now (a file may take the bytes past the
  // limit: its size is known only once it is down).
  bool has_room() const noexcept { return files_ < max_files_ && bytes_ < max_bytes_; }
  void take_file() noexcept { ++files_; }
  void give_back_file() noexcept { --files_; }
  void add(std::uint64_t n) noexcept { bytes_ += n; }
  void release(std::uint64_t n) noexcept { bytes_ -= n; }
  std::uint64_t bytes() const noexcept { return bytes_; }
  std::uint32_t files() const noexcept { return files_; }

 private:
  std::uint64_t max_bytes_;
  std::uint32_t max_files_;
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint32_t> files_{0};
};

struct run_context {
  std::string config_path;
  source_config source;
  wall_zone zone{data_center_zone::pacific};    // the data centre's: incrementalTime
  wall_zone tenant{data_center_zone::pacific};  // the tenant's: startTime
  aqua_session aqua;  // the run's HTTP client (one pool), credentials, headers, retry policy
  std::vector<sink*> sinks;
  asio::thread_pool* sink_pool = nullptr;  // sink writes and commits run here, never on the I/O thread
  state_store* state = nullptr;            // null: no --state-dir
  // A fleet worker's unit (engine/fleet.hpp): its fencing token goes with every
  // commit, and the fleet's job slots stand beside the limiters below. Null
  // outside `aquaduct worker`.
  fleet_unit* fleet = nullptr;
  std::string notify_url;                  // the callout listener's URL, empty without one
  std::string source_id;                   // source_identity(): what every cursor is read from
  std::vector<std::string> destinations;   // the sinks' destination()s, sorted: what cursors are committed to
  // [source.pgp]'s key, read once when a job has encrypted = "pgp"; null otherwise.
  std::shared_ptr<const decode::pgp_secret_key> pgp_key;
  run_log log;

  std::unique_ptr<async_limiter> stateless_jobs, stateful_jobs, downloads;
  std::unique_ptr<async_limiter> json_batches;  // batch_results jobs at once (the service queues 10 batches per client)
  std::unique_ptr<spool_budget> spools = std::make_unique<spool_budget>(8ull << 30, 512);
  // Jobs left on the service by a unit that could not finish them (a poll
  // that kept failing, an exception) are cancelled here; the run ends only
  // after these calls did (engine.cpp awaits it).
  task_group cleanup;
  asio::any_io_executor cleanup_executor;  // where those cancels run; empty once the run is ending
  std::vector<std::function<void()>> on_interrupt;  // extra stops (cancellation signals of batch_results jobs)
  std::map<std::string, std::unique_ptr<async_limiter>> sessions;  // "partner/project" -> its turn
  std::map<std::string, asio::steady_timer*> pollers;              // job id -> its poll timer (a callout wakes it)
  // The predicted columns of each (job, query), from describe at plan time
  // (engine/column_types.hpp); a query not in it gets text columns.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const query_columns>> columns;
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

// Runs `work` on the sink pool and resumes on the caller's executor; an
// exception from `work` is rethrown here (a sink's own exception, not a
// std::system_error, as sink_errc::failed with its message).
asio::awaitable<void> on_sink_thread(run_context& ctx, std::function<void()> work);

// [source.pgp]'s private key, read and checked, when a job of `cfg` has
// encrypted = "pgp"; else null. Throws config_error naming the file when it
// cannot be read or holds no usable secret key (the passphrase is checked by
// the first file it decrypts).
std::shared_ptr<const decode::pgp_secret_key> load_pgp_key(const pipeline_config& cfg);

}  // namespace aquaduct::engine_detail

#pragma once
// `aquaduct worker` (docs/fleet.md): one worker of a fleet's run. It plans the
// run unless another worker did, then claims units (engine/fleet.hpp) and runs
// each as an engine run of its one [[jobs]] entry, several at once on one
// io_context, until every unit of the run has ended:
//
//   plan once -> claim -> engine run (fenced state, fleet job slots) -> finish
//                  ^                                                     |
//                  +-----------------------------------------------------+
//
// A thread renews the leases every lease/3. A unit whose lease it finds lost
// (the worker was paused, or cut off from the database, past the lease) has
// its engine run cancelled: another worker holds it, and the fencing token
// refuses whatever this one would still commit. Interrupted (SIGINT/SIGTERM),
// the worker cancels its engine runs and gives their units back at once.
#include "engine/fleet.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace aquaduct::engine_detail {

struct worker_options {
  fleet_settings fleet;
  // Units run at once by this worker; 0: the pipeline's max_active_jobs.
  unsigned units_at_once = 0;
  // Written for Kubernetes' probes: DIR/ready once the state database is
  // connected and the run planned; DIR/heartbeat touched at every renewal.
  std::string health_dir;
  std::function<void(const log_record&)> log;  // every record of the worker and its engine runs
};

struct worker_result {
  run_row run;               // the run as the state database has it at the end
  bool interrupted = false;  // cancel(): this worker's units were given back
  // 130 interrupted; else the run's: 0 when every unit completed, else the worst unit's.
  int exit_code() const { return interrupted ? 130 : run.exit_code(); }
};

class fleet_worker {
 public:
  fleet_worker(pipeline_config cfg, worker_options opts);
  ~fleet_worker();
  // Blocks until the run has ended (or cancel()). Throws std::system_error
  // when the state database cannot be reached or the run is another pipeline's.
  worker_result run();
  // Thread-safe (the CLI's signal thread).
  void cancel() noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The run as `aquaduct run-status` prints it: a line per unit (or, without
// `every_unit`, per unit that did not complete: a worker's last words), then a summary.
std::string run_table(const run_row& run, bool every_unit = true);
// The same as one JSON object.
std::string run_json(const run_row& run);

}  // namespace aquaduct::engine_detail

#pragma once
// `aquaduct worker PIPELINE --state URL --run ID` and `aquaduct run-status`:
// a fleet's workers sharing one run through PostgreSQL (engine/fleet_worker.hpp,
// docs/fleet.md). Glue: registers the CLI11 commands, prints, maps exit codes.
#include <CLI/CLI.hpp>

#include <string>

namespace aquaduct::cli {

class worker_command {
 public:
  // Adds `worker` and `run-status` to `app`.
  explicit worker_command(CLI::App& app);

  bool chosen() const;
  // worker: 0 the run ended with every unit completed; 1 a unit failed; 2
  // usage or config error (or another pipeline's run); 3 a unit's
  // credentials were refused; 130 interrupted (its units given back).
  // run-status: the run's exit code once it ended (as above), 75 while it
  // runs, 1 when there is no such run or no database.
  int run() const;

 private:
  int run_worker() const;
  int run_status() const;
  CLI::App* worker_ = nullptr;
  CLI::App* status_ = nullptr;
  std::string pipeline_, state_, run_id_, health_dir_, report_;
  std::string log_format_ = "text", log_level_ = "info";
  unsigned lease_s_ = 30;
  unsigned units_ = 0;
  bool json_ = false;
};

}  // namespace aquaduct::cli

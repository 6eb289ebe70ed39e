#pragma once
// `aquaduct jobs get|cancel|last`: one-off operations on a tenant's AQuA jobs
// (engine/job_ops.hpp does the work). Glue: registers the CLI11 commands and
// maps the outcome to the exit codes of interfaces.md §2.
#include <CLI/CLI.hpp>

#include <string>

namespace aquaduct::cli {

class jobs_command {
 public:
  // Adds `jobs` and its three commands to `app`.
  explicit jobs_command(CLI::App& app);

  // True when the command line chose `jobs ...`.
  bool chosen() const;
  // Runs the chosen operation: JSON on stdout; exit 0 ok, 1 refused by the
  // service, 2 usage or config error, 3 authentication refused.
  int run() const;

 private:
  CLI::App* jobs_ = nullptr;
  CLI::App* get_ = nullptr;
  CLI::App* cancel_ = nullptr;
  CLI::App* last_ = nullptr;
  std::string config_;
  std::string job_id_;
  std::string partner_, project_;
};

}  // namespace aquaduct::cli

#pragma once
// `aquaduct run PIPELINE --dry-run`: prints the AQuA requests the run would
// send (aquaduct::plan_requests), secrets redacted, and contacts nothing.
#include <CLI/CLI.hpp>

#include <string>

namespace aquaduct::cli {

class dry_run_option {
 public:
  // Adds --dry-run to the `run` command.
  explicit dry_run_option(CLI::App& run);

  bool chosen() const { return chosen_; }
  // Exit 0 with the requests on stdout; 2 for a config error; 1 when a cursor
  // file cannot be read.
  int run(const std::string& pipeline, const std::string& state_dir) const;

 private:
  bool chosen_ = false;
};

}  // namespace aquaduct::cli

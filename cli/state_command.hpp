#pragma once
// `aquaduct state show|reset [JOB [QUERY]]`: the cursors of a state directory
// (engine/state_store.hpp), shown, or removed so that their queries load in
// full on the next run. Glue: registers the CLI11 commands and maps outcomes
// to exit codes.
#include <CLI/CLI.hpp>

#include <string>

namespace aquaduct::cli {

class state_command {
 public:
  // Adds `state` and its two commands to `app`.
  explicit state_command(CLI::App& app);

  bool chosen() const;
  // show: a table (or JSON lines) on stdout, exit 0; reset: what it removed,
  // exit 0, or 1 when nothing matched; 2 usage or config error (or the state
  // directory is in use by a run).
  int run() const;

 private:
  CLI::App* state_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* reset_ = nullptr;
  std::string config_;
  std::string state_dir_;
  std::string job_, query_;
  bool json_ = false;
  bool all_ = false;
};

}  // namespace aquaduct::cli

#pragma once
// `aquaduct tap --config CONFIG.json [--discover] [--catalog FILE | --properties FILE] [--state FILE]`
// (docs/singer.md): the Singer tap for Zuora's command line. Glue: the
// work is tap/singer_tap.hpp's; this registers the command, runs the engine
// with SIGINT/SIGTERM cancelling it, and maps outcomes to exit codes.
#include <CLI/CLI.hpp>

#include <string>

namespace aquaduct::cli {

class tap_command {
 public:
  explicit tap_command(CLI::App& app);

  bool chosen() const;
  // 0 ok; 1 a stream failed (others may have committed); 2 usage, config,
  // catalog or state error (nothing contacted); 3 credentials refused;
  // 130 interrupted.
  int run() const;

 private:
  CLI::App* cmd_ = nullptr;
  std::string config_;
  bool discover_ = false;
  std::string catalog_;
  std::string properties_;
  std::string state_;
  std::string log_format_ = "text";
};

}  // namespace aquaduct::cli

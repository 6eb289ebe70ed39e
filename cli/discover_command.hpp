#pragma once
// `aquaduct discover [--config PIPELINE.toml] [--object NAME]... [--write FILE] [--json]`
// (interfaces.md §8): the tenant's objects, their exportable fields and types,
// deleted-row support and replication column (engine/discovery.hpp does the
// work), and with --write a ready pipeline. Glue: registers the command and
// maps outcomes to exit codes.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace aquaduct::cli {

class discover_command {
 public:
  explicit discover_command(CLI::App& app);

  bool chosen() const;
  // 0 ok; 1 describe or a probe failed (unreachable, refused); 2 usage or
  // config error, or an --object the tenant does not describe; 3
  // authentication refused.
  int run() const;

 private:
  CLI::App* cmd_ = nullptr;
  std::string config_;
  std::vector<std::string> objects_;
  std::string write_;
  bool json_ = false;
};

}  // namespace aquaduct::cli

#include "cli/dry_run_command.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

#include <filesystem>
#include <iostream>

namespace aquaduct::cli {

dry_run_option::dry_run_option(CLI::App& run) {
  run.add_flag("--dry-run", chosen_,
               "Print the AQuA requests the run would start with (method, URL, headers, JSON body; secrets\n"
               "redacted), every window and stateful incrementalTime included, then exit 0. Reads --state-dir\n"
               "without locking it; contacts nothing but a postgres:// state (whose schema it creates if new),\n"
               "starts no emulator, writes no sink.\n"
               "Example: aquaduct run pipeline.toml --dry-run | grep '^{' | jq .queries");
}

int dry_run_option::run(const std::string& pipeline, const std::string& state_dir) const {
  try {
    const pipeline_config cfg = load_pipeline(pipeline);
    engine_options opts;
    // As a run: --state-dir, else [state] url, else beside the pipeline (interfaces.md §5).
    opts.state_dir = !state_dir.empty()      ? state_dir
                     : !cfg.state_url.empty() ? cfg.state_url
                                              : (std::filesystem::path(pipeline).parent_path() / ".aquaduct" / "state").string();
    std::cout << to_text(plan_requests(cfg, opts));
    return std::cout.flush() ? 0 : 1;
  } catch (const config_error& e) {
    for (const auto& p : e.problems()) std::cerr << p << '\n';
    return 2;
  } catch (const std::system_error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace aquaduct::cli

// The soak's long-lived process (scripts/soak.sh, `make soak`): runs one
// pipeline again and again in this one process, as an embedder's service
// would, for MINUTES, and after every run prints a CSV line of what a leak
// would grow: resident memory, open file descriptors and threads.
//
//   soak_runner PIPELINE.toml STATE_DIR MINUTES [BETWEEN_COMMAND]
//
// stdout: `elapsed_s,run,exit,rss_kb,peak_rss_kb,fds,threads`, a line a run;
// BETWEEN_COMMAND (a shell command, e.g. a curl that mutates the emulator's
// tenant) runs after each run. Exit 0 when it ran, 2 for bad usage.
#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace {

// A field of /proc/self/status in kB ("VmRSS:", "VmHWM:"), or a count ("Threads:").
long status_field(const std::string& name) {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == name) {
      in >> value;
      return value;
    }
    in.ignore(4096, '\n');
  }
  return -1;
}

long open_fds() {
  long n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n - 1;  // the iterator's own
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::cerr << "usage: soak_runner PIPELINE.toml STATE_DIR MINUTES [BETWEEN_COMMAND]\n";
    return 2;
  }
  const std::string pipeline = argv[1], state_dir = argv[2], between = argc == 5 ? argv[4] : "";
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::minutes(std::atol(argv[3]));
  std::printf("elapsed_s,run,exit,rss_kb,peak_rss_kb,fds,threads\n");
  for (int run = 1; std::chrono::steady_clock::now() < deadline; ++run) {
    int exit_code = 0;
    try {
      aquaduct::engine_options opts;
      opts.state_dir = state_dir;
      opts.log = [](const aquaduct::log_record& r) {
        if (r.level == aquaduct::log_level::error) std::cerr << aquaduct::to_text(r) << '\n';
      };
      aquaduct::engine eng{aquaduct::load_pipeline(pipeline), opts};
      exit_code = eng.run().exit_code();
    } catch (const std::exception& e) {
      std::cerr << "run " << run << ": " << e.what() << '\n';
      exit_code = 2;
    }
    if (!between.empty() && std::system(between.c_str()) != 0) std::cerr << "run " << run << ": the between command failed\n";
    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
    std::printf("%lld,%d,%d,%ld,%ld,%ld,%ld\n", static_cast<long long>(elapsed.count()), run, exit_code,
                status_field("VmRSS:"), status_field("VmHWM:"), open_fds(), status_field("Threads:"));
    std::fflush(stdout);
  }
  return 0;
}

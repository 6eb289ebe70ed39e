// An embedder's program: runs a pipeline with the aquaduct library and counts
// the rows each query delivers through a callback sink (examples/embed/README.md).
//
//   embed PIPELINE.toml [--base-url URL] [--emulator] [--state-dir DIR]
//
// The sinks of the pipeline file run as they would under `aquaduct run`; the
// callback sink added here runs beside them. Exit code: the run report's
// (0 all committed, 1 a job failed, 3 authentication refused), 2 for bad usage
// or a bad pipeline.
#include <aquaduct/emulator.hpp>
#include <aquaduct/engine.hpp>

#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace {

constexpr int exit_usage = 2;

int usage() {
  std::cerr << "usage: embed PIPELINE.toml [--base-url URL] [--emulator] [--state-dir DIR]\n"
               "  --base-url URL   the AQuA endpoint, instead of the file's [source] base_url\n"
               "                   (e.g. the address `aquaduct emulate` prints)\n"
               "  --emulator       serve the run from an AQuA emulator inside this process\n"
               "  --state-dir DIR  where cursors live (default: .aquaduct/state beside the pipeline,\n"
               "                   as for `aquaduct run`)\n";
  return exit_usage;
}

// Rows per "job/query", counted when their stream commits: a stream the engine
// aborts (a file fetched again after a failure) is not counted twice.
class row_counter {
 public:
  aquaduct::callback_handlers handlers() {
    // The engine calls these one at a time (never two at once): no locking here.
    return {
        .on_rows = [this](const aquaduct::row_batch& rows) { pending_[key(rows.schema())] += rows.size(); },
        .on_commit =
            [this](const aquaduct::stream_schema& schema, const aquaduct::file_token&) {
              committed_[schema.job + "/" + schema.query] += pending_[key(schema)];
              pending_.erase(key(schema));
            },
        .on_abort = [this](const aquaduct::stream_schema& schema) { pending_.erase(key(schema)); },
    };
  }
  const std::map<std::string, std::uint64_t>& committed() const { return committed_; }

 private:
  // One stream per (service job, query); the windows of a partitioned query are separate jobs.
  static std::string key(const aquaduct::stream_schema& s) { return s.job_id + '\n' + s.query; }

  std::map<std::string, std::uint64_t> pending_;
  std::map<std::string, std::uint64_t> committed_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  std::string base_url;
  bool in_process_emulator = false;
  std::string state_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--base-url" && i + 1 < argc) {
      base_url = argv[++i];
    } else if (arg == "--state-dir" && i + 1 < argc) {
      state_dir = argv[++i];
    } else if (arg == "--emulator") {
      in_process_emulator = true;
    } else if (path.empty() && !arg.starts_with("-")) {
      path = arg;
    } else {
      return usage();
    }
  }
  if (path.empty() || (in_process_emulator && !base_url.empty())) return usage();

  aquaduct::pipeline_config cfg;
  try {
    cfg = aquaduct::load_pipeline(path);
  } catch (const aquaduct::config_error& e) {
    for (const auto& problem : e.problems()) std::cerr << problem << '\n';
    return exit_usage;
  }
  if (!base_url.empty()) cfg.source.base_url = base_url;

  // The library never starts an emulator by itself (only the aquaduct command
  // does, for a pipeline without base_url). An embedder's tests start one
  // like this: its default tenant, its default credentials.
  std::unique_ptr<aquaduct::emulator::server> emulator;
  if (in_process_emulator) {
    emulator = std::make_unique<aquaduct::emulator::server>(aquaduct::emulator::options{});
    emulator->start();
    cfg.source.base_url = emulator->base_url();
    if (cfg.source.auth.type == aquaduct::auth_type::none) {
      const aquaduct::emulator::credentials creds;
      cfg.source.auth.type = aquaduct::auth_type::oauth;
      cfg.source.auth.client_id = creds.client_id;
      cfg.source.auth.client_secret = creds.client_secret;
    }
    std::cerr << "serving the run from an in-process AQuA emulator at " << cfg.source.base_url << '\n';
  }
  if (cfg.source.base_url.empty() && cfg.source.environment.empty()) {
    std::cerr << path << ": no [source] base_url: pass --base-url URL or --emulator\n";
    return exit_usage;
  }

  // Stateful and incremental queries keep their cursors here; without a
  // state_dir the engine refuses them.
  aquaduct::engine_options opts;
  opts.state_dir = !state_dir.empty()
                       ? state_dir
                       : (std::filesystem::path(path).parent_path() / ".aquaduct" / "state").string();

  row_counter counter;
  aquaduct::run_report report;
  try {
    aquaduct::engine eng{std::move(cfg), std::move(opts)};
    eng.add_sink(aquaduct::make_callback_sink(counter.handlers()));
    report = eng.run();
  } catch (const aquaduct::config_error& e) {  // a sink of the file that cannot be built
    for (const auto& problem : e.problems()) std::cerr << problem << '\n';
    return exit_usage;
  } catch (const std::system_error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }

  std::uint64_t total = 0;
  for (const auto& [query, rows] : counter.committed()) {
    std::cout << query << ": " << rows << " rows\n";
    total += rows;
  }
  std::cout << std::fixed << std::setprecision(2) << "status " << aquaduct::to_string(report.status) << ": " << counter.committed().size() << " queries, " << total
            << " rows in " << report.wall_s << " s\n";
  for (const auto& job : report.jobs)
    if (job.error) std::cerr << "job " << job.name << ": " << *job.error << '\n';
  return report.exit_code();
}

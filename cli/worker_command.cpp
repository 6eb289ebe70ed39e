#include "cli/worker_command.hpp"

#include "cli/interrupt_watch.hpp"
#include "cli/run_console.hpp"
#include "engine/fleet_worker.hpp"
#include "engine/state_store.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/error.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>

namespace aquaduct::cli {

namespace {

constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_running = 75;  // EX_TEMPFAIL: the run has not ended yet

// --state, else the pipeline's [state] url; it must name a database.
std::string state_url(const std::string& given, const pipeline_config& cfg, std::string& problem) {
  std::string url = given.empty() ? cfg.state_url : given;
  if (url.empty())
    problem = "a fleet's state is a PostgreSQL database: give --state postgres://… or [state] url in " + cfg.path;
  else if (!engine_detail::is_state_url(url))
    problem = "--state must be a postgres:// or postgresql:// URL for a fleet (a state directory serves one machine: "
              "aquaduct run)";
  return url;
}

// --run, else $AQUADUCT_RUN_ID.
std::string run_id(const std::string& given, std::string& problem) {
  std::string id = given;
  if (id.empty())
    if (const char* env = std::getenv("AQUADUCT_RUN_ID")) id = env;
  if (id.empty())
    problem = "which run? give --run ID (or AQUADUCT_RUN_ID): every worker of one run gets the same id, "
              "e.g. the Kubernetes Job's name";
  return id;
}

}  // namespace

worker_command::worker_command(CLI::App& app) {
  worker_ = app.add_subcommand(
      "worker",
      "One worker of a fleet: N workers on any machines share one run of a pipeline through a PostgreSQL state.\n"
      "The first plans the run (a unit per [[jobs]] entry); all claim units under leases until every unit has "
      "ended.\nExit codes: 0 every unit of the run completed, 1 a unit failed, 2 usage or config error, 3 "
      "credentials refused, 130 interrupted (its units given back for the others).");
  worker_->add_option("PIPELINE", pipeline_, "The pipeline file (TOML), the same for every worker of the run")
      ->required()
      ->check(CLI::ExistingFile);
  worker_->add_option("--state", state_, "The state database, postgres://… (default: the pipeline's [state] url)");
  worker_->add_option("--run", run_id_,
                      "The run's id, the same for all its workers (default: $AQUADUCT_RUN_ID); a new id is a new run");
  worker_->add_option("--lease-s", lease_s_,
                      "A worker silent this long loses its units and job slots to the others (renewed every third)")
      ->capture_default_str()
      ->check(CLI::Range(3u, 3600u));
  worker_->add_option("--units", units_, "Units this worker runs at once (default: [source] max_active_jobs)");
  worker_->add_option("--health-dir", health_dir_,
                      "Files for probes: DIR/ready once connected, DIR/heartbeat touched at every lease renewal");
  worker_->add_option("--report", report_, "At the end, write the run (every unit, with its report) as JSON here");
  worker_->add_option("--log-format", log_format_, "text or json lines on stderr")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  worker_->add_option("--log-level", log_level_, "info, warning or error")
      ->check(CLI::IsMember({"info", "warning", "error"}))
      ->capture_default_str();
  worker_->footer(
      "Examples:\n"
      "  aquaduct worker pipeline.toml --state \"$AQUADUCT_STATE_DSN\" --run nightly-2026-12-08\n"
      "                               start it on as many machines as you like, with the same --run\n"
      "  aquaduct run-status pipeline.toml --state \"$AQUADUCT_STATE_DSN\" --run nightly-2026-12-08\n"
      "Kubernetes: examples/kubernetes/fleet/. How it works and fails: docs/fleet.md");

  status_ = app.add_subcommand("run-status", "A fleet's run as the state database has it: every unit, its state, "
                                             "holder and fencing token.\nExit codes: the run's once it ended (0 all "
                                             "completed, 1 a unit failed, ...), 75 while it runs, 1 no such run.");
  status_->add_option("PIPELINE", pipeline_, "The pipeline file (TOML), for [state] url")->check(CLI::ExistingFile);
  status_->add_option("--state", state_, "The state database, postgres://… (default: the pipeline's [state] url)");
  status_->add_option("--run", run_id_, "The run's id (default: $AQUADUCT_RUN_ID)");
  status_->add_flag("--json", json_, "One JSON object: the units with their run reports");
}

bool worker_command::chosen() const { return worker_->parsed() || status_->parsed(); }

int worker_command::run() const { return worker_->parsed() ? run_worker() : run_status(); }

int worker_command::run_worker() const {
  sigset_t signals;
  block_signals(signals);  // before any thread starts
  const log_level min_level =
      log_level_ == "error" ? log_level::error : log_level_ == "warning" ? log_level::warning : log_level::info;
  run_console console(progress_style::off, log_format_ == "json" ? log_format::json : log_format::text, min_level);
  pipeline_config cfg;
  try {
    cfg = load_pipeline(pipeline_);
  } catch (const config_error& e) {
    for (const auto& p : e.problems()) console.error(p);
    return exit_usage;
  }
  if (cfg.sinks.empty()) {
    console.error(pipeline_ + ":1:1: the pipeline has no [[sinks]]");
    return exit_usage;
  }
  if (cfg.source.base_url.empty()) {
    console.error("error: " + pipeline_ + ": a worker needs [source] base_url (the embedded emulator serves `aquaduct run` only)");
    return exit_usage;
  }
  std::string problem;
  engine_detail::worker_options opts;
  opts.fleet.url = state_url(state_, cfg, problem);
  if (problem.empty()) opts.fleet.run = run_id(run_id_, problem);
  if (!problem.empty()) {
    console.error("error: " + problem);
    return exit_usage;
  }
  opts.fleet.lease = std::chrono::seconds(lease_s_);
  opts.units_at_once = units_;
  opts.health_dir = health_dir_;
  opts.log = [&console](const log_record& r) { console.log(r); };
  engine_detail::worker_result result;
  try {
    engine_detail::fleet_worker w(std::move(cfg), std::move(opts));
    interrupt_watch watch(signals, [&w] { w.cancel(); }, [&console] {
      console.note("interrupted: cancelling this worker's jobs on the server and giving its units back");
    });
    result = w.run();
  } catch (const std::system_error& e) {
    console.error(std::string("error: ") + e.what());
    return e.code() == std::errc::invalid_argument ? exit_usage : exit_failed;
  }
  console.note(engine_detail::run_table(result.run, false));  // every unit: run-status, --report
  if (!report_.empty()) {
    std::ofstream out(report_, std::ios::binary | std::ios::trunc);
    out << engine_detail::run_json(result.run) << '\n';
    if (!out.flush()) {
      console.error("error: cannot write the report to " + report_);
      return exit_failed;
    }
  }
  return result.exit_code();
}

int worker_command::run_status() const {
  pipeline_config cfg;
  if (!pipeline_.empty()) {
    try {
      cfg = load_pipeline(pipeline_);
    } catch (const config_error& e) {
      for (const auto& p : e.problems()) std::cerr << p << '\n';
      return exit_usage;
    }
  }
  std::string problem;
  engine_detail::fleet_settings s;
  s.url = state_url(state_, cfg, problem);
  if (problem.empty()) s.run = run_id(run_id_, problem);
  if (!problem.empty()) {
    std::cerr << "error: " << problem << '\n';
    return exit_usage;
  }
  try {
    engine_detail::fleet f(s);
    const engine_detail::run_row run = f.status();
    std::cout << (json_ ? engine_detail::run_json(run) + "\n" : engine_detail::run_table(run));
    return run.finished() ? run.exit_code() : exit_running;
  } catch (const std::system_error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_failed;
  }
}

}  // namespace aquaduct::cli

#include "cli/tap_command.hpp"

#include "cli/interrupt_watch.hpp"
#include "cli/run_console.hpp"
#include "tap/singer_tap.hpp"

#include <aquaduct/engine.hpp>
#include <aquaduct/error.hpp>

#include <cstdio>
#include <iostream>
#include <mutex>

namespace aquaduct::cli {

namespace {

constexpr int exit_ok = 0, exit_failed = 1, exit_usage = 2, exit_auth = 3;

}  // namespace

tap_command::tap_command(CLI::App& app) {
  cmd_ = app.add_subcommand(
      "tap",
      "The Singer tap for Zuora (tap-zuora), faster: its config, catalog and state files as they are.\n"
      "--discover prints the catalog; --catalog syncs the selected streams, SCHEMA, RECORD and STATE\n"
      "messages on stdout (STATE after each committed stream), logs on stderr. See docs/singer.md.\n"
      "Exit codes: 0 ok; 1 a stream failed; 2 usage, config, catalog or state error; 3 credentials\n"
      "refused; 130 interrupted.");
  cmd_->footer(
      "Examples:\n"
      "  aquaduct tap --config config.json --discover > catalog.json\n"
      "  aquaduct tap --config config.json --catalog catalog.json --state state.json | target-jsonl\n"
      "config.json takes tap-zuora's keys (start_date, username, password, api_type \"AQUA\", partner_id,\n"
      "auth_type, sandbox, european) and aquaduct's: base_url (any AQuA endpoint, the emulator's\n"
      "included), aquaduct_mode (\"stateful\", tap-zuora's sessions, or \"stateless\": our own high-water\n"
      "mark), aquaduct_lag_s, tenant_time_zone.");
  cmd_->add_option("--config", config_, "tap-zuora's config file (JSON)")->required()->check(CLI::ExistingFile);
  cmd_->add_flag("--discover", discover_, "Print the catalog of the tenant's streams");
  auto* catalog = cmd_->add_option("--catalog", catalog_, "The catalog whose selected streams to sync")
                      ->check(CLI::ExistingFile);
  auto* properties = cmd_->add_option("--properties", properties_, "The same as --catalog (older Singer runners)")
                         ->check(CLI::ExistingFile);
  catalog->excludes(properties);
  cmd_->add_option("--state", state_, "The state to resume from (tap-zuora's bookmarks)")->check(CLI::ExistingFile);
  cmd_->add_option("--log-format", log_format_, "Logs on stderr as text lines or JSON lines")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

bool tap_command::chosen() const { return cmd_->parsed(); }

int tap_command::run() const {
  sigset_t signals;
  block_signals(signals);  // before any thread starts, so that every thread inherits the mask
  // stderr: log lines (every line one JSON object under --log-format json,
  // the run report included); stdout carries the Singer messages alone.
  run_console console(progress_style::off, log_format_ == "json" ? log_format::json : log_format::text,
                      log_level::info);
  const auto log = [&console](const log_record& r) { console.log(r); };
  const auto problems = [&console](const config_error& e) {
    for (const auto& p : e.problems()) console.error(p);
    return exit_usage;
  };
  const auto failed = [&console](const std::system_error& e) {
    console.error(std::string("error: ") + e.what());
    return e.code() == make_error_condition(condition::auth) ? exit_auth : exit_failed;
  };
  const std::string catalog = catalog_.empty() ? properties_ : catalog_;
  if (!discover_ && catalog.empty()) {
    console.error("error: aquaduct tap needs --discover or --catalog FILE (see aquaduct help tap)");
    return exit_usage;
  }
  tap::tap_config cfg;
  try {
    cfg = tap::read_tap_config(config_);
  } catch (const config_error& e) {
    return problems(e);
  }
  if (discover_) {
    try {
      std::cout << tap::discover_catalog(cfg, log);
    } catch (const config_error& e) {
      return problems(e);
    } catch (const std::system_error& e) {
      return failed(e);
    }
    return std::cout.flush() ? exit_ok : exit_failed;
  }
  tap::tap_sync sync;
  try {
    sync = tap::prepare_sync(cfg, catalog, state_, log);
  } catch (const config_error& e) {
    return problems(e);
  } catch (const std::system_error& e) {
    return failed(e);
  }
  if (sync.streams == 0) {
    console.note("no stream of " + catalog + " is selected: nothing to sync");
    return exit_ok;
  }
  run_report report;
  try {
    engine eng{std::move(sync.pipeline), std::move(sync.options)};
    eng.add_sink(std::move(sync.output));
    interrupt_watch watch(signals, eng, [&console] {
      console.note("interrupted: cancelling the jobs in flight on the server (again to quit at once)");
    });
    report = eng.run();
  } catch (const config_error& e) {
    return problems(e);
  } catch (const std::system_error& e) {
    return failed(e);
  }
  console.report(report);
  return report.exit_code();
}

}  // namespace aquaduct::cli

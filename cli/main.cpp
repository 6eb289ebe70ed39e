// The aquaduct command: parses arguments, loads the config, drives the engine
// or the emulator, and maps outcomes to exit codes (interfaces.md §2).
// Glue only: anything that grows logic here belongs in a module.
#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>
#include <aquaduct/error.hpp>

#include "cli/run_console.hpp"
#include "cli/interrupt_watch.hpp"
#include "cli/tap_command.hpp"
#include "cli/discover_command.hpp"
#include "cli/dry_run_command.hpp"
#include "cli/jobs_command.hpp"
#include "cli/state_command.hpp"
#include "cli/worker_command.hpp"
#include <aquaduct/emulator.hpp>
#include "sinks/registry.hpp"

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <pthread.h>
#include <unistd.h>

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_auth = 3;

// Why the --report file cannot be written, before anything runs; empty when
// it can (an existing file writable, or a new one in a writable directory).
std::string report_path_problem(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) return "--report " + path + " is a directory";
  if (fs::exists(p, ec)) return ::access(path.c_str(), W_OK) == 0 ? std::string() : "--report " + path + " is not writable";
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) return "--report " + path + ": the directory " + dir.string() + " does not exist";
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return "--report " + path + ": the directory " + dir.string() + " is not writable";
  return {};
}

int print_problems(const std::vector<std::string>& problems) {
  for (const auto& p : problems) std::cerr << p << '\n';
  std::cerr << problems.size() << (problems.size() == 1 ? " problem" : " problems") << " found\n";
  return exit_usage;
}

// Loads the pipeline; every problem is reported at once. A pipeline run from
// the command line needs a sink (an embedder may add its own in code).
std::optional<aquaduct::pipeline_config> load_checked(const std::string& path, std::vector<std::string>& problems) {
  try {
    aquaduct::pipeline_config cfg = aquaduct::load_pipeline(path);
    if (!cfg.sinks.empty()) return cfg;
    problems.push_back(path + ":1:1: the pipeline has no [[sinks]]");
  } catch (const aquaduct::config_error& e) {
    problems = e.problems();
  }
  return std::nullopt;
}

// How `run` talks on stderr.
struct run_output {
  std::string progress = "auto";  // auto | always | never
  std::string log_format = "text";
  std::string log_level;  // empty: warning under the live display (it shows the progress), else info
};

aquaduct::log_level level_named(const std::string& name, aquaduct::cli::progress_style style) {
  if (name == "error") return aquaduct::log_level::error;
  if (name == "warning") return aquaduct::log_level::warning;
  if (name.empty() && style == aquaduct::cli::progress_style::live) return aquaduct::log_level::warning;
  return aquaduct::log_level::info;
}

int cmd_run(const std::string& path, const std::string& report_path, std::string state_dir, const run_output& output,
            std::vector<std::string> full_refresh) {
  sigset_t signals;
  aquaduct::cli::block_signals(signals);  // before any thread starts, so that every thread inherits the mask
  // Every stderr line goes through the console: under --log-format json each
  // one is a JSON object, config problems and the report included.
  const auto style = aquaduct::cli::choose_progress(output.progress, STDERR_FILENO);
  aquaduct::cli::run_console console(style,
                                     output.log_format == "json" ? aquaduct::cli::log_format::json
                                                                 : aquaduct::cli::log_format::text,
                                     level_named(output.log_level, style));
  auto problems_found = [&console](const std::vector<std::string>& problems) {
    for (const auto& p : problems) console.error(p);
    console.error(std::to_string(problems.size()) + (problems.size() == 1 ? " problem" : " problems") + " found");
    return exit_usage;
  };
  std::vector<std::string> problems;
  auto cfg = load_checked(path, problems);
  if (!cfg) return problems_found(problems);
  // Before any job is submitted, not after the download (the engine checks the sinks).
  if (!report_path.empty())
    if (std::string why = report_path_problem(report_path); !why.empty()) {
      console.error("error: " + why);
      return exit_usage;
    }

  // No base_url: the run is served by an emulator inside this process, with
  // its default tenant and credentials. The demo works this way.
  std::unique_ptr<aquaduct::emulator::server> embedded;
  if (cfg->source.base_url.empty()) {
    embedded = std::make_unique<aquaduct::emulator::server>(aquaduct::emulator::options{});
    embedded->start();
    cfg->source.base_url = embedded->base_url();
    if (cfg->source.auth.type == aquaduct::auth_type::none) {
      cfg->source.auth.type = aquaduct::auth_type::oauth;
      cfg->source.auth.client_id = "aquaduct";
      cfg->source.auth.client_secret = "aquaduct";
    }
    console.note("no [source] base_url: serving this run from the embedded AQuA emulator at " + cfg->source.base_url);
  }

  // Cursors live where --state-dir says, else in the pipeline's [state] url, else
  // beside the pipeline (interfaces.md §5).
  if (state_dir.empty()) state_dir = cfg->state_url;
  if (state_dir.empty()) state_dir = (std::filesystem::path(path).parent_path() / ".aquaduct" / "state").string();
  aquaduct::engine_options opts;
  opts.state_dir = state_dir;
  opts.full_refresh = std::move(full_refresh);
  opts.log = [&console](const aquaduct::log_record& r) { console.log(r); };
  aquaduct::run_report report;
  try {
    aquaduct::engine eng{std::move(*cfg), std::move(opts)};
    aquaduct::cli::interrupt_watch watch(signals, eng, [&console] {
      console.note("interrupted: cancelling the jobs in flight on the server (again to quit at once)");
    });
    console.start(eng);
    struct stop_display {  // before the report or an error is printed, and before eng goes
      aquaduct::cli::run_console& c;
      ~stop_display() { c.stop(); }
    } stop{console};
    report = eng.run();
  } catch (const aquaduct::config_error& e) {
    return problems_found(e.problems());
  } catch (const std::system_error& e) {
    console.error(std::string("error: ") + e.what());
    return exit_failed;
  }
  console.report(report);
  if (!report_path.empty()) {
    std::ofstream out(report_path, std::ios::binary | std::ios::trunc);
    out << report.to_json();
    if (!out.flush()) {
      console.error("error: cannot write the report to " + report_path);
      return exit_failed;
    }
  }
  return report.exit_code();
}

int cmd_validate(const std::string& path, bool connect) {
  std::vector<std::string> problems;
  auto cfg = load_checked(path, problems);
  if (!cfg) return print_problems(problems);
  // --connect: every sink's health check; a config that is valid but whose
  // destination is unreachable exits 1, not 2.
  if (connect) {
    // The source: the credentials, then every query's fields against describe.
    // With describe's columns, `columns = "fields"` renamings are checked for collisions too.
    if (!cfg->source.base_url.empty()) {
      aquaduct::source_check source;
      try {
        source = aquaduct::check_source(*cfg);
      } catch (const std::exception& e) {
        source.error = e.what();
      }
      if (source.auth_refused) {
        std::cerr << "error: the source refused the credentials of [source.auth]: " << source.error << '\n';
        return exit_auth;
      }
      if (!source.error.empty()) {
        std::cerr << "error: cannot check the source: " << source.error << '\n';
        return exit_failed;
      }
      if (!source.problems.empty()) return print_problems(source.problems);
    }
    for (const auto& s : cfg->sinks)
      if (auto why = aquaduct::sinks::check_sink_health(s); !why.empty()) problems.push_back(std::move(why));
    if (!problems.empty()) {
      print_problems(problems);
      return exit_failed;
    }
  }
  std::size_t queries = 0;
  for (const auto& j : cfg->jobs) queries += j.queries.size();
  std::cout << path << ": ok (" << cfg->jobs.size() << " jobs, " << queries << " queries, " << cfg->sinks.size()
            << " sinks)\n";
  return exit_ok;
}

int cmd_emulate(aquaduct::emulator::options opts) {
  sigset_t set;
  aquaduct::cli::block_signals(set);  // before start(), so the emulator's thread inherits the mask
  aquaduct::emulator::server srv(std::move(opts));
  try {
    srv.start();
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_failed;
  }
  std::printf("listening on %s\n", srv.base_url().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  srv.stop();
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"aquaduct: bulk extraction from Zuora's AQuA API into files and databases.", "aquaduct"};
  app.footer(
      "Start here:\n"
      "  aquaduct run examples/demo.toml                  the demo: no base_url, so an embedded emulator serves it;\n"
      "                                                   files land in examples/out, the run report on stderr\n"
      "  aquaduct validate pipeline.toml                  check a pipeline: every problem as FILE:LINE:COL (exit 2)\n"
      "  aquaduct run pipeline.toml --dry-run             the AQuA requests a run would send, secrets redacted\n"
      "  aquaduct run pipeline.toml --report r.json       run it: live progress on a terminal, JSON report in r.json\n"
      "  aquaduct emulate --port 8080                     a local AQuA service for trying pipelines and for your tests\n"
      "  aquaduct jobs get JOB_ID --config pipeline.toml  one job's JSON from the pipeline's tenant\n"
      "  aquaduct state show --config pipeline.toml       where each stateful or incremental query stands\n"
      "  aquaduct discover --config p.toml --write all.toml  the tenant's objects and fields; a ready pipeline\n"
      "  aquaduct worker p.toml --state postgres://… --run ID  one of N workers sharing a run (docs/fleet.md)\n"
      "  aquaduct help run                                every option of a command\n"
      "Exit codes: 0 ok, 1 a job or batch failed, 2 usage or config error, 3 authentication refused, 130 interrupted.\n"
      "Docs: README.md (quickstart), docs/config.md (every key), docs/emulator.md, examples/");
  app.set_version_flag("--version", "aquaduct " AQUADUCT_VERSION);
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show the help of every command");

  std::string pipeline;
  std::string report_path;
  auto* run = app.add_subcommand("run", "Run every job of a pipeline to completion; the run report goes to stderr.\n"
                                        "Exit codes: 0 all committed, 1 a job or batch failed, 2 usage or config "
                                        "error, 3 authentication refused, 130 interrupted (jobs cancelled on the server).");
  run->add_option("PIPELINE", pipeline, "The pipeline file (TOML)")->required()->check(CLI::ExistingFile);
  run->footer(
      "Examples:\n"
      "  aquaduct run pipeline.toml                      in a terminal: a live line per job, warnings above it\n"
      "  aquaduct run pipeline.toml --log-format json --report /var/log/etl/report.json\n"
      "                                                  under cron, Airflow or Kubernetes: JSON log lines on stderr\n"
      "  aquaduct run pipeline.toml --state-dir /var/lib/aquaduct\n"
      "                                                  cursors of stateful and incremental queries kept there\n"
      "Ctrl-C or SIGTERM cancels the jobs in flight on the server and commits nothing half-done (exit 130);\n"
      "a second Ctrl-C quits at once. A rerun resumes from the last committed cursor.");
  run->add_option("--report", report_path, "Also write the run report as JSON to this file");
  std::string state_dir;
  run->add_option("--state-dir,--state", state_dir,
                  "Where cursors are kept: a directory, or a postgres:// URL shared by several machines "
                  "(default: the pipeline's [state] url, else .aquaduct/state beside the pipeline file)");
  run_output output;
  run->add_option("--progress", output.progress,
                  "Live progress on stderr: one line per job (state, AQuA jobs done, rows, MB, MB/s) and totals.\n"
                  "auto: only when stderr is a terminal; always: also off a terminal (a totals line every 5 s); never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  run->add_option("--log-format", output.log_format,
                  "Log lines on stderr as text (`TIME LEVEL job=… query=…: message`) or JSON lines "
                  "(ts, level, msg, job, job_id, query, batch, file, attempt)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  run->add_option("--log-level", output.log_level,
                  "Least severe log lines shown: info (jobs submitted and finished, queries committed), warning "
                  "(retries, restarts, splits), error. Default: warning while the live progress display shows, "
                  "else info")
      ->check(CLI::IsMember({"info", "warning", "error"}));

  std::vector<std::string> full_refresh;
  run->add_option("--full-refresh", full_refresh,
                  "Set the cursors of JOB (every query) or JOB/QUERY aside for this run: they load in full, as on a\n"
                  "first run, and commit new cursors. Repeatable; without a value, every query.")
      ->expected(0, 1)
      ->default_str("*")
      ->type_name("JOB[/QUERY]");

  std::string validate_path;
  auto* validate = app.add_subcommand("validate", "Check a pipeline file; prints every problem as FILE:LINE:COL");
  validate->add_option("PIPELINE", validate_path, "The pipeline file (TOML)")->required()->check(CLI::ExistingFile);
  validate->footer(
      "Examples:\n"
      "  aquaduct validate pipeline.toml            every problem of the file in one go, then \"N problems found\"\n"
      "  aquaduct validate --connect pipeline.toml  also reach each sink (directory writable, database up)\n"
      "Exit codes: 0 valid; 2 config problems (FILE:LINE:COL each, with --connect also a field or object\n"
      "describe does not know, with a did-you-mean); 3 the source refused the credentials; 1 valid but a\n"
      "sink's health check failed or the source could not be reached.\n"
      "Every key: docs/config.md");
  bool validate_connect = false;
  validate->add_flag("--connect", validate_connect,
                     "Also check the source (the credentials, and every query's fields against describe) and run\n"
                     "every sink's health check (connect, check write access; writes no rows)");

  aquaduct::emulator::options emu;
  std::uint64_t latency_ms = static_cast<std::uint64_t>(emu.latency.count());
  auto* emulate = app.add_subcommand("emulate", "Run the local AQuA emulator in the foreground.\n"
                                                "Its first stdout line is `listening on http://HOST:PORT`.");
  emulate->footer(
      "Examples:\n"
      "  aquaduct emulate --port 8080 --scale 10000   a tenant of 10,000 accounts on http://127.0.0.1:8080\n"
      "  aquaduct emulate --port 0 --latency-ms 2000  any free port (read the first line), jobs taking 2 s\n"
      "  aquaduct emulate --faults '{\"rules\":[{\"path\":\"/v1/file/*\",\"fault\":\"reset_after_bytes\",\"bytes\":65536,\"times\":1}]}'\n"
      "Credentials: OAuth client aquaduct / aquaduct, API key aquaduct / aquaduct, Basic aquaduct:aquaduct\n"
      "(--credentials FILE for others). Stops on Ctrl-C or SIGTERM. Endpoints and faults: docs/emulator.md");
  emulate->add_option("--bind", emu.bind, "Address to listen on")->capture_default_str();
  emulate->add_option("--port", emu.port, "Port (0 = any free port)")->capture_default_str();
  emulate->add_option("--seed", emu.seed, "Seed of the generated tenant")->capture_default_str();
  emulate->add_option("--scale", emu.scale, "Number of accounts in the tenant")->capture_default_str()->check(
      CLI::PositiveNumber);
  emulate->add_option("--latency-ms", latency_ms, "Time a job takes from submit to completed")->capture_default_str();
  emulate->add_option("--faults", emu.faults_json, "Fault rules as JSON, as for POST /_emulator/faults");
  emulate->add_option("--tls-cert", emu.tls_cert_file, "Serve HTTPS with this PEM certificate (chain)")
      ->check(CLI::ExistingFile);
  emulate->add_option("--tls-key", emu.tls_key_file, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  std::uint64_t token_lifetime_s = static_cast<std::uint64_t>(emu.token_lifetime.count());
  emulate->add_option("--token-lifetime-s", token_lifetime_s, "Lifetime of OAuth tokens")->capture_default_str();
  emulate->add_option("--segment-rows", emu.segment_rows, "Rows per result file before a result is segmented")
      ->capture_default_str();
  emulate->add_option("--partner", emu.partners, "A partner id the tenant knows (repeatable; none: any is accepted)");
  emulate->add_option("--entity", emu.entities,
                      "An entity id of a multi-entity tenant (repeatable): Zuora-Entity-Ids must name one; each has "
                      "its own jobs and sessions");
  emulate->add_option("--org", emu.orgs,
                      "An org id of a multi-org tenant (repeatable): Zuora-Org-Ids must list only these");
  emulate->add_option("--max-active-jobs", emu.max_active_jobs,
                      "Active jobs per tenant, stateless and stateful each (90028 beyond)")
      ->capture_default_str();
  std::uint64_t rate_window_s = static_cast<std::uint64_t>(emu.rate_window.count());
  emulate->add_option("--rate-limit", emu.rate_limit, "Requests per --rate-window-s (0 = unlimited; 429 beyond)")
      ->capture_default_str();
  emulate->add_option("--rate-window-s", rate_window_s, "Window of --rate-limit")->capture_default_str();
  emulate->add_option("--max-concurrent-downloads", emu.max_concurrent_downloads,
                      "File downloads in flight before 429 (code 50000070, Retry-After 120); 0 = unlimited")
      ->capture_default_str();
  emulate->add_option("--max-file-bytes", emu.max_file_bytes, "Larger result files answer 403")->capture_default_str();
  emulate->add_option("--max-job-rows", emu.max_job_rows,
                      "A batch that would export more rows aborts its job as out of processing time (90027); 0 = "
                      "no limit")
      ->capture_default_str();
  emulate
      ->add_option_function<std::vector<std::string>>(
          "--burst",
          [&emu](const std::vector<std::string>& specs) {
            for (const std::string& b : specs)
              if (!aquaduct::emulator::parse_burst_option(b, emu))
                throw CLI::ValidationError("--burst", "'" + b + "' is not OBJECT:COUNT[:YYYY-MM-DDTHH:MM:SSZ]");
          },
          "OBJECT:COUNT[:TIME]: the first COUNT rows of OBJECT share one UpdatedDate second (a bill run; TIME "
          "YYYY-MM-DDTHH:MM:SSZ, default 2025-12-31T12:00:00Z); repeatable")
      ->type_name("OBJECT:COUNT[:TIME]");
  std::uint64_t retention_s = static_cast<std::uint64_t>(emu.file_retention.count());
  emulate->add_option("--file-retention-s", retention_s, "Result files are purged after this (404 then)")
      ->capture_default_str();
  bool no_range = false;
  emulate->add_flag("--no-range", no_range, "Ignore Range headers: files are always sent whole");
  emulate->add_flag("--iso-start-time", emu.iso_start_time, "Job startTime as YYYY-MM-DDThh:mm:ss+0000");
  emulate->add_option("--data-dir", emu.data_dir, "Directory for result files (default: a temporary one)");
  emulate->add_option("--workers", emu.worker_threads, "Threads generating result files")->capture_default_str();
  std::string credentials_file;
  emulate->add_option("--credentials", credentials_file,
                      "JSON file with client_id, client_secret, access_key_id, secret_access_key (default: all aquaduct)")
      ->check(CLI::ExistingFile);
  emulate->add_option("--tz", emu.tz,
                      "Tenant time zone, any IANA zone (Asia/Tokyo) or UTC: startTime, result datetimes without "
                      "dateTimeUtc, ZOQL date literals (default: the data centre's zone)")
      ->check(CLI::Validator(
          [](std::string& zone) {
            return aquaduct::emulator::known_time_zone(zone)
                       ? std::string()
                       : "unknown time zone '" + zone + "' (an IANA zone such as Asia/Tokyo, or UTC)";
          },
          "ZONE"));
  std::string data_center = "us";
  emulate->add_option("--data-center", data_center,
                      "Data centre: us (reads incrementalTime as America/Los_Angeles) or eu (as UTC)")
      ->check(CLI::IsMember({"us", "eu"}))
      ->capture_default_str();
  std::string churn;
  emulate->add_option("--churn", churn,
                      "RATE[:SEED]: about RATE creates, updates and deletes per second while serving, "
                      "deterministic from SEED (default: --seed)")
      ->check(CLI::Validator(
          [](std::string& spec) {
            aquaduct::emulator::options probe;
            return aquaduct::emulator::parse_churn_option(spec, probe)
                       ? std::string()
                       : "takes RATE[:SEED], e.g. 50 or 50:7 (0 <= RATE <= 10000), not '" + spec + "'";
          },
          "RATE[:SEED]"));
  emulate->add_flag("--crlf", emu.crlf, "CSV results with CRLF line ends");
  emulate->add_flag("--bom", emu.bom, "CSV results with a UTF-8 byte order mark");
  emulate->add_flag("--zip-stream", emu.zip_stream, "Zip entries written with data descriptors");
  emulate->add_flag("--incremental-time-moves-window", emu.incremental_time_moves_window,
                    "A stateful run with incrementalTime moves the session's window start");
  emulate->add_option("--pgp-public-key", emu.pgp_public_key,
                      "The tenant's PGP public key (binary or armoured): jobs with encrypted \"pgp\" get their result "
                      "files encrypted for it")
      ->check(CLI::ExistingFile);

  aquaduct::cli::jobs_command jobs{app};
  aquaduct::cli::state_command state{app};
  aquaduct::cli::dry_run_option dry_run{*run};
  aquaduct::cli::discover_command discover{app};
  aquaduct::cli::tap_command tap{app};
  aquaduct::cli::worker_command worker{app};

  auto* help = app.add_subcommand("help", "Show help for a command");
  std::string help_topic;
  help->add_option("COMMAND", help_topic, "The command");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }

  if (*run && dry_run.chosen()) return dry_run.run(pipeline, state_dir);
  if (*run) {
    for (auto& r : full_refresh)
      if (r.empty()) r = "*";
    if (run->count("--full-refresh") > 0 && full_refresh.empty()) full_refresh.push_back("*");
    return cmd_run(pipeline, report_path, state_dir, output, std::move(full_refresh));
  }
  if (*validate) return cmd_validate(validate_path, validate_connect);
  if (jobs.chosen()) return jobs.run();
  if (state.chosen()) return state.run();
  if (discover.chosen()) return discover.run();
  if (tap.chosen()) return tap.run();
  if (worker.chosen()) return worker.run();
  if (*emulate) {
    emu.latency = std::chrono::milliseconds(latency_ms);
    emu.token_lifetime = std::chrono::seconds(token_lifetime_s);
    emu.rate_window = std::chrono::seconds(rate_window_s);
    emu.file_retention = std::chrono::seconds(retention_s);
    emu.range_requests = !no_range;
    emu.region = data_center == "eu" ? aquaduct::emulator::data_center::eu : aquaduct::emulator::data_center::us;
    if (!churn.empty()) aquaduct::emulator::parse_churn_option(churn, emu);  // checked above
    if (!credentials_file.empty()) {
      try {
        emu.creds = aquaduct::emulator::load_credentials(credentials_file);
      } catch (const std::invalid_argument& e) {
        std::cerr << "error: " << e.what() << '\n';
        return exit_usage;
      }
    }
    return cmd_emulate(std::move(emu));
  }
  if (*help) {
    if (help_topic.empty()) {
      std::cout << app.help();
      return exit_ok;
    }
    for (auto* sub : app.get_subcommands({}))
      if (sub->get_name() == help_topic) {
        std::cout << sub->help();
        return exit_ok;
      }
    std::cerr << "no such command: " << help_topic << '\n';
    return exit_usage;
  }
  return exit_usage;
}

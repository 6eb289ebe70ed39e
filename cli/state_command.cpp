#include "cli/state_command.hpp"

#include "engine/state_store.hpp"

#include <aquaduct/config.hpp>

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

namespace aquaduct::cli {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

void add_place(CLI::App& cmd, std::string& config, std::string& state_dir) {
  cmd.add_option("--config", config, "The pipeline file: its cursors are in .aquaduct/state beside it")
      ->check(CLI::ExistingFile);
  cmd.add_option("--state-dir,--state", state_dir,
                 "The state directory or postgres:// URL (as given to `aquaduct run --state-dir`)");
}

std::string text_or_dash(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace

state_command::state_command(CLI::App& app) {
  state_ = app.add_subcommand("state", "Show or reset the cursors of stateful and incremental queries");
  state_->require_subcommand(1);
  state_->footer(
      "Examples:\n"
      "  aquaduct state show --config pipeline.toml             every cursor: where each query stands\n"
      "  aquaduct state show billing Account --state-dir /var/lib/aquaduct --json\n"
      "  aquaduct state reset billing Account --config pipeline.toml   its next run loads it in full\n"
      "  aquaduct run pipeline.toml --full-refresh billing/Account     the same for one run, keeping the file\n"
      "A cursor also stops being used by itself when the run's source (base URL, client) or sinks differ\n"
      "from those it was committed with, or a sink no longer holds its table or file: the query loads in full.");
  show_ = state_->add_subcommand("show", "Print the cursors: job, query, mode, position, rows, source, sinks");
  reset_ = state_->add_subcommand("reset", "Remove cursors: their queries load in full on the next run");
  for (CLI::App* cmd : {show_, reset_}) {
    add_place(*cmd, config_, state_dir_);
    cmd->add_option("JOB", job_, "Only this job's cursors");
    cmd->add_option("QUERY", query_, "Only this query's cursor (of JOB)");
  }
  show_->add_flag("--json", json_, "One JSON object per cursor, as its file holds it");
  reset_->add_flag("--all", all_, "Every cursor of the directory (without JOB)");
}

bool state_command::chosen() const { return state_->parsed(); }

int state_command::run() const {
  std::string dir = state_dir_;
  if (dir.empty() && !config_.empty()) {
    // The pipeline's [state] url when it loads (its variables set), else beside it.
    try {
      dir = load_pipeline(config_, pipeline_needs::source).state_url;
    } catch (const config_error&) {
    }
    if (dir.empty()) dir = (std::filesystem::path(config_).parent_path() / ".aquaduct" / "state").string();
  }
  if (dir.empty()) {
    std::cerr << "error: say where the cursors are: --config PIPELINE.toml or --state-dir DIR\n";
    return exit_usage;
  }
  if (reset_->parsed() && job_.empty() && !all_) {
    std::cerr << "error: name the JOB (and QUERY) whose cursors to reset, or --all for every one\n";
    return exit_usage;
  }
  if (!engine_detail::is_state_url(dir) && !std::filesystem::is_directory(dir)) {
    std::cerr << "no cursor in " << dir << ": the directory does not exist (no run kept a cursor there)\n";
    return reset_->parsed() ? exit_failed : exit_ok;
  }
  try {
    const std::unique_ptr<engine_detail::state_store> state = engine_detail::open_state(dir);
    engine_detail::state_store& store = *state;
    if (reset_->parsed()) store.lock();  // never under a running pipeline's feet
    std::size_t matched = 0;
    for (const engine_detail::cursor& c : store.list()) {
      if ((!job_.empty() && c.job != job_) || (!query_.empty() && c.query != query_)) continue;
      ++matched;
      if (reset_->parsed()) {
        store.remove(c.job, c.query);
        std::cout << "reset job " << c.job << ", query " << c.query << ": its next run loads it in full\n";
      } else if (json_) {
        std::cout << engine_detail::to_json(c) << '\n';
      } else {
        std::string sinks;
        for (const auto& d : c.destinations) sinks += (sinks.empty() ? "" : ", ") + d;
        std::cout << fmt::format("{} / {}: {} at {}, {} rows, committed {}\n  from {}\n  into {}\n", c.job, c.query,
                                 c.mode, c.position ? engine_detail::iso_utc(*c.position) : std::string("-"), c.rows,
                                 text_or_dash(c.committed_at), text_or_dash(c.source), text_or_dash(sinks));
      }
    }
    if (matched == 0) {
      std::cerr << "no cursor" << (job_.empty() ? "" : " of job " + job_) << (query_.empty() ? "" : ", query " + query_)
                << " in " << store.where() << '\n';
      return reset_->parsed() ? exit_failed : exit_ok;
    }
  } catch (const std::system_error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return e.code() == std::errc::device_or_resource_busy ? exit_usage : exit_failed;
  }
  return exit_ok;
}

}  // namespace aquaduct::cli

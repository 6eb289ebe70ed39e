#include "cli/discover_command.hpp"

#include "engine/discovery.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/emulator.hpp>
#include <aquaduct/error.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

namespace aquaduct::cli {

namespace {

constexpr int exit_ok = 0, exit_failed = 1, exit_usage = 2, exit_auth = 3;

// FILE written whole under a temporary name, then renamed: never half a file.
bool write_whole(const std::string& path, const std::string& text, std::string& why) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      why = "cannot write " + tmp;
      std::filesystem::remove(tmp);
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    why = "cannot rename " + tmp + " to " + path + ": " + ec.message();
    std::filesystem::remove(tmp, ec);
    return false;
  }
  return true;
}

}  // namespace

discover_command::discover_command(CLI::App& app) {
  cmd_ = app.add_subcommand(
      "discover",
      "List the tenant's objects from describe: for each, the fields the export accepts and their types,\n"
      "whether it supports deleted rows, and the column incremental loads run on. --write writes a ready\n"
      "pipeline. Probe jobs (one row, cancelled at once) check every field and the deleted support.\n"
      "Exit codes: 0 ok; 1 describe or a probe failed; 2 usage or config error, or an unknown --object;\n"
      "3 authentication refused.");
  cmd_->footer(
      "Examples:\n"
      "  aquaduct discover                                  the embedded emulator's objects (no tenant needed;\n"
      "                                                     so is a --config without base_url)\n"
      "  aquaduct discover --config pipeline.toml           the objects of the pipeline's tenant ([source])\n"
      "  aquaduct discover --config pipeline.toml --object Account --object Invoice --json\n"
      "  aquaduct discover --config pipeline.toml --write all.toml && aquaduct validate all.toml && aquaduct run all.toml\n"
      "The written pipeline has one query per object with every accepted field, incremental on UpdatedDate\n"
      "(or TransactionDate, UpdatedOn; none: a full load), the deleted column where supported, and a comment\n"
      "for each field the export refused. Its [source] and [[sinks]] are copied from --config as written\n"
      "there (${VAR} references kept); without --config, the embedded emulator and a csv sink into out/.");
  cmd_->add_option("--config", config_,
                   "The pipeline file whose [source] names the tenant (default: the embedded emulator)")
      ->check(CLI::ExistingFile);
  cmd_->add_option("--object", objects_, "Only this object (repeatable; any case)")->type_name("NAME");
  cmd_->add_option("--write", write_, "Write a ready pipeline to FILE (replaced whole)")->type_name("FILE");
  cmd_->add_flag("--json", json_, "One JSON document on stdout instead of the tables");
}

bool discover_command::chosen() const { return cmd_->parsed(); }

int discover_command::run() const {
  pipeline_config cfg;
  if (!config_.empty()) {
    try {
      cfg = load_pipeline(config_, pipeline_needs::source);  // its [[jobs]] are not needed
    } catch (const config_error& e) {
      for (const auto& p : e.problems()) std::cerr << p << '\n';
      return exit_usage;
    }
  }
  // No base_url (no --config, or one like examples/demo.toml): the embedded
  // emulator, as `aquaduct run` serves such a pipeline.
  std::unique_ptr<emulator::server> embedded;
  if (cfg.source.base_url.empty()) {
    embedded = std::make_unique<emulator::server>(emulator::options{});
    embedded->start();
    cfg.source.base_url = embedded->base_url();
    if (cfg.source.auth.type == auth_type::none) {
      cfg.source.auth.type = auth_type::oauth;
      cfg.source.auth.client_id = "aquaduct";
      cfg.source.auth.client_secret = "aquaduct";
    }
  }
  engine_detail::discovery_options opts;
  opts.objects = objects_;
  std::vector<engine_detail::discovered_object> objects;
  try {
    objects = engine_detail::discover(cfg, opts);
  } catch (const config_error& e) {
    for (const auto& p : e.problems()) std::cerr << p << '\n';
    return exit_usage;
  } catch (const std::system_error& e) {
    std::cerr << "error: " << e.what() << '\n';
    if (e.code() == make_error_condition(condition::auth)) return exit_auth;
    // An --object the tenant does not describe is the command line's mistake.
    return e.code() == aqua_errc::http_error && !objects_.empty() ? exit_usage : exit_failed;
  }
  std::cout << (json_ ? engine_detail::to_json(objects) : engine_detail::to_text(objects));
  if (!std::cout.flush()) return exit_failed;
  if (!write_.empty()) {
    std::string text, why;
    try {
      text = engine_detail::pipeline_toml(objects, config_, write_);
    } catch (const std::exception& e) {
      std::cerr << "error: " << config_ << ": " << e.what() << '\n';
      return exit_usage;
    }
    if (!write_whole(write_, text, why)) {
      std::cerr << "error: " << why << '\n';
      return exit_failed;
    }
    std::cerr << "wrote " << write_ << ": " << objects.size() << " object(s); check it with `aquaduct validate "
              << write_ << "`\n";
  }
  return exit_ok;
}

}  // namespace aquaduct::cli

#include "sinks/registry.hpp"

#include "sinks/basic_sinks.hpp"
#include "sinks/csv_sink.hpp"

#include <aquaduct/error.hpp>

namespace aquaduct::sinks {

namespace {

struct entry {
  std::string_view type;
  std::unique_ptr<sink> (*build)(const sink_config&, std::vector<std::string>& problems);
};

std::unique_ptr<sink> build_csv(const sink_config& cfg, std::vector<std::string>& problems) {
  auto opts = csv_sink_options::from(cfg, problems);
  return problems.empty() ? make_csv_sink(std::move(opts)) : nullptr;
}

std::unique_ptr<sink> build_null(const sink_config& cfg, std::vector<std::string>& problems) {
  for (const auto& [key, value] : cfg.options)
    problems.push_back(value.where.to_string() + ": unknown key '" + key + "' for sink type \"null\" (it has no options)");
  return problems.empty() ? make_null_sink() : nullptr;
}

constexpr entry registry[] = {
    {"csv", &build_csv},
    {"null", &build_null},
};

std::unique_ptr<sink> build(const sink_config& cfg, std::vector<std::string>& problems) {
  for (const auto& e : registry)
    if (e.type == cfg.type) return e.build(cfg, problems);
  std::string known;
  for (const auto& e : registry) known += (known.empty() ? "" : ", ") + std::string(e.type);
  problems.push_back(cfg.where.to_string() + ": unknown sink type \"" + cfg.type + "\" (available: " + known + ")");
  return nullptr;
}

}  // namespace

std::vector<std::string> check_sink_config(const sink_config& cfg) {
  std::vector<std::string> problems;
  build(cfg, problems);
  return problems;
}

std::unique_ptr<sink> make_sink(const sink_config& cfg) {
  std::vector<std::string> problems;
  auto s = build(cfg, problems);
  if (!problems.empty()) throw config_error(config_errc::bad_value, std::move(problems));
  return s;
}

}  // namespace aquaduct::sinks

#include "sinks/registry.hpp"

#include "sinks/basic_sinks.hpp"
#include "sinks/csv_sink.hpp"
#include "sinks/ndjson_sink.hpp"
#include "sinks/postgres_sink.hpp"
#include "sinks/singer_sink.hpp"
#include "sinks/sink_common.hpp"
#include "sinks/sink_names.hpp"
#include "sinks/sqlite_sink.hpp"

#include <aquaduct/error.hpp>

namespace aquaduct::sinks {

namespace {

// Every configurable sink: its options struct reads and checks the [[sinks]]
// entry, then the factory builds it. (callback is for embedders only: it
// takes a C++ function, so no config can name it.) Checking never builds:
// a factory may touch its destination (create a file, open a database).
enum class construct { no, yes };

template <class Options, std::unique_ptr<sink> (*Make)(Options)>
std::unique_ptr<sink> build_with(const sink_config& cfg, std::vector<std::string>& problems, construct c) {
  auto opts = Options::from(cfg, problems);
  return problems.empty() && c == construct::yes ? Make(std::move(opts)) : nullptr;
}

std::unique_ptr<sink> build_null(const sink_config& cfg, std::vector<std::string>& problems, construct c) {
  option_reader(cfg, problems).finish();
  return problems.empty() && c == construct::yes ? make_null_sink() : nullptr;
}

struct entry {
  std::string_view type;
  std::unique_ptr<sink> (*build)(const sink_config&, std::vector<std::string>& problems, construct c);
  bool upserts = false;  // merges incremental loads into what it holds, by stream_schema::key_column
};

constexpr entry registry[] = {
    {"csv", &build_with<csv_sink_options, &make_csv_sink>},
    {"ndjson", &build_with<ndjson_sink_options, &make_ndjson_sink>},
    {"null", &build_null},
    {"postgres", &build_with<postgres_sink_options, &make_postgres_sink>, true},
    {"singer", &build_with<singer_sink_options, &make_singer_sink>},
    {"sqlite", &build_with<sqlite_sink_options, &make_sqlite_sink>, true},
};

std::unique_ptr<sink> build(const sink_config& cfg, std::vector<std::string>& problems, construct c) {
  for (const auto& e : registry)
    if (e.type == cfg.type) return e.build(cfg, problems, c);
  std::string known;
  for (const auto& e : registry) known += (known.empty() ? "" : ", ") + std::string(e.type);
  problems.push_back(cfg.where.to_string() + ": unknown sink type \"" + cfg.type + "\" (available: " + known + ")");
  return nullptr;
}

}  // namespace

bool upserts(std::string_view type) {
  for (const auto& e : registry)
    if (e.type == type) return e.upserts;
  return false;
}

std::vector<std::string> check_sink_config(const sink_config& cfg) {
  std::vector<std::string> problems;
  build(cfg, problems, construct::no);
  return problems;
}

std::unique_ptr<sink> make_sink(const sink_config& cfg) {
  std::vector<std::string> problems;
  auto s = build(cfg, problems, construct::yes);
  if (!problems.empty()) throw config_error(config_errc::bad_value, std::move(problems));
  return s;
}

std::string check_sink_health(const sink_config& cfg) {
  std::string why;
  try {
    why = make_sink(cfg)->health_check();
  } catch (const config_error& e) {
    return e.problems().front();
  } catch (const std::exception& e) {
    why = e.what();
  }
  return why.empty() ? why : cfg.where.to_string() + ": sink type \"" + cfg.type + "\": " + why;
}

std::string check_sink_columns(const sink_config& cfg, const std::vector<std::string>& header, std::string_view object) {
  const auto mode = cfg.options.find("columns");
  if (mode == cfg.options.end() || mode->second.text != "fields") return {};
  const renamed_columns renamed = field_names(header, object);
  return renamed.ok() ? std::string() : "with the " + cfg.type + " sink's columns = \"fields\": " + renamed.message(header);
}

}  // namespace aquaduct::sinks

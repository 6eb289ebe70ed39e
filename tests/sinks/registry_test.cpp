// The registry: every sink type's options are checked strictly, with
// FILE:LINE:COL, and checking builds nothing.
#include "sinks/registry.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using namespace aquaduct;

namespace {

sink_config entry(std::string type, std::map<std::string, std::string> options) {
  sink_config c;
  c.type = std::move(type);
  c.where = {"p.toml", 10, 1};
  std::uint32_t line = 11;
  for (auto& [k, v] : options) c.options[k] = {v, {"p.toml", line++, 1}};
  return c;
}

}  // namespace

TEST_CASE("every sink type refuses unknown keys and names the keys it knows") {
  const std::map<std::string, std::string> known = {{"csv", "path, columns"},
                                                    {"ndjson", "path, columns"},
                                                    {"singer", "path, columns"},
                                                    {"sqlite", "path, synchronous, busy_timeout_ms, deletes, columns"},
                                                    {"postgres", "dsn, schema, lock_timeout_ms, nul_bytes, deletes, columns"},
                                                    {"null", ""}};
  for (const auto& [type, keys] : known) {
    CAPTURE(type);
    const auto problems = sinks::check_sink_config(entry(type, {{"colour", "blue"}, {"dsn", "x"}, {"path", "x"}}));
    REQUIRE_FALSE(problems.empty());
    bool named = false;
    for (const auto& p : problems)
      named |= p.rfind("p.toml:11:1: unknown key 'colour' for sink type \"" + type + "\" (" +
                           (keys.empty() ? "it has no options" : "known: " + keys) + ")",
                       0) == 0;
    CHECK(named);
  }
}

TEST_CASE("required options and bad values are config errors at their position") {
  CHECK(sinks::check_sink_config(entry("postgres", {})) ==
        std::vector<std::string>{"p.toml:10:1: sink type \"postgres\" needs 'dsn'"});
  CHECK(sinks::check_sink_config(entry("sqlite", {{"path", "x.db"}, {"synchronous", "off"}})) ==
        std::vector<std::string>{"p.toml:12:1: sink type \"sqlite\": 'synchronous' must be one of full | normal"});
  CHECK(sinks::check_sink_config(entry("sqlite", {{"path", "x.db"}, {"busy_timeout_ms", "-1"}})) ==
        std::vector<std::string>{
            "p.toml:11:1: sink type \"sqlite\": 'busy_timeout_ms' must be an integer from 0 to 3600000"});
  CHECK(sinks::check_sink_config(entry("postgres", {{"dsn", "x"}, {"lock_timeout_ms", "0"}})) ==
        std::vector<std::string>{
            "p.toml:12:1: sink type \"postgres\": 'lock_timeout_ms' must be an integer from 1 to 3600000"});
  CHECK(sinks::check_sink_config(entry("postgres", {{"dsn", "x"}, {"nul_bytes", "keep"}})) ==
        std::vector<std::string>{"p.toml:12:1: sink type \"postgres\": 'nul_bytes' must be one of strip | fail"});
  CHECK(sinks::check_sink_config(entry("postgres", {{"dsn", "x"}, {"lock_timeout_ms", "3600000"}, {"nul_bytes", "fail"}}))
            .empty());
  CHECK(sinks::check_sink_config(entry("singer", {})).empty());  // stdout
}

TEST_CASE("checking a config touches no destination; make_sink builds every configurable type") {
  test::temp_dir dir;
  const std::string root = dir.path().string();
  for (const auto& c : {entry("csv", {{"path", root + "/csv"}}), entry("ndjson", {{"path", root + "/nd"}}),
                        entry("singer", {{"path", root + "/s/out.singer"}}),
                        entry("sqlite", {{"path", root + "/db/x.db"}}), entry("null", {})}) {
    CAPTURE(c.type);
    CHECK(sinks::check_sink_config(c).empty());
    CHECK(dir.files().empty());
    auto s = sinks::make_sink(c);
    REQUIRE(s);
    CHECK(s->type() == c.type);
  }
  CHECK(sinks::make_sink(entry("postgres", {{"dsn", "host=/nowhere"}}))->type() == "postgres");  // connects lazily
  CHECK_THROWS_AS(sinks::make_sink(entry("csv", {})), config_error);
}

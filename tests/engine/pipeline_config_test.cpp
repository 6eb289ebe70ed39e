#include <aquaduct/config.hpp>
#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>

using namespace aquaduct;

namespace {

std::vector<std::string> problems_of(const std::string& toml) {
  try {
    parse_pipeline(toml, "p.toml");
  } catch (const config_error& e) {
    return e.problems();
  }
  return {};
}

const std::string minimal = R"(
[[jobs]]
name = "billing"
[[jobs.queries]]
name = "Account"
query = "select Id from Account"
[[sinks]]
type = "csv"
path = "out"
)";

}  // namespace

TEST_CASE("the demo pipeline loads with every key it sets") {
  const pipeline_config cfg = load_pipeline(AQUADUCT_SOURCE_DIR "/examples/demo.toml");
  CHECK(cfg.source.base_url.empty());
  CHECK(cfg.source.poll.initial_ms == 100);
  REQUIRE(cfg.jobs.size() == 1);
  CHECK(cfg.jobs[0].name == "billing");
  CHECK(cfg.jobs[0].format == "gzip");
  REQUIRE(cfg.jobs[0].queries.size() == 1);
  CHECK(cfg.jobs[0].queries[0].query.find("from Account") != std::string::npos);
  REQUIRE(cfg.sinks.size() == 1);
  CHECK(cfg.sinks[0].type == "csv");
  CHECK(cfg.sinks[0].options.at("path").text == "out");
}

TEST_CASE("defaults") {
  const pipeline_config cfg = parse_pipeline(minimal, "p.toml");
  CHECK(cfg.jobs[0].format == "gzip");
  CHECK(cfg.jobs[0].version == "1.1");
  CHECK(cfg.jobs[0].queries[0].type == "zoqlexport");
  CHECK(cfg.source.max_active_jobs == 50);
}

TEST_CASE("an unknown key names FILE:LINE:COL") {
  const auto p = problems_of("[source]\nbase_urll = \"http://x\"\n" + minimal);
  REQUIRE(p.size() == 1);
  CHECK(p[0] == "p.toml:2:1: unknown key 'base_urll' in [source]");
}

TEST_CASE("several problems are reported in one run") {
  const auto p = problems_of(R"([source]
max_active_jobs = 0
[source.poll]
jitter = "some"
[[jobs]]
name = "a-very-long-job-name-that-goes-past-32"
format = "parquet"
colour = "blue"
[[jobs.queries]]
name = "Account"
)");
  CHECK(p.size() >= 5);
  std::string all;
  for (const auto& s : p) all += s + "\n";
  CHECK(all.find("p.toml:2:19: max_active_jobs must be an integer from 1 to 50") != std::string::npos);
  CHECK(all.find("jitter = \"some\" is not one of: full, none") != std::string::npos);
  CHECK(all.find("longer than AQuA's 32 characters") != std::string::npos);
  CHECK(all.find("format = \"parquet\"") != std::string::npos);
  CHECK(all.find("unknown key 'colour' in [[jobs]]") != std::string::npos);
  CHECK(all.find("[[jobs.queries]] needs 'query'") != std::string::npos);
}

TEST_CASE("invalid TOML names the position") {
  const auto p = problems_of("[[jobs]\nname = 1\n");
  REQUIRE(p.size() == 1);
  CHECK(p[0].rfind("p.toml:1:", 0) == 0);
}

TEST_CASE("${VAR} reads the environment; a missing variable is an error") {
  ::setenv("AQUADUCT_TEST_SECRET", "s3cret", 1);
  const std::string auth = R"([source.auth]
type = "oauth"
client_id = "id-${AQUADUCT_TEST_USER_UNSET_FOR_SURE}"
client_secret = "${AQUADUCT_TEST_SECRET}"
)";
  const auto p = problems_of("[source]\n" + auth + minimal);
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("environment variable AQUADUCT_TEST_USER_UNSET_FOR_SURE is not set") != std::string::npos);
  CHECK(p[0].rfind("p.toml:4:", 0) == 0);

  ::setenv("AQUADUCT_TEST_USER_UNSET_FOR_SURE", "me", 1);
  const pipeline_config cfg = parse_pipeline("[source]\n" + auth + minimal, "p.toml");
  CHECK(cfg.source.auth.client_id == "id-me");
  CHECK(cfg.source.auth.client_secret == "s3cret");
  ::unsetenv("AQUADUCT_TEST_USER_UNSET_FOR_SURE");
}

TEST_CASE("auth types need their keys") {
  const auto p = problems_of("[source.auth]\ntype = \"basic\"\nusername = \"u\"\n" + minimal);
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("needs 'password'") != std::string::npos);
}

TEST_CASE("features not built yet are refused, not ignored") {
  const auto p = problems_of(R"([[jobs]]
name = "j"
partner = "acme"
[[jobs.queries]]
name = "q"
query = "select Id from Account"
partition = { by = "UpdatedDate", from = "2020-01-01", to = "now", step = "P30D" }
)");
  REQUIRE(p.size() == 2);
  CHECK(p[0].find("partner is not supported yet") != std::string::npos);
  CHECK(p[1].find("partition is not supported yet") != std::string::npos);
}

TEST_CASE("duplicate names are refused") {
  const auto p = problems_of(minimal + R"(
[[jobs]]
name = "billing"
[[jobs.queries]]
name = "A"
query = "select Id from Account"
[[jobs.queries]]
name = "A"
query = "select Id from Account"
)");
  REQUIRE(p.size() == 2);
}

TEST_CASE("an unreadable file is a config error") {
  CHECK_THROWS_AS(load_pipeline("/nonexistent/pipeline.toml"), config_error);
}

#include <aquaduct/config.hpp>
#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <algorithm>
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
  REQUIRE(cfg.jobs.size() == 3);
  CHECK(cfg.jobs[0].name == "billing");
  CHECK(cfg.jobs[0].format == "gzip");
  REQUIRE(cfg.jobs[0].queries.size() == 3);
  CHECK(cfg.jobs[0].queries[0].query.find("from Account") != std::string::npos);
  // A partitioned query, and a stateful session with a deleted column.
  REQUIRE(cfg.jobs[1].queries.size() == 1);
  REQUIRE(cfg.jobs[1].queries[0].partition);
  CHECK(cfg.jobs[1].queries[0].partition->by == "UpdatedDate");
  CHECK(cfg.jobs[1].queries[0].partition->to == "now");
  CHECK(cfg.jobs[2].stateful());
  REQUIRE(cfg.jobs[2].queries.at(0).deleted);
  CHECK(cfg.jobs[2].queries[0].deleted->column == "IsDeleted");
  REQUIRE(cfg.sinks.size() == 1);
  CHECK(cfg.sinks[0].type == "csv");
  // Relative to the pipeline file's directory, not the working directory.
  CHECK(cfg.sinks[0].options.at("path").text == AQUADUCT_SOURCE_DIR "/examples/out");
}

TEST_CASE("relative paths in a pipeline file resolve from its directory; absolute and special ones stay") {
  const std::string text = R"([source]
base_url = "http://127.0.0.1:1"
[source.tls]
ca_file = "certs/ca.pem"
[[jobs]]
name = "j"
[[jobs.queries]]
name = "A"
query = "select Id from Account"
[[sinks]]
type = "csv"
path = "../out"
[[sinks]]
type = "sqlite"
path = "/var/lib/w.db"
[[sinks]]
type = "singer"
path = ""
)";
  const pipeline_config cfg = parse_pipeline(text, "/etc/aquaduct/p.toml");
  CHECK(cfg.source.tls.ca_file == "/etc/aquaduct/certs/ca.pem");
  REQUIRE(cfg.sinks.size() == 3);
  CHECK(cfg.sinks[0].options.at("path").text == "/etc/out");
  CHECK(cfg.sinks[1].options.at("path").text == "/var/lib/w.db");
  CHECK(cfg.sinks[2].options.at("path").text.empty());
  // A pipeline file named without a directory: its paths are the working directory's.
  const pipeline_config here = parse_pipeline(text, "p.toml");
  CHECK(here.sinks[0].options.at("path").text == "../out");
  CHECK(here.source.tls.ca_file == "certs/ca.pem");
  // A relative directory stays relative, under it.
  CHECK(parse_pipeline(text, "conf/p.toml").sinks[0].options.at("path").text == "out");
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

namespace {

// "p.toml:LINE:COL" of the first occurrence of `needle` in `toml`.
std::string pos_of(const std::string& toml, std::string_view needle) {
  const auto at = toml.find(needle);
  REQUIRE_MESSAGE(at != std::string::npos, needle);
  const auto line = 1 + std::count(toml.begin(), toml.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  const auto line_start = toml.rfind('\n', at);
  const auto col = line_start == std::string::npos ? at + 1 : at - line_start;
  return "p.toml:" + std::to_string(line) + ":" + std::to_string(col);
}

// `toml` has exactly one problem, at `needle`, whose message contains `part`.
void one_problem(const std::string& toml, std::string_view needle, std::string_view part) {
  const auto p = problems_of(toml);
  INFO(toml);
  REQUIRE(p.size() == 1);
  INFO(p[0]);
  CHECK(p[0].rfind(pos_of(toml, needle) + ": ", 0) == 0);
  CHECK(p[0].find(part) != std::string::npos);
}

// "text" (built by appending: g++ 12 warns falsely on "\"" + std::string(...)).
std::string quoted(std::string_view text) {
  std::string out(1, '"');
  out += text;
  out += '"';
  return out;
}

const std::string sinks = R"(
[[sinks]]
type = "null"
)";

// A job with one query; `job_keys` and `query_keys` are added to its tables.
std::string job_with(const std::string& job_keys, const std::string& query_keys) {
  return "[[jobs]]\nname = \"j\"\n" + job_keys +
         "\n[[jobs.queries]]\nname = \"q\"\nquery = \"select Id from Account\"\n" + query_keys + "\n" + sinks;
}

}  // namespace

TEST_CASE("[source]: max_downloads, time_zone and callout load; their defaults") {
  const pipeline_config d = parse_pipeline(minimal, "p.toml");
  CHECK(d.source.max_downloads == 20);
  CHECK(d.source.time_zone == data_center_zone::automatic);
  CHECK(d.source.callout.listen.empty());
  CHECK(d.source.callout.public_url.empty());

  const pipeline_config c = parse_pipeline(R"([source]
max_downloads = 4
time_zone = "utc"
[source.callout]
listen = "127.0.0.1:0"
public_url = "https://etl.example.com/aquaduct/callout?src=etl"
)" + minimal, "p.toml");
  CHECK(c.source.max_downloads == 4);
  CHECK(c.source.time_zone == data_center_zone::utc);
  CHECK(c.source.callout.listen == "127.0.0.1:0");
  CHECK(c.source.callout.public_url == "https://etl.example.com/aquaduct/callout?src=etl");
  CHECK(parse_pipeline("[source]\ntime_zone = \"pacific\"\n" + minimal, "p.toml").source.time_zone ==
        data_center_zone::pacific);
  CHECK(parse_pipeline("[source]\ntime_zone = \"auto\"\n" + minimal, "p.toml").source.time_zone ==
        data_center_zone::automatic);
  for (const char* listen : {"[::1]:8080", "localhost:65535", "0.0.0.0:9000", ":8080"})
    CHECK(parse_pipeline("[source.callout]\nlisten = \"" + std::string(listen) + "\"\n" + minimal, "p.toml")
              .source.callout.listen == listen);
  CHECK(parse_pipeline("[source.callout]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"http://10.0.0.1:8080\"\n" +
                           minimal, "p.toml")
            .source.callout.public_url == "http://10.0.0.1:8080");
}

TEST_CASE("[source]: a base_url that is not http(s)://host[:port][/prefix] is named at its position, its password redacted") {
  for (const char* url : {"ftp://user:pw-secret@host", "127.0.0.1:8080", "http://", "http://host:99999"}) {
    std::string toml = "[source]\nbase_url = ";
    toml += quoted(url);
    toml += "\n" + minimal;
    one_problem(toml, quoted(url), "is not http(s)://host[:port][/prefix]");
    for (const auto& p : problems_of(toml)) CHECK(p.find("pw-secret") == std::string::npos);
  }
  CHECK(problems_of("[source]\nbase_url = \"https://rest.zuora.com/prefix\"\n" + minimal).empty());
}

TEST_CASE("[source]: bad max_downloads, time_zone and callout values name their position") {
  for (const char* n : {"0", "21", "\"5\""})
    one_problem("[source]\nmax_downloads = " + std::string(n) + "\n" + minimal, n,
                "max_downloads must be an integer from 1 to 20");
  one_problem("[source]\ntime_zone = \"PST\"\n" + minimal, "\"PST\"",
              "time_zone = \"PST\" is not one of: auto, pacific, utc");
  one_problem("[source]\ntenant_time_zone = \"Mars/Olympus_Mons\"\n" + minimal, "\"Mars",
              "tenant_time_zone: 'Mars/Olympus_Mons' is not a time zone of the IANA database");
  one_problem("[source]\nmax_spool_bytes = -1\n" + minimal, "-1", "max_spool_bytes must be a whole number of bytes");
  CHECK(parse_pipeline("[source]\ntenant_time_zone = \"Asia/Tokyo\"\nmax_spool_bytes = 1048576\n" + minimal, "p.toml")
            .source.tenant_time_zone == "Asia/Tokyo");
  for (const char* listen : {"localhost", "80", "host:", "host:70000", "::1:80", "[::1]80", "[::1]", "a b:1",
                             "host:12a", "host:123456", ""}) {
    const std::string toml = "[source.callout]\nlisten = \"" + std::string(listen) + "\"\n" + minimal;
    one_problem(toml, quoted(listen), "must be HOST:PORT");
  }
  for (const char* url :
       {"ftp://x/callout", "https://", "http://:80/x", "http:// x", "etl.example.com", "https:///x"}) {
    const std::string toml =
        "[source.callout]\nlisten = \"127.0.0.1:0\"\npublic_url = \"" + std::string(url) + "\"\n" + minimal;
    one_problem(toml, quoted(url), "public_url must be an http:// or https:// URL");
  }
  one_problem("[source.callout]\npublic_url = \"https://x\"\n" + minimal, "\"https://x\"", "public_url needs listen");
  one_problem("[source.callout]\nlisten = \"127.0.0.1:0\"\nport = 1\n" + minimal, "port",
              "unknown key 'port' in [source.callout]");
  one_problem("[source]\ncallout = \"127.0.0.1:0\"\n" + minimal, "\"127", "callout must be a table");
}

TEST_CASE("[[jobs]]: kind, partner, project, offset_s") {
  const pipeline_config d = parse_pipeline(minimal, "p.toml");
  CHECK(d.jobs[0].kind == job_kind::aqua);
  CHECK_FALSE(d.jobs[0].stateful());
  CHECK(d.jobs[0].offset_s == 0);

  const pipeline_config s =
      parse_pipeline(job_with("partner = \"acme\"\nproject = \"warehouse\"\noffset_s = 3600\nversion = 1.2", ""),
                     "p.toml");
  CHECK(s.jobs[0].partner == "acme");
  CHECK(s.jobs[0].project == "warehouse");
  CHECK(s.jobs[0].offset_s == 3600);
  CHECK(s.jobs[0].stateful());
  CHECK(s.jobs[0].version == "1.2");

  const pipeline_config b = parse_pipeline(job_with("kind = \"batch_results\"", ""), "p.toml");
  CHECK(b.jobs[0].kind == job_kind::batch_results);
  CHECK(parse_pipeline(job_with("kind = \"aqua\"", ""), "p.toml").jobs[0].kind == job_kind::aqua);
  // A TOML number 1.0 is version "1.0" (it printed as "1" once).
  CHECK(parse_pipeline(job_with("version = 1.0", ""), "p.toml").jobs[0].version == "1.0");
  CHECK(parse_pipeline(job_with("version = 1.1", ""), "p.toml").jobs[0].version == "1.1");
}

TEST_CASE("[[jobs]]: every stateful and kind mistake is reported where it is") {
  one_problem(job_with("partner = \"acme\"", ""), "\"acme\"", "partner and project go together");
  one_problem(job_with("project = \"w\"", ""), "\"w\"", "partner and project go together");
  one_problem(job_with("partner = \"\"\nproject = \"w\"", ""), "\"\"", "partner and project go together");
  one_problem(job_with("partner = \"acme\"\nproject = \"\"", ""), "\"\"", "partner and project go together");
  one_problem(job_with("partner = \"acme\"\nproject = \"w\"\nversion = 1.0", ""), "1.0",
              "needs version 1.1 or 1.2");
  one_problem(job_with("partner = \"acme\"\nproject = \"w\"\nversion = \"1.0\"", ""), "\"1.0\"",
              "needs version 1.1 or 1.2");
  one_problem(job_with("partner = \"acme\"\nproject = \"w\"\noffset_s = 3601", ""), "3601",
              "offset_s must be an integer from 0 to 3600");
  one_problem(job_with("partner = \"acme\"\nproject = \"w\"\noffset_s = -1", ""), "-1",
              "offset_s must be an integer from 0 to 3600");
  one_problem(job_with("offset_s = 60", ""), "60", "offset_s applies to stateful jobs only");
  one_problem(job_with("kind = \"json\"", ""), "\"json\"", "kind = \"json\" is not one of: aqua, batch_results");
  // JSON batch results have no sessions, deleted rows or windows.
  one_problem(job_with("kind = \"batch_results\"\npartner = \"acme\"", ""), "\"acme\"", "does not apply to kind");
  {
    const auto p = problems_of(job_with("kind = \"batch_results\"\npartner = \"acme\"\nproject = \"w\"", ""));
    REQUIRE(p.size() == 2);
    CHECK(p[0].find("partner does not apply to kind = \"batch_results\"") != std::string::npos);
    CHECK(p[1].find("project does not apply to kind = \"batch_results\"") != std::string::npos);
  }
  // Stateless deleted rows need forceExport (contract §1.3: "`forceExport: true` allows it in
  // stateless mode (otherwise 90012)"): found by validate, at the deleted table.
  one_problem(job_with("", "deleted = { column = \"IsDeleted\", format = \"Boolean\" }"), "{",
              "a stateless query with deleted needs force_export = true");
  CHECK(problems_of(job_with("", "deleted = { column = \"IsDeleted\", format = \"Boolean\", force_export = true }"))
            .empty());
  CHECK(problems_of(job_with("partner = \"acme\"\nproject = \"w\"",
                             "deleted = { column = \"IsDeleted\", format = \"Boolean\" }"))
            .empty());
  one_problem(job_with("kind = \"batch_results\"", "deleted = { column = \"IsDeleted\" }"), "{",
              "deleted does not apply to kind = \"batch_results\" (query q)");
  one_problem(job_with("kind = \"batch_results\"",
                       "partition = { by = \"UpdatedDate\", from = \"2020-01-01\", step = \"P30D\" }"),
              "{", "partition does not apply to kind = \"batch_results\"");
  one_problem(job_with("kind = \"batch_results\"", "incremental = { by = \"UpdatedDate\" }"), "{",
              "incremental does not apply to kind = \"batch_results\"");
}

TEST_CASE("[[jobs.queries]]: partition and incremental load with their defaults; where is the table") {
  const std::string toml =
      job_with("", "partition = { by = \"UpdatedDate\", from = \"2020-01-01\", step = \"P30D\" }") +
      "\n[[jobs]]\nname = \"k\"\n[[jobs.queries]]\nname = \"r\"\nquery = \"select Id from Invoice\"\n"
      "incremental = { by = \"UpdatedDate\" }\n[[jobs.queries]]\nname = \"s\"\nquery = \"select Id from Usage\"\n"
      "incremental = { by = \"Account.UpdatedDate\", lag_s = 0, start = \"2024-01-01T00:00:00Z\", "
      "min_step = \"PT10M\" }\n"
      "[[jobs.queries]]\nname = \"t\"\nquery = \"select Id from Usage\"\n"
      "partition = { by = \"CreatedDate\", from = \"2020-01-01 00:00:00\", to = \"2021-01-01\", step = \"PT6H\", "
      "min_step = \"PT1M\" }\n";
  const pipeline_config c = parse_pipeline(toml, "p.toml");
  const query_config& q = c.jobs[0].queries[0];
  REQUIRE(q.partition.has_value());
  CHECK_FALSE(q.incremental.has_value());
  CHECK(q.partition->by == "UpdatedDate");
  CHECK(q.partition->from == "2020-01-01");
  CHECK(q.partition->to == "now");
  CHECK(q.partition->step == "P30D");
  CHECK(q.partition->min_step == "PT1H");
  CHECK(q.where.to_string() == pos_of(toml, "[[jobs.queries]]"));  // the first one

  const query_config& r = c.jobs[1].queries[0];
  REQUIRE(r.incremental.has_value());
  CHECK_FALSE(r.partition.has_value());
  CHECK(r.incremental->by == "UpdatedDate");
  CHECK(r.incremental->lag_s == 7200);
  CHECK(r.incremental->start == "2000-01-01");
  CHECK(r.incremental->min_step == "PT1H");
  CHECK(r.where.to_string() == pos_of(toml, "[[jobs.queries]]\nname = \"r\""));

  const query_config& s2 = c.jobs[1].queries[1];
  REQUIRE(s2.incremental.has_value());
  CHECK(s2.incremental->by == "Account.UpdatedDate");
  CHECK(s2.incremental->lag_s == 0);
  CHECK(s2.incremental->start == "2024-01-01T00:00:00Z");
  CHECK(s2.incremental->min_step == "PT10M");

  const query_config& t = c.jobs[1].queries[2];
  REQUIRE(t.partition.has_value());
  CHECK(t.partition->to == "2021-01-01");
  CHECK(t.partition->step == "PT6H");
  CHECK(t.partition->min_step == "PT1M");
  CHECK(t.partition->from == "2020-01-01 00:00:00");
}

TEST_CASE("[[jobs.queries]]: partition and incremental mistakes name their position") {
  const std::string part = "partition = { by = \"UpdatedDate\", from = \"2020-01-01\", step = \"P30D\" }";
  const std::string inc = "incremental = { by = \"UpdatedDate\" }";
  one_problem(job_with("", part + "\n" + inc), "{ by = \"UpdatedDate\" }", "partition or incremental, not both");
  one_problem(job_with("partner = \"acme\"\nproject = \"w\"", part), "{",
              "partition cannot be used in a stateful job (partner and project): the session decides");
  one_problem(job_with("partner = \"acme\"\nproject = \"w\"", inc), "{",
              "incremental cannot be used in a stateful job");
  // check_partition / check_incremental messages, at the table.
  const std::pair<const char*, const char*> checked[] = {
      {"partition = { by = \"UpdatedDate\", from = \"2020-01-01\", step = \"P1M\" }",
       "partition.step: 'P1M' is not an ISO 8601 duration"},
      {"partition = { by = \"UpdatedDate\", step = \"P1D\" }", "partition.from is required"},
      {"partition = { from = \"2020-01-01\", step = \"P1D\" }", "partition.by is required"},
      {"partition = { by = \"Updated Date\", from = \"2020-01-01\", step = \"P1D\" }", "is not a field name"},
      {"partition = { by = \"UpdatedDate\", from = \"2021-01-01\", to = \"2020-01-01\", step = \"P1D\" }",
       "must come before partition.to"},
      {"partition = { by = \"UpdatedDate\", from = \"2020-01-01\", step = \"P1D\", min_step = \"PT0S\" }",
       "partition.min_step = \"PT0S\" must be longer than zero"},
      {"incremental = { by = \"UpdatedDate\", start = \"now\" }", "incremental.start cannot be \"now\""},
      {"incremental = { by = \"UpdatedDate\", start = \"01/01/2020\" }",
       "incremental.start: '01/01/2020' is not a time"},
      {"incremental = { by = \"UpdatedDate\", min_step = \"P1W\" }", "weeks"},
      {"incremental = { lag_s = 5 }", "incremental.by is required"},
  };
  for (const auto& [keys, message] : checked) one_problem(job_with("", keys), "{", message);
  one_problem(job_with("", "incremental = { by = \"UpdatedDate\", lag_s = -5 }"), "-5",
              "lag_s must be an integer from 0 to");
  one_problem(job_with("", "incremental = { by = \"UpdatedDate\", lag = 5 }"), "lag =",
              "unknown key 'lag' in incremental");
  one_problem(job_with("", "partition = { by = \"UpdatedDate\", from = \"2020-01-01\", step = \"P1D\", size = 1 }"),
              "size", "unknown key 'size' in partition");
  one_problem(job_with("", "partition = \"P30D\""), "\"P30D\"", "partition must be a table");
  one_problem(job_with("", "incremental = true"), "true", "incremental must be a table");
  one_problem(job_with("", "partition = { by = \"UpdatedDate\", from = 2020, step = \"P1D\" }"), "2020",
              "from must be a string");
}

TEST_CASE("every TOML example in docs/config.md loads") {
  std::ifstream in(AQUADUCT_SOURCE_DIR "/docs/config.md");
  REQUIRE(in);
  std::vector<std::string> blocks;
  std::string line, block;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "```toml") {
      inside = true;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      blocks.push_back(block);
    } else if (inside) {
      block += line + "\n";
    }
  }
  REQUIRE(blocks.size() >= 4);
  // The examples read their secrets from the environment, as the doc says to.
  ::setenv("ZUORA_CLIENT_ID", "doc-example-id", 0);
  ::setenv("ZUORA_CLIENT_SECRET", "doc-example-secret", 0);
  ::setenv("ZUORA_PGP_PASSPHRASE", "doc-example-passphrase", 0);
  for (const std::string& b : blocks) {
    // Each example is a fragment: complete it with what it leaves out.
    std::string toml = b;
    if (b.starts_with("[[jobs.queries]]")) toml = "[[jobs]]\nname = \"j\"\n" + b + sinks;
    else if (b.starts_with("[[jobs]]")) toml = b + sinks;
    else if (b.find("[[jobs]]") != std::string::npos && b.find("[[sinks]]") != std::string::npos) toml = b;  // whole
    else toml = b + minimal;
    INFO(toml);
    const auto p = problems_of(toml);
    CHECK_MESSAGE(p.empty(), (p.empty() ? std::string() : p.front()));
  }
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

TEST_CASE("[[jobs]] and [[jobs.queries]]: every AQuA request field has a key") {
  const pipeline_config d = parse_pipeline(minimal, "p.toml");
  CHECK(d.jobs[0].encrypted == "none");
  CHECK(d.jobs[0].source_data.empty());
  CHECK_FALSE(d.jobs[0].use_last_completed_job_queries);
  CHECK(d.jobs[0].notify_url.empty());
  CHECK(d.jobs[0].queries[0].convert_to_currencies.empty());

  const pipeline_config s = parse_pipeline(
      job_with("partner = \"acme\"\nproject = \"w\"\nencrypted = \"none\"\nsource_data = \"WAREHOUSE\"\n"
               "use_last_completed_job_queries = true\n"
               "notify_url = \"https://etl.example.com/cb?job=$${JOBID}&status=$${STATUS}\"",
               "convert_to_currencies = \"EUR, GBP\""),
      "p.toml");
  const job_config& j = s.jobs[0];
  CHECK(j.encrypted == "none");
  CHECK(j.source_data == "WAREHOUSE");
  CHECK(j.use_last_completed_job_queries);
  CHECK(j.notify_url == "https://etl.example.com/cb?job=${JOBID}&status=${STATUS}");
  CHECK(j.queries[0].convert_to_currencies == "EUR,GBP");
  // The array form is the same list.
  CHECK(parse_pipeline(job_with("", "convert_to_currencies = [\"USD\", \"JPY\"]"), "p.toml")
            .jobs[0]
            .queries[0]
            .convert_to_currencies == "USD,JPY");
}

TEST_CASE("AQuA request field mistakes name their position") {
  one_problem(job_with("encrypted = \"pgp\"", ""), "\"pgp\"", "encrypted = \"pgp\" needs [source.pgp] private_key_file");
  CHECK(problems_of("[source.pgp]\nprivate_key_file = \"k.asc\"\npassphrase = \"x\"\n" +
                    job_with("encrypted = \"pgp\"", ""))
            .empty());
  one_problem(job_with("encrypted = \"aes\"", ""), "\"aes\"", "encrypted = \"aes\" is not one of: none, pgp");
  one_problem(job_with("source_data = \"live\"", ""), "\"live\"", "is not one of: LIVE, WAREHOUSE");
  one_problem(job_with("use_last_completed_job_queries = true", ""), "true", "applies to stateful jobs only");
  one_problem(job_with("use_last_completed_job_queries = \"yes\"", ""), "\"yes\"", "must be true or false");
  one_problem(job_with("notify_url = \"ftp://x/cb\"", ""), "\"ftp://x/cb\"", "notify_url must be an http://");
  one_problem(job_with("notify_url = \"https://x/" + std::string(5000, 'a') + "\"", ""), "\"https://x/",
              "shorter than 5000 characters");
  one_problem(job_with("", "convert_to_currencies = \"EUR,pounds\""), "\"EUR,pounds\"", "ISO 4217 codes");
  one_problem(job_with("", "convert_to_currencies = [\"EUR\", 3]"), "[\"EUR\", 3]", "ISO 4217 codes");
  one_problem(job_with("", "convert_to_currencies = 978"), "978", "ISO 4217 codes");
  one_problem(job_with("kind = \"batch_results\"\nsource_data = \"LIVE\"", ""), "\"LIVE\"",
              "source_data does not apply to kind = \"batch_results\"");
  one_problem(job_with("kind = \"batch_results\"", "convert_to_currencies = \"EUR\""), "\"EUR\"",
              "convert_to_currencies does not apply to kind = \"batch_results\"");
  // Several at once, each at its own place.
  const auto p = problems_of(job_with("encrypted = \"pgp\"\nsource_data = \"lake\"", "convert_to_currencies = \"E\""));
  CHECK(p.size() == 3);
}

TEST_CASE("[state] url: a postgres URL with ${VAR} expanded; anything else, or another key, is a problem") {
  ::setenv("AQUADUCT_TEST_STATE_DSN", "postgresql://etl:pw@db/state", 1);
  const pipeline_config cfg = parse_pipeline("[state]\nurl = \"${AQUADUCT_TEST_STATE_DSN}\"\n" + minimal, "p.toml");
  CHECK(cfg.state_url == "postgresql://etl:pw@db/state");
  CHECK(parse_pipeline(minimal, "p.toml").state_url.empty());

  const auto dir = problems_of("[state]\nurl = \"/var/lib/aquaduct\"\n" + minimal);
  REQUIRE(dir.size() == 1);
  CHECK(dir[0] == "p.toml:2:7: [state] url must be a postgres:// or postgresql:// URL (a state directory is --state-dir's)");
  const auto key = problems_of("[state]\ndir = \"x\"\n" + minimal);
  REQUIRE(key.size() == 1);
  CHECK(key[0] == "p.toml:2:1: unknown key 'dir' in [state]");
}

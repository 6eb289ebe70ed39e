// aquaduct::plan_requests (--dry-run): the bodies are the ones a run submits,
// the emulator's own request parser accepts every field of them, and no
// secret shows.
#include <aquaduct/engine.hpp>

#include "emulator/job_request.hpp"
#include "engine/aqua_job.hpp"
#include "engine/state_store.hpp"
#include "engine/windows.hpp"
#include "support/temp_dir.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <random>

using namespace aquaduct;

namespace {

const std::string secret = [] {
  std::random_device rd;
  return "sec-" + std::to_string(rd()) + std::to_string(rd());
}();

pipeline_config pipeline(const std::string& auth) {
  ::setenv("PLAN_TEST_SECRET", secret.c_str(), 1);
  return parse_pipeline(R"([source]
base_url = "https://rest.apisandbox.zuora.com"
[source.headers]
track_id = "dry-run-1"
[source.auth]
)" + auth + R"(
[[jobs]]
name = "billing"
source_data = "WAREHOUSE"
notify_url = "https://etl.example.com/cb?job=$${JOBID}&status=$${STATUS}"
[[jobs.queries]]
name = "Account"
query = "select Id, Name from Account where Name != 'Basic plan'"
convert_to_currencies = ["EUR", "GBP"]
[[jobs.queries]]
name = "Invoice"
query = "select Id, UpdatedDate from Invoice"
partition = { by = "UpdatedDate", from = "2026-01-01", to = "2026-03-01", step = "P30D" }
[[jobs]]
name = "sync"
version = "1.2"
partner = "acme"
project = "warehouse"
use_last_completed_job_queries = true
[[jobs.queries]]
name = "Subscription"
query = "select Id, Status from Subscription"
deleted = { column = "IsDeleted", format = "Boolean" }
[[sinks]]
type = "null"
)",
                        "p.toml");
}

const std::string oauth = "type = \"oauth\"\nclient_id = \"me\"\nclient_secret = \"${PLAN_TEST_SECRET}\"";

std::vector<const planned_request*> submits(const std::vector<planned_request>& plan) {
  std::vector<const planned_request*> out;
  for (const auto& r : plan)
    if (r.method == "POST" && r.url.ends_with("/v1/batch-query/")) out.push_back(&r);
  return out;
}

emulator::job_request parsed(const std::string& body) {
  simdjson::dom::parser parser;
  emulator::job_request j;
  const auto error = emulator::parse_job_request(body, parser, emulator::tenant_zone::pacific, j);
  INFO(body);
  REQUIRE_MESSAGE(!error, (error ? error->code + " " + error->message : std::string()));
  return j;
}

}  // namespace

TEST_CASE("every planned submit is accepted by the emulator's parser with every configured field") {
  test::temp_dir state;
  engine_options opts;
  opts.state_dir = state.path().string();
  const pipeline_config cfg = pipeline(oauth);
  const std::vector<planned_request> plan = plan_requests(cfg, opts);
  const auto posts = submits(plan);
  // Two windows of Invoice, then billing's plain query, then the stateful session.
  REQUIRE(posts.size() == 4);

  const emulator::job_request plain = parsed(posts[2]->body);
  CHECK(plain.name == "billing");
  CHECK(posts[2]->job == "billing");
  CHECK(plain.source_data == "WAREHOUSE");
  CHECK(plain.encrypted == "none");
  CHECK(plain.notify_url == "https://etl.example.com/cb?job=${JOBID}&status=${STATUS}");
  REQUIRE(plain.queries.size() == 1);
  CHECK(plain.queries[0].query == cfg.jobs[0].queries[0].query);  // "Basic plan" is no credential
  CHECK(plain.queries[0].convert_to_currencies == "EUR,GBP");

  // The windows: the partitioned query restricted to each, in order.
  std::vector<std::string> windows;
  for (std::size_t i = 0; i < 2; ++i) {
    const emulator::job_request w = parsed(posts[i]->body);
    REQUIRE(w.queries.size() == 1);
    CHECK(w.queries[0].name == "Invoice");
    CHECK(w.queries[0].query.find("UpdatedDate >= '") != std::string::npos);
    CHECK(w.source_data == "WAREHOUSE");
    windows.push_back(w.queries[0].query);
    CHECK(posts[i]->job.find("billing [") == 0);
  }
  CHECK(windows[0].find(">= '2026-01-01T00:00:00") != std::string::npos);
  CHECK(windows[1].find("< '2026-03-01T00:00:00") != std::string::npos);

  // The stateful session without a cursor: the service is asked first.
  const emulator::job_request sync = parsed(posts[3]->body);
  CHECK(sync.stateful());
  CHECK(sync.use_last_completed);
  REQUIRE(sync.queries.size() == 1);
  CHECK(sync.queries[0].deleted_json == R"({"column":"IsDeleted","format":"Boolean"})");
  const auto ask = std::find_if(plan.begin(), plan.end(), [](const planned_request& r) {
    return r.method == "GET" && r.url.find("/v1/batch-query/") != std::string::npos;
  });
  REQUIRE(ask != plan.end());
  CHECK(ask->url == "https://rest.apisandbox.zuora.com/v1/batch-query/jobs/partner/acme/project/warehouse");
  CHECK(ask->note.find("WITHOUT incrementalTime") != std::string::npos);

  // Headers as sent: the body's type, the track id, and a redacted token.
  const auto header = [&](const planned_request& r, std::string_view name) {
    for (const auto& [n, v] : r.headers)
      if (n == name) return v;
    return std::string("<absent>");
  };
  CHECK(header(*posts[0], "Content-Type") == "application/json");
  CHECK(header(*posts[0], "Zuora-Track-Id") == "dry-run-1");
  CHECK(header(*posts[0], "Authorization") == "Bearer [REDACTED]");
  CHECK(plan.front().url == "https://rest.apisandbox.zuora.com/oauth/token");
  CHECK(plan.front().body == "client_id=me&client_secret=[REDACTED]&grant_type=client_credentials");
  CHECK(to_text(plan).find(secret) == std::string::npos);
}

TEST_CASE("a stateful session with cursors: incrementalTime from them, the service not asked first") {
  test::temp_dir state;
  const pipeline_config cfg = pipeline(oauth);
  const job_config& sync = cfg.jobs[1];
  engine_detail::state_directory store(state.path());
  engine_detail::cursor c;
  c.job = sync.name;
  c.query = sync.queries[0].name;
  c.mode = "stateful";
  c.position = std::chrono::sys_seconds{std::chrono::seconds(1780000000)};
  c.fingerprint = engine_detail::fingerprint_of(sync.queries[0]);
  store.save(c);
  store.lock();  // a dry run neither needs nor takes the lock

  engine_options opts;
  opts.state_dir = state.path().string();
  const auto plan = plan_requests(cfg, opts);
  CHECK(std::none_of(plan.begin(), plan.end(), [](const planned_request& r) {
    return r.method == "GET" && r.url.find("/v1/batch-query/") != std::string::npos;
  }));
  const auto posts = submits(plan);
  REQUIRE(posts.size() == 4);
  const std::string expected = engine_detail::format_incremental_time(
      *c.position, engine_detail::resolve_zone(cfg.source));
  CHECK(posts[3]->body.find("\"incrementalTime\":\"" + expected + "\"") != std::string::npos);
  const emulator::job_request j = parsed(posts[3]->body);
  CHECK(j.incremental_time_ms.has_value());
}

TEST_CASE("a state directory that does not exist is neither created nor needed") {
  test::temp_dir parent;
  engine_options opts;
  opts.state_dir = (parent.path() / "not-yet").string();
  const auto plan = plan_requests(pipeline(oauth), opts);
  CHECK(submits(plan).size() == 4);
  CHECK_FALSE(std::filesystem::exists(opts.state_dir));
  CHECK(to_text(plan).find("does not exist yet") != std::string::npos);
  // Without any state directory the cursor jobs are refused, as a run refuses them.
  CHECK_THROWS_AS(plan_requests(pipeline(oauth), engine_options{}), config_error);
}

TEST_CASE("api_key and basic credentials are redacted wherever they would show") {
  test::temp_dir state;
  engine_options opts;
  opts.state_dir = state.path().string();
  for (const std::string& auth :
       {std::string("type = \"api_key\"\naccess_key_id = \"key-1\"\nsecret_access_key = \"${PLAN_TEST_SECRET}\""),
        std::string("type = \"basic\"\nusername = \"ops\"\npassword = \"${PLAN_TEST_SECRET}\"")}) {
    INFO(auth);
    pipeline_config cfg = pipeline(auth);
    // A secret pasted where it does not belong is cut out too.
    cfg.jobs[0].queries[0].query = "select Id from Account where Name = '" + secret + "'";
    // A proxy's password is no configured credential: redact() finds it in the URL.
    cfg.source.proxy = "http://ops:proxy-pw-77@proxy.example:3128";
    const auto plan = plan_requests(cfg, opts);
    const std::string text = to_text(plan);
    CHECK(text.find(secret) == std::string::npos);
    CHECK(text.find("proxy-pw-77") == std::string::npos);
    CHECK(text.find("through the proxy http://[REDACTED]@proxy.example:3128") != std::string::npos);
    CHECK(text.find("[REDACTED]") != std::string::npos);
    CHECK(text.find("POST https://rest.apisandbox.zuora.com/oauth/token") == std::string::npos);  // no token call
  }
}

TEST_CASE("the emulator answers an unknown currency code with 90021") {
  job_config job;
  job.name = "fx";
  query_config q;
  q.name = "Account";
  q.query = "select Id from Account";
  q.convert_to_currencies = "EUR,euro";  // the config refuses this; the service must too
  job.queries.push_back(q);
  const std::string body = engine_detail::submit_body(job);
  simdjson::dom::parser parser;
  emulator::job_request j;
  const auto error = emulator::parse_job_request(body, parser, emulator::tenant_zone::pacific, j);
  REQUIRE(error);
  CHECK(error->code == "90021");
  CHECK(error->message.find("'euro'") != std::string::npos);
}

TEST_CASE("a job's notify_url replaces the callout listener's; the others get the listener's") {
  test::temp_dir state;
  engine_options opts;
  opts.state_dir = state.path().string();
  pipeline_config cfg = pipeline(oauth);
  cfg.source.callout.listen = "127.0.0.1:0";
  cfg.source.callout.public_url = "https://etl.example.com/aquaduct/callout";
  const auto plan = plan_requests(cfg, opts);
  const auto posts = submits(plan);
  REQUIRE(posts.size() == 4);
  CHECK(parsed(posts[2]->body).notify_url == cfg.jobs[0].notify_url);  // billing sets its own
  CHECK(parsed(posts[3]->body).notify_url ==
        "https://etl.example.com/aquaduct/callout?job=${JOBID}&status=${STATUS}");  // sync: the listener's
}

TEST_CASE("an incremental query's window starts at its committed high-water mark") {
  test::temp_dir state;
  engine_options opts;
  opts.state_dir = state.path().string();
  const pipeline_config cfg = parse_pipeline(R"([source]
base_url = "http://127.0.0.1:1"
[[jobs]]
name = "inc"
[[jobs.queries]]
name = "Account"
query = "select Id, UpdatedDate from Account"
incremental = { by = "UpdatedDate", lag_s = 60 }
[[sinks]]
type = "null"
)",
                                             "p.toml");
  {
    const auto plan = plan_requests(cfg, opts);
    const auto posts = submits(plan);
    REQUIRE(posts.size() == 1);
    CHECK(posts[0]->note.find("first window") != std::string::npos);
    CHECK(parsed(posts[0]->body).queries[0].query.find(">= '2000-01-01T00:00:00") != std::string::npos);
  }
  engine_detail::cursor c;
  c.job = "inc";
  c.query = "Account";
  c.mode = "incremental";
  c.position = engine_detail::parse_iso_utc("2026-05-04T03:02:01Z");
  c.fingerprint = engine_detail::fingerprint_of(cfg.jobs[0].queries[0]);
  engine_detail::state_directory(state.path()).save(c);
  const auto plan = plan_requests(cfg, opts);
  const auto posts = submits(plan);
  REQUIRE(posts.size() == 1);
  CHECK(posts[0]->note.find("from its high-water mark") != std::string::npos);
  CHECK(parsed(posts[0]->body).queries[0].query.find(">= '2026-05-04T03:02:01") != std::string::npos);
}

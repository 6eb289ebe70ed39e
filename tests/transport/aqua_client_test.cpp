// The AQuA calls over the transport, against the emulator with every fault
// type armed, and against scripted servers for what the emulator never does
// (no Range support, Range ignored, secrets echoed back).
#include "engine/aqua_client.hpp"

#include <aquaduct/emulator.hpp>
#include "engine/task_group.hpp"
#include "support/failure_of.hpp"
#include "support/intercepting_proxy.hpp"
#include "support/run_sync.hpp"
#include "support/scripted_server.hpp"
#include "support/temp_dir.hpp"
#include "support/test_pki.hpp"

#include <aquaduct/engine.hpp>
#include <aquaduct/error.hpp>

#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>

using namespace aquaduct;
using aquaduct::engine_detail::aqua_client;
using aquaduct::engine_detail::make_aqua_session;
using aquaduct::test::run_sync;
using aquaduct::test::script_step;
using aquaduct::test::scripted_server;
using namespace std::chrono_literals;

namespace {

const std::string secret = "Sup3r-S3cret-Value";  // never to appear in a message or log line

emulator::options emulator_options(std::string faults = "") {
  emulator::options o;
  o.latency = std::chrono::milliseconds(20);
  o.scale = 2000;  // a result file of some hundred KB
  o.seed = 3;
  o.faults_json = std::move(faults);
  return o;
}

source_config source(const std::string& base_url) {
  source_config s;
  s.base_url = base_url;
  s.auth.type = auth_type::oauth;
  s.auth.client_id = "aquaduct";
  s.auth.client_secret = "aquaduct";
  s.idle_timeout_ms = 2000;
  s.retry.initial_ms = 5;
  s.retry.max_ms = 20;
  s.proxy = "none";
  return s;
}

// A run's session with its log lines collected.
struct session {
  asio::io_context io;
  std::vector<std::string> log;
  engine_detail::aqua_session s;
  explicit session(const source_config& src)
      : s(make_aqua_session(io.get_executor(), src, "test.toml",
                          engine_detail::run_log([this](const log_record& r) { log.push_back(to_text(r)); }))) {}
  // A budget finer than budget_s's seconds, for tests that wait it out.
  void set_retry(std::chrono::milliseconds budget) {
    transport::retry_options o = s.retry.options();
    o.budget = budget;
    s.retry = transport::retry_policy(o);
  }
  std::size_t log_lines_with(const std::string& text) const {
    return static_cast<std::size_t>(
        std::count_if(log.begin(), log.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; }));
  }
};

// Submits a one-query job and polls it to completion.
asio::awaitable<decode::aqua_job> completed_job(aqua_client* c, std::string key) {
  decode::aqua_job job = co_await c->submit(
      R"({"format":"gzip","version":"1.0","name":"t","queries":[{"name":"Account","query":"select Id, Name, Balance from Account","type":"zoqlexport"}]})",
      key);
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (job.status != "completed") {
    REQUIRE((job.status == "submitted" || job.status == "executing"));
    t.expires_after(std::chrono::milliseconds(10));  // the service's own pace: AQuA is polled
    co_await t.async_wait(asio::use_awaitable);
    job = co_await c->get_job(job.id);
  }
  REQUIRE(job.batches.size() == 1);
  co_return job;
}

// The same; returns its one file's id.
asio::awaitable<std::string> completed_file(aqua_client* c) {
  const decode::aqua_job job = co_await completed_job(c, "key-1");
  REQUIRE(job.batches[0].files.size() == 1);
  co_return job.batches[0].files[0];
}

asio::awaitable<std::string> download_all(aqua_client* c, std::string file_id) {
  std::string out;
  co_await c->download(file_id, [&out](std::string_view piece) { out.append(piece); });
  co_return out;
}

// The reference bytes of the file, fetched with no fault armed.
std::string clean_copy() {
  emulator::server srv(emulator_options());
  srv.start();
  session s(source(srv.base_url()));
  aqua_client c(s.s);
  const std::string id = run_sync(s.io, completed_file(&c));
  return run_sync(s.io, download_all(&c, id));
}


}  // namespace

TEST_CASE("download faults once: reset, stall and truncate resume with Range to the same bytes") {
  const std::string reference = clean_copy();
  REQUIRE(reference.size() > 20000);
  for (const std::string fault :
       {R"({"path":"/v1/file/*","fault":"reset_after_bytes","bytes":10000,"times":1})",
        R"({"path":"/v1/file/*","fault":"truncate","bytes":7000,"times":1})",
        R"({"path":"/v1/file/*","fault":"stall_ms","ms":5000,"after_bytes":9000,"times":1})"}) {
    CAPTURE(fault);
    emulator::server srv(emulator_options(R"({"rules":[)" + fault + "]}"));
    srv.start();
    auto src = source(srv.base_url());
    src.idle_timeout_ms = 300;  // the stall outlasts it
    session s(src);
    aqua_client c(s.s);
    const std::string id = run_sync(s.io, completed_file(&c));
    const std::string got = run_sync(s.io, download_all(&c, id));
    CHECK(got.size() == reference.size());
    CHECK(got == reference);
    // The retry said where it resumed.
    bool resumed = false;
    for (const auto& l : s.log) resumed = resumed || l.find("resuming at byte") != std::string::npos;
    CHECK(resumed);
  }
}

TEST_CASE("a 429 storm is ridden out under Retry-After; an endless one ends only with the request's budget") {
  {
    emulator::server srv(emulator_options(
        R"({"rules":[{"path":"/v1/batch-query*","fault":"status","code":429,"retry_after_s":0,"times":3}]})"));
    srv.start();
    session s(source(srv.base_url()));
    aqua_client c(s.s);
    CHECK(run_sync(s.io, completed_file(&c)).size() == 32);
    CHECK(s.log.size() == 3);
  }
  {
    emulator::server srv(
        emulator_options(R"({"rules":[{"path":"/v1/batch-query*","fault":"status","code":429,"retry_after_s":0}]})"));
    srv.start();
    session s(source(srv.base_url()));
    s.set_retry(1000ms);
    aqua_client c(s.s);
    const std::system_error e = test::failure_of(s.io, completed_file(&c));
    CHECK(e.code() == aqua_errc::unavailable);
    CHECK(std::string(e.what()).find("HTTP 429") != std::string::npos);
    CHECK(std::string(e.what()).find("the retry budget of 1 s is spent") != std::string::npos);
    CHECK(s.log.size() > 5);  // more tries than max_attempts: a 429 is not a failed attempt
    CHECK(s.s.gate->window() < source_config{}.max_connections);  // and the run slowed down
  }
}

TEST_CASE("an expired token is refreshed once; a token refused twice is an auth error (exit code 3)") {
  {
    emulator::server srv(emulator_options(R"({"rules":[{"path":"/v1/batch-query/jobs/*","fault":"token_expired","times":1}]})"));
    srv.start();
    session s(source(srv.base_url()));
    aqua_client c(s.s);
    CHECK(run_sync(s.io, completed_file(&c)).size() == 32);
    CHECK(s.s.auth->token_fetches() == 2);
  }
  {
    emulator::server srv(emulator_options(R"({"rules":[{"path":"/v1/batch-query/jobs/*","fault":"token_expired"}]})"));
    srv.start();
    session s(source(srv.base_url()));
    aqua_client c(s.s);
    const std::system_error e = test::failure_of(s.io, completed_file(&c));
    CHECK(e.code() == aqua_errc::auth_refused);
    CHECK(e.code() == make_error_condition(condition::auth));
    CHECK(s.s.auth->token_fetches() == 2);  // one refresh, not a loop
  }
}

TEST_CASE("many calls that find no token share one fetch; refresh_ahead renews before expiry") {
  emulator::server srv(emulator_options());
  srv.start();
  session s(source(srv.base_url()));
  aqua_client c(s.s);
  const std::string id = run_sync(s.io, completed_file(&c));
  // A fresh authenticator, then 20 calls at once.
  auto src = source(srv.base_url());
  session fresh(src);
  aqua_client fc(fresh.s);
  int done = 0;
  for (int i = 0; i < 20; ++i)
    asio::co_spawn(fresh.io, [](aqua_client* cl, std::string file, int* n) -> asio::awaitable<void> {
      std::string body;
      co_await cl->download(file, [&body](std::string_view p) { body.append(p); });
      ++*n;
    }(&fc, id, &done), asio::detached);
  fresh.io.run();
  CHECK(done == 20);
  CHECK(fresh.s.auth->token_fetches() == 1);
  CHECK(fresh.s.http->stats().peak_open <= src.max_connections);

  // A token always inside its refresh window is fetched anew for every call.
  transport::auth_settings eager{transport::auth_kind::oauth, "aquaduct", "aquaduct", std::chrono::hours(2)};
  fresh.s.auth = std::make_shared<transport::authenticator>(eager);
  aqua_client ec(fresh.s);
  run_sync(fresh.io, download_all(&ec, id));
  run_sync(fresh.io, download_all(&ec, id));
  CHECK(fresh.s.auth->token_fetches() == 2);
}

TEST_CASE("HTTP 200 carrying an AQuA errorCode is a failure with that code") {
  emulator::server srv(emulator_options());
  srv.start();
  session s(source(srv.base_url()));
  aqua_client c(s.s);
  try {
    run_sync(s.io, [](aqua_client* cl) -> asio::awaitable<std::string> {
      co_await cl->submit(R"({"format":"csv","version":"1.0","queries":[{"name":"a","query":"select Id, NoSuchField from Account","type":"zoqlexport"}]})",
                          "k");
      co_return "";
    }(&c));
    FAIL("expected query_refused");
  } catch (const std::system_error& e) {
    // 90005 refuses the query for good (an unknown field): not submit_rejected, which may pass.
    CHECK(e.code() == aqua_errc::query_refused);
    CHECK(std::string(e.what()).find("errorCode 90005") != std::string::npos);
  }
}

TEST_CASE("a POST is retried with the same Idempotency-Key; headers go on every call") {
  const std::string job = R"({"id":"2c92c0f84b58a2bd014b59e7eb460b3c","status":"submitted","batches":[]})";
  scripted_server srv({{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"},
                       {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(job.size()) + "\r\n\r\n" + job}});
  auto src = source("http://127.0.0.1:" + std::to_string(srv.port()));
  src.auth.type = auth_type::api_key;
  src.auth.access_key_id = "key-id";
  src.auth.secret_access_key = secret;
  src.headers.track_id = "track-123";
  src.headers.entity_ids = "ent-1";
  src.headers.org_ids = "org-1,org-2";
  src.headers.user_agent = "etl/7";
  session s(src);
  aqua_client c(s.s);
  run_sync(s.io, [](aqua_client* cl) -> asio::awaitable<std::string> {
    co_return (co_await cl->submit("{}", "the-one-key")).id;
  }(&c));
  const auto reqs = srv.requests();
  REQUIRE(reqs.size() == 2);
  for (const auto& r : reqs) {
    CHECK(r.find("Idempotency-Key: the-one-key\r\n") != std::string::npos);
    CHECK(r.find("Zuora-Track-Id: track-123\r\n") != std::string::npos);
    CHECK(r.find("Zuora-Entity-Ids: ent-1\r\n") != std::string::npos);
    CHECK(r.find("Zuora-Org-Ids: org-1,org-2\r\n") != std::string::npos);
    CHECK(r.find("User-Agent: etl/7\r\n") != std::string::npos);
    CHECK(r.find("Accept-Encoding: gzip\r\n") != std::string::npos);
    CHECK(r.find("apiSecretAccessKey: " + secret) != std::string::npos);
  }
  for (const auto& l : s.log) CHECK(l.find(secret) == std::string::npos);
}

TEST_CASE("a broken download from a server without Range support reports that it must restart") {
  const std::string head_ok = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n";
  SUBCASE("no Accept-Ranges") {
    scripted_server srv({{head_ok + "\r\n" + "abcd", /*close_after=*/true}});
    session s(source("http://127.0.0.1:" + std::to_string(srv.port())));
    s.s.auth = std::make_shared<transport::authenticator>(transport::auth_settings{});
    aqua_client c(s.s);
    std::string got;
    const std::system_error e = test::failure_of(s.io, download_all(&c, "f1"));
    CHECK(e.code() == transport_errc::restart_needed);
    CHECK(std::string(e.what()).find("after 4 bytes") != std::string::npos);
  }
  SUBCASE("Range answered with the whole file") {
    scripted_server srv({{head_ok + "Accept-Ranges: bytes\r\n\r\nabcd", /*close_after=*/true},
                         {head_ok + "Accept-Ranges: bytes\r\n\r\nabcdefghij"}});
    session s(source("http://127.0.0.1:" + std::to_string(srv.port())));
    s.s.auth = std::make_shared<transport::authenticator>(transport::auth_settings{});
    aqua_client c(s.s);
    const std::system_error e = test::failure_of(s.io, download_all(&c, "f1"));
    CHECK(e.code() == transport_errc::restart_needed);
    CHECK(std::string(e.what()).find("ignored Range at byte 4") != std::string::npos);
    const auto reqs = srv.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[1].find("Range: bytes=4-\r\n") != std::string::npos);
  }
}

TEST_CASE("secrets stay out of every message and log line") {
  // Refused OAuth secret, refused API secret, and a server that echoes the
  // credentials it got back in its error body.
  emulator::server srv(emulator_options(R"({"rules":[{"path":"/v1/batch-query/jobs/*","fault":"status","code":503,"times":2}]})"));
  srv.start();
  std::vector<std::string> texts;
  for (auto type : {auth_type::oauth, auth_type::api_key, auth_type::basic}) {
    auto src = source(srv.base_url());
    src.auth.type = type;
    src.auth.client_secret = src.auth.secret_access_key = src.auth.password = secret;
    src.auth.access_key_id = src.auth.username = "aquaduct";
    session s(src);
    aqua_client c(s.s);
    texts.push_back(test::failure_of(s.io, completed_file(&c)).what());
    texts.insert(texts.end(), s.log.begin(), s.log.end());
  }
  const std::string echo = "{\"message\":\"bad request; you sent Authorization: Bearer " + secret +
                           " and client_secret=" + secret + "\"}";
  scripted_server echoing({{"HTTP/1.1 400 Bad Request\r\nContent-Length: " + std::to_string(echo.size()) + "\r\n\r\n" + echo}});
  session s(source("http://127.0.0.1:" + std::to_string(echoing.port())));
  s.s.auth = std::make_shared<transport::authenticator>(transport::auth_settings{});
  aqua_client c(s.s);
  texts.push_back(test::failure_of(s.io, [](aqua_client* cl) -> asio::awaitable<std::string> {
                    co_return (co_await cl->get_job("x")).id;
                  }(&c)).what());
  // Credentials in a URL are refused, and not repeated.
  try {
    session bad_url(source("https://user:" + secret + "@127.0.0.1:1"));
    FAIL("expected config_error");
  } catch (const config_error& e) {
    texts.push_back(e.what());
  }
  for (const auto& t : texts) {
    CAPTURE(t);
    CHECK(t.find(secret) == std::string::npos);
  }
  CHECK(texts.size() >= 4);
}

namespace {

const std::string jobs_and_sinks = R"(
[[jobs]]
name = "j"
[[jobs.queries]]
name = "Account"
query = "select Id from Account"
[[sinks]]
type = "null"
)";

std::vector<std::string> problems_of(const std::string& source_toml) {
  try {
    parse_pipeline(source_toml + jobs_and_sinks, "p.toml");
  } catch (const config_error& e) {
    return e.problems();
  }
  return {};
}

}  // namespace

TEST_CASE("[source] transport keys: environment, tls, deadlines, proxy, headers, retry") {
  const pipeline_config cfg = parse_pipeline(R"([source]
environment = "eu-sandbox"
connect_timeout_ms = 1500
handshake_timeout_ms = 2500
write_timeout_ms = 3500
idle_timeout_ms = 4500
pool_idle_timeout_ms = 5500
proxy = "http://proxy.corp:3128"
gzip_request_bodies = true
[source.tls]
ca_file = "/etc/ssl/private-ca.pem"
insecure_skip_verify = false
[source.headers]
track_id = "nightly-42"
entity_ids = "e1"
org_ids = "o1,o2"
user_agent = "etl/1"
[source.retry]
max_attempts = 7
initial_ms = 100
max_ms = 9000
budget_s = 60
max_pause_s = 120
)" + jobs_and_sinks, "p.toml");
  const source_config& s = cfg.source;
  CHECK(s.base_url == transport::environment_base_url("eu-sandbox"));
  CHECK(s.base_url.rfind("https://", 0) == 0);
  CHECK(s.connect_timeout_ms == 1500);
  CHECK(s.handshake_timeout_ms == 2500);
  CHECK(s.write_timeout_ms == 3500);
  CHECK(s.idle_timeout_ms == 4500);
  CHECK(s.pool_idle_timeout_ms == 5500);
  CHECK(s.proxy == "http://proxy.corp:3128");
  CHECK(s.gzip_request_bodies);
  CHECK(s.tls.ca_file == "/etc/ssl/private-ca.pem");
  CHECK_FALSE(s.tls.insecure_skip_verify);
  CHECK(s.headers.track_id == "nightly-42");
  CHECK(s.headers.org_ids == "o1,o2");
  CHECK(s.retry.max_attempts == 7);
  CHECK(s.retry.budget_s == 60);
  CHECK(s.retry.max_pause_s == 120);
  CHECK(source_config{}.retry.max_pause_s == 3600);
  source_config reachable = s;
  reachable.tls.ca_file.clear();  // not on this machine
  asio::io_context io;
  CHECK(make_aqua_session(io.get_executor(), reachable, "p.toml").retry.options().max_pause == std::chrono::seconds(120));
}

TEST_CASE("[source] transport keys are checked") {
  std::string all;
  for (const auto& p : problems_of(R"([source]
environment = "moon-production"
idle_timeout_ms = 0
proxy = "socks5://x"
[source.tls]
ca_flie = "x"
[source.headers]
track_id = "a:b"
[source.retry]
max_attempts = 0
max_pause_s = 0
)"))
    all += p + "\n";
  CHECK(all.find("p.toml:2:15: environment = \"moon-production\" is not one of: us-production") != std::string::npos);
  CHECK(all.find("idle_timeout_ms must be an integer from 1") != std::string::npos);
  CHECK(all.find("proxy must be \"none\" or http://[user:password@]host:port") != std::string::npos);
  CHECK(all.find("unknown key 'ca_flie' in [source.tls]") != std::string::npos);
  CHECK(all.find("track_id must be at most 64 US-ASCII characters") != std::string::npos);
  CHECK(all.find("max_attempts must be an integer from 1 to 100") != std::string::npos);
  CHECK(all.find("max_pause_s must be an integer from 1 to 86400") != std::string::npos);
  const auto both = problems_of("[source]\nenvironment = \"us-sandbox\"\nbase_url = \"http://127.0.0.1:1\"\n");
  REQUIRE(both.size() == 1);
  CHECK(both[0].find("give environment or base_url, not both") != std::string::npos);
}

namespace {

// The emulator over TLS with a certificate from a CA made here.
struct tls_emulator {
  test::temp_dir dir;
  test::test_ca ca;
  std::string ca_file = (dir.path() / "ca.pem").string();
  std::unique_ptr<emulator::server> srv;
  explicit tls_emulator(emulator::options o) {
    const test::pem_identity id = ca.issue({"localhost", "IP:127.0.0.1"});
    o.tls_cert_file = (dir.path() / "cert.pem").string();
    o.tls_key_file = (dir.path() / "key.pem").string();
    std::ofstream(o.tls_cert_file) << id.cert;
    std::ofstream(o.tls_key_file) << id.key;
    std::ofstream(ca_file) << ca.cert_pem();
    srv = std::make_unique<emulator::server>(o);
    srv->start();
  }
};

}  // namespace

TEST_CASE("over TLS against the emulator: verified, and a reset download resumes with Range") {
  const std::string reference = clean_copy();
  tls_emulator emu(emulator_options(R"({"rules":[{"path":"/v1/file/*","fault":"reset_after_bytes","bytes":5000,"times":1}]})"));
  REQUIRE(emu.srv->base_url().rfind("https://", 0) == 0);
  auto src = source(emu.srv->base_url());
  src.tls.ca_file = emu.ca_file;
  session s(src);
  aqua_client c(s.s);
  const std::string id = run_sync(s.io, completed_file(&c));
  CHECK(run_sync(s.io, download_all(&c, id)) == reference);

  // Without the CA the same service is refused, and the refusal is not retried.
  auto untrusting = source(emu.srv->base_url());
  session u(untrusting);
  aqua_client uc(u.s);
  const std::system_error e = test::failure_of(u.io, completed_file(&uc));
  CHECK(e.code() == transport_errc::tls_failed);
  CHECK(u.log.empty());
}

TEST_CASE("a whole pipeline over https with [source.tls] ca_file") {
  tls_emulator emu(emulator_options());
  test::temp_dir out;
  const pipeline_config cfg = parse_pipeline("[source]\nbase_url = \"" + emu.srv->base_url() +
                                                 "\"\nproxy = \"none\"\n[source.tls]\nca_file = \"" + emu.ca_file +
                                                 "\"\n[source.auth]\ntype = \"oauth\"\nclient_id = \"aquaduct\"\n"
                                                 "client_secret = \"aquaduct\"\n[source.poll]\ninitial_ms = 10\nmax_ms = 50\n"
                                                 "[[jobs]]\nname = \"j\"\n[[jobs.queries]]\nname = \"Account\"\n"
                                                 "query = \"select Id, Name from Account\"\n[[sinks]]\ntype = \"csv\"\npath = \"" +
                                                 out.path().string() + "\"\n",
                                             "tls.toml");
  engine eng{cfg};
  const run_report report = eng.run();
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  CHECK(report.jobs.at(0).queries.at(0).rows == emulator_options().scale);
}

// ---------------------------------------------------------------- what is retried, by status and by AQuA code

namespace {

std::string http(int status, const std::string& reason, const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

const std::string a_job = R"({"id":"2c92c0f84b58a2bd014b59e7eb460b3c","status":"submitted","batches":[]})";
const std::string error_90022 = R"({"status":"error","errorCode":"90022","message":"internal error, retry"})";

// A session on a scripted server, with no credentials to fetch.
struct scripted_session : session {
  explicit scripted_session(const scripted_server& srv) : session(source("http://127.0.0.1:" + std::to_string(srv.port()))) {
    s.auth = std::make_shared<transport::authenticator>(transport::auth_settings{});
  }
};

asio::awaitable<std::string> submit_id(aqua_client* c, std::string key) { co_return (co_await c->submit("{}", key)).id; }
asio::awaitable<std::string> job_status(aqua_client* c, std::string id) { co_return (co_await c->get_job(id)).status; }

std::string header_value(const std::string& request, const std::string& name) {
  const auto p = request.find("\r\n" + name + ": ");
  if (p == std::string::npos) return {};
  const auto from = p + name.size() + 4;
  return request.substr(from, request.find("\r\n", from) - from);
}

}  // namespace

TEST_CASE("HTTP 500 is retried like 503, at submit, poll and download") {
  const std::string reference = clean_copy();
  emulator::server srv(emulator_options(R"({"rules":[
      {"method":"POST","path":"/v1/batch-query/","fault":"status","code":500,"times":1},
      {"method":"GET","path":"/v1/batch-query/jobs/*","fault":"status","code":500,"times":1},
      {"method":"GET","path":"/v1/file/*","fault":"status","code":500,"times":1}]})"));
  srv.start();
  session s(source(srv.base_url()));
  aqua_client c(s.s);
  const std::string id = run_sync(s.io, completed_file(&c));
  CHECK(run_sync(s.io, download_all(&c, id)) == reference);
  CHECK(s.log_lines_with("HTTP 500") == 3);
  CHECK(s.log_lines_with("attempt=2") == 3);
}

TEST_CASE("HTTP 409 on a submit (its key's first attempt still running) is retried with the same key") {
  const std::string in_use = R"({"success":false,"reasons":[{"code":50000409,"message":"Idempotency-Key is in use"}]})";
  {
    scripted_server srv({{http(409, "Conflict", in_use)}, {http(409, "Conflict", in_use)}, {http(200, "OK", a_job)}});
    scripted_session s(srv);
    aqua_client c(s.s);
    CHECK(run_sync(s.io, submit_id(&c, "the-key")) == "2c92c0f84b58a2bd014b59e7eb460b3c");
    const auto reqs = srv.requests();
    REQUIRE(reqs.size() == 3);
    for (const auto& r : reqs) CHECK(header_value(r, "Idempotency-Key") == "the-key");
    CHECK(s.log_lines_with("HTTP 409") == 2);
  }
  {
    // Without an Idempotency-Key a 409 is a real conflict: refused at once.
    scripted_server srv({{http(409, "Conflict", in_use)}, {http(200, "OK", a_job)}});
    scripted_session s(srv);
    aqua_client c(s.s);
    const std::system_error e = test::failure_of(s.io, job_status(&c, "abc"));
    CHECK(e.code() == aqua_errc::http_error);
    CHECK(std::string(e.what()).find("HTTP 409 50000409 Idempotency-Key is in use") != std::string::npos);
    CHECK(srv.requests().size() == 1);
  }
}

TEST_CASE("AQuA errorCode 90022 (internal error, retry) is retried; a submit's retry gets a fresh key") {
  SUBCASE("against the emulator: at submit and at poll") {
    const std::string rules = R"({"rules":[
        {"method":"POST","path":"/v1/batch-query/","fault":"status","code":200,"body":)" + error_90022 + R"(,"times":1},
        {"method":"GET","path":"/v1/batch-query/jobs/*","fault":"status","code":200,"body":)" + error_90022 + R"(,"times":1}]})";
    emulator::server srv(emulator_options(rules));
    srv.start();
    session s(source(srv.base_url()));
    aqua_client c(s.s);
    CHECK(run_sync(s.io, completed_file(&c)).size() == 32);
    CHECK(s.log_lines_with("errorCode 90022") == 2);
  }
  SUBCASE("the key: fresh after a 90022 (which created no job), then kept for every other retry") {
    // A service that stores answers per key would give the same 90022 to the same key for 24 hours.
    scripted_server srv({{http(200, "OK", error_90022)},
                         {http(503, "Service Unavailable", "{}")},
                         {http(200, "OK", error_90022)},
                         {http(200, "OK", a_job)}});
    scripted_session s(srv);
    aqua_client c(s.s);
    CHECK(run_sync(s.io, submit_id(&c, "job-key")) == "2c92c0f84b58a2bd014b59e7eb460b3c");
    const auto reqs = srv.requests();
    REQUIRE(reqs.size() == 4);
    CHECK(header_value(reqs[0], "Idempotency-Key") == "job-key");
    CHECK(header_value(reqs[1], "Idempotency-Key") == "job-key-r1");
    CHECK(header_value(reqs[2], "Idempotency-Key") == "job-key-r1");  // the 503 may have created the job: same key
    CHECK(header_value(reqs[3], "Idempotency-Key") == "job-key-r2");
  }
  SUBCASE("a poll keeps its request as it is") {
    scripted_server srv({{http(200, "OK", error_90022)}, {http(200, "OK", a_job)}});
    scripted_session s(srv);
    aqua_client c(s.s);
    CHECK(run_sync(s.io, job_status(&c, "abc")) == "submitted");
    CHECK(srv.requests().size() == 2);
  }
  SUBCASE("a 90022 on every attempt fails after max_attempts, naming the code") {
    emulator::server srv(emulator_options(R"({"rules":[{"method":"POST","path":"/v1/batch-query/","fault":"status","code":200,"body":)" +
                                          error_90022 + "}]}"));
    srv.start();
    session s(source(srv.base_url()));
    aqua_client c(s.s);
    const std::system_error e = test::failure_of(s.io, completed_file(&c));
    CHECK(e.code() == aqua_errc::unavailable);
    CHECK(e.code() == make_error_condition(condition::retriable));
    CHECK(std::string(e.what()).find("POST /v1/batch-query/: HTTP 200 90022 internal error, retry (gave up after 5 attempts)") !=
          std::string::npos);
  }
}

TEST_CASE("a 429 is back-pressure: it never counts toward max_attempts, and Retry-After is honoured") {
  SUBCASE("without Retry-After: backoff, six 429s in a row with max_attempts = 2") {
    std::vector<script_step> steps(6, script_step{http(429, "Too Many Requests", "{}")});
    steps.push_back({http(200, "OK", a_job)});
    scripted_server srv(steps);
    scripted_session s(srv);
    transport::retry_options o = s.s.retry.options();
    o.max_attempts = 2;
    s.s.retry = transport::retry_policy(o);
    aqua_client c(s.s);
    CHECK(run_sync(s.io, submit_id(&c, "k")) == "2c92c0f84b58a2bd014b59e7eb460b3c");
    CHECK(srv.requests().size() == 7);
    CHECK(s.log_lines_with("rate limited: not counted against max_attempts") == 6);
    CHECK(s.log_lines_with("attempt=7") == 1);
    CHECK(s.s.gate->halvings() == 4);  // 16 -> 8 -> 4 -> 2 -> 1, then no lower
    CHECK(s.s.gate->window() >= 1);
  }
  SUBCASE("with Retry-After: that long, not the shorter backoff") {
    scripted_server srv({{http(429, "Too Many Requests", "{}", "Retry-After: 1\r\n")}, {http(200, "OK", a_job)}});
    scripted_session s(srv);
    aqua_client c(s.s);
    const auto before = std::chrono::steady_clock::now();
    CHECK(run_sync(s.io, submit_id(&c, "k")) == "2c92c0f84b58a2bd014b59e7eb460b3c");
    CHECK(std::chrono::steady_clock::now() - before >= 1s);
    CHECK(s.log_lines_with("in 1000 ms: HTTP 429") == 1);
  }
  SUBCASE("a Retry-After beyond max_pause_s fails at once, naming it") {
    scripted_server srv({{http(429, "Too Many Requests", R"({"message":"API Rate limit exceeded for the day"})",
                               "Retry-After: 7200\r\n")},
                         {http(200, "OK", a_job)}});
    scripted_session s(srv);
    aqua_client c(s.s);
    const std::system_error e = test::failure_of(s.io, submit_id(&c, "k"));
    CHECK(e.code() == aqua_errc::unavailable);
    CHECK(std::string(e.what()).find("HTTP 429 API Rate limit exceeded for the day (Retry-After 7200 s is longer than "
                                     "[source.retry] max_pause_s = 3600)") != std::string::npos);
    CHECK(srv.requests().size() == 1);
    CHECK(s.s.gate->paused_until() < std::chrono::steady_clock::now());
  }
}

TEST_CASE("a 416 to a resumed download that starts at the file's end means every byte is in") {
  // The body's last chunk arrives, then the connection breaks before the chunked terminator.
  const std::string broken_after_all =
      "HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n";
  SUBCASE("Content-Range names the same length") {
    scripted_server srv({{broken_after_all, /*close_after=*/true},
                         {"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */10\r\nContent-Length: 0\r\n\r\n"}});
    scripted_session s(srv);
    aqua_client c(s.s);
    CHECK(run_sync(s.io, download_all(&c, "f1")) == "0123456789");
    const auto reqs = srv.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(header_value(reqs[1], "Range") == "bytes=10-");
  }
  SUBCASE("Content-Range names another length: the file changed, the download must restart") {
    scripted_server srv({{broken_after_all, /*close_after=*/true},
                         {"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */25\r\nContent-Length: 0\r\n\r\n"}});
    scripted_session s(srv);
    aqua_client c(s.s);
    const std::system_error e = test::failure_of(s.io, download_all(&c, "f1"));
    CHECK(e.code() == transport_errc::restart_needed);
    CHECK(std::string(e.what()).find("HTTP 416 to Range at byte 10 with Content-Range \"bytes */25\"") != std::string::npos);
  }
  SUBCASE("a 416 to a request without Range is refused") {
    scripted_server srv({{"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n\r\n"}});
    scripted_session s(srv);
    aqua_client c(s.s);
    const std::system_error e = test::failure_of(s.io, download_all(&c, "f1"));
    CHECK(e.code() == aqua_errc::http_error);
  }
}

// ---------------------------------------------------------------- the whole session slows down

namespace {

// A session through `proxy` (API key credentials: no token request to count).
source_config proxied(const test::intercepting_proxy& proxy) {
  auto src = source(proxy.url());
  src.auth.type = auth_type::api_key;
  src.auth.access_key_id = "aquaduct";
  src.auth.secret_access_key = "aquaduct";
  return src;
}

asio::awaitable<void> download_into(aqua_client* c, std::string file_id, std::string* out) {
  co_await c->download(file_id, [out](std::string_view piece) { out->append(piece); });
}

asio::awaitable<void> status_into(aqua_client* c, std::string job_id, std::string* out) {
  *out = (co_await c->get_job(job_id)).status;
}

// Several realistic jobs at once, as a run of several configured jobs makes them.
asio::awaitable<void> whole_job_into(aqua_client* c, std::string key, std::vector<std::string>* out);

asio::awaitable<std::vector<std::vector<std::string>>> jobs_at_once(aqua_client* c, std::string key, std::size_t n) {
  std::vector<std::vector<std::string>> out(n);
  engine_detail::task_group jobs;
  for (std::size_t i = 0; i < n; ++i)
    jobs.spawn(co_await asio::this_coro::executor, whole_job_into(c, key + "-" + std::to_string(i), &out[i]));
  co_await jobs.wait();
  co_return out;
}

// A realistic job: submit, polls, then every result file downloaded at once.
asio::awaitable<std::vector<std::string>> whole_job(aqua_client* c, std::string key) {
  const decode::aqua_job job = co_await completed_job(c, key);
  const std::vector<std::string>& files = job.batches[0].files;
  std::vector<std::string> out(files.size());
  engine_detail::task_group downloads;
  for (std::size_t i = 0; i < files.size(); ++i)
    downloads.spawn(co_await asio::this_coro::executor, download_into(c, files[i], &out[i]));
  co_await downloads.wait();
  co_return out;
}

asio::awaitable<void> whole_job_into(aqua_client* c, std::string key, std::vector<std::string>* out) {
  *out = co_await whole_job(c, key);
}

std::string too_many_requests(const std::string& retry_after) {
  return test::intercepting_proxy::response(
      429, "Too Many Requests", "Retry-After: " + retry_after + "\r\n",
      R"({"success":false,"reasons":[{"code":50000070,"message":"The total number of concurrent requests has exceeded the limit"}]})");
}

// Waits for a pause of `gate` (a condition polled with a deadline), notes
// its end, then tells the server thread that holds answers back.
struct pause_watch {
  transport::request_gate* gate;
  std::chrono::steady_clock::time_point end;
  std::mutex* m;
  std::condition_variable* cv;
  bool* seen;
};

asio::awaitable<void> watch_for_pause(pause_watch* w) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (w->gate->paused_until() <= std::chrono::steady_clock::now() && std::chrono::steady_clock::now() < deadline) {
    t.expires_after(5ms);
    co_await t.async_wait(asio::use_awaitable);
  }
  w->end = w->gate->paused_until();
  std::lock_guard lock(*w->m);
  *w->seen = true;
  w->cv->notify_all();
}

asio::awaitable<bool> wait_for(engine_detail::task_group* g) {
  co_await g->wait();
  co_return true;
}

// The highest attempt number among the log lines that contain `text`.
unsigned highest_attempt(const std::vector<std::string>& log, const std::string& text) {
  unsigned most = 0;
  for (const auto& l : log) {
    const auto p = l.find("attempt=");
    if (l.find(text) == std::string::npos || p == std::string::npos) continue;
    most = std::max(most, static_cast<unsigned>(std::stoul(l.substr(p + 8))));
  }
  return most;
}

}  // namespace

TEST_CASE("an independent server that rate-limits every third request: 30 realistic jobs, none fails, fewer in flight") {
  auto opts = emulator_options();
  opts.scale = 600;
  opts.segment_rows = 60;  // ten result files per job
  emulator::server srv(opts);
  srv.start();
  std::vector<std::string> reference;
  {
    session direct(source(srv.base_url()));
    aqua_client c(direct.s);
    reference = run_sync(direct.io, whole_job(&c, "reference"));
    REQUIRE(reference.size() == 10);
  }

  std::atomic<std::size_t> limited{0};
  test::intercepting_proxy proxy(srv.port(), [&](std::size_t n, const std::string&) -> std::optional<std::string> {
    if (n % 3 != 0) return std::nullopt;
    ++limited;
    return too_many_requests("0");
  });
  session s(proxied(proxy));
  REQUIRE(s.s.retry.options().max_attempts == 5);  // the default: what five 429s in a row used to exhaust
  aqua_client c(s.s);
  std::size_t failures = 0;
  for (int run = 0; run < 30; ++run) {
    CAPTURE(run);
    try {
      for (const auto& files : run_sync(s.io, jobs_at_once(&c, "run-" + std::to_string(run), 3))) CHECK(files == reference);
    } catch (const std::system_error& e) {
      ++failures;
      MESSAGE("run " << run << " failed: " << std::string(e.what()));
    }
  }
  CHECK(failures == 0);
  const auto arrivals = proxy.arrivals();
  CHECK(limited == arrivals.size() / 3);  // deterministic: every third request, whatever the timing
  CHECK(limited > 100);
  // The session slowed down: the window over requests in flight was halved, and never let more through.
  CHECK(s.s.gate->halvings() > 0);
  CHECK(s.s.gate->min_window() <= 4);
  CHECK(s.s.gate->peak_in_flight() <= 8);
  CHECK(proxy.peak_in_flight() <= s.s.gate->peak_in_flight());
  MESSAGE(arrivals.size() << " requests, " << limited.load() << " answered 429; the most tries of one request: "
                          << highest_attempt(s.log, "HTTP 429") << "; window now " << s.s.gate->window() << ", lowest "
                          << s.s.gate->min_window());
}

TEST_CASE("a Retry-After beyond the budget pauses every request of the session: none fails, each resumes after it") {
  emulator::server srv(emulator_options());
  srv.start();
  const std::string reference = clean_copy();
  std::string job_id, file_id;
  {
    session direct(source(srv.base_url()));
    aqua_client c(direct.s);
    const decode::aqua_job job = run_sync(direct.io, completed_job(&c, "setup"));
    job_id = job.id;
    file_id = job.batches[0].files.at(0);
  }

  // The first of four concurrent requests gets 429 with a Retry-After of 2 s, twice its budget; the
  // other three, already sent, get 503 once the pause is in force, so their retries meet it.
  std::mutex m;
  std::condition_variable cv;
  bool pause_seen = false;
  test::intercepting_proxy proxy(srv.port(), [&](std::size_t n, const std::string&) -> std::optional<std::string> {
    if (n == 1) return too_many_requests("2");
    if (n > 4) return std::nullopt;
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, 60s, [&] { return pause_seen; }));
    return test::intercepting_proxy::response(503, "Service Unavailable", "Retry-After: 0\r\n", "{}");
  });
  session s(proxied(proxy));
  s.set_retry(1000ms);
  aqua_client c(s.s);

  std::string status_a, status_b, file_a, file_b;
  std::chrono::steady_clock::time_point pause_end{};
  engine_detail::task_group all;
  all.spawn(s.io.get_executor(), status_into(&c, job_id, &status_a));
  all.spawn(s.io.get_executor(), status_into(&c, job_id, &status_b));
  all.spawn(s.io.get_executor(), download_into(&c, file_id, &file_a));
  all.spawn(s.io.get_executor(), download_into(&c, file_id, &file_b));
  pause_watch w{s.s.gate.get(), {}, &m, &cv, &pause_seen};
  all.spawn(s.io.get_executor(), watch_for_pause(&w));
  test::run_sync(s.io, wait_for(&all));
  pause_end = w.end;

  CHECK(status_a == "completed");
  CHECK(status_b == "completed");
  CHECK(file_a == reference);
  CHECK(file_b == reference);
  CHECK(s.log_lines_with("pausing every request to the service for 2 s") == 1);
  const auto arrivals = proxy.arrivals();
  REQUIRE(arrivals.size() == 8);  // four first attempts, four retries
  REQUIRE(pause_end > std::chrono::steady_clock::time_point{});
  for (std::size_t i = 4; i < arrivals.size(); ++i) {
    CAPTURE(arrivals[i].head.substr(0, arrivals[i].head.find("\r\n")));
    CHECK(arrivals[i].at >= pause_end);  // nobody sent during the pause
  }
  // Each waited out 2 s with a budget of 1 s: waiting out the pause used none of it.
}

TEST_CASE("a whole pipeline behind a server that rate-limits every third request (Retry-After 0 or 1) succeeds") {
  auto opts = emulator_options();
  opts.scale = 900;
  opts.segment_rows = 100;
  emulator::server srv(opts);
  srv.start();
  test::intercepting_proxy proxy(srv.port(), [](std::size_t n, const std::string&) -> std::optional<std::string> {
    if (n % 3 != 0) return std::nullopt;
    return too_many_requests(n % 6 == 0 ? "1" : "0");
  });
  test::temp_dir out;
  std::string toml = "[source]\nbase_url = \"" + proxy.url() +
                     "\"\nproxy = \"none\"\nmax_connections = 8\n[source.auth]\ntype = \"api_key\"\n"
                     "access_key_id = \"aquaduct\"\nsecret_access_key = \"aquaduct\"\n"
                     "[source.poll]\ninitial_ms = 10\nmax_ms = 50\n[source.retry]\ninitial_ms = 5\nmax_ms = 20\n";
  for (const std::string name : {"a", "b", "c"})
    toml += "[[jobs]]\nname = \"" + name + "\"\n[[jobs.queries]]\nname = \"Account\"\nquery = \"select Id, Name from Account\"\n";
  toml += "[[sinks]]\ntype = \"csv\"\npath = \"" + out.path().string() + "\"\n";
  std::atomic<std::size_t> throttled_retries{0};
  engine_options eo;
  eo.log = [&](const log_record& r) {
    if (r.message.find("HTTP 429") != std::string::npos) ++throttled_retries;
  };
  engine eng{parse_pipeline(toml, "limited.toml"), eo};
  const run_report report = eng.run();
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  for (const auto& j : report.jobs) {
    REQUIRE(j.queries.size() == 1);
    CHECK(j.queries[0].rows == opts.scale);
    CHECK(j.queries[0].files == 9);
  }
  CHECK(throttled_retries > 0);
}

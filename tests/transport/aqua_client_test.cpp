// The AQuA calls over the transport, against the emulator with every fault
// type armed, and against scripted servers for what the emulator never does
// (no Range support, Range ignored, secrets echoed back).
#include "engine/aqua_client.hpp"

#include "emulator/emulator.hpp"
#include "support/failure_of.hpp"
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

#include <fstream>

using namespace aquaduct;
using aquaduct::engine_detail::aqua_client;
using aquaduct::engine_detail::make_aqua_session;
using aquaduct::test::run_sync;
using aquaduct::test::script_step;
using aquaduct::test::scripted_server;

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
};

// Submits a one-query job and polls it to completion; returns its file id.
asio::awaitable<std::string> completed_file(aqua_client* c) {
  decode::aqua_job job = co_await c->submit(
      R"({"format":"gzip","version":"1.0","name":"t","queries":[{"name":"Account","query":"select Id, Name, Balance from Account","type":"zoqlexport"}]})",
      "key-1");
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (job.status != "completed") {
    REQUIRE((job.status == "submitted" || job.status == "executing"));
    t.expires_after(std::chrono::milliseconds(10));  // the service's own pace: AQuA is polled
    co_await t.async_wait(asio::use_awaitable);
    job = co_await c->get_job(job.id);
  }
  REQUIRE(job.batches.size() == 1);
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

TEST_CASE("a 429 storm is ridden out under Retry-After; an endless one fails as unavailable") {
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
    aqua_client c(s.s);
    const std::system_error e = test::failure_of(s.io, completed_file(&c));
    CHECK(e.code() == aqua_errc::unavailable);
    CHECK(std::string(e.what()).find("HTTP 429") != std::string::npos);
    CHECK(s.log.size() == 4);  // five attempts, four waits
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
    FAIL("expected submit_rejected");
  } catch (const std::system_error& e) {
    CHECK(e.code() == aqua_errc::submit_rejected);
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
)"))
    all += p + "\n";
  CHECK(all.find("p.toml:2:15: environment = \"moon-production\" is not one of: us-production") != std::string::npos);
  CHECK(all.find("idle_timeout_ms must be an integer from 1") != std::string::npos);
  CHECK(all.find("proxy must be \"none\" or http://[user:password@]host:port") != std::string::npos);
  CHECK(all.find("unknown key 'ca_flie' in [source.tls]") != std::string::npos);
  CHECK(all.find("track_id must be at most 64 US-ASCII characters") != std::string::npos);
  CHECK(all.find("max_attempts must be an integer from 1 to 100") != std::string::npos);
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

// The AQuA calls over the transport, against the emulator with every fault
// type armed, and against scripted servers for what the emulator never does
// (no Range support, Range ignored, secrets echoed back).
#include "engine/aqua_client.hpp"

#include "emulator/emulator.hpp"
#include "support/run_sync.hpp"
#include "support/scripted_server.hpp"

#include <aquaduct/error.hpp>

#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <doctest/doctest.h>

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
      : s(make_aqua_session(io.get_executor(), src, "test.toml", [this](std::string_view l) { log.emplace_back(l); })) {}
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

std::system_error failure_of(asio::io_context& io, asio::awaitable<std::string> task) {
  try {
    run_sync(io, std::move(task));
  } catch (const std::system_error& e) {
    return e;
  }
  FAIL("expected a failure");
  return std::system_error(std::error_code{});
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
    const std::system_error e = failure_of(s.io, completed_file(&c));
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
    const std::system_error e = failure_of(s.io, completed_file(&c));
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
    const std::system_error e = failure_of(s.io, download_all(&c, "f1"));
    CHECK(e.code() == transport_errc::restart_needed);
    CHECK(std::string(e.what()).find("after 4 bytes") != std::string::npos);
  }
  SUBCASE("Range answered with the whole file") {
    scripted_server srv({{head_ok + "Accept-Ranges: bytes\r\n\r\nabcd", /*close_after=*/true},
                         {head_ok + "Accept-Ranges: bytes\r\n\r\nabcdefghij"}});
    session s(source("http://127.0.0.1:" + std::to_string(srv.port())));
    s.s.auth = std::make_shared<transport::authenticator>(transport::auth_settings{});
    aqua_client c(s.s);
    const std::system_error e = failure_of(s.io, download_all(&c, "f1"));
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
    texts.push_back(failure_of(s.io, completed_file(&c)).what());
    texts.insert(texts.end(), s.log.begin(), s.log.end());
  }
  const std::string echo = "{\"message\":\"bad request; you sent Authorization: Bearer " + secret +
                           " and client_secret=" + secret + "\"}";
  scripted_server echoing({{"HTTP/1.1 400 Bad Request\r\nContent-Length: " + std::to_string(echo.size()) + "\r\n\r\n" + echo}});
  session s(source("http://127.0.0.1:" + std::to_string(echoing.port())));
  s.s.auth = std::make_shared<transport::authenticator>(transport::auth_settings{});
  aqua_client c(s.s);
  texts.push_back(failure_of(s.io, [](aqua_client* cl) -> asio::awaitable<std::string> {
                    co_return (co_await cl->get_job("x")).id;
                  }(&c)).what());
  // The insecure warning names the origin, never credentials.
  auto insecure = source("https://user:" + secret + "@127.0.0.1:1");
  CHECK_THROWS_AS(session{insecure}, config_error);
  for (const auto& t : texts) {
    CAPTURE(t);
    CHECK(t.find(secret) == std::string::npos);
  }
  CHECK(texts.size() >= 4);
}

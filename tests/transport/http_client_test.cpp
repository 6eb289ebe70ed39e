#include "transport/http_client.hpp"

#include "client_fixtures.hpp"

#include <aquaduct/emulator.hpp>
#include "support/failure_of.hpp"
#include "support/loopback_listener.hpp"
#include "support/run_sync.hpp"
#include "support/scripted_server.hpp"
#include "support/temp_dir.hpp"
#include "support/test_pki.hpp"

#include <asio/detached.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <array>
#include <fstream>
#include <mutex>
#include <set>

using namespace aquaduct;
using namespace aquaduct::test;
using aquaduct::test::run_sync;
using aquaduct::test::script_step;
using aquaduct::test::scripted_server;
using transport::http_client;
using transport::http_request;
using transport::http_response;

namespace {


}  // namespace

TEST_CASE("keep-alive: two requests share one connection") {
  scripted_server srv({{ok_hello}, {ok_hello}});
  asio::io_context io;
  http_client c(io.get_executor(), local(srv.port()));
  CHECK(run_sync(io, fetch(&c, get("/a"))).body == "hello");
  CHECK(run_sync(io, fetch(&c, get("/b"))).body == "hello");
  CHECK(srv.connections() == 1);
  const auto reqs = srv.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].rfind("GET /a HTTP/1.1\r\n", 0) == 0);
  CHECK(reqs[0].find("Host: 127.0.0.1:" + std::to_string(srv.port())) != std::string::npos);
}

TEST_CASE("a keep-alive connection the server closed while idle is retired, not reused") {
  scripted_server srv({{ok_hello, /*close_after=*/true}, {ok_hello}});
  asio::io_context io;
  http_client c(io.get_executor(), local(srv.port()));
  CHECK(run_sync(io, fetch(&c, get("/a"))).body == "hello");
  srv.wait_closed(1);
  CHECK(run_sync(io, fetch(&c, get("/b"))).body == "hello");
  CHECK(srv.connections() == 2);
  CHECK(c.stats().retired == 1);
}

TEST_CASE("a reused connection that dies before answering: GET and keyed POST are resent, a bare POST is not") {
  http_request post;
  post.method = "POST";
  post.target = "/v1/batch-query/";
  post.body = "{}";
  http_request keyed = post;
  keyed.headers.push_back({"Idempotency-Key", "k1"});
  for (const http_request* second : std::vector<const http_request*>{nullptr, &keyed, &post}) {
    // The second request's connection is alive when reused, then closed unanswered.
    scripted_server srv({{ok_hello}, {"", /*close_after=*/true}, {ok_hello}});
    asio::io_context io;
    http_client c(io.get_executor(), local(srv.port()));
    CHECK(run_sync(io, fetch(&c, get("/a"))).status == 200);
    const http_request req = second ? *second : get("/b");
    if (second == &post) {
      const std::system_error e = test::failure_of(io, fetch(&c, req));
      CHECK(e.code() == transport_errc::connection_closed);
      CHECK(srv.connections() == 1);
    } else {
      CHECK(run_sync(io, fetch(&c, req)).body == "hello");
      CHECK(srv.connections() == 2);
    }
  }
}

TEST_CASE("a streamed 2xx body goes to the handler; other statuses are buffered") {
  scripted_server srv({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"},
                       {"HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nmissing"}});
  asio::io_context io;
  http_client c(io.get_executor(), local(srv.port()));
  std::string got;
  const http_response ok = run_sync(io, fetch_streamed(&c, get("/f"), &got));
  CHECK(got == "abcde");
  CHECK(ok.body.empty());
  CHECK(ok.body_bytes == 5);
  got.clear();
  const http_response missing = run_sync(io, fetch_streamed(&c, get("/g"), &got));
  CHECK(missing.status == 404);
  CHECK(missing.body == "missing");
  CHECK(got.empty());
}

TEST_CASE("a silent server hits the idle deadline") {
  scripted_server srv({{"", false, /*silent=*/true}});
  asio::io_context io;
  transport::client_options opts;
  opts.idle_timeout = std::chrono::milliseconds(200);
  http_client c(io.get_executor(), local(srv.port()), opts);
  const std::system_error e = test::failure_of(io, fetch(&c, get("/slow")));
  CHECK(e.code() == transport_errc::timeout);
  CHECK(std::string(e.what()).find("/slow") != std::string::npos);
}

TEST_CASE("buffered bodies have a limit") {
  scripted_server srv({{ok_hello}});
  asio::io_context io;
  transport::client_options opts;
  opts.max_buffered_body = 3;
  http_client c(io.get_executor(), local(srv.port()), opts);
  const std::system_error e = test::failure_of(io, fetch(&c, get("/big")));
  CHECK(e.code() == transport_errc::body_too_large);
}

TEST_CASE("a handler that throws abandons the response and the client recovers") {
  scripted_server srv({{ok_hello}, {ok_hello}});
  asio::io_context io;
  http_client c(io.get_executor(), local(srv.port()));
  CHECK_THROWS_WITH(run_sync(io, [](http_client* cl) -> asio::awaitable<http_response> {
                      co_return co_await cl->stream(get("/x"), [](std::string_view) { throw std::runtime_error("bad"); });
                    }(&c)),
                    "bad");
  CHECK(run_sync(io, fetch(&c, get("/y"))).body == "hello");
  CHECK(srv.connections() == 2);
}

TEST_CASE("connection refused is connect_failed") {
  unsigned short port = 0;
  {
    scripted_server srv({});
    port = srv.port();
  }
  asio::io_context io;
  http_client c(io.get_executor(), local(port));
  const std::system_error e = test::failure_of(io, fetch(&c, get("/")));
  CHECK(e.code() == transport_errc::connect_failed);
}

// ---- pool, deadlines, cancellation, injected failures, gzip ----

namespace {

asio::awaitable<void> fetch_into(http_client* c, http_request r, std::vector<unsigned>* statuses) {
  statuses->push_back((co_await c->request(std::move(r))).status);
}

}  // namespace

TEST_CASE("the pool never opens more than max_connections and reuses them") {
  emulator::server srv([] {
    emulator::options o;
    o.scale = 10;
    return o;
  }());
  srv.start();
  asio::io_context io;
  transport::client_options opts;
  opts.max_connections = 4;
  http_client c(io.get_executor(), local(srv.port()), opts);
  std::vector<unsigned> statuses;
  for (int i = 0; i < 60; ++i) asio::co_spawn(io, fetch_into(&c, get("/_emulator/stats"), &statuses), asio::detached);
  io.run();
  CHECK(statuses == std::vector<unsigned>(60, 200));
  const auto s = c.stats();
  CHECK(s.peak_open <= 4);
  CHECK(s.created <= 4);
  CHECK(s.created + s.reused == 60);
  CHECK(s.idle == s.open);
}

TEST_CASE("idle connections past pool_idle_timeout are retired, not reused") {
  scripted_server srv({{ok_hello}, {ok_hello}});
  asio::io_context io;
  transport::client_options opts;
  opts.pool_idle_timeout = std::chrono::milliseconds(0);  // every idle connection is already too old
  http_client c(io.get_executor(), local(srv.port()), opts);
  CHECK(run_sync(io, fetch(&c, get("/a"))).body == "hello");
  CHECK(run_sync(io, fetch(&c, get("/b"))).body == "hello");
  CHECK(c.stats().retired == 1);
  CHECK(srv.connections() == 2);
}

TEST_CASE("the total deadline ends a request that keeps the connection busy") {
  scripted_server srv({{"", false, /*silent=*/true}});
  asio::io_context io;
  transport::client_options opts;
  opts.idle_timeout = std::chrono::milliseconds(60000);
  opts.request_timeout = std::chrono::milliseconds(200);
  http_client c(io.get_executor(), local(srv.port()), opts);
  const std::system_error e = test::failure_of(io, fetch(&c, get("/slow")));
  CHECK(e.code() == transport_errc::timeout);
  CHECK(std::string(e.what()).find("total deadline") != std::string::npos);
  CHECK(c.stats().open == 0);
}

TEST_CASE("cancellation by the caller stops a request at once and leaves the pool usable") {
  scripted_server srv({{"", false, /*silent=*/true}, {ok_hello}});
  asio::io_context io;
  transport::client_options opts;
  opts.max_connections = 1;
  http_client c(io.get_executor(), local(srv.port()), opts);
  auto race = [](http_client* cl) -> asio::awaitable<std::exception_ptr> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer t(ex, std::chrono::milliseconds(100));
    auto [order, fetch_error, resp, timer_error] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex, cl->request(get("/never")), asio::experimental::deferred),
            t.async_wait(asio::experimental::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    CHECK(order[0] == 1);  // the timer won; the request was cancelled
    (void)resp;
    (void)timer_error;
    co_return fetch_error;
  };
  const std::exception_ptr error = run_sync(io, race(&c));
  REQUIRE(error);
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    CHECK(e.code() == transport_errc::cancelled);
    CHECK(e.code() == make_error_condition(condition::cancelled));
  }
  CHECK(c.stats().open == 0);  // the slot came back
  CHECK(run_sync(io, fetch(&c, get("/next"))).body == "hello");
}

TEST_CASE("fail the Nth operation: connect, handshake, write and read each fail cleanly, and the client recovers") {
  test::test_ca ca;
  const trust_file trust(ca);
  const test::pem_identity identity = ca.issue({"localhost"});
  std::set<transport::io_op> failed_ops;
  for (std::size_t n = 1;; ++n) {
    CAPTURE(n);
    std::vector<script_step> steps(8, script_step{ok_hello});
    scripted_server srv(steps, identity);
    asio::io_context io;
    transport::client_options opts;
    opts.tls.ca_file = trust.path;
    opts.faults = std::make_shared<transport::fail_counter>(n);
    http_client c(io.get_executor(), https("localhost", srv.port()), opts);
    int failures = 0;
    for (int i = 0; i < 3; ++i) {
      try {
        const std::string body = run_sync(io, fetch(&c, get("/r" + std::to_string(i)))).body;
        CHECK(body == "hello");
      } catch (const std::system_error& e) {
        ++failures;
        CHECK((e.code() == transport_errc::connect_failed || e.code() == transport_errc::tls_failed ||
               e.code() == transport_errc::connection_closed));
        CHECK(std::string(e.what()).find("injected failure") != std::string::npos);
        CHECK(c.stats().open == 0);
      }
    }
    CHECK(failures <= 1);
    if (!opts.faults->fired()) break;  // every operation of the scenario has had its turn
    failed_ops.insert(*opts.faults->failed_op());
    REQUIRE(n < 64);
  }
  CHECK(failed_ops.size() == 4);  // connect, handshake, write and read all had a failure
}

TEST_CASE("Content-Encoding gzip is decoded for buffered and streamed bodies; request bodies may be gzipped") {
  const std::string json = R"({"id":"2c92c0f84b58a2bd014b59e7eb460b3c","status":"completed","batches":[]})";
  const std::string gz = transport::gzip_compress(json);
  const std::string gz_response =
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(gz.size()) + "\r\n\r\n" + gz;
  scripted_server srv({{gz_response}, {gz_response}, {ok_hello}});
  asio::io_context io;
  transport::client_options opts;
  opts.gzip_request_min_bytes = 16;
  http_client c(io.get_executor(), local(srv.port()), opts);
  const http_response r = run_sync(io, fetch(&c, get("/job")));
  CHECK(r.body == json);
  CHECK(r.body_bytes == gz.size());
  std::string streamed;
  run_sync(io, fetch_streamed(&c, get("/file"), &streamed));
  CHECK(streamed == json);
  http_request post;
  post.method = "POST";
  post.target = "/v1/batch-query/";
  post.body = json;
  CHECK(run_sync(io, fetch(&c, post)).body == "hello");
  const auto reqs = srv.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].find("Accept-Encoding: gzip\r\n") != std::string::npos);
  CHECK(reqs[1].find("Accept-Encoding: identity\r\n") != std::string::npos);  // result files: Range stays byte-exact
  CHECK(reqs[2].find("Content-Encoding: gzip\r\n") != std::string::npos);
  CHECK(reqs[2].substr(reqs[2].find("\r\n\r\n") + 4) == gz);
}

TEST_CASE("a corrupt gzip body is a bad_response") {
  std::string gz = transport::gzip_compress(std::string(2000, 'x'));
  gz[gz.size() / 2] = static_cast<char>(gz[gz.size() / 2] ^ 0x5a);
  scripted_server srv({{"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(gz.size()) +
                        "\r\n\r\n" + gz}});
  asio::io_context io;
  http_client c(io.get_executor(), local(srv.port()));
  const std::system_error e = test::failure_of(io, fetch(&c, get("/bad")));
  CHECK(e.code() == transport_errc::bad_response);
  CHECK(std::string(e.what()).find("gzip") != std::string::npos);
}

TEST_CASE("an interim 100 Continue before the answer is skipped") {
  scripted_server srv({{"HTTP/1.1 100 Continue\r\n\r\n" + ok_hello}});
  asio::io_context io;
  http_client c(io.get_executor(), local(srv.port()));
  const http_response r = run_sync(io, fetch(&c, get("/a")));
  CHECK(r.status == 200);
  CHECK(r.body == "hello");
  CHECK(c.stats().idle == 1);  // still reusable
}

TEST_CASE("a server that stops reading hits the write deadline") {
  std::mutex mu;
  std::vector<asio::ip::tcp::socket> held;  // accepted, never read
  loopback_listener deaf([&](asio::ip::tcp::socket& s) {
    std::lock_guard lock(mu);
    held.push_back(std::move(s));
    return true;
  });
  asio::io_context io;
  transport::client_options opts;
  opts.write_timeout = std::chrono::milliseconds(200);
  http_client c(io.get_executor(), local(deaf.port()), opts);
  http_request post;
  post.method = "POST";
  post.target = "/big";
  post.body.assign(64u << 20, 'x');  // far more than the socket buffers hold
  const std::system_error e = failure_of(io, fetch(&c, post));
  CHECK(e.code() == transport_errc::timeout);
  CHECK(std::string(e.what()).find("write deadline of 200 ms passed") != std::string::npos);
  CHECK(c.stats().open == 0);
  std::lock_guard lock(mu);
  held.clear();  // before the listener's io_context goes
}

TEST_CASE("waiting for a pooled connection does not count against a request's total deadline") {
  // Five requests through one connection to a server that takes 300 ms per
  // answer: the last waits 1.2 s for the connection, beyond its 1 s total,
  // yet each exchange itself is well inside it.
  script_step slow{ok_hello};
  slow.delay = std::chrono::milliseconds(300);
  scripted_server srv(std::vector<script_step>(5, slow));
  asio::io_context io;
  transport::client_options opts;
  opts.max_connections = 1;
  opts.request_timeout = std::chrono::milliseconds(1000);
  http_client c(io.get_executor(), local(srv.port()), opts);
  std::vector<unsigned> statuses;
  for (int i = 0; i < 5; ++i) asio::co_spawn(io, fetch_into(&c, get("/slow"), &statuses), asio::detached);
  io.run();
  CHECK(statuses == std::vector<unsigned>(5, 200));
  CHECK(c.stats().created == 1);
}

TEST_CASE("cancelling a request that waits for a pooled connection frees nothing it did not hold") {
  scripted_server srv({{"", false, /*silent=*/true}, {ok_hello}});
  asio::io_context io;
  transport::client_options opts;
  opts.max_connections = 1;
  http_client c(io.get_executor(), local(srv.port()), opts);
  auto race = [](http_client* cl) -> asio::awaitable<std::array<std::exception_ptr, 2>> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer t(ex, std::chrono::milliseconds(150));
    auto [order, holder_error, r1, waiter_error, r2, timer_error] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex, cl->request(get("/holds-the-slot")), asio::experimental::deferred),
            asio::co_spawn(ex, cl->request(get("/waits")), asio::experimental::deferred),
            t.async_wait(asio::experimental::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    CHECK(order[0] == 2);
    (void)r1;
    (void)r2;
    (void)timer_error;
    co_return std::array<std::exception_ptr, 2>{holder_error, waiter_error};
  };
  const auto errors = run_sync(io, race(&c));
  for (std::size_t i = 0; i < errors.size(); ++i) {
    const auto& error = errors[i];
    CAPTURE(i);
    REQUIRE(error);
    try {
      std::rethrow_exception(error);
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      CAPTURE(what);
      CHECK(e.code() == transport_errc::cancelled);
    }
  }
  CHECK(c.stats().open == 0);
  CHECK(run_sync(io, fetch(&c, get("/next"))).body == "hello");
}

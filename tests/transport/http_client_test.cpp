#include "transport/http_client.hpp"

#include "support/run_sync.hpp"
#include "support/scripted_server.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

using namespace aquaduct;
using aquaduct::test::run_sync;
using aquaduct::test::script_step;
using aquaduct::test::scripted_server;
using transport::http_client;
using transport::http_request;
using transport::http_response;

namespace {

transport::origin local(unsigned short port) {
  std::error_code ec;
  auto o = transport::parse_base_url("http://127.0.0.1:" + std::to_string(port), ec);
  REQUIRE_FALSE(ec);
  return o;
}

http_request get(std::string target) {
  http_request r;
  r.target = std::move(target);
  return r;
}

asio::awaitable<http_response> fetch(http_client* c, http_request r) { co_return co_await c->request(std::move(r)); }

asio::awaitable<http_response> fetch_streamed(http_client* c, http_request r, std::string* sink) {
  co_return co_await c->stream(std::move(r), [sink](std::string_view piece) { sink->append(piece); });
}

const std::string ok_hello = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

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
      try {
        run_sync(io, fetch(&c, req));
        FAIL("expected a failure");
      } catch (const std::system_error& e) {
        CHECK(e.code() == transport_errc::connection_closed);
      }
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
  try {
    run_sync(io, fetch(&c, get("/slow")));
    FAIL("expected a timeout");
  } catch (const std::system_error& e) {
    CHECK(e.code() == transport_errc::timeout);
    CHECK(std::string(e.what()).find("/slow") != std::string::npos);
  }
}

TEST_CASE("buffered bodies have a limit") {
  scripted_server srv({{ok_hello}});
  asio::io_context io;
  transport::client_options opts;
  opts.max_buffered_body = 3;
  http_client c(io.get_executor(), local(srv.port()), opts);
  try {
    run_sync(io, fetch(&c, get("/big")));
    FAIL("expected body_too_large");
  } catch (const std::system_error& e) {
    CHECK(e.code() == transport_errc::body_too_large);
  }
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
  try {
    run_sync(io, fetch(&c, get("/")));
    FAIL("expected connect_failed");
  } catch (const std::system_error& e) {
    CHECK(e.code() == transport_errc::connect_failed);
  }
}

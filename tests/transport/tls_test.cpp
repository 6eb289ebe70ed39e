// TLS through asio::ssl against a loopback server whose CA and certificates
// are made at test time: verification on by default, SNI and host names,
// ca_file, insecure_skip_verify (with its warning), and the handshake deadline.
#include "transport/http_client.hpp"

#include "client_fixtures.hpp"

#include "support/connect_proxy.hpp"
#include "support/failure_of.hpp"
#include "support/run_sync.hpp"
#include "support/scripted_server.hpp"
#include "support/temp_dir.hpp"
#include "support/test_pki.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <fstream>

using namespace aquaduct;
using namespace aquaduct::test;
using aquaduct::test::run_sync;
using aquaduct::test::scripted_server;
using aquaduct::test::test_ca;
using transport::http_client;
using transport::http_request;
using transport::http_response;

namespace {

transport::client_options trusting(const trust_file& f) {
  transport::client_options o;
  o.tls.ca_file = f.path;
  o.proxy = "none";
  o.log = [](std::string_view) {};
  return o;
}

}  // namespace

TEST_CASE("TLS with a private CA from ca_file: host names (SNI) and IP addresses verify; keep-alive holds") {
  test_ca ca;
  trust_file trust(ca);
  scripted_server srv({{ok_hello}, {ok_hello}, {ok_hello}}, ca.issue({"localhost", "IP:127.0.0.1"}));
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    CAPTURE(host);
    asio::io_context io;
    http_client c(io.get_executor(), https(host, srv.port()), trusting(trust));
    const http_response r = run_sync(io, fetch(&c, get("/a")));
    CHECK(r.status == 200);
    CHECK(r.body == "hello");
    if (host == "localhost") {
      CHECK(run_sync(io, fetch(&c, get("/b"))).body == "hello");
      CHECK(c.stats().created == 1);
      CHECK(c.stats().reused == 1);
    }
  }
}

TEST_CASE("a wrong host name, an untrusted CA and an expired certificate are refused") {
  test_ca ca;
  test_ca other("someone else's CA");
  trust_file trust(ca);
  struct refusal {
    const char* what;
    test::pem_identity identity;
    const char* reason;  // OpenSSL's verify reason, in the message
  };
  const std::vector<refusal> cases{
      {"wrong host name", ca.issue({"other.example"}), "hostname mismatch"},
      {"untrusted CA", other.issue({"localhost"}), "unable to get local issuer certificate"},
      {"expired", ca.issue({"localhost"}, -2 * 86400, -86400), "certificate has expired"},
  };
  for (const auto& rc : cases) {
    CAPTURE(rc.what);
    scripted_server srv({{ok_hello}}, rc.identity);
    asio::io_context io;
    http_client c(io.get_executor(), https("localhost", srv.port()), trusting(trust));
    const std::system_error e = test::failure_of(io, fetch(&c, get("/x")));
    CHECK(e.code() == transport_errc::tls_failed);
    CHECK(e.code() != make_error_condition(condition::retriable));
    const std::string what = e.what();
    CHECK(what.find("certificate refused") != std::string::npos);
    CHECK(what.find(rc.reason) != std::string::npos);
    CHECK(srv.requests().empty());  // not a byte of the request left the client
    CHECK(c.stats().open == 0);
  }
}

TEST_CASE("without ca_file only the system store is trusted: a private CA is refused") {
  test_ca ca;
  scripted_server srv({{ok_hello}}, ca.issue({"localhost"}));
  asio::io_context io;
  transport::client_options o;
  o.proxy = "none";
  http_client c(io.get_executor(), https("localhost", srv.port()), o);
  CHECK(test::failure_of(io, fetch(&c, get("/x"))).code() == transport_errc::tls_failed);
}

TEST_CASE("insecure_skip_verify accepts any certificate, and says so every time a client is made") {
  test_ca other("untrusted");
  scripted_server srv({{ok_hello}}, other.issue({"wrong.example"}, -2 * 86400, -86400));
  asio::io_context io;
  std::vector<std::string> log;
  transport::client_options o;
  o.proxy = "none";
  o.tls.insecure_skip_verify = true;
  o.log = [&](std::string_view line) { log.emplace_back(line); };
  http_client c(io.get_executor(), https("localhost", srv.port()), o);
  REQUIRE(log.size() == 1);
  CHECK(log[0].find("insecure_skip_verify") != std::string::npos);
  CHECK(log[0].find("NOT verified") != std::string::npos);
  CHECK(run_sync(io, fetch(&c, get("/a"))).body == "hello");
}

TEST_CASE("a missing ca_file is an error when the client is made") {
  asio::io_context io;
  transport::client_options o;
  o.tls.ca_file = "/nonexistent/ca.pem";
  try {
    http_client c(io.get_executor(), https("localhost", 443), o);
    FAIL("expected tls_failed");
  } catch (const std::system_error& e) {
    CHECK(e.code() == transport_errc::tls_failed);
    CHECK(std::string(e.what()).find("/nonexistent/ca.pem") != std::string::npos);
  }
}

TEST_CASE("a server that never answers the ClientHello hits the handshake deadline") {
  // A plain server waits for "\r\n\r\n", which a ClientHello never contains.
  scripted_server mute({{ok_hello}});
  asio::io_context io;
  transport::client_options o;
  o.proxy = "none";
  o.handshake_timeout = std::chrono::milliseconds(200);
  http_client c(io.get_executor(), https("127.0.0.1", mute.port()), o);
  const std::system_error e = test::failure_of(io, fetch(&c, get("/x")));
  CHECK(e.code() == transport_errc::timeout);
  CHECK(std::string(e.what()).find("TLS handshake deadline of 200 ms passed") != std::string::npos);
  CHECK(c.stats().open == 0);
}

TEST_CASE("through a proxy: CONNECT tunnels plain HTTP and verified TLS; a refusal is proxy_failed") {
  test_ca ca;
  trust_file trust(ca);
  test::connect_proxy proxy;
  {
    scripted_server srv({{ok_hello}});
    asio::io_context io;
    transport::client_options o;
    o.proxy = proxy.url();
    http_client c(io.get_executor(), local(srv.port()), o);
    CHECK(run_sync(io, fetch(&c, get("/plain"))).body == "hello");
  }
  {
    scripted_server srv({{ok_hello}}, ca.issue({"localhost"}));
    asio::io_context io;
    auto o = trusting(trust);
    o.proxy = proxy.url();
    http_client c(io.get_executor(), https("localhost", srv.port()), o);
    CHECK(run_sync(io, fetch(&c, get("/secure"))).body == "hello");
    CHECK(srv.requests().size() == 1);
  }
  const auto targets = proxy.targets();
  REQUIRE(targets.size() == 2);
  CHECK(targets[1].rfind("localhost:", 0) == 0);  // the name, so the TLS host check still applies

  test::connect_proxy refusing(403);
  asio::io_context io;
  auto o = trusting(trust);
  o.proxy = refusing.url();
  http_client c(io.get_executor(), https("localhost", 1), o);
  const std::system_error e = test::failure_of(io, fetch(&c, get("/x")));
  CHECK(e.code() == transport_errc::proxy_failed);
  CHECK(std::string(e.what()).find("403") != std::string::npos);
}

#include "transport/url.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

using aquaduct::transport::parse_base_url;

TEST_CASE("base URLs") {
  std::error_code ec;
  auto o = parse_base_url("http://127.0.0.1:8080", ec);
  REQUIRE_FALSE(ec);
  CHECK(o.host == "127.0.0.1");
  CHECK(o.port == "8080");
  CHECK(o.path_prefix.empty());
  CHECK(o.host_header() == "127.0.0.1:8080");

  o = parse_base_url("https://rest.apisandbox.zuora.com/", ec);
  REQUIRE_FALSE(ec);
  CHECK(o.port == "443");
  CHECK(o.host_header() == "rest.apisandbox.zuora.com");

  o = parse_base_url("http://[::1]:9000/apps/api/", ec);
  REQUIRE_FALSE(ec);
  CHECK(o.host == "::1");
  CHECK(o.path_prefix == "/apps/api");
  CHECK(o.host_header() == "[::1]:9000");
}

TEST_CASE("bad base URLs are refused") {
  for (const char* bad : {"", "127.0.0.1:8080", "ftp://x", "http://", "http://h:0", "http://h:70000", "http://h:8x",
                          "http://user@h", "http://h/?q=1", "http://[::1"}) {
    CAPTURE(bad);
    std::error_code ec;
    parse_base_url(bad, ec);
    CHECK(ec == aquaduct::transport_errc::bad_url);
  }
}

TEST_CASE("environments by name follow the contract's host table") {
  using aquaduct::transport::environment_base_url;
  CHECK(environment_base_url("us-production") == "https://rest.zuora.com");
  CHECK(environment_base_url("us-sandbox") == "https://rest.apisandbox.zuora.com");
  CHECK(environment_base_url("us-cloud2-sandbox") == "https://rest.sandbox.na.zuora.com");
  CHECK(environment_base_url("eu-production") == "https://rest.eu.zuora.com");
  CHECK(environment_base_url("apac-central-sandbox") == "https://rest.test.ap.zuora.com");
  CHECK(environment_base_url("mars-production").empty());
  CHECK(aquaduct::transport::environment_names().find("eu-central-sandbox") != std::string::npos);
}

TEST_CASE("NO_PROXY matching") {
  using aquaduct::transport::no_proxy_matches;
  CHECK(no_proxy_matches("*", "rest.zuora.com"));
  CHECK(no_proxy_matches("localhost,.zuora.com", "rest.zuora.com"));
  CHECK(no_proxy_matches("zuora.com", "rest.eu.zuora.com"));
  CHECK(no_proxy_matches("zuora.com", "zuora.com"));
  CHECK(no_proxy_matches(" 127.0.0.1:8080 , example.org", "127.0.0.1"));
  CHECK(no_proxy_matches("[::1]:443", "::1"));
  CHECK_FALSE(no_proxy_matches("zuora.com", "notzuora.com"));
  CHECK_FALSE(no_proxy_matches("", "rest.zuora.com"));
  CHECK_FALSE(no_proxy_matches("example.org", "rest.zuora.com"));
}

TEST_CASE("the proxy comes from the config, else the environment by scheme, unless NO_PROXY matches") {
  using aquaduct::transport::proxy_for;
  std::error_code ec;
  const auto target = parse_base_url("https://rest.zuora.com", ec);
  ::setenv("HTTPS_PROXY", "proxy.corp:3128", 1);
  ::unsetenv("NO_PROXY");
  ::unsetenv("no_proxy");
  auto p = proxy_for(target, "", ec);
  REQUIRE(p);
  CHECK(p->via.host == "proxy.corp");
  CHECK(p->via.port == "3128");
  CHECK(p->authorization.empty());
  CHECK_FALSE(proxy_for(target, "none", ec));
  p = proxy_for(target, "http://other:8080", ec);
  REQUIRE(p);
  CHECK(p->via.host == "other");
  // Credentials in the URL become Proxy-Authorization, percent-decoded.
  p = proxy_for(target, "http://us%40er:p%3Ass@other:8080", ec);
  REQUIRE(p);
  CHECK(p->via.host == "other");
  CHECK(p->authorization == "Basic " + aquaduct::transport::base64_encode("us@er:p:ss"));
  CHECK_FALSE(proxy_for(target, "http://u:%zz@other:8080", ec));
  CHECK(ec);
  ::setenv("HTTP_PROXY", "proxy.corp:3128", 1);
  REQUIRE(proxy_for(parse_base_url("http://rest.zuora.com", ec), "", ec));
  for (const char* loopback : {"http://127.0.0.1:8080", "https://localhost", "http://[::1]:80"})
    CHECK_FALSE(proxy_for(parse_base_url(loopback, ec), "", ec));  // never through the environment's proxy
  ::unsetenv("HTTP_PROXY");
  REQUIRE(proxy_for(parse_base_url("http://127.0.0.1:8080", ec), "http://other:8080", ec));  // unless configured
  ::setenv("NO_PROXY", ".zuora.com", 1);
  CHECK_FALSE(proxy_for(target, "", ec));
  ::unsetenv("NO_PROXY");
  ::unsetenv("HTTPS_PROXY");
  CHECK_FALSE(proxy_for(target, "", ec));
  CHECK_FALSE(proxy_for(target, "not a url", ec));
  CHECK(ec);
}

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

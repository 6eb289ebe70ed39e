#include "transport/redact.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using aquaduct::transport::redact;

TEST_CASE("secrets are replaced wherever they appear in text") {
  const std::string secret = "s3cr3t-VALUE_42";
  const std::vector<std::string> texts{
      "Authorization: Bearer " + secret + "\r\nHost: x",
      "authorization: Basic " + secret,
      "apiSecretAccessKey: " + secret + "\r\n",
      "client_id=abc&client_secret=" + secret + "&grant_type=client_credentials",
      R"({"access_token":")" + secret + R"(","token_type":"bearer"})",
      R"({"access_token": ")" + secret + R"("})",
      "the token Bearer " + secret + " was refused",
      "password=" + secret,
      "Proxy-Authorization: Basic " + secret,
      "base_url \"https://user:" + secret + "@rest.zuora.com\" is not valid",
  };
  for (const auto& t : texts) {
    CAPTURE(t);
    const std::string r = redact(t);
    CHECK(r.find(secret) == std::string::npos);
    CHECK(r.find("[REDACTED]") != std::string::npos);
  }
}

TEST_CASE("text without secrets passes unchanged") {
  for (const std::string t : {"GET http://127.0.0.1:80/v1/file/abc: connection closed", "HTTP 503 90022 retry",
                              "client_id=aquaduct", "apiAccessKeyId: aquaduct", ""})
    CHECK(redact(t) == t);
  CHECK(redact("Host: a\r\nAuthorization: Bearer x\r\nAccept: */*") == "Host: a\r\nAuthorization: Bearer [REDACTED]\r\nAccept: */*");
}

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

using aquaduct::transport::redact_secrets;
using aquaduct::transport::word_like_secret;

TEST_CASE("redact_secrets: a strong secret is cut wherever it appears, in paths too") {
  const std::vector<std::string> secrets{"hunter2"};  // a digit: not a word
  CHECK(!word_like_secret("hunter2"));
  CHECK(redact_secrets("login refused: hunter2 is wrong", secrets) == "login refused: [REDACTED] is wrong");
  CHECK(redact_secrets("where Name = 'hunter2' and Id = 'xhunter2x'", secrets) ==
        "where Name = '[REDACTED]' and Id = 'x[REDACTED]x'");
  CHECK(redact_secrets("/tmp/hunter2/state", secrets) == "/tmp/[REDACTED]/state");
  // Even when it equals a user name: only a word can be told apart from a secret by context.
  CHECK(redact_secrets("user hunter2", secrets, {"hunter2"}) == "user [REDACTED]");
  const std::string long_word = "correcthorsebatterystaple";
  CHECK(!word_like_secret(long_word));
  CHECK(redact_secrets("/srv/" + long_word, {long_word}) == "/srv/[REDACTED]");
}

TEST_CASE("redact_secrets: a word-like secret is cut as a whole token, never inside a path or a host") {
  const std::vector<std::string> secrets{"aquaduct"};
  CHECK(word_like_secret("aquaduct"));
  // The guarantee: a password in an error message, a query, a quoted value is still cut.
  CHECK(redact_secrets("login refused for password aquaduct", secrets) == "login refused for password [REDACTED]");
  CHECK(redact_secrets("where Name = 'aquaduct'", secrets) == "where Name = '[REDACTED]'");
  CHECK(redact_secrets("aquaduct", secrets) == "[REDACTED]");
  CHECK(redact_secrets("\"aquaduct\",aquaduct;", secrets) == "\"[REDACTED]\",[REDACTED];");
  // Ordinary words that contain or equal it in a path, a host, an identifier: kept.
  for (const std::string t : {"/home/x/.aquaduct/state", "the state directory p/.aquaduct/state does not exist yet",
                              "aquaduct.example.com", "aquaducts", "my_aquaduct", "aquaduct-cli", "libaquaduct.a"})
    CHECK(redact_secrets(t, secrets) == t);
}

TEST_CASE("redact_secrets: a word-like secret equal to a user name is not cut from free text") {
  // The emulator's credentials: user name and secret both "aquaduct". The user name is
  // shown; the secret is still cut from every credential position by redact().
  const std::vector<std::string> secrets{"aquaduct"}, users{"aquaduct"};
  CHECK(redact_secrets("client_id=aquaduct", secrets, users) == "client_id=aquaduct");
  CHECK(redact_secrets("as client aquaduct", secrets, users) == "as client aquaduct");
  CHECK(redact(redact_secrets("client_id=aquaduct&client_secret=aquaduct", secrets, users)) ==
        "client_id=aquaduct&client_secret=[REDACTED]");
  CHECK(redact(redact_secrets("Authorization: Basic YXF1YWR1Y3Q6YXF1YWR1Y3Q=", secrets, users)) ==
        "Authorization: Basic [REDACTED]");
  // Without the user name, the same free text loses it.
  CHECK(redact_secrets("as client aquaduct", secrets) == "as client [REDACTED]");
}

TEST_CASE("redact_secrets: empty secrets and texts") {
  CHECK(redact_secrets("anything", {""}) == "anything");
  CHECK(redact_secrets("", {"x1"}).empty());
  CHECK(redact_secrets("x1x1", {"x1"}) == "[REDACTED][REDACTED]");
}

#include "transport/response_parser.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using aquaduct::transport::response_parser;

namespace {

struct parsed {
  unsigned status = 0;
  std::string body;
  bool complete = false;
  bool keep_alive = false;
  std::error_code ec;
  std::size_t headers = 0;
};

// Feeds `raw` in pieces cut at `cuts` (sorted offsets), then EOF if `eof`.
parsed parse_split(const std::string& raw, const std::vector<std::size_t>& cuts, bool eof) {
  response_parser p;
  parsed out;
  p.set_body_callback([&](std::string_view piece) { out.body.append(piece); });
  std::size_t at = 0;
  std::vector<std::size_t> all = cuts;
  all.push_back(raw.size());
  for (std::size_t cut : all) {
    if (cut < at) continue;
    p.put(std::string_view(raw).substr(at, cut - at), out.ec);
    at = cut;
    if (out.ec) return out;
  }
  if (eof) p.finish(out.ec);
  out.status = p.status();
  out.complete = p.message_complete();
  out.keep_alive = p.keep_alive();
  out.headers = p.headers().size();
  return out;
}

const std::string content_length =
    "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 11\r\n\r\nId,Name\n1,a";
const std::string chunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nId,N\r\n7\r\name\n1,a\r\n0\r\n\r\n";
const std::string close_delimited = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nId,Name\n1,a";

}  // namespace

TEST_CASE("bodies delimited by length, chunks or close parse the same at every split point") {
  for (const std::string* raw : {&content_length, &chunked, &close_delimited}) {
    for (std::size_t cut = 0; cut <= raw->size(); ++cut) {
      CAPTURE(*raw);
      CAPTURE(cut);
      const parsed p = parse_split(*raw, {cut}, raw == &close_delimited);
      REQUIRE_FALSE(p.ec);
      CHECK(p.complete);
      CHECK(p.status == 200);
      CHECK(p.body == "Id,Name\n1,a");
    }
  }
}

TEST_CASE("byte-at-a-time feeding") {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < chunked.size(); ++i) cuts.push_back(i);
  const parsed p = parse_split(chunked, cuts, false);
  REQUIRE_FALSE(p.ec);
  CHECK(p.body == "Id,Name\n1,a");
  CHECK(p.keep_alive);
}

TEST_CASE("Connection: close is not keep-alive") {
  const parsed p = parse_split(close_delimited, {}, true);
  CHECK_FALSE(p.keep_alive);
}

TEST_CASE("malformed status line is a bad_response") {
  const parsed p = parse_split("HTTP/1.1 abc OK\r\n\r\n", {}, false);
  CHECK(p.ec == aquaduct::transport_errc::bad_response);
}

TEST_CASE("a body cut short by EOF is connection_closed") {
  const std::string cut = content_length.substr(0, content_length.size() - 3);
  const parsed p = parse_split(cut, {}, true);
  CHECK(p.ec == aquaduct::transport_errc::connection_closed);
  const parsed q = parse_split(chunked.substr(0, chunked.size() - 5), {}, true);
  CHECK(q.ec == aquaduct::transport_errc::connection_closed);
}

TEST_CASE("header limits are enforced") {
  aquaduct::transport::response_limits limits;
  limits.max_headers = 3;
  response_parser p(limits);
  std::error_code ec;
  p.put("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", ec);
  CHECK(ec == aquaduct::transport_errc::bad_response);
  CHECK(std::string(p.error_reason()).starts_with("too many response headers at byte "));

  aquaduct::transport::response_limits small;
  small.max_header_bytes = 64;
  response_parser q(small);
  q.put("HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'x') + "\r\n\r\n", ec);
  CHECK(ec == aquaduct::transport_errc::bad_response);
}

TEST_CASE("malformed input is named with its byte offset in the response, however the bytes arrive") {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: ";
  const std::string bad = head + "x1\r\n\r\n";
  for (std::size_t split = 0; split <= bad.size(); ++split) {
    response_parser p;
    std::error_code ec;
    p.put(std::string_view(bad).substr(0, split), ec);
    if (!ec) p.put(std::string_view(bad).substr(split), ec);
    INFO("split at " << split);
    CHECK(ec == aquaduct::transport_errc::bad_response);
    const std::string why = p.error_reason();
    CHECK(why.find("Content-Length") != std::string::npos);
    CHECK(why.ends_with(" at byte " + std::to_string(head.size()) + " of the response"));
  }
}

TEST_CASE("an exception from the body handler propagates out of put") {
  response_parser p;
  p.set_body_callback([](std::string_view) { throw std::runtime_error("sink full"); });
  std::error_code ec;
  CHECK_THROWS_WITH(p.put(content_length, ec), "sink full");
}

TEST_CASE("bytes after a complete response are counted, not parsed") {
  response_parser p;
  std::error_code ec;
  p.put(content_length + "HTTP/1.1 200 OK\r\n", ec);
  CHECK_FALSE(ec);
  CHECK(p.message_complete());
  CHECK(p.trailing_bytes() == 17);
}

#include "emulator/http_server.hpp"

#include <algorithm>

#include <doctest/doctest.h>

#include <aquaduct/emulator.hpp>
#include "emulator/faults.hpp"
#include "emulator/result_writer.hpp"
#include "emulator/tenant.hpp"

using namespace aquaduct::emulator;

TEST_CASE("request_parser: every split of a keep-alive pair of requests") {
  const std::string wire =
      "POST /v1/batch-query/?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /v1/file/abc HTTP/1.1\r\nConnection: close\r\n\r\n";
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    request_parser p;
    std::string buf = wire.substr(0, split);
    http_request req;
    auto r = p.parse(buf, req);
    if (r == request_parser::result::need_more) {
      buf = wire;
      r = p.parse(buf, req);
    }
    REQUIRE(r == request_parser::result::done);
    CHECK(req.method == "POST");
    CHECK(req.path == "/v1/batch-query/");
    CHECK(req.query == "a=1");
    CHECK(req.body == "hello");
    CHECK(req.keep_alive);
    CHECK(*req.header("host") == "x");
    buf = wire.substr(p.consumed());
    p.reset();
    REQUIRE(p.parse(buf, req) == request_parser::result::done);
    CHECK(req.method == "GET");
    CHECK_FALSE(req.keep_alive);
  }
}

TEST_CASE("request_parser: errors") {
  auto status_of = [](const std::string& wire) {
    request_parser p;
    http_request req;
    const auto r = p.parse(wire, req);
    return r == request_parser::result::error ? p.error_status() : 0;
  };
  CHECK(status_of("GET\r\n\r\n") == 400);
  CHECK(status_of("GET  / HTTP/1.1\r\n\r\n") == 400);
  CHECK(status_of("GET nopath HTTP/1.1\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/2.0\r\n\r\n") == 505);
  CHECK(status_of("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n") == 413);
  CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
  CHECK(status_of("GET / HTTP/1.1\r\n x: folded\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.0\r\n\r\n") == 0);
}

TEST_CASE("csv quoting only when needed") {
  std::string out;
  append_csv_field(out, "plain");
  out += ',';
  append_csv_field(out, "a,b");
  out += ',';
  append_csv_field(out, "say \"hi\"");
  out += ',';
  append_csv_field(out, "two\nlines");
  CHECK(out == "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"");
}

TEST_CASE("glob") {
  CHECK(glob_match("*", "/anything/at/all"));
  CHECK(glob_match("/v1/file/*", "/v1/file/abc"));
  CHECK_FALSE(glob_match("/v1/file/*", "/v1/files/abc"));
  CHECK(glob_match("/v1/batch-query*", "/v1/batch-query"));
  CHECK(glob_match("/v1/batch-query/*", "/v1/batch-query/"));
  CHECK(glob_match("/v1/?ile/*", "/v1/file/x"));
}

TEST_CASE("fault_set: times, method and probability 0") {
  fault_set f;
  std::string err;
  REQUIRE(f.add_json(R"({"rules":[{"fault":"status","code":503,"times":1,"method":"get"},
                                   {"fault":"truncate","bytes":5,"probability":0}]})",
                     err));
  CHECK_FALSE(f.take(fault_kind::status, "POST", "/x"));
  CHECK(f.take(fault_kind::status, "GET", "/x"));
  CHECK_FALSE(f.take(fault_kind::status, "GET", "/x"));
  CHECK_FALSE(f.take(fault_kind::truncate, "GET", "/x"));
  CHECK_FALSE(f.add_json(R"({"rules":[{"fault":"status","code":"x"}]})", err));
  CHECK_FALSE(f.add_json("[1", err));
}

TEST_CASE("tenant: deterministic, ids ordered, dates consistent") {
  options o;
  o.seed = 3;
  o.scale = 500;
  const auto t = tenant_rows(o, "Account", {"Id", "CreatedDate", "UpdatedDate", "Name", "ParentId"});
  const auto t2 = tenant_rows(o, "account", {"id", "createddate", "updateddate", "name", "parentid"});
  CHECK(t.rows == t2.rows);
  CHECK(t2.columns[0] == "Id");
  REQUIRE(t.rows.size() == 500);
  bool newline = false, non_ascii = false, comma = false, quote = false;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    CHECK(r[0].size() == 32);
    CHECK(std::all_of(r[0].begin(), r[0].end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
    if (i > 0) CHECK(t.rows[i - 1][0] < r[0]);
    CHECK(r[1].size() == 24);
    CHECK(r[1] <= r[2]);  // same offset, so text order is time order
    CHECK(r[2] < "2026-01-01T00:00:00+0000");
    newline |= r[3].find('\n') != std::string::npos;
    comma |= r[3].find(',') != std::string::npos;
    quote |= r[3].find('"') != std::string::npos;
    non_ascii |= std::any_of(r[3].begin(), r[3].end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    if (!r[4].empty()) CHECK(r[4] < r[0]);
  }
  CHECK(newline);
  CHECK(comma);
  CHECK(quote);
  CHECK(non_ascii);
  o.seed = 4;
  CHECK(tenant_rows(o, "Account", {"Id"}).rows[0][0] != t.rows[0][0]);
  CHECK_THROWS(tenant_rows(o, "Nothing", {"Id"}));
  CHECK_THROWS(tenant_rows(o, "Account", {"Nope"}));
}

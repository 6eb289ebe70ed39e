#include <aquaduct/emulator.hpp>

#include <chrono>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "emulator/test_client.hpp"

using aquaduct::emulator::options;
using aquaduct::emulator::server;
using emu_test::client;
using emu_test::json;
using emu_test::reply;
using emu_test::submit;
using emu_test::wait_terminal;

namespace {

options test_options() {
  options o;
  o.seed = 7;
  o.scale = 120;
  o.latency = std::chrono::milliseconds(50);
  return o;
}

std::string job_body(const std::string& format, const std::string& query, const std::string& extra = {}) {
  return fmt::format(R"({{"format":"{}","version":"1.1","name":"t","useQueryLabels":"true","dateTimeUtc":true{},)"
                     R"("queries":[{{"name":"Accounts","query":"{}","type":"zoqlexport"}}]}})",
                     format, extra, query);
}

std::string first_file_id(const std::string& job_text) {
  json j(job_text);
  std::string_view fid;
  REQUIRE_FALSE(j.root["batches"].at(0)["fileId"].get(fid));
  return std::string(fid);
}

const std::vector<std::string> all_fields{"Id",          "AccountNumber", "Name",         "Balance",
                                          "CreditBalance", "AutoPay",     "Currency",     "BillCycleDay",
                                          "PaymentTerm", "Status",        "Batch",        "SalesRepName",
                                          "ParentId",    "CrmId",         "CreatedDate",  "UpdatedDate",
                                          "CreatedById", "UpdatedById"};

void check_against_tenant(const options& o, const std::string& csv, const std::vector<std::string>& fields) {
  auto rows = emu_test::parse_csv(csv);
  const auto expect = aquaduct::emulator::tenant_rows(o, "Account", fields);
  REQUIRE(rows.size() == expect.rows.size() + 1);
  for (std::size_t i = 0; i < fields.size(); ++i) CHECK(rows[0][i] == "Account." + fields[i]);
  for (std::size_t r = 0; r < expect.rows.size(); ++r) CHECK(rows[r + 1] == expect.rows[r]);
}

}  // namespace

TEST_CASE("submit, poll until completed, download csv and compare with the tenant") {
  const options o = test_options();
  server s{o};
  s.start();
  client c{s.port()};
  std::string select = "select ";
  for (std::size_t i = 0; i < all_fields.size(); ++i) select += (i ? ", " : "") + all_fields[i];
  const std::string id = submit(c, job_body("csv", select + " from Account"));
  CHECK(id.size() == 32);
  const std::string done = wait_terminal(c, id);
  json j(done);
  CHECK(j.str("status") == "completed");
  CHECK(j.str("format") == "CSV");
  simdjson::dom::element b = j.root["batches"].at(0);
  CHECK(std::string_view(b["status"]) == "completed");
  CHECK(std::uint64_t(b["recordCount"]) == o.scale);

  reply f = c.request("GET", "/v1/file/" + first_file_id(done));
  REQUIRE(f.status == 200);
  CHECK(f.header("Content-Type").find("text/csv") == 0);
  CHECK(f.body.find('\r') == std::string::npos);
  CHECK(f.body.substr(0, 3) != "\xEF\xBB\xBF");
  check_against_tenant(o, f.body, all_fields);
  // Some names need quoting, at least one carries a newline.
  CHECK(f.body.find("\"\"") != std::string::npos);
  CHECK(f.body.find("\nAccounts Payable") != std::string::npos);

  // The plural form serves the same bytes.
  reply f2 = c.request("GET", "/v1/files/" + first_file_id(done));
  CHECK(f2.body == f.body);
}

TEST_CASE("gzip format: the whole CSV gzip-compressed") {
  const options o = test_options();
  server s{o};
  s.start();
  client c{s.port()};
  const std::vector<std::string> fields{"Id", "Name", "UpdatedDate", "Balance"};
  const std::string id = submit(c, job_body("gzip", "select Id, account.name, UPDATEDDATE, Account.Balance FROM account"));
  const std::string done = wait_terminal(c, id);
  CHECK(json(done).str("format") == "GZIP");
  reply f = c.request("GET", "/v1/file/" + first_file_id(done));
  REQUIRE(f.status == 200);
  const std::string ct = f.header("Content-Type");
  CHECK((ct == "application/gzip" || ct == "application/x-gzip"));
  REQUIRE(f.body.size() > 2);
  CHECK(static_cast<unsigned char>(f.body[0]) == 0x1f);
  check_against_tenant(o, emu_test::gunzip(f.body), fields);
}

TEST_CASE("labels, limit and tenant time zone") {
  const options o = test_options();
  server s{o};
  s.start();
  client c{s.port()};
  const std::string body =
      R"({"format":"csv","useQueryLabels":false,"dateTimeUtc":"false",)"
      R"("queries":[{"name":"q","query":"select AccountNumber, Id, CreatedDate from Account limit 5"}]})";
  const std::string done = wait_terminal(c, submit(c, body));
  CHECK(std::uint64_t(json(done).root["batches"].at(0)["recordCount"]) == 5);
  reply f = c.request("GET", "/v1/file/" + first_file_id(done));
  auto rows = emu_test::parse_csv(f.body);
  REQUIRE(rows.size() == 6);
  CHECK(rows[0] == std::vector<std::string>{"Account: Account Number", "Account: ID", "Account: Created Date"});
  CHECK(rows[1][0] == "A00000001");
  CHECK(rows[1][2].substr(19) == "-0800");
  const auto utc = aquaduct::emulator::tenant_rows(o, "Account", {"CreatedDate"});
  CHECK(utc.rows[0][0].substr(19) == "+0000");
}

TEST_CASE("accepted request shapes: version as number, booleans as strings, 50 queries") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  std::string body = R"({"format":"CSV","version":1.2,"useQueryLabels":"false","dateTimeUtc":false,"queries":[)";
  for (int i = 0; i < 50; ++i) body += fmt::format(R"({}{{"name":"q{}","query":"select Id from Account limit 1"}})", i ? "," : "", i);
  body += "]}";
  reply r = c.request("POST", "/v1/batch-query/", body);
  json j(r.body);
  INFO(r.body);
  CHECK(j.str("status") == "submitted");
  CHECK(j.str("version") == "1.2");
  CHECK(j.str("format") == "CSV");
  simdjson::dom::element b0 = j.root["batches"].at(0);
  CHECK(std::string_view(b0["status"]) == "pending");
  CHECK(bool(b0["full"]));
  CHECK(std::uint64_t(b0["recordCount"]) == 0);
  CHECK(std::string_view(b0["batchId"]).size() == 32);
  CHECK(std::string_view(b0["query"]) == "select Id from Account limit 1");
}

TEST_CASE("unknown job and file ids answer 404 with JSON") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  reply r = c.request("GET", "/v1/batch-query/jobs/0123456789abcdef0123456789abcdef");
  CHECK(r.status == 404);
  json j(r.body);
  CHECK(j.str("errorCode") == "90002");
  CHECK(j.str("message") == "Invalid Job Id");
  reply f = c.request("GET", "/v1/file/0123456789abcdef0123456789abcdef");
  CHECK(f.status == 404);
  CHECK_NOTHROW(json{f.body});
}

TEST_CASE("cancel before completion, and 90003 after") {
  options o = test_options();
  o.latency = std::chrono::seconds(60);
  server s{o};
  s.start();
  client c{s.port()};
  const std::string id = submit(c, job_body("csv", "select Id from Account"));
  reply r = c.request("DELETE", "/v1/batch-query/jobs/" + id);
  CHECK(r.status == 200);
  json j(r.body);
  CHECK(j.str("status") == "cancelled");
  CHECK(std::string_view(j.root["batches"].at(0)["status"]) == "cancelled");
  CHECK(json(c.request("GET", "/v1/batch-query/jobs/" + id).body).str("status") == "cancelled");

  server fast{test_options()};
  fast.start();
  client c2{fast.port()};
  const std::string id2 = submit(c2, job_body("csv", "select Id from Account"));
  wait_terminal(c2, id2);
  reply late = c2.request("DELETE", "/v1/batch-query/jobs/" + id2);
  json lj(late.body);
  CHECK(lj.str("errorCode") == "90003");
  CHECK(lj.str("status") == "error");
  CHECK(c2.request("DELETE", "/v1/batch-query/jobs/0123456789abcdef0123456789abcdef").status == 404);
}

TEST_CASE("authentication") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  const std::string path = "/v1/batch-query/jobs/0123456789abcdef0123456789abcdef";  // 404 once authenticated

  reply none = c.request("GET", path, {}, {});
  CHECK(none.status == 401);
  json nj(none.body);
  CHECK_FALSE(bool(nj.root["success"]));
  CHECK(int64_t(nj.root["reasons"].at(0)["code"]) == 90000011);

  CHECK(c.request("GET", path, {}, {{"apiAccessKeyId", "aquaduct"}, {"apiSecretAccessKey", "nope"}}).status == 401);
  CHECK(c.request("GET", path).status == 404);  // api key headers
  // Basic base64("aquaduct:aquaduct")
  CHECK(c.request("GET", path, {}, {{"Authorization", "Basic YXF1YWR1Y3Q6YXF1YWR1Y3Q="}}).status == 404);
  CHECK(c.request("GET", path, {}, {{"Authorization", "Basic YXF1YWR1Y3Q6d3Jvbmc="}}).status == 401);

  reply tok = c.request("POST", "/oauth/token", "client_id=aquaduct&client_secret=aquaduct&grant_type=client_credentials",
                        {}, "application/x-www-form-urlencoded");
  REQUIRE(tok.status == 200);
  json tj(tok.body);
  CHECK(tj.str("token_type") == "bearer");
  CHECK(int64_t(tj.root["expires_in"]) == 3599);
  const std::string token = tj.str("access_token");
  CHECK(c.request("GET", path, {}, {{"Authorization", "Bearer " + token}}).status == 404);
  CHECK(c.request("GET", path, {}, {{"Authorization", "Bearer not-a-token"}}).status == 401);

  reply badtok = c.request("POST", "/oauth/token", "client_id=aquaduct&client_secret=x&grant_type=client_credentials", {},
                           "application/x-www-form-urlencoded");
  CHECK(badtok.status == 401);
}

TEST_CASE("expired tokens are refused") {
  options o = test_options();
  o.token_lifetime = std::chrono::seconds(0);
  server s{o};
  s.start();
  client c{s.port()};
  reply tok = c.request("POST", "/oauth/token", "grant_type=client_credentials&client_id=aquaduct&client_secret=aquaduct",
                        {}, "application/x-www-form-urlencoded");
  REQUIRE(tok.status == 200);
  const std::string token = json(tok.body).str("access_token");
  CHECK(c.request("GET", "/v1/batch-query/jobs/x", {}, {{"Authorization", "Bearer " + token}}).status == 401);
}

TEST_CASE("tracking headers") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  auto h = client::default_auth();
  h.emplace_back("Zuora-Track-Id", "trace-42");
  reply r = c.request("GET", "/v1/batch-query/jobs/x", {}, h);
  CHECK(r.header("Zuora-Track-Id") == "trace-42");
  CHECK_FALSE(r.header("Zuora-Request-Id").empty());
}

TEST_CASE("fault job_abort: the next job ends aborted with the message") {
  options o = test_options();
  o.faults_json = R"({"rules":[{"path":"/v1/batch-query*","fault":"job_abort","message":"LINK_30000007 boom","times":1}]})";
  server s{o};
  s.start();
  client c{s.port()};
  const std::string done = wait_terminal(c, submit(c, job_body("csv", "select Id from Account")));
  json j(done);
  CHECK(j.str("status") == "aborted");
  simdjson::dom::element b = j.root["batches"].at(0);
  CHECK(std::string_view(b["status"]) == "aborted");
  CHECK(std::string_view(b["message"]) == "LINK_30000007 boom");
  // times:1 — the next job completes.
  CHECK(json(wait_terminal(c, submit(c, job_body("csv", "select Id from Account")))).str("status") == "completed");
}

TEST_CASE("fault status via POST /_emulator/faults, and reset") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  reply arm = c.request("POST", "/_emulator/faults",
                        R"({"rules":[{"method":"GET","path":"/v1/batch-query/jobs/*","fault":"status","code":429,"retry_after_s":7,"times":2}]})",
                        {});
  REQUIRE(arm.status == 200);
  const std::string id = submit(c, job_body("csv", "select Id from Account"));  // POST: not matched
  for (int i = 0; i < 2; ++i) {
    reply r = c.request("GET", "/v1/batch-query/jobs/" + id);
    CHECK(r.status == 429);
    CHECK(r.header("Retry-After") == "7");
    CHECK_NOTHROW(json{r.body});
  }
  CHECK(c.request("GET", "/v1/batch-query/jobs/" + id).status == 200);

  reply stats = c.request("GET", "/_emulator/stats", {}, {});
  REQUIRE(stats.status == 200);
  json sj(stats.body);
  CHECK(std::uint64_t(sj.root["requests"]["/v1/batch-query/jobs/{id}"]["429"]) == 2);
  CHECK(std::uint64_t(sj.root["requests"]["/v1/batch-query/"]["200"]) == 1);

  REQUIRE(c.request("POST", "/_emulator/reset", {}, {}).status == 200);
  CHECK(c.request("GET", "/v1/batch-query/jobs/" + id).status == 404);
  reply bad = c.request("POST", "/_emulator/faults", R"({"rules":[{"fault":"explode"}]})", {});
  CHECK(bad.status == 400);
}

TEST_CASE("fault truncate: a short body, then the connection closes") {
  const options o = test_options();
  server s{o};
  s.start();
  client c{s.port()};
  const std::string done = wait_terminal(c, submit(c, job_body("csv", "select * from Account")));
  const std::string fid = first_file_id(done);
  const std::string full = c.request("GET", "/v1/file/" + fid).body;
  REQUIRE(full.size() > 1000);
  c.request("POST", "/_emulator/faults", R"({"rules":[{"path":"/v1/file/*","fault":"truncate","bytes":1000,"times":1}]})", {});
  reply r = c.request("GET", "/v1/file/" + fid);
  CHECK(r.status == 200);
  CHECK(r.header("Content-Length") == std::to_string(full.size()));
  CHECK_FALSE(r.complete);
  CHECK(r.body == full.substr(0, 1000));

  client c2{s.port()};
  CHECK(c2.request("GET", "/v1/file/" + fid).body == full);  // times:1 spent
}

TEST_CASE("fault reset_after_bytes and corrupt_gzip") {
  const options o = test_options();
  server s{o};
  s.start();
  client c{s.port()};
  const std::string done = wait_terminal(c, submit(c, job_body("gzip", "select * from Account")));
  const std::string fid = first_file_id(done);
  c.request("POST", "/_emulator/faults",
            R"({"rules":[{"path":"/v1/file/*","fault":"reset_after_bytes","bytes":100,"times":1}]})", {});
  reply r = c.request("GET", "/v1/file/" + fid);
  CHECK_FALSE(r.complete);
  CHECK(r.body.size() <= 100);

  client c2{s.port()};
  c2.request("POST", "/_emulator/faults", R"({"rules":[{"path":"/v1/file/*","fault":"corrupt_gzip","times":1}]})", {});
  reply g = c2.request("GET", "/v1/file/" + fid);
  CHECK(g.status == 200);
  CHECK(g.complete);
  CHECK_THROWS(emu_test::gunzip(g.body));
  CHECK_NOTHROW(emu_test::gunzip(c2.request("GET", "/v1/file/" + fid).body));
}

TEST_CASE("range requests on result files") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  const std::string fid = first_file_id(wait_terminal(c, submit(c, job_body("csv", "select * from Account"))));
  const std::string full = c.request("GET", "/v1/file/" + fid).body;
  auto h = client::default_auth();
  h.emplace_back("Range", "bytes=10-19");
  reply r = c.request("GET", "/v1/file/" + fid, {}, h);
  CHECK(r.status == 206);
  CHECK(r.body == full.substr(10, 10));
  CHECK(r.header("Content-Range") == fmt::format("bytes 10-19/{}", full.size()));
}

TEST_CASE("segments when a result exceeds segment_rows") {
  options o = test_options();
  o.segment_rows = 50;  // 120 rows -> 3 files
  server s{o};
  s.start();
  client c{s.port()};
  json j(wait_terminal(c, submit(c, job_body("csv", "select Id from Account"))));
  simdjson::dom::array segs;
  REQUIRE_FALSE(j.root["batches"].at(0)["segments"].get(segs));
  REQUIRE(segs.size() == 3);
  std::size_t rows = 0;
  for (simdjson::dom::element e : segs) {
    auto csv = emu_test::parse_csv(c.request("GET", "/v1/file/" + std::string(std::string_view(e))).body);
    CHECK(csv[0][0] == "Account.Id");
    rows += csv.size() - 1;
  }
  CHECK(rows == 120);
}

TEST_CASE("keep-alive: two requests on one connection") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  reply a = c.request("GET", "/v1/batch-query/jobs/x");
  reply b = c.request("GET", "/v1/batch-query/jobs/y");
  CHECK(a.status == 404);
  CHECK(b.status == 404);
  CHECK(a.header("Connection") == "keep-alive");

  // Pipelined: both requests in one write.
  c.send_raw("GET /v1/batch-query/jobs/x HTTP/1.1\r\napiAccessKeyId: aquaduct\r\napiSecretAccessKey: aquaduct\r\n\r\n"
             "GET /v1/batch-query/jobs/y HTTP/1.1\r\napiAccessKeyId: aquaduct\r\napiSecretAccessKey: aquaduct\r\n"
             "Connection: close\r\n\r\n");
  CHECK(c.read_reply().status == 404);
  reply last = c.read_reply();
  CHECK(last.header("Connection") == "close");
  CHECK(c.closed_by_peer());
}

TEST_CASE("malformed requests get 400 with a JSON body") {
  server s{test_options()};
  s.start();
  {
    client c{s.port()};
    c.send_raw("THIS IS NOT HTTP\r\n\r\n");
    reply r = c.read_reply();
    CHECK(r.status == 400);
    CHECK_NOTHROW(json{r.body});
    CHECK(c.closed_by_peer());
  }
  {
    client c{s.port()};
    c.send_raw("GET /v1/x HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
    CHECK(c.read_reply().status == 400);
  }
  {
    client c{s.port()};
    c.send_raw("GET /v1/x HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    reply r = c.read_reply();
    CHECK(r.status == 431);
    CHECK_NOTHROW(json{r.body});
  }
}

TEST_CASE("legacy /apps/api paths and the last completed job") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  reply r = c.request("POST", "/apps/api/batch-query/",
                      R"({"version":"1.2","partner":"p1","project":"proj","queries":[{"name":"a","query":"select Id from Account limit 1"}]})");
  const std::string id = json(r.body).str("id");
  REQUIRE(id.size() == 32);
  wait_terminal(c, id);
  reply last = c.request("GET", "/v1/batch-query/jobs/partner/p1/project/proj");
  CHECK(last.status == 200);
  CHECK(json(last.body).str("id") == id);
  CHECK(c.request("GET", "/apps/api/file/" + first_file_id(last.body)).status == 200);
}

TEST_CASE("stop is idempotent and the port is free afterwards") {
  options o = test_options();
  server s{o};
  s.start();
  const auto port = s.port();
  CHECK(port != 0);
  CHECK(s.base_url() == fmt::format("http://127.0.0.1:{}", port));
  { client c{port}; }
  s.stop();
  s.stop();
  o.port = port;
  server again{o};
  CHECK_NOTHROW(again.start());
}

TEST_CASE("fault token_expired and stall_ms; HEAD on a file") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  const std::string fid = first_file_id(wait_terminal(c, submit(c, job_body("csv", "select * from Account"))));
  const std::string full = c.request("GET", "/v1/file/" + fid).body;

  reply head = c.request("HEAD", "/v1/file/" + fid);
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == std::to_string(full.size()));
  CHECK(head.body.empty());

  c.request("POST", "/_emulator/faults",
            R"({"rules":[{"path":"/v1/batch-query/jobs/*","fault":"token_expired","times":1},)"
            R"({"path":"/v1/file/*","fault":"stall_ms","ms":150,"after_bytes":100,"times":1}]})",
            {});
  CHECK(c.request("GET", "/v1/batch-query/jobs/x").status == 401);
  CHECK(c.request("GET", "/v1/batch-query/jobs/x").status == 404);
  const auto t0 = std::chrono::steady_clock::now();
  reply slow = c.request("GET", "/v1/file/" + fid);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(140));
  CHECK(slow.complete);
  CHECK(slow.body == full);
}

TEST_CASE("deleted column with forceExport comes first") {
  server s{test_options()};
  s.start();
  client c{s.port()};
  const std::string body =
      R"({"useQueryLabels":false,"queries":[{"name":"d","query":"select Id from Account limit 2",)"
      R"("deleted":{"column":"IsDeleted","format":"Numeric","forceExport":"true"}}]})";
  const std::string done = wait_terminal(c, submit(c, body));
  auto rows = emu_test::parse_csv(c.request("GET", "/v1/file/" + first_file_id(done)).body);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == std::vector<std::string>{"Account.IsDeleted", "Account: ID"});
  CHECK(rows[1][0] == "0");
  reply no_force = c.request("POST", "/v1/batch-query/",
                             R"({"queries":[{"name":"d","query":"select Id from Account","deleted":{"column":"IsDeleted","format":"Boolean"}}]})");
  CHECK(json(no_force.body).str("errorCode") == "90012");
}

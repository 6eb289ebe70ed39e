// HTTP-level behaviour of the service: idempotency, gzip both ways, rate
// limits, body limits, file ids that try to escape, purge (404), the maximum
// object size (403), describe, zip results, the /v4/batch JSON batches and
// fault rule matching.
#include <aquaduct/emulator.hpp>

#include <string>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "emulator/test_client.hpp"

using aquaduct::emulator::options;
using aquaduct::emulator::server;
using emu_test::batch_files;
using emu_test::client;
using emu_test::json;
using emu_test::reply;
using emu_test::submit;
using emu_test::wait_terminal;

namespace {

options small() {
  options o;
  o.seed = 5;
  o.scale = 25;
  o.latency = std::chrono::milliseconds(20);
  return o;
}

using header_list = std::vector<std::pair<std::string, std::string>>;

header_list with_auth(header_list extra) {
  header_list h = client::default_auth();
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

std::string gzip(const std::string& s) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(s.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  zs.avail_in = static_cast<uInt>(s.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const std::string one_query = R"({"format":"csv","queries":[{"name":"A","query":"select Id, Name from Account"}]})";

}  // namespace

TEST_CASE("Idempotency-Key: same key and body is the same job; another body is 422") {
  server s{small()};
  s.start();
  client c{s.port()};
  reply a = c.request("POST", "/v1/batch-query/", one_query, with_auth({{"Idempotency-Key", "k-1"}}));
  reply b = c.request("POST", "/v1/batch-query/", one_query, with_auth({{"Idempotency-Key", "k-1"}}));
  REQUIRE(a.status == 200);
  REQUIRE(b.status == 200);
  CHECK(json(a.body).str("id").size() == 32);
  CHECK(json(a.body).str("id") == json(b.body).str("id"));
  reply other = c.request("POST", "/v1/batch-query/", one_query + " ", with_auth({{"Idempotency-Key", "k-1"}}));
  CHECK(other.status == 422);
  CHECK_NOTHROW(json{other.body});
  reply fresh = c.request("POST", "/v1/batch-query/", one_query, with_auth({{"Idempotency-Key", "k-2"}}));
  CHECK(json(fresh.body).str("id") != json(a.body).str("id"));
  CHECK(json(c.request("GET", "/_emulator/stats").body).root["jobs"]["submitted"].is_uint64());
}

TEST_CASE("gzip: request bodies with Content-Encoding gzip; responses when Accept-Encoding asks") {
  server s{small()};
  s.start();
  client c{s.port()};
  reply r = c.request("POST", "/v1/batch-query/", gzip(one_query), with_auth({{"Content-Encoding", "gzip"}}));
  REQUIRE(r.status == 200);
  const std::string id = json(r.body).str("id");
  CHECK(id.size() == 32);

  reply bad = c.request("POST", "/v1/batch-query/", "not gzip at all", with_auth({{"Content-Encoding", "gzip"}}));
  CHECK(bad.status == 400);
  CHECK_NOTHROW(json{bad.body});

  wait_terminal(c, id);
  reply plain = c.request("GET", "/v1/describe/Account");
  reply zipped = c.request("GET", "/v1/describe/Account", {}, with_auth({{"Accept-Encoding", "gzip, deflate"}}));
  REQUIRE(plain.status == 200);
  REQUIRE(zipped.status == 200);
  CHECK(plain.header("Content-Encoding").empty());
  CHECK(zipped.header("Content-Encoding") == "gzip");
  CHECK(emu_test::gunzip(zipped.body) == plain.body);
  // Small bodies are never compressed.
  reply small_reply = c.request("GET", "/v1/batch-query/jobs/nope", {}, with_auth({{"Accept-Encoding", "gzip"}}));
  CHECK(small_reply.header("Content-Encoding").empty());
}

TEST_CASE("rate limit: 429 with Retry-After and RateLimit-* headers") {
  options o = small();
  o.rate_limit = 3;
  o.rate_window = std::chrono::seconds(3600);
  server s{o};
  s.start();
  client c{s.port()};
  for (int i = 0; i < 3; ++i) {
    reply r = c.request("GET", "/v1/describe");
    CHECK(r.status == 200);
    CHECK(r.header("RateLimit-Limit") == "3, 3;w=3600");
    CHECK(r.header("RateLimit-Remaining") == std::to_string(2 - i));
  }
  reply over = c.request("GET", "/v1/describe");
  CHECK(over.status == 429);
  CHECK(std::stoi(over.header("Retry-After")) > 3000);
  CHECK(over.header("RateLimit-Remaining") == "0");
  CHECK_FALSE(over.header("RateLimit-Reset").empty());
  CHECK(json(over.body).root["reasons"].at(0)["code"].get_int64().value() == 70);
  // The control endpoints are not limited.
  CHECK(c.request("GET", "/_emulator/stats").status == 200);
}

TEST_CASE("malformed requests: oversized body 413, escaping file ids 404, unknown routes 404; never fatal") {
  server s{small()};
  s.start();
  {
    client c{s.port()};
    // Announce a body over the 8 MiB limit: refused before it is read.
    c.send_raw("POST /v1/batch-query/ HTTP/1.1\r\nHost: x\r\napiAccessKeyId: aquaduct\r\n"
               "apiSecretAccessKey: aquaduct\r\nContent-Length: 999999999\r\n\r\n{");
    reply r = c.read_reply();
    CHECK(r.status == 413);
    CHECK_NOTHROW(json{r.body});
  }
  client c{s.port()};
  for (const char* target : {"/v1/file/../../etc/passwd", "/v1/file/..%2F..%2Fetc%2Fpasswd", "/v1/files/%2e%2e",
                             "/apps/api/file/../../../etc/passwd", "/v1/file/"}) {
    reply r = c.request("GET", target);
    INFO(target);
    CHECK(r.status == 404);
    CHECK_NOTHROW(json{r.body});
  }
  CHECK(c.request("GET", "/v2/nothing").status == 404);
  CHECK(c.request("GET", "/v1/describe/NoSuchObject").status == 404);
  CHECK(c.request("GET", "/_emulator/stats").status == 200);
}

TEST_CASE("result files: zip packaging, 404 once purged, 403 above the maximum object size") {
  options o = small();
  o.max_file_bytes = 4096;
  server s{o};
  s.start();
  client c{s.port()};
  const std::string z = wait_terminal(
      c, submit(c, R"({"format":"zip","queries":[{"name":"Accts","query":"select Id, Name from Account"}]})"));
  CHECK(json(z).str("format") == "ZIP");
  const auto fid = batch_files(z).at(0);
  reply f = c.request("GET", "/v1/file/" + fid);
  REQUIRE(f.status == 200);
  CHECK(f.header("Content-Type") == "application/zip");
  CHECK(f.body.substr(0, 4) == std::string("PK\x03\x04", 4));
  CHECK(f.body.find("Accts.csv") != std::string::npos);

  // Purged: 404 from then on, whatever the path form.
  reply p = c.request("POST", "/_emulator/purge", fmt::format(R"({{"job":"{}"}})", json(z).str("id")));
  CHECK(p.status == 200);
  CHECK(c.request("GET", "/v1/file/" + fid).status == 404);
  CHECK(c.request("GET", "/v1/files/" + fid).status == 404);

  // A file over max_file_bytes: 403 with the max-object-size XML.
  const std::string big = wait_terminal(
      c, submit(c, R"({"format":"csv","queries":[{"name":"Items","query":"select * from InvoiceItem"}]})"));
  const auto big_id = batch_files(big).at(0);
  REQUIRE(std::uint64_t(json(big).root["batches"].at(0)["recordCount"]) > 100);  // surely over 4096 bytes
  reply forbidden = c.request("GET", "/v1/file/" + big_id);
  CHECK(forbidden.status == 403);
  CHECK(forbidden.body.find("<security:max-object-size>1MB</security:max-object-size>") != std::string::npos);
}

TEST_CASE("file retention: files older than the retention period are purged (404)") {
  options o = small();
  o.file_retention = std::chrono::seconds(0);
  server s{o};
  s.start();
  client c{s.port()};
  const std::string j = wait_terminal(c, submit(c, one_query));
  CHECK(c.request("GET", "/v1/file/" + batch_files(j).at(0)).status == 404);
}

TEST_CASE("describe: object list and one object with fields and related objects") {
  server s{small()};
  s.start();
  client c{s.port()};
  reply list = c.request("GET", "/v1/describe");
  REQUIRE(list.status == 200);
  CHECK(list.header("Content-Type").find("xml") != std::string::npos);
  CHECK(list.body.find("<name>Account</name>") != std::string::npos);
  CHECK(list.body.find(fmt::format("http://127.0.0.1/v1/describe/Account")) != std::string::npos);
  reply acc = c.request("GET", "/v1/describe/Account");
  REQUIRE(acc.status == 200);
  for (const char* needle : {"<fields>", "<related-objects>", "<name>AccountNumber</name>", "<context>export</context>"})
    CHECK(acc.body.find(needle) != std::string::npos);
  CHECK(c.request("GET", "/apps/api/describe/account").status == 200);
}

TEST_CASE("/v4/batch: JSON batch results are created on a worker and retrieved when Complete") {
  server s{small()};
  s.start();
  client c{s.port()};
  reply created = c.request("POST", "/v4/batch", R"({"query":"select Id, Name, BillToContact.FirstName from Account limit 5"})");
  REQUIRE(created.status == 200);
  const json cj(created.body);
  const std::int64_t id = cj.root["batchId"].get_int64().value();
  CHECK(cj.str("batchStatus") == "Created");
  std::string status;
  std::string body;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (status != "Complete") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    reply r = c.request("GET", fmt::format("/v4/batch/{}", id));
    REQUIRE(r.status == 200);
    body = r.body;
    status = json(body).str("batchStatus");
    REQUIRE(status != "Errored");
  }
  const json done(body);
  CHECK(done.root["batchId"].get_int64().value() == id);
  simdjson::dom::object records;
  REQUIRE_FALSE(done.root["batchResults"]["records"].get(records));
  CHECK(records.size() >= 1);
  CHECK(c.request("GET", "/v4/batch/999999").status == 404);
  CHECK(c.request("POST", "/v4/batch", R"({"query":"selec"})").status == 400);
}

TEST_CASE("faults: method and path glob select the request; probability 0 never fires; times counts down") {
  server s{small()};
  s.start();
  client c{s.port()};
  reply armed = c.request("POST", "/_emulator/faults",
                          R"({"rules":[{"method":"POST","path":"/v1/batch-query*","fault":"status","code":503,"times":2},)"
                          R"({"path":"/v1/describe","fault":"status","code":500,"probability":0}]})");
  REQUIRE(armed.status == 200);
  CHECK(c.request("GET", "/v1/batch-query/jobs/x").status == 404);  // GET is not POST
  CHECK(c.request("POST", "/v1/batch-query/", one_query).status == 503);
  CHECK(c.request("POST", "/v1/batch-query/", one_query).status == 503);
  CHECK(c.request("POST", "/v1/batch-query/", one_query).status == 200);  // times ran out
  for (int i = 0; i < 20; ++i) CHECK(c.request("GET", "/v1/describe").status == 200);
  CHECK(c.request("POST", "/_emulator/faults", R"({"rules":[{"fault":"nope"}]})").status == 400);
  CHECK(c.request("DELETE", "/_emulator/faults").status == 200);
  CHECK(json(c.request("GET", "/_emulator/stats").body).root["faults_armed"].get_uint64().value() == 0);
}

TEST_CASE("credentials file: other credentials replace the defaults; bad files are refused without secrets") {
  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("emu-creds-{}-{}", ::getpid(), std::chrono::steady_clock::now().time_since_epoch().count());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "c.json") << R"({"client_id":"cid","client_secret":"s3cret","access_key_id":"ak","secret_access_key":"sk"})";
  std::ofstream(dir / "bad.json") << R"({"client_id":"cid","password":"hunter2"})";
  options o = small();
  o.creds = aquaduct::emulator::load_credentials((dir / "c.json").string());
  server s{o};
  s.start();
  client c{s.port()};
  CHECK(c.request("GET", "/v1/describe").status == 401);  // aquaduct/aquaduct no longer
  CHECK(c.request("GET", "/v1/describe", {}, {{"apiAccessKeyId", "ak"}, {"apiSecretAccessKey", "sk"}}).status == 200);
  CHECK(c.request("POST", "/oauth/token", "client_id=cid&client_secret=s3cret&grant_type=client_credentials", {},
                  "application/x-www-form-urlencoded")
            .status == 200);
  try {
    aquaduct::emulator::load_credentials((dir / "bad.json").string());
    FAIL("a file with an unknown key must be refused");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("password") != std::string::npos);
    CHECK(std::string(e.what()).find("hunter2") == std::string::npos);
  }
  CHECK_THROWS_AS(aquaduct::emulator::load_credentials((dir / "missing.json").string()), std::invalid_argument);
  std::filesystem::remove_all(dir);
}

TEST_CASE("concurrent downloads beyond the limit: 429, code 50000070, Retry-After 120") {
  options o = small();
  o.max_concurrent_downloads = 1;
  server s{o};
  s.start();
  client c{s.port()};
  const std::string fid = batch_files(wait_terminal(c, submit(c, one_query))).at(0);
  REQUIRE(c.request("POST", "/_emulator/faults",
                    R"({"rules":[{"path":"/v1/file/*","fault":"stall_ms","ms":1500,"after_bytes":10,"times":1}]})")
              .status == 200);
  client slow{s.port()};
  slow.send_raw("GET /v1/file/" + fid + " HTTP/1.1\r\nHost: x\r\napiAccessKeyId: aquaduct\r\napiSecretAccessKey: aquaduct\r\n\r\n");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (json(c.request("GET", "/_emulator/stats").body).root["downloads_in_flight"].get_uint64().value() != 1) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  reply busy = c.request("GET", "/v1/file/" + fid);
  CHECK(busy.status == 429);
  CHECK(busy.header("Retry-After") == "120");
  CHECK(json(busy.body).root["reasons"].at(0)["code"].get_int64().value() == 50000070);
  reply stalled = slow.read_reply();
  CHECK(stalled.status == 200);
  CHECK(stalled.complete);
  // The slot is free again once that response is written.
  reply again = c.request("GET", "/v1/file/" + fid);
  CHECK(again.status == 200);
  CHECK(again.body == stalled.body);
}

TEST_CASE("Zuora-Track-Id: a valid id is echoed, an invalid one is not; every answer has a Zuora-Request-Id") {
  server s{small()};
  s.start();
  client c{s.port()};
  reply ok = c.request("GET", "/v1/describe", {}, with_auth({{"Zuora-Track-Id", "etl-run-7"}}));
  CHECK(ok.header("Zuora-Track-Id") == "etl-run-7");
  reply colon = c.request("GET", "/v1/describe", {}, with_auth({{"Zuora-Track-Id", "a:b"}}));
  CHECK(colon.header("Zuora-Track-Id").empty());
  reply longer = c.request("GET", "/v1/describe", {}, with_auth({{"Zuora-Track-Id", std::string(65, 'x')}}));
  CHECK(longer.header("Zuora-Track-Id").empty());
  CHECK(colon.header("Zuora-Request-Id").size() == 36);
  CHECK(c.request("GET", "/v1/describe", {}, {}).header("Zuora-Request-Id").size() == 36);  // the 401 too
}

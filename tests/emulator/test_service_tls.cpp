// The emulator over TLS (--tls-cert/--tls-key): a throwaway CA and server
// certificate are made at test time; clients verify the chain and the name.
#include <aquaduct/emulator.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "emulator/test_client.hpp"

using aquaduct::emulator::options;
using aquaduct::emulator::server;
using emu_test::client;
using emu_test::json;
using emu_test::reply;
using emu_test::test_pki;

namespace {

options tls_options(const test_pki& pki) {
  options o;
  o.seed = 3;
  o.scale = 40;
  o.latency = std::chrono::milliseconds(20);
  o.tls_cert_file = pki.server_cert.string();
  o.tls_key_file = pki.server_key.string();
  return o;
}

// Runs a shell command, returns its stdout.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

}  // namespace

TEST_CASE("TLS: token, submit, poll and download over HTTPS with a verified certificate") {
  test_pki pki;
  const options opts = tls_options(pki);
  server srv(opts);
  srv.start();
  CHECK(srv.base_url() == fmt::format("https://127.0.0.1:{}", srv.port()));

  client c(srv.port(), pki.ca_cert);
  reply tok = c.request("POST", "/oauth/token", "client_id=aquaduct&client_secret=aquaduct&grant_type=client_credentials",
                        {}, "application/x-www-form-urlencoded");
  REQUIRE(tok.status == 200);
  const std::string bearer = json(tok.body).str("access_token");
  REQUIRE_FALSE(bearer.empty());
  const std::vector<std::pair<std::string, std::string>> auth{{"Authorization", "Bearer " + bearer}};

  reply sub = c.request("POST", "/v1/batch-query/",
                        R"({"format":"csv","version":"1.0","name":"tls","queries":[)"
                        R"({"name":"Accounts","query":"select Id, Name from Account","type":"zoqlexport"}]})",
                        auth);
  REQUIRE(sub.status == 200);
  const std::string id = json(sub.body).str("id");
  REQUIRE(id.size() == 32);

  std::string file_id;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (file_id.empty()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    reply g = c.request("GET", "/v1/batch-query/jobs/" + id, {}, auth);
    REQUIRE(g.status == 200);
    json j(g.body);
    if (j.str("status") == "completed") {
      std::string_view f;
      REQUIRE_FALSE(j.root["batches"].at(0)["fileId"].get(f));
      file_id = std::string(f);
    }
  }
  reply file = c.request("GET", "/v1/file/" + file_id, {}, auth);
  REQUIRE(file.status == 200);
  const auto rows = emu_test::parse_csv(file.body);
  const auto expect = aquaduct::emulator::tenant_rows(opts, "Account", {"Id", "Name"});
  REQUIRE(rows.size() == expect.rows.size() + 1);
  for (std::size_t r = 0; r < expect.rows.size(); ++r) CHECK(rows[r + 1] == expect.rows[r]);

  // A Range request over TLS takes the read-and-encrypt path, not sendfile.
  reply part = c.request("GET", "/v1/file/" + file_id, {}, {auth[0], {"Range", "bytes=5-24"}});
  CHECK(part.status == 206);
  CHECK(part.body == file.body.substr(5, 20));
}

TEST_CASE("TLS: curl with the test CA gets a token; plain HTTP and an untrusted client get nothing") {
  test_pki pki;
  server srv(tls_options(pki));
  srv.start();

  const std::string out = run(fmt::format(
      "curl -sS --max-time 20 --cacert '{}' -d 'client_id=aquaduct&client_secret=aquaduct&grant_type=client_credentials' "
      "https://127.0.0.1:{}/oauth/token 2>&1",
      pki.ca_cert.string(), srv.port()));
  CHECK(out.find("\"access_token\"") != std::string::npos);

  // Plain HTTP to the TLS port: the handshake fails, so no HTTP response ever comes.
  {
    client plain(srv.port());
    plain.send_raw("GET /v1/describe HTTP/1.1\r\nHost: x\r\n\r\n");
    bool got_http = false;
    try {
      reply r = plain.read_reply();
      got_http = r.status != 0;
    } catch (const std::exception&) {
    }
    CHECK_FALSE(got_http);
  }

  // A client that trusts another CA refuses the emulator's certificate.
  test_pki other;
  CHECK_THROWS_AS(client(srv.port(), other.ca_cert), std::system_error);

  // The server survived all of it.
  client again(srv.port(), pki.ca_cert);
  reply r = again.request("GET", "/_emulator/stats");
  CHECK(r.status == 200);
}

TEST_CASE("TLS: a cert without a key, or an unreadable cert, is refused at start") {
  test_pki pki;
  options o = tls_options(pki);
  o.tls_key_file.clear();
  CHECK_THROWS_AS(server(o).start(), std::invalid_argument);
  options bad = tls_options(pki);
  bad.tls_cert_file = (pki.dir / "missing.pem").string();
  try {
    server(bad).start();
    FAIL("start() should throw");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("missing.pem") != std::string::npos);
  }
}

TEST_CASE("TLS: delivery faults (truncate, reset_after_bytes, stall_ms) work over HTTPS too") {
  test_pki pki;
  const options opts = tls_options(pki);
  server srv(opts);
  srv.start();
  client c(srv.port(), pki.ca_cert);
  const std::string id = emu_test::submit(
      c, R"({"format":"csv","queries":[{"name":"A","query":"select Id, Name from Account"}]})");
  const std::string fid = emu_test::batch_files(emu_test::wait_terminal(c, id)).at(0);
  const reply whole = c.request("GET", "/v1/file/" + fid);
  REQUIRE(whole.status == 200);
  REQUIRE(whole.body.size() > 200);

  REQUIRE(c.request("POST", "/_emulator/faults",
                    R"({"rules":[{"path":"/v1/file/*","fault":"truncate","bytes":100,"times":1},)"
                    R"({"path":"/v1/files/*","fault":"reset_after_bytes","bytes":50,"times":1},)"
                    R"({"path":"/v1/batch-query/file/*","fault":"stall_ms","ms":200,"after_bytes":10,"times":1}]})")
              .status == 200);
  {
    client t(srv.port(), pki.ca_cert);
    reply r = t.request("GET", "/v1/file/" + fid);
    CHECK(r.status == 200);
    CHECK_FALSE(r.complete);
    CHECK(r.body == whole.body.substr(0, 100));
  }
  {
    client t(srv.port(), pki.ca_cert);
    reply r = t.request("GET", "/v1/files/" + fid);
    CHECK_FALSE(r.complete);
    CHECK(r.body.size() <= 50);
  }
  {
    client t(srv.port(), pki.ca_cert);
    const auto t0 = std::chrono::steady_clock::now();
    reply r = t.request("GET", "/v1/file/" + fid);  // the truncate rule is spent
    CHECK(r.body == whole.body);
    reply stalled = t.request("GET", "/apps/api/batch-query/file/" + fid);  // matched as /v1/batch-query/file/
    CHECK(stalled.body == whole.body);
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(200));
  }
}

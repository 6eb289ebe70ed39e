// Submit validation (contract §1.3, §1.4, §1.7): every rejected request is
// HTTP 200 with status "error", an errorCode and no id; a body that is not a
// JSON object is a 400 with a JSON body.
#include <aquaduct/emulator.hpp>

#include <string>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "emulator/test_client.hpp"

using aquaduct::emulator::options;
using aquaduct::emulator::server;
using emu_test::client;
using emu_test::json;
using emu_test::reply;

namespace {

struct fixture {
  server srv{[] {
    options o;
    o.scale = 20;
    o.latency = std::chrono::milliseconds(10);
    return o;
  }()};
  std::unique_ptr<client> c;
  fixture() {
    srv.start();
    c = std::make_unique<client>(srv.port());
  }

  void expect_error(const std::string& body, const std::string& code, const std::string& needle) {
    reply r = c->request("POST", "/v1/batch-query/", body);
    INFO(body);
    INFO(r.body);
    CHECK(r.status == 200);
    json j(r.body);
    CHECK(j.str("status") == "error");
    CHECK(j.str("errorCode") == code);
    CHECK(j.str("message").find(needle) != std::string::npos);
    CHECK(j.str("id").empty());
  }
};

const std::string q = R"("queries":[{"name":"a","query":"select Id from Account"}])";

}  // namespace

TEST_CASE_FIXTURE(fixture, "validation: job fields") {
  expect_error(R"({"name":"123456789012345678901234567890123",)" + q + "}", "90005", "32 characters");
  expect_error(R"({"format":"json",)" + q + "}", "90005", "format 'json'");
  expect_error(R"({"format":"parquet",)" + q + "}", "90005", "format 'parquet'");
  expect_error(R"({"version":"2.0",)" + q + "}", "90005", "version");
  expect_error(R"({"version":1.3,)" + q + "}", "90005", "version");
  expect_error(R"({"useQueryLabels":"yes",)" + q + "}", "90005", "useQueryLabels");
  expect_error(R"({"encrypted":"pgp",)" + q + "}", "90005", "PGP");
  expect_error(R"({"sourceData":"LAKE",)" + q + "}", "90005", "sourceData");
  expect_error(R"({"name":7,)" + q + "}", "90005", "'name' must be a string");
  expect_error(R"({"notifyUrl":")" + std::string(5000, 'x') + R"(",)" + q + "}", "90014", "notifyUrl");
  expect_error(R"({"version":"1.0","queries":[]})", "90016", "no queries");
  expect_error(R"({"version":"1.0"})", "90016", "no queries");
  expect_error(R"({"queries":{"name":"a"}})", "90005", "array");
  std::string many = R"({"queries":[)";
  for (int i = 0; i < 51; ++i) many += fmt::format(R"({}{{"name":"q{}","query":"select Id from Account"}})", i ? "," : "", i);
  expect_error(many + "]}", "90004", "at most 50");
}

TEST_CASE_FIXTURE(fixture, "validation: stateful fields") {
  const std::string sf = R"("partner":"p","project":"x",)";
  expect_error(R"({"version":"1.1",)" + sf + R"("offset":3601,)" + q + "}", "90005", "offset");
  expect_error(R"({"version":"1.1",)" + sf + R"("offset":-1,)" + q + "}", "90005", "offset");
  expect_error(R"({"version":"1.1",)" + sf + R"("offset":"ten",)" + q + "}", "90005", "offset");
  expect_error(R"({"version":"1.1",)" + sf + R"("incrementalTime":"2024-13-01 00:00:00",)" + q + "}", "90015",
               "incrementalTime");
  expect_error(R"({"version":"1.1",)" + sf + R"("incrementalTime":"2024-01-01T00:00:00",)" + q + "}", "90015",
               "incrementalTime");
  // Fields that need a session's memory, without version 1.1/1.2 (or without
  // partner+project). Version 1.0 with partner and project, and offset, run
  // stateless: tests/emulator/test_service_fidelity.cpp.
  expect_error(R"({"incrementalTime":"2024-01-01 00:00:00",)" + q + "}", "90005", "incrementalTime needs stateful");
  expect_error(R"({"version":"1.0",)" + sf + R"("incrementalTime":"2024-01-01 00:00:00",)" + q + "}", "90005",
               "incrementalTime needs stateful");
  expect_error(R"({"useLastCompletedJobQueries":true,)" + q + "}", "90005", "useLastCompletedJobQueries");
  // A stateful first job must bring queries.
  expect_error(R"({"version":"1.2","partner":"p","project":"new-session","queries":[]})", "90016", "session");
}

TEST_CASE("validation: an unknown partner is 90019 when the tenant lists its partners") {
  options o;
  o.partners = {"salesforce", "acme"};
  server s{o};
  s.start();
  client c{s.port()};
  reply bad = c.request("POST", "/v1/batch-query/",
                        R"({"version":"1.2","partner":"nobody","project":"x",)" + q + "}");
  CHECK(bad.status == 200);
  CHECK(json(bad.body).str("errorCode") == "90019");
  CHECK(json(bad.body).str("message").find("nobody") != std::string::npos);
  reply ok = c.request("POST", "/v1/batch-query/", R"({"version":"1.2","partner":"acme","project":"x",)" + q + "}");
  CHECK(json(ok.body).str("status") == "submitted");
}

TEST_CASE_FIXTURE(fixture, "validation: queries name themselves in errors") {
  expect_error(R"({"queries":[{"name":"MyBadQuery","query":"selec Id from Account"}]})", "90005", "'MyBadQuery'");
  expect_error(R"({"queries":[{"name":"MyBadQuery","query":"selec Id from Account"}]})", "90005",
               "There is a syntax error in one of the queries in the AQuA input");
  expect_error(R"({"queries":[{"name":"Pos","query":"select Id from Account where"}]})", "90005", "position");
  expect_error(R"({"queries":[{"name":"NoObj","query":"select Id from Nothing"}]})", "90005", "'NoObj'");
  expect_error(R"({"queries":[{"name":"NoField","query":"select Id, Bogus from Account"}]})", "90005",
               "Error.zoql.noSuchFieldId");
  expect_error(R"({"queries":[{"name":"T","query":"select Id from Account","type":"sql"}]})", "90005", "'T'");
  expect_error(R"({"queries":[{"name":"Empty","query":""}]})", "90005", "'Empty'");
  expect_error(R"({"queries":[{"name":"Long","query":"select Id from Account where Name = ')" + std::string(20000, 'a') +
                   R"('"}]})",
               "90005", "20000");
  expect_error(R"({"queries":[{"name":"Plain","type":"zoql","query":"select * from Account"}]})", "90005", "'Plain'");
}

TEST_CASE_FIXTURE(fixture, "validation: deleted specs") {
  expect_error(R"({"queries":[{"name":"D","query":"select Id from Account","deleted":{"column":"IsDeleted","format":"Boolean"}}]})",
               "90012", "forceExport");
  expect_error(R"({"queries":[{"name":"D","query":"select Id from Account","deleted":{"column":"X","format":"bool","forceExport":true}}]})",
               "90005", "Boolean or Numeric");
  expect_error(R"({"queries":[{"name":"D","query":"select Id from Account","deleted":{"format":"Boolean","forceExport":true}}]})",
               "90005", "'D'");
  expect_error(R"({"queries":[{"name":"AP","query":"select Id from AccountingPeriod","deleted":{"column":"X","format":"Boolean","forceExport":true}}]})",
               "90017", "does not support deleted records");
}

TEST_CASE_FIXTURE(fixture, "validation: a field export does not export is refused at submit like an unknown one") {
  // docs/emulator.md "Describe": a discovery probe job (`limit 1`) finds it.
  const auto probe = [](const char* object, const char* field) {
    return fmt::format(R"({{"version":"1.2","partner":"p","project":"discover-{}","queries":[{{"name":"probe",)"
                       R"("query":"select {} from {} limit 1"}}]}})",
                       field, field, object);
  };
  const std::string prefix = "There is a syntax error in one of the queries in the AQuA input: query 'probe': ";
  expect_error(probe("Account", "Nope"), "90005",
               prefix + "at position 8: Error.zoql.noSuchFieldId: Account.Nope");
  // Listed with the export context, refused all the same.
  expect_error(probe("Account", "SequenceSetId"), "90005",
               prefix + "at position 8: Error.zoql.noSuchFieldId: Account.SequenceSetId");
  expect_error(probe("Subscription", "CpqBundleJsonId__QT"), "90005",
               "Error.zoql.noSuchFieldId: Subscription.CpqBundleJsonId__QT");
  // Listed without the export context (soap only).
  expect_error(probe("Invoice", "Body"), "90005",
               prefix + "at position 8: Error.zoql.noSuchFieldId: Invoice.Body");
  expect_error(probe("Usage", "ImportId"), "90005", "Error.zoql.noSuchFieldId: Usage.ImportId");
  // The exported neighbours pass; plain ZOQL (the SOAP context) selects a soap-only field.
  for (const std::string& body : std::initializer_list<std::string>{
           probe("Account", "Notes"), probe("Account", "LedgerBalance"), probe("Invoice", "LastEmailSentDate"),
        std::string(R"({"queries":[{"name":"s","type":"zoql","query":"select Id, Body from Invoice"}]})")}) {
    INFO(body);
    reply r = c->request("POST", "/v1/batch-query/", body);
    CHECK(json(r.body).str("status") == "submitted");
  }
}

TEST_CASE_FIXTURE(fixture, "validation: ProcessedUsage has no deleted-record support (90017), the message stable") {
  expect_error(R"({"queries":[{"name":"PU","query":"select Id from ProcessedUsage","deleted":{"column":"IsDeleted","format":"Boolean","forceExport":true}}]})",
               "90017", "The object ProcessedUsage of query 'PU' does not support deleted records");
  expect_error(R"({"version":"1.2","partner":"p","project":"x","queries":[{"name":"PU","query":"select Id from ProcessedUsage","deleted":{"column":"IsDeleted","format":"Numeric"}}]})",
               "90017", "The object ProcessedUsage of query 'PU' does not support deleted records");
  // Without a deleted spec it exports.
  reply r = c->request("POST", "/v1/batch-query/", R"({"queries":[{"name":"PU","query":"select * from ProcessedUsage"}]})");
  CHECK(json(r.body).str("status") == "submitted");
}

TEST_CASE_FIXTURE(fixture, "malformed bodies: 400 with a JSON body; the server keeps serving") {
  for (const char* body : {"{not json", "[1,2]", "\"x\"", ""}) {
    reply r = c->request("POST", "/v1/batch-query/", body);
    INFO(body);
    CHECK(r.status == 400);
    json j(r.body);
    CHECK(j.str("status") == "error");
  }
  reply ok = c->request("POST", "/v1/batch-query/", "{" + q + "}");
  CHECK(ok.status == 200);
  CHECK(json(ok.body).str("status") == "submitted");
}

// The response models: every AQuA answer shape of the contract (§1.4-1.7,
// §2.1, §5.6), the JSON batch results (§6), and bad input of every kind.
#include "decode/aqua_models.hpp"
#include "decode/batch_results.hpp"
#include "decode/decode_error.hpp"
#include "fuzz/seeds.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace aquaduct::decode;

namespace {

// The contract's examples live with the fuzz seeds (fuzz/seeds.hpp).
using namespace aquaduct::fuzz::examples;
const std::string& batch_results_example = batch_results_json;

std::vector<std::vector<std::string>> rows_of(const result_table& t) {
  std::vector<std::vector<std::string>> out;
  for (std::size_t r = 0; r < t.rows(); ++r) {
    std::vector<std::string> row;
    for (std::size_t c = 0; c < t.columns.size(); ++c) row.emplace_back(t.field(r, c));
    out.push_back(row);
  }
  return out;
}

// Each body must fail with its code, say why, and leave nothing behind (`left_empty`).
template <class Parse, class Empty>
void expect_failures(const std::vector<std::pair<std::string, errc>>& cases, Parse parse, Empty left_empty) {
  for (const auto& [body, code] : cases) {
    CAPTURE(body.substr(0, 200));
    std::error_code ec;
    std::string what;
    parse(body, ec, what);
    CHECK(ec == code);
    CHECK_FALSE(what.empty());
    CHECK(left_empty());
  }
}

}  // namespace

TEST_CASE("submit and get-job answers, fileId and segments, booleans and counts as strings") {
  json_reader r;
  aqua_job job;
  std::error_code ec;
  std::string what;
  r.parse_job(submit_ok, job, ec, what);
  REQUIRE_FALSE(ec);
  CHECK(job.id == "2c92c0f84b58a2bd014b59e7eb460b3c");
  CHECK(job.status == "submitted");
  REQUIRE(job.batches.size() == 1);
  CHECK(job.batches[0].status == "pending");
  CHECK(job.batches[0].files.empty());

  r.parse_job(get_job, job, ec, what);
  REQUIRE_FALSE(ec);
  CHECK(job.start_time == "2014-09-03 08:20:07");
  REQUIRE(job.batches.size() == 2);
  CHECK(job.batches[0].files == std::vector<std::string>{"2c92c0944b5fe4ba014b60225d6f4b4e"});
  CHECK(job.batches[0].record_count == 4);
  CHECK(job.batches[0].full);
  CHECK(job.batches[1].files == std::vector<std::string>{"aaaa", "bbbb", "cccc"});
  CHECK(job.batches[1].record_count == 12);
  CHECK_FALSE(job.batches[1].full);
}

TEST_CASE("a refused submit (HTTP 200, status error, no id) and an aborted job") {
  json_reader r;
  aqua_job job;
  std::error_code ec;
  std::string what;
  r.parse_job(submit_refused, job, ec, what);
  REQUIRE_FALSE(ec);
  CHECK(job.status == "error");
  CHECK(job.error_code == "90005");
  CHECK(job.id.empty());
  r.parse_job(R"({"id":"j1","status":"aborted","batches":[{"status":"aborted","name":"A",
      "message":"java.lang.RuntimeException: You must specify a select."}]})", job, ec, what);
  REQUIRE_FALSE(ec);
  CHECK(job.batches.at(0).message == "java.lang.RuntimeException: You must specify a select.");
}

TEST_CASE("job answers missing what is required, or not JSON at all, are errors that say why") {
  json_reader r;
  aqua_job job;
  std::string what;
  const std::vector<std::pair<std::string, errc>> bad = {
      {R"({"id":"j1"})", errc::json_missing_field},                                   // no status
      {R"({"status":"completed"})", errc::json_missing_field},                        // no id
      {R"({"id":"j1","status":"completed","batches":[{"name":"A"}]})", errc::json_missing_field},  // batch status
      {R"({"id":"j1","status":"completed","batches":{}})", errc::json_invalid},      // batches not an array
      {R"({"id":"j1","status":"completed","batches":[{"status":"x","recordCount":"-1"}]})", errc::json_invalid},
      {R"({"id":"j1","status":"completed","batches":[{"status":"x","recordCount":99999999999999999999999}]})", errc::json_invalid},
      {R"({"id":"j1","status":"completed","batches":[{"status":"x","full":"maybe"}]})", errc::json_invalid},
      {R"({"id":["j1"],"status":"completed"})", errc::json_invalid},
      {R"({"id":"j1","status":tru})", errc::json_invalid},
      {R"({"id":"j1","status":"completed","batches":[{"status":"x","recordCount":01}]})", errc::json_invalid},
      {R"({"id":"j1","status":"completed")", errc::json_invalid},
      {R"([1,2])", errc::json_invalid},
      {"", errc::json_invalid},
      {"<html>Service Unavailable</html>", errc::json_invalid},
  };
  expect_failures(
      bad, [&](const std::string& body, std::error_code& ec, std::string& w) { r.parse_job(body, job, ec, w); },
      [&] { return job.id.empty() && job.batches.empty(); });
}

TEST_CASE("token answers") {
  json_reader r;
  oauth_token t;
  std::error_code ec;
  std::string what;
  r.parse_token(token, t, ec, what);
  REQUIRE_FALSE(ec);
  CHECK(t.access_token == "abc.def");
  CHECK(t.expires_in == 3599);
  CHECK(t.token_type == "bearer");
  r.parse_token(R"({"token_type":"bearer","expires_in":3599})", t, ec, what);
  CHECK(ec == errc::json_missing_field);
  CHECK(what.find("access_token") != std::string::npos);
  r.parse_token(R"({"access_token":"x","expires_in":"soon"})", t, ec, what);
  CHECK(ec == errc::json_invalid);
}

TEST_CASE("error answers: AQuA's errorCode form, the platform's reasons form, anything else empty") {
  json_reader r;
  error_reply e = r.parse_error(R"({"errorCode":"90002","message":"Invalid Job Id","status":"error"})");
  CHECK(e.code == "90002");
  CHECK(e.message == "Invalid Job Id");
  CHECK(e.status == "error");
  e = r.parse_error(platform_error);
  CHECK(e.code == "90000011");
  CHECK(e.message == "Authentication error");
  e = r.parse_error("Bad Gateway");
  CHECK(e.code.empty());
  CHECK(e.message.empty());
  e = r.parse_error(R"({"errorCode":"90002","message":)");
  CHECK(e.code.empty());
}

TEST_CASE("describe list and describe object (XML), with the export context") {
  const std::string& list = describe_list_xml;
  std::vector<describe_object_ref> refs;
  std::error_code ec;
  std::string what;
  parse_describe_list(list, refs, ec, what);
  REQUIRE_FALSE(ec);
  REQUIRE(refs.size() == 2);
  CHECK(refs[1].name == "Invoice");
  CHECK(refs[1].label == "Invoice & Co");
  CHECK(refs[0].href == "https://rest.zuora.com/v1/describe/Account");

  const std::string& object = describe_object_xml;
  describe_object obj;
  parse_describe_object(object, obj, ec, what);
  REQUIRE_FALSE(ec);
  CHECK(obj.name == "Account");
  REQUIRE(obj.fields.size() == 2);
  CHECK(obj.fields[0].exportable());
  CHECK_FALSE(obj.fields[1].exportable());
  CHECK(obj.fields[1].required);
  CHECK(obj.fields[1].label == "S\xC3\xA9" "cret");
  REQUIRE(obj.related.size() == 1);
  CHECK(obj.related[0].label == "Bill To");

  // Empty <fields/> and <related-objects/> are fine.
  parse_describe_object("<object><name>X</name><fields/><related-objects></related-objects></object>", obj, ec, what);
  REQUIRE_FALSE(ec);
  CHECK(obj.fields.empty());

  const std::vector<std::pair<std::string, errc>> bad = {
      {"<objects><object><label>no name</label></object></objects>", errc::xml_missing_field},
      {"<objects><object><name>A</name></objects>", errc::xml_invalid},
      {"<objects><object><name>A &bogus; B</name></object></objects>", errc::xml_invalid},
      {"<objects>", errc::xml_invalid},
      {"{\"objects\":[]}", errc::xml_invalid},
      {"<other/>", errc::xml_missing_field},
      {"<objects/><objects/>", errc::xml_invalid},
      {std::string(200, '<'), errc::xml_invalid},
      // An entity declaration (how an XML bomb starts) and nesting past 64 levels are refused.
      {"<!DOCTYPE objects [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><objects><object><name>&b;</name></object></objects>",
       errc::xml_invalid},
      {[] {
         std::string deep;
         for (int i = 0; i < 70; ++i) deep += "<objects>";
         for (int i = 0; i < 70; ++i) deep += "</objects>";
         return deep;
       }(),
       errc::xml_invalid},
  };
  expect_failures(
      bad, [&](const std::string& body, std::error_code& e, std::string& w) { parse_describe_list(body, refs, e, w); },
      [&] { return refs.empty(); });
}

TEST_CASE("batch results: one table per char type ID, characteristics flattened, relationships apart") {
  batch_results_decoder d;
  batch_results out;
  std::error_code ec;
  std::string what;
  d.parse(batch_results_example, out, ec, what);
  REQUIRE_FALSE(ec);
  CHECK(out.batch_id == "4711");
  CHECK(out.batch_status == "Complete");
  REQUIRE(out.tables.size() == 3);
  CHECK(out.tables[0].name == "type_2");
  CHECK(out.tables[0].columns == std::vector<std::string>{"id", "code", "message", "title", "template.templateId",
                                                          "characteristics.department", "characteristics.first_name",
                                                          "characteristics.last_name"});
  CHECK(rows_of(out.tables[0]) ==
        std::vector<std::vector<std::string>>{{"9001", "200", "Found.", "Person 7", "1", "Finance", "Ada", "Byron"},
                                              {"9002", "404", "Record Not Found.", "Person 8", "1", "", "", ""}});
  CHECK(out.tables[1].name == "type_1");
  CHECK(rows_of(out.tables[1]) ==
        std::vector<std::vector<std::string>>{{"77", "201", "Created.", "Catalog 4", "3", "2019"}});
  CHECK(out.tables[2].name == "relationships");
  CHECK(rows_of(out.tables[2]) ==
        std::vector<std::vector<std::string>>{{"5", "201", "Created.", "1", "77", "2", "9001"}});
}

// §6: "entry `record` | ... optionally `id`/`referenceId`"; a relationship keeps every field
// it carries, not only the four ids.
TEST_CASE("batch results: a record's id and referenceId and a relationship's other fields are kept") {
  batch_results_decoder d;
  batch_results out;
  std::error_code ec;
  std::string what;
  d.parse(R"({"batchId":1,"batchStatus":"Complete","batchResults":{"records":{"2":[
      {"code":201,"message":"Created.","id":9,"record":{"id":9,"referenceId":"ref-9","title":"t","characteristics":{"a":1}}}]},
      "relationships":[{"code":201,"id":5,"relationship":{"parentCharTypeId":1,"parentRecordId":77,"childCharTypeId":2,
        "childRecordId":9,"parentReferenceId":"ref-77","label":"owner"}}]}})", out, ec, what);
  REQUIRE_FALSE(ec);
  REQUIRE(out.tables.size() == 2);
  CHECK(out.tables[0].columns == std::vector<std::string>{"id", "code", "message", "title", "template.templateId",
                                                          "record.id", "record.referenceId", "characteristics.a"});
  CHECK(rows_of(out.tables[0]) ==
        std::vector<std::vector<std::string>>{{"9", "201", "Created.", "t", "", "9", "ref-9", "1"}});
  CHECK(out.tables[1].columns == std::vector<std::string>{"id", "code", "message", "parentCharTypeId", "parentRecordId",
                                                          "childCharTypeId", "childRecordId",
                                                          "relationship.parentReferenceId", "relationship.label"});
  CHECK(rows_of(out.tables[1]) ==
        std::vector<std::vector<std::string>>{{"5", "201", "", "1", "77", "2", "9", "ref-77", "owner"}});
}

TEST_CASE("batch results: a key first seen late widens earlier rows; pending batches have no tables") {
  batch_results_decoder d;
  batch_results out;
  std::error_code ec;
  std::string what;
  d.parse(R"({"batchStatus":"Complete","batchId":1,"extra":[1,{"x":2}],"batchResults":{"records":{"7":[
      {"code":200,"record":{"title":"a","characteristics":{"k1":"v1","flag":true,"none":null}}},
      {"code":200,"record":{"characteristics":{"k2":3.5e2}},"id":2}]}}})", out, ec, what);
  REQUIRE_FALSE(ec);
  REQUIRE(out.tables.size() == 1);
  CHECK(rows_of(out.tables[0]) == std::vector<std::vector<std::string>>{
                                      {"", "200", "", "a", "", "v1", "true", "", ""},
                                      {"2", "200", "", "", "", "", "", "", "3.5e2"}});
  d.parse(R"({"batchId":2,"batchStatus":"InProgress"})", out, ec, what);
  REQUIRE_FALSE(ec);
  CHECK(out.tables.empty());
}

TEST_CASE("batch results: missing fields, bad shapes and oversized documents are clear errors") {
  batch_results_decoder d({.max_document_bytes = 4096});
  batch_results out;
  std::string what;
  const std::vector<std::pair<std::string, errc>> bad = {
      {R"({"batchStatus":"Complete"})", errc::json_missing_field},
      {R"({"batchId":1})", errc::json_missing_field},
      {R"({"batchId":1,"batchStatus":"Complete","batchResults":{"records":{"2":[{"record":{}}]}}})", errc::json_missing_field},
      {R"({"batchId":1,"batchStatus":"Complete","batchResults":{"records":{"2":[{"code":200}]}}})", errc::json_missing_field},
      {R"({"batchId":1,"batchStatus":"Complete","batchResults":{"records":{"x":[]}}})", errc::json_invalid},
      {R"({"batchId":1,"batchStatus":"Complete","batchResults":{"records":{"2":{}}}})", errc::json_invalid},
      {R"({"batchId":1,"batchStatus":"Complete","batchResults":{"records":{"2":[{"code":200,"record":{"characteristics":{"a":{"b":1}}}}]}}})", errc::json_invalid},
      {R"({"batchId":1,"batchStatus":"Complete","batchResults":{"relationships":[{"code":201}]}})", errc::json_missing_field},
      {R"({"batchId":1,"batchStatus":"Complete","batchResults":)", errc::json_invalid},
      {"{\"batchId\":1,\"batchStatus\":\"" + std::string(5000, 'x') + "\"}", errc::json_too_large},
  };
  expect_failures(
      bad, [&](const std::string& body, std::error_code& ec, std::string& w) { d.parse(body, out, ec, w); },
      [&] { return out.tables.empty() && out.batch_id.empty(); });
  std::error_code ec;
  d.parse(R"({"batchId":1,"batchStatus":"Complete","batchResults":{"records":{"2":[{"record":{}}]}}})", out, ec, what);
  CHECK(what.find("records.2[0]") != std::string::npos);
}

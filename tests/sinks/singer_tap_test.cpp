// The singer sink in its `aquaduct tap` form (issue 18): tap-zuora's
// property names and value conversions (singer-python's transform and
// strftime), the catalog's schema and types, STATE from the caller with the
// commit's cursor.
#include "sinks/singer_sink.hpp"
#include "sinks/sink_harness.hpp"
#include "sinks/typed_values.hpp"

#include <doctest/doctest.h>

#include <simdjson.h>

#include <fstream>
#include <sstream>

using namespace aquaduct;
using namespace aquaduct::test;

namespace {

std::string utc(std::string_view v) {
  char out[sinks::utc_datetime_size];
  return sinks::utc_datetime(v, out) ? std::string(out, sizeof out) : std::string("refused");
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("utc_datetime: any zone's datetime as the same instant in UTC with microseconds") {
  CHECK(utc("2026-03-08T01:30:00-0800") == "2026-03-08T09:30:00.000000Z");
  CHECK(utc("2026-12-31T23:30:00-01:00") == "2027-01-01T00:30:00.000000Z");  // across a year
  CHECK(utc("2026-01-01T00:10:00+0200") == "2025-12-31T22:10:00.000000Z");
  CHECK(utc("2024-02-29T23:00:00-0700") == "2024-03-01T06:00:00.000000Z");   // a leap day
  CHECK(utc("2026-01-02") == "2026-01-02T00:00:00.000000Z");                 // a date: its midnight
  CHECK(utc("2026-01-02T03:04:05.5Z") == "2026-01-02T03:04:05.500000Z");
  CHECK(utc("2026-01-02T03:04:05.123456789Z") == "2026-01-02T03:04:05.123456Z");
  CHECK(utc("2026-13-01T00:00:00Z") == "refused");
  CHECK(utc("2026-01-02T03:04:05") == "refused");  // no zone: which instant is unknown
  CHECK(utc("") == "refused");
}

TEST_CASE("python_truth: singer-python's boolean (empty and 'false' in any case are false)") {
  CHECK_FALSE(sinks::python_truth(""));
  CHECK_FALSE(sinks::python_truth("false"));
  CHECK_FALSE(sinks::python_truth("FALSE"));
  CHECK_FALSE(sinks::python_truth("False"));
  CHECK(sinks::python_truth("true"));
  CHECK(sinks::python_truth("TRUE"));
  CHECK(sinks::python_truth("0"));  // bool("0") is True in Python
  CHECK(sinks::python_truth("falsy"));
}

TEST_CASE("the tap form: catalog schema, field names, tap-zuora's values, STATE from the caller") {
  temp_dir dir;
  const auto out = dir.path() / "tap.jsonl";
  sinks::singer_sink_options o;
  o.path = out.string();
  sinks::singer_tap_options tap;
  sinks::singer_tap_stream account;
  account.schema = R"({"type":"object","properties":{"Id":{"type":["string","null"]}}})";
  account.key_properties = {"Id"};
  account.types = {{"Balance", column_type::decimal}, {"BillCycleDay", column_type::integer},
                   {"AutoPay", column_type::boolean}, {"UpdatedDate", column_type::datetime},
                   {"Deleted", column_type::boolean}, {"InvoiceDate", column_type::datetime}};
  tap.streams.emplace("Account", account);
  std::optional<std::chrono::sys_seconds> seen_cursor;
  tap.state = [&](const stream_schema& s, const file_token& t) {
    seen_cursor = t.cursor;
    return R"({"bookmarks":{")" + s.table + R"(":{"version":1}}})";
  };
  o.tap = tap;
  auto sink = sinks::make_singer_sink(o);

  stream_schema schema;
  schema.job = "Account";
  schema.query = "Account";
  schema.table = "Account";
  schema.object = "Account";
  schema.columns = {"Deleted",     "Account.Id",          "Account.Name",       "Account.Balance",
                    "Account.AutoPay", "Account.BillCycleDay", "Account.UpdatedDate", "BillToContact.Id",
                    "Account.InvoiceDate"};
  schema.deleted = deleted_column{"Deleted", "Boolean"};
  const rows data = {
      {"false", "A1", "two\nlines, \"quoted\"", "100.50", "true", "7", "2026-01-02T03:04:05-0800", "C1", "2026-01-02"},
      {"true", "A2", "", "", "", "", "", "", ""},
  };
  auto stream = sink->open(schema);
  stream->write(batch_builder(data).batch(schema));
  file_token token{"j1", "Account", {"f1"}, 2};
  token.cursor = std::chrono::sys_seconds{std::chrono::seconds{1767225600}};
  stream->commit(token);
  sink->close();

  const auto lines = lines_of(out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == R"({"type":"SCHEMA","stream":"Account","schema":)" + account.schema + R"(,"key_properties":["Id"]})");
  CHECK(lines[3] == R"({"type":"STATE","value":{"bookmarks":{"Account":{"version":1}}}})");
  REQUIRE(seen_cursor);
  CHECK(seen_cursor->time_since_epoch().count() == 1767225600);

  simdjson::dom::parser p;
  simdjson::dom::element r1 = p.parse(lines[1]);
  CHECK(std::string_view(r1["type"]) == "RECORD");
  CHECK(std::string_view(r1["time_extracted"]).size() == sinks::utc_datetime_size);
  simdjson::dom::object rec = r1["record"];
  CHECK(bool(rec["Deleted"]) == false);
  CHECK(std::string_view(rec["Id"]) == "A1");
  CHECK(std::string_view(rec["Name"]) == "two\nlines, \"quoted\"");
  CHECK(lines[1].find(R"("Balance":100.50,)") != std::string::npos);  // the exact digits, a JSON number
  CHECK(bool(rec["AutoPay"]) == true);
  CHECK(std::int64_t(rec["BillCycleDay"]) == 7);
  CHECK(std::string_view(rec["UpdatedDate"]) == "2026-01-02T11:04:05.000000Z");
  CHECK(std::string_view(rec["BillToContactId"]) == "C1");
  CHECK(std::string_view(rec["InvoiceDate"]) == "2026-01-02T00:00:00.000000Z");

  simdjson::dom::parser p2;
  simdjson::dom::object empty = p2.parse(lines[2])["record"];
  CHECK(bool(empty["Deleted"]) == true);
  CHECK(std::string_view(empty["Name"]).empty());  // a string stays ""
  CHECK(empty["Balance"].is_null());
  CHECK(empty["BillCycleDay"].is_null());
  CHECK(empty["UpdatedDate"].is_null());
  CHECK(bool(empty["AutoPay"]) == false);  // singer-python: bool("") is False, not null
}

TEST_CASE("the tap form refuses a value its catalog type does not allow, naming the record") {
  temp_dir dir;
  sinks::singer_sink_options o;
  o.path = (dir.path() / "tap.jsonl").string();
  sinks::singer_tap_options tap;
  sinks::singer_tap_stream s;
  s.schema = "{}";
  s.types = {{"UpdatedDate", column_type::datetime}};
  tap.streams.emplace("Account", s);
  tap.state = [](const stream_schema&, const file_token&) { return std::string("{}"); };
  o.tap = tap;
  auto sink = sinks::make_singer_sink(o);
  stream_schema schema;
  schema.job = schema.query = schema.table = schema.object = "Account";
  schema.columns = {"Account.Id", "Account.UpdatedDate"};
  const rows data = {{"A1", "2026-01-02T03:04:05Z"}, {"A2", "yesterday"}};
  auto stream = sink->open(schema);
  CHECK_THROWS_WITH(stream->write(batch_builder(data).batch(schema)),
                    doctest::Contains("record 2 of the stream, column UpdatedDate: 'yesterday' is not a datetime"));
  stream->abort();
  CHECK(lines_of(dir.path() / "tap.jsonl").empty());
}

TEST_CASE("the tap form refuses a stream its catalog does not have") {
  sinks::singer_sink_options o;
  sinks::singer_tap_options tap;
  tap.state = [](const stream_schema&, const file_token&) { return std::string("{}"); };
  o.tap = tap;
  auto sink = sinks::make_singer_sink(o);
  stream_schema schema;
  schema.job = schema.query = schema.table = "Invoice";
  schema.columns = {"Invoice.Id"};
  CHECK_THROWS_WITH(sink->open(schema), doctest::Contains("stream Invoice is not in the catalog"));
}

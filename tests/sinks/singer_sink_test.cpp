// singer: message shapes per the Singer spec, types from describe, STATE
// only after a commit.
#include "sinks/singer_sink.hpp"

#include "sinks/sink_harness.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

using namespace aquaduct;
using namespace aquaduct::test;

namespace {

stream_schema schema_of(std::string query, std::vector<std::string> columns) {
  stream_schema s;
  s.job = "billing";
  s.job_id = "j1";
  s.query = std::move(query);
  s.columns = std::move(columns);
  return s;
}

}  // namespace

TEST_CASE("singer emits SCHEMA, RECORDs, then STATE, only when the stream commits") {
  singer_harness h;
  auto s = h.make();
  auto schema = schema_of("Account", {"Account.Id", "Name", "Count", "Rate", "Active", "Day", "At"});
  schema.types = {column_type::text,    column_type::text,    column_type::integer, column_type::decimal,
                  column_type::boolean, column_type::date,    column_type::datetime};
  auto stream = s->open(schema);
  stream->write(batch_builder({{"a1", "Ann \"A\"", "3", "1.5e2", "true", "2026-11-22", "2026-11-22T03:00:00Z"},
                               {"a2", "", "", "", "", "", ""}})
                    .batch(schema));
  CHECK(h.messages().empty());  // nothing before the commit
  stream->commit(file_token{"j1", "Account", {"file-1"}, 2});

  const auto lines = h.messages();
  REQUIRE(lines.size() == 4);
  simdjson::dom::parser p;
  auto schema_msg = p.parse(lines[0]).get_object().value();
  CHECK(std::string_view(schema_msg["type"]) == "SCHEMA");
  CHECK(std::string_view(schema_msg["stream"]) == "billing__Account");
  CHECK(simdjson::minify(schema_msg["key_properties"]) == R"(["Account.Id"])");
  CHECK(simdjson::minify(schema_msg["schema"]["properties"]["Count"]) == R"({"type":["null","integer"]})");
  CHECK(simdjson::minify(schema_msg["schema"]["properties"]["Rate"]) == R"({"type":["null","number"]})");
  CHECK(simdjson::minify(schema_msg["schema"]["properties"]["Active"]) == R"({"type":["null","boolean"]})");
  CHECK(simdjson::minify(schema_msg["schema"]["properties"]["At"]) ==
        R"({"type":["null","string"],"format":"date-time"})");
  CHECK(lines[1] ==
        R"({"type":"RECORD","stream":"billing__Account","record":{"Account.Id":"a1","Name":"Ann \"A\"","Count":3,)"
        R"("Rate":1.5e2,"Active":true,"Day":"2026-11-22","At":"2026-11-22T03:00:00Z"}})");
  CHECK(lines[2] ==
        R"({"type":"RECORD","stream":"billing__Account","record":{"Account.Id":"a2","Name":"","Count":null,)"
        R"("Rate":null,"Active":null,"Day":null,"At":null}})");
  auto state = p.parse(lines[3]).get_object().value();
  CHECK(std::string_view(state["type"]) == "STATE");
  CHECK(simdjson::minify(state["value"]["bookmarks"]["billing__Account"]) ==
        R"({"job_id":"j1","file_ids":["file-1"],"rows":2,"load":"full"})");

  // The next commit's STATE carries every stream's bookmark.
  auto other = s->open(schema_of("Invoice", {"Id"}));
  other->write(batch_builder({{"i1"}}).batch(schema_of("Invoice", {"Id"})));
  other->commit(file_token{"j1", "Invoice", {"file-2"}, 1});
  const auto after = h.messages();
  REQUIRE(after.size() == 7);
  auto last = p.parse(after[6]).get_object().value();
  CHECK(last["value"]["bookmarks"]["billing__Account"].error() == simdjson::SUCCESS);
  CHECK(last["value"]["bookmarks"]["billing__Invoice"].error() == simdjson::SUCCESS);
}

TEST_CASE("singer refuses a field its describe type does not allow, naming row and column") {
  singer_harness h;
  auto s = h.make();
  auto schema = schema_of("Account", {"Id", "Count"});
  schema.types = {column_type::text, column_type::integer};
  auto stream = s->open(schema);
  try {
    stream->write(batch_builder({{"a1", "1"}, {"a2", "1.5"}}).batch(schema));
    FAIL("1.5 was accepted as an integer");
  } catch (const std::system_error& e) {
    CHECK(e.code() == sink_errc::bad_value);
    CHECK(std::string(e.what()).find("job billing, query Account, row 2, column Count: '1.5' is not a number") !=
          std::string::npos);
  }
}

TEST_CASE("singer opens its output only when needed and creates its directory") {
  temp_dir dir;
  const auto path = dir.path() / "sub" / "dir" / "out.singer";
  auto s = sinks::make_singer_sink({path.string()});
  CHECK_FALSE(std::filesystem::exists(path));  // building the sink (e.g. to check the config) touches nothing
  CHECK(s->health_check().empty());
  CHECK(std::filesystem::exists(path));
  std::ofstream(dir.path() / "a-file") << "x";
  CHECK(sinks::make_singer_sink({(dir.path() / "a-file" / "out").string()})->health_check().find("singer: open") !=
        std::string::npos);
}

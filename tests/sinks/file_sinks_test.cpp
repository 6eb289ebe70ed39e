// csv and ndjson: escaping, invalid UTF-8, and the file names of full and
// incremental loads.
#include "sinks/ndjson_sink.hpp"

#include "sinks/csv_sink.hpp"
#include "sinks/sink_common.hpp"
#include "sinks/sink_harness.hpp"

#include <doctest/doctest.h>

using namespace aquaduct;
using namespace aquaduct::test;

namespace {

stream_schema schema_of(std::vector<std::string> columns, load_kind load = load_kind::full,
                        std::chrono::sys_seconds start = {}) {
  stream_schema s;
  s.job = "billing";
  s.job_id = "j1";
  s.query = "Account";
  s.columns = std::move(columns);
  s.load = load;
  s.started_at = start;
  return s;
}

void commit_rows(sink& s, const stream_schema& schema, const rows& data) {
  auto stream = s.open(schema);
  stream->write(batch_builder(data).batch(schema));
  stream->commit(file_token{"j1", schema.query, {"f"}, data.size()});
}

const std::string invalid_utf8 = "bad \xC3\x28 lone \x80 cut \xE2\x82 end \xF5\x80\x80\x80 over \xC0\xAF";

}  // namespace

TEST_CASE("csv passes invalid UTF-8 and NUL through byte for byte") {
  file_harness h("csv", "csv");
  auto s = h.make();
  const rows data = {{"1", invalid_utf8}, {"2", std::string("nul\0in,side", 11)}};
  commit_rows(*s, schema_of({"Id", "Text"}), data);
  CHECK(h.read("billing", "Account") == data);
  const std::string text = read_file(h.file("billing", "Account"));
  CHECK(text == "Id,Text\n1," + invalid_utf8 + "\n2,\"" + std::string("nul\0in,side", 11) + "\"\n");
}

TEST_CASE("ndjson escapes quotes, backslashes and control characters and keeps UTF-8") {
  file_harness h("ndjson", "ndjson");
  auto s = h.make();
  std::string controls;
  for (char c = 1; c < 0x20; ++c) controls += c;
  const rows data = {{"1", "quote \" back \\ slash", controls}, {"2", "üñí ✓ 𝄞 \u2028", ""}};
  commit_rows(*s, schema_of({"Id", "Name \"quoted\"", "Ctl\n"}), data);
  CHECK(h.read("billing", "Account") == data);  // parsed by simdjson: valid JSON that round-trips
  const std::string text = read_file(h.file("billing", "Account"));
  CHECK(text.find(R"("Name \"quoted\"":"quote \" back \\ slash")") != std::string::npos);
  CHECK(text.find(R"(\u0001\u0002)") != std::string::npos);
  CHECK(text.find(R"(\b)") == std::string::npos);  // one escape form per control character: \u00XX or \t \n \r
  CHECK(text.find("\"Ctl\\n\":\"\"") != std::string::npos);
}

TEST_CASE("ndjson replaces each invalid UTF-8 sequence with U+FFFD") {
  file_harness h("ndjson", "ndjson");
  auto s = h.make();
  commit_rows(*s, schema_of({"Id", "Text"}), {{"1", invalid_utf8}});
  const rows got = h.read("billing", "Account");
  REQUIRE(got.size() == 1);
  const std::string r = "\xEF\xBF\xBD";
  // C3 28: C3 is broken, '(' survives; 80: a lone continuation; E2 82: a cut
  // sequence, one replacement; F5..: never valid, its continuations go with it; C0 AF: overlong.
  CHECK(got[0][1] == "bad " + r + "( lone " + r + " cut " + r + " end " + r + " over " + r);
}

TEST_CASE("ndjson writes null for the job's null_replacement and \"\" for an empty field") {
  file_harness h("ndjson", "ndjson");
  auto s = h.make();
  auto schema = schema_of({"Id", "A", "B"});
  schema.null_value = "<null>";
  commit_rows(*s, schema, {{"1", "<null>", ""}});
  CHECK(read_file(h.file("billing", "Account")) == "{\"Id\":\"1\",\"A\":null,\"B\":\"\"}\n");
}

TEST_CASE("an incremental load writes <query>.<start>.<ext>; a full load removes the older ones") {
  for (const std::string type : {"csv", "ndjson"}) {
    CAPTURE(type);
    file_harness h(type, type);
    auto s = h.make();
    using std::chrono::sys_days;
    const auto day1 = std::chrono::sys_seconds{sys_days{std::chrono::year{2026} / 11 / 22}} + std::chrono::hours{3};
    const auto day2 = day1 + std::chrono::hours{24} + std::chrono::seconds{5};
    const auto day3 = day2 + std::chrono::hours{24};
    commit_rows(*s, schema_of({"Id"}, load_kind::full, day1), {{"1"}});
    commit_rows(*s, schema_of({"Id"}, load_kind::incremental, day1), {{"2"}});
    commit_rows(*s, schema_of({"Id"}, load_kind::incremental, day3), {{"4"}});
    CHECK(h.dir().files() == std::vector<std::string>{"billing/Account.20261122T030000Z." + type,
                                                      "billing/Account.20261124T030005Z." + type,
                                                      "billing/Account." + type});
    // A full load started on day 2 supersedes day 1's increments, not day 3's.
    commit_rows(*s, schema_of({"Id"}, load_kind::full, day2), {{"1"}, {"2"}});
    CHECK(h.dir().files() ==
          std::vector<std::string>{"billing/Account.20261124T030005Z." + type, "billing/Account." + type});
  }
}

TEST_CASE("file sinks report an unwritable root in their health check") {
  temp_dir dir;
  const auto file = dir.path() / "a-file";
  std::ofstream(file) << "x";
  CHECK(sinks::make_csv_sink({(file / "sub").string()})->health_check().find("cannot write") != std::string::npos);
  CHECK(sinks::make_ndjson_sink({dir.path().string()})->health_check().empty());
}

TEST_CASE("JSON escaping agrees with a byte-at-a-time reference wherever the special byte falls") {
  const auto reference = [](std::string_view s) {
    std::string out;
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (u < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", u);
        out += buf;
      } else out += c;  // ASCII and the bytes of valid UTF-8
    }
    return out;
  };
  const std::vector<std::string> specials = {"\"", "\\", "\n", "\x01", "\x1f", "é", "✓", "𝄞", " ", "\x7f"};
  for (std::size_t len = 0; len < 20; ++len)
    for (std::size_t pos = 0; pos <= len; ++pos)
      for (const auto& sp : specials) {
        const std::string s = std::string(pos, 'a') + sp + std::string(len - pos, 'b');
        std::string got;
        sinks::append_json_escaped(got, s);
        CAPTURE(s);
        REQUIRE(got == reference(s));
      }
}

TEST_CASE("a full load with no columns leaves an empty full file (csv: the old header); an incremental one, no file") {
  using std::chrono::sys_days;
  const auto day1 = std::chrono::sys_seconds{sys_days{std::chrono::year{2026} / 11 / 22}};
  const auto day2 = day1 + std::chrono::hours{24};
  for (const std::string type : {"csv", "ndjson"}) {
    CAPTURE(type);
    file_harness h(type, type);
    auto s = h.make();
    // A header whose names need quotes, one with a line break inside.
    commit_rows(*s, schema_of({"Id", "Name\nwith a break", "x,y"}, load_kind::full, day1), {{"1", "a", "b"}});
    commit_rows(*s, schema_of({"Id", "Name\nwith a break", "x,y"}, load_kind::incremental, day1), {{"2", "c", "d"}});
    const auto files_before = h.dir().files();
    s->open(schema_of({}, load_kind::incremental, day2))->commit(file_token{"j2", "Account", {}, 0});
    CHECK(h.dir().files() == files_before);  // no changes, no file

    s->open(schema_of({}, load_kind::full, day2))->commit(file_token{"j3", "Account", {}, 0});
    CHECK(read_file(h.file("billing", "Account")) == (type == "csv" ? "Id,\"Name\nwith a break\",\"x,y\"\n" : ""));
    CHECK(h.read("billing", "Account").empty());
    CHECK(h.dir().files() == std::vector<std::string>{"billing/Account." + type});  // the increments went too

    // With no full file before, the empty one has no header either.
    auto fresh = schema_of({}, load_kind::full, day2);
    fresh.query = "Fresh";
    s->open(fresh)->commit(file_token{"j4", "Fresh", {}, 0});
    CHECK(read_file(h.file("billing", "Fresh")).empty());
  }
}

#include "decode/csv_parser.hpp"

#include "decode/decode_error.hpp"
#include "support/csv_table.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using aquaduct::decode::csv_limits;
using aquaduct::decode::csv_parser;
namespace errc = aquaduct::decode;
using table = aquaduct::test::rows;

namespace {


// Parses `in` cut into pieces at `cuts`; clear_records() after every piece
// when `clear_each` (a consumer that drains batches as they come).
table parse_pieces(const std::string& in, const std::vector<std::size_t>& cuts, bool clear_each = true) {
  csv_parser p;
  table out;
  std::error_code ec;
  std::size_t at = 0;
  std::vector<std::size_t> all = cuts;
  all.push_back(in.size());
  for (std::size_t cut : all) {
    const std::size_t used = p.put(std::string_view(in).substr(at, cut - at), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(used == cut - at);
    at = cut;
    if (clear_each) aquaduct::test::take_records(p, out);
  }
  p.finish(ec);
  REQUIRE_FALSE(ec);
  aquaduct::test::take_records(p, out);
  return out;
}

struct sample {
  std::string text;
  table rows;
};

const std::vector<sample> corpus = {
    {"a,b\n1,2\n", {{"a", "b"}, {"1", "2"}}},
    {"a,b\r\n1,2\r\n", {{"a", "b"}, {"1", "2"}}},
    {"a,b\n1,2", {{"a", "b"}, {"1", "2"}}},  // no final newline
    {"\"x,y\",\"say \"\"hi\"\"\"\n", {{"x,y", "say \"hi\""}}},
    {"\"line\nbreak\",\"cr\rhere\",\"crlf\r\nthere\"\n", {{"line\nbreak", "cr\rhere", "crlf\r\nthere"}}},
    {"\xEF\xBB\xBFId,Name\n1,a\n", {{"Id", "Name"}, {"1", "a"}}},  // BOM dropped
    {",,\n,\n", {{"", "", ""}, {"", ""}}},                         // empty fields
    {"a\n\nb\n", {{"a"}, {""}, {"b"}}},                            // empty record
    {"\"\"\n\"\",\"\"\n", {{""}, {"", ""}}},                       // quoted empties
    {std::string("nul\0byte,x\n", 11), {{std::string("nul\0byte", 8), "x"}}},
    {"Ærøskøbing,日本語\n", {{"Ærøskøbing", "日本語"}}},
    {"a\"b,c\n", {{"a\"b", "c"}}},      // a quote inside an unquoted field is data
    {"a\rb\r", {{"a"}, {"b"}}},         // lone CR ends a record
    {"x,\"\"\"\"\n", {{"x", "\""}}},    // a field that is one quote
    {"\xEF\xBB,x\n", {{"\xEF\xBB", "x"}}},  // half a BOM is data
    {"a,b,\n", {{"a", "b", ""}}},       // trailing separator
    {"\"q\"", {{"q"}}},                 // quoted final field, no newline
};

}  // namespace

TEST_CASE("the corpus parses identically in one piece, at every split point and byte by byte") {
  for (const auto& s : corpus) {
    CAPTURE(s.text);
    CHECK(parse_pieces(s.text, {}) == s.rows);
    for (std::size_t cut = 0; cut <= s.text.size(); ++cut) {
      CAPTURE(cut);
      CHECK(parse_pieces(s.text, {cut}) == s.rows);
      CHECK(parse_pieces(s.text, {cut}, false) == s.rows);
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < s.text.size(); ++i) every.push_back(i);
    CHECK(parse_pieces(s.text, every) == s.rows);
  }
}

TEST_CASE("a record straddling any boundary survives clear_records between chunks") {
  const std::string text = "Id,Name,Notes\n1,\"Smith, J\",\"a\"\"b\nc\"\n2,x,y\n";
  const table expected = {{"Id", "Name", "Notes"}, {"1", "Smith, J", "a\"b\nc"}, {"2", "x", "y"}};
  for (std::size_t a = 0; a <= text.size(); ++a)
    for (std::size_t b = a; b <= text.size(); ++b) CHECK(parse_pieces(text, {a, b}) == expected);
}

TEST_CASE("random tables round-trip through a quoting writer at random chunk sizes") {
  std::mt19937_64 rng(20261123);
  const std::string alphabet = "ab,\"\r\n x\xC3\xA9";
  for (int round = 0; round < 200; ++round) {
    table rows;
    const std::size_t cols = 1 + rng() % 6;
    const std::size_t nrows = 1 + rng() % 20;
    std::string text;
    for (std::size_t r = 0; r < nrows; ++r) {
      std::vector<std::string> row;
      for (std::size_t c = 0; c < cols; ++c) {
        std::string f;
        const std::size_t len = rng() % 8;
        for (std::size_t i = 0; i < len; ++i) f += alphabet[rng() % alphabet.size()];
        row.push_back(f);
        if (c) text += ',';
        // Quote when needed, and sometimes when not.
        if (f.find_first_of(",\"\r\n") != std::string::npos || rng() % 4 == 0 || (cols == 1 && f.empty())) {
          text += '"';
          for (char ch : f) text += ch == '"' ? std::string("\"\"") : std::string(1, ch);
          text += '"';
        } else {
          text += f;
        }
      }
      text += rng() % 2 ? "\n" : "\r\n";
      rows.push_back(row);
    }
    std::vector<std::size_t> cuts;
    for (std::size_t at = 0; at < text.size();) {
      at += 1 + rng() % 7;
      if (at < text.size()) cuts.push_back(at);
    }
    CAPTURE(text);
    CHECK(parse_pieces(text, cuts) == rows);
  }
}

TEST_CASE("records_total counts the header; bytes_total counts input") {
  csv_parser p;
  std::error_code ec;
  p.put("a,b\n1,2\n3,", ec);
  CHECK(p.records_total() == 2);
  CHECK(p.bytes_total() == 10);
  p.finish(ec);
  CHECK(p.records_total() == 3);
}

TEST_CASE("an unterminated quote is an error at finish") {
  csv_parser p;
  std::error_code ec;
  p.put("a,b\n1,\"open\n", ec);
  REQUIRE_FALSE(ec);
  p.finish(ec);
  CHECK(ec == errc::errc::csv_unterminated_quote);
  CHECK(p.error_record() == 2);
  CHECK(p.error_offset() == 12);
}

TEST_CASE("a character after a closing quote is an error with its offset, across any split") {
  const std::string text = "a,b\n1,\"x\"y\n";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    csv_parser p;
    std::error_code ec;
    std::size_t used = p.put(std::string_view(text).substr(0, cut), ec);
    if (!ec) used = cut + p.put(std::string_view(text).substr(cut), ec);
    CAPTURE(cut);
    CHECK(ec == errc::errc::csv_bad_quote);
    CHECK(p.error_offset() == 9);
    CHECK(p.error_record() == 2);
    CHECK(used == 9);
  }
}

TEST_CASE("field size and column limits") {
  csv_limits limits;
  limits.max_field_bytes = 5;
  limits.max_columns = 3;
  {
    csv_parser p(limits);
    std::error_code ec;
    p.put("12345,x\n123456,y\n", ec);
    CHECK(ec == errc::errc::csv_field_too_large);
    CHECK(p.error_record() == 2);
  }
  {
    csv_parser p(limits);
    std::error_code ec;
    p.put("\"1234\"\"5\"\n", ec);
    CHECK(ec == errc::errc::csv_field_too_large);
  }
  {
    csv_parser p(limits);
    std::error_code ec;
    p.put("a,b,c\n", ec);
    CHECK_FALSE(ec);
    p.put("a,b,c,d\n", ec);
    CHECK(ec == errc::errc::csv_too_many_columns);
    CHECK(p.error_record() == 2);
    CHECK(p.error_offset() == 11);
  }
  {
    csv_parser p(limits);
    std::error_code ec;
    p.put("a,b,c,", ec);  // the trailing separator announces a fourth field
    CHECK(ec == errc::errc::csv_too_many_columns);
    CHECK(p.error_offset() == 5);
  }
}

TEST_CASE("reset makes the parser ready for a new file, BOM included") {
  csv_parser p;
  std::error_code ec;
  p.put("\"open", ec);
  p.reset();
  p.put("\xEF\xBB\xBFx\n", ec);
  p.finish(ec);
  REQUIRE_FALSE(ec);
  REQUIRE(p.records().size() == 1);
  CHECK(p.records().field(0, 0) == "x");
}

TEST_CASE("error messages exist for every code") {
  for (int v = 1; v <= 8; ++v) CHECK(aquaduct::decode::decode_category().message(v) != "unknown decode error");
}

namespace {

struct failure {
  std::error_code ec;
  std::uint64_t record = 0;
  std::uint64_t offset = 0;
  std::uint64_t consumed = 0;
};

// Feeds `in` in two pieces cut at `cut`, then finish(); stops at the first error.
failure fail_split(const std::string& in, std::size_t cut, csv_limits limits = {}) {
  csv_parser p(limits);
  failure f;
  f.consumed = p.put(std::string_view(in).substr(0, cut), f.ec);
  if (!f.ec) f.consumed += p.put(std::string_view(in).substr(cut), f.ec);
  if (!f.ec) p.finish(f.ec);
  f.record = p.error_record();
  f.offset = p.error_offset();
  return f;
}

}  // namespace

TEST_CASE("every error path reports the same code, record and offset at every split") {
  csv_limits small;
  small.max_field_bytes = 5;
  small.max_columns = 3;
  csv_limits one_byte;
  one_byte.max_field_bytes = 1;
  struct error_case {
    std::string text;
    csv_limits limits;
    aquaduct::decode::errc code;
    std::uint64_t record;
    std::uint64_t offset;
    std::uint64_t consumed;  // put() stops at the offending byte; finish() errors consume all
  };
  const std::vector<error_case> cases = {
      {"a,b\n1,\"open\n", {}, errc::errc::csv_unterminated_quote, 2, 12, 12},
      {"a,b\n1,\"x\"y\n", {}, errc::errc::csv_bad_quote, 2, 9, 9},
      {"\"a\" ,b\n", {}, errc::errc::csv_bad_quote, 1, 3, 3},           // a space after the closing quote
      {"12345,x\n123456,y\n", small, errc::errc::csv_field_too_large, 2, 13, 13},  // the sixth byte
      {"\"1234\"\"5\"\n", small, errc::errc::csv_field_too_large, 1, 7, 7},       // escaped quote counts once
      {"a,b,c\na,b,c,d\n", small, errc::errc::csv_too_many_columns, 2, 11, 11},    // the fourth field's separator
      // A BOM prefix that turns out to be data is a field like any other; its
      // bytes were consumed while they still looked like a BOM.
      {"\xEF\xBBx\n", one_byte, errc::errc::csv_field_too_large, 1, 1, 2},
      {"\xEF\xBB", one_byte, errc::errc::csv_field_too_large, 1, 1, 2},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    for (std::size_t cut = 0; cut <= c.text.size(); ++cut) {
      CAPTURE(cut);
      const failure f = fail_split(c.text, cut, c.limits);
      CHECK(f.ec == c.code);
      CHECK(f.record == c.record);
      CHECK(f.offset == c.offset);
      CHECK(f.consumed == c.consumed);
    }
  }
}

TEST_CASE("records completed before an error stay readable") {
  csv_parser p;
  std::error_code ec;
  const std::size_t used = p.put("a,b\n1,2\n\"x\"!,3\n", ec);
  CHECK(ec == errc::errc::csv_bad_quote);
  CHECK(used == 11);
  REQUIRE(p.records().size() == 2);
  CHECK(p.records().field(1, 1) == "2");
}

TEST_CASE("a warmed-up parser reuses its buffer across clear_records") {
  // The batch views point into the parser's byte buffer; once it has grown to
  // the working size, draining and refilling it must not move it.
  csv_parser p;
  std::error_code ec;
  const std::string chunk = "1,\"Smith, J\",abc\n2,x,\"multi\nline\"\n3,y,z";  // ends mid-record
  p.put(chunk, ec);
  p.put("\n", ec);
  p.clear_records();
  REQUIRE_FALSE(ec);
  const char* const home = p.records().data().data();
  for (int i = 0; i < 100; ++i) {
    p.put(chunk, ec);
    REQUIRE_FALSE(ec);
    CHECK(p.records().data().data() == home);
    p.put("\n", ec);
    CHECK(p.records().size() == 3);
    p.clear_records();
  }
  CHECK(p.records_total() == 303);
}

// Differential test of the CSV parser: random CSV (quotes, separators and
// line ends inside quotes, CRLF, unicode, empty fields and records, BOMs,
// stray quotes, damage) generated here, parsed with the SIMD path forced on
// and off, cut at every split point, and compared with a deliberately simple
// byte-at-a-time reference parser written below from the documented rules.
#include "decode/csv_parser.hpp"

#include "decode/decode_error.hpp"
#include "support/csv_table.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using namespace aquaduct::decode;
using table = aquaduct::test::rows;

namespace {

struct parsed {
  table rows;
  std::error_code ec;
  std::uint64_t error_offset = 0;
  std::uint64_t error_record = 0;
  bool operator==(const parsed&) const = default;
};

// The reference: one byte at a time, the rules of csv_parser.hpp spelled out.
parsed reference(std::string_view in, csv_limits limits) {
  parsed out;
  std::size_t i = 0;
  if (in.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  std::vector<std::string> record;
  std::string field;
  bool started = false;  // a byte of the current record was seen
  const auto fail = [&](errc e, std::uint64_t at) {
    out.ec = e;
    out.error_offset = at;
    out.error_record = out.rows.size() + 1;
    return out;
  };
  const auto end_field = [&](char ender, std::size_t at) {
    record.push_back(field);
    field.clear();
    if (ender == ',' && record.size() >= limits.max_columns) return false;
    (void)at;
    return true;
  };
  const auto end_record = [&] {
    out.rows.push_back(record);
    record.clear();
    started = false;
  };
  while (i < in.size()) {
    started = true;
    if (in[i] == '"') {
      ++i;
      for (;;) {
        if (i == in.size()) return fail(errc::csv_unterminated_quote, in.size());
        if (in[i] == '"') {
          if (i + 1 < in.size() && in[i + 1] == '"') {
            field += '"';
            if (field.size() > limits.max_field_bytes) return fail(errc::csv_field_too_large, i + 1);
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += in[i];
        if (field.size() > limits.max_field_bytes) return fail(errc::csv_field_too_large, i);
        ++i;
      }
      if (i < in.size() && in[i] != ',' && in[i] != '\n' && in[i] != '\r') return fail(errc::csv_bad_quote, i);
    } else {
      while (i < in.size() && in[i] != ',' && in[i] != '\n' && in[i] != '\r') {
        field += in[i];
        if (field.size() > limits.max_field_bytes) return fail(errc::csv_field_too_large, i);
        ++i;
      }
    }
    if (i == in.size()) break;
    const char ender = in[i];
    if (!end_field(ender, i)) return fail(errc::csv_too_many_columns, i);
    ++i;
    if (ender != ',') {
      end_record();
      if (ender == '\r' && i < in.size() && in[i] == '\n') ++i;
    } else if (i == in.size()) {
      started = true;  // "a," at the end: the record has an empty last field
    }
  }
  if (started || !record.empty() || !field.empty()) {
    record.push_back(field);
    end_record();
  }
  return out;
}

// Our parser, fed `in` cut at `cuts`, draining batches as they come.
parsed ours(std::string_view in, const std::vector<std::size_t>& cuts, csv_path path, csv_limits limits) {
  csv_parser p(limits, path);
  parsed out;
  std::size_t at = 0;
  std::vector<std::size_t> all = cuts;
  all.push_back(in.size());
  for (std::size_t cut : all) {
    const std::string_view piece = in.substr(at, cut - at);
    const std::size_t used = p.put(piece, out.ec);
    aquaduct::test::take_records(p, out.rows);
    if (out.ec) {
      out.error_offset = p.error_offset();
      out.error_record = p.error_record();
      return out;
    }
    REQUIRE(used == piece.size());
    at = cut;
  }
  p.finish(out.ec);
  aquaduct::test::take_records(p, out.rows);
  if (out.ec) {
    out.error_offset = p.error_offset();
    out.error_record = p.error_record();
  }
  return out;
}

std::string random_field(std::mt19937_64& rng) {
  static const std::vector<std::string> atoms = {
      "a", "Z", "0", "42.50", "2c92c0f84b58a2bd014b59e7eb4f0b3e", " ", ",", "\"", "\"\"", "\n", "\r\n", "\r",
      "é", "漢字", "😀", "Smith, Jones", std::string(1, '\0'), "\xEF\xBB\xBF", "x\"y", "tab\there"};
  std::string f;
  const std::size_t n = rng() % 4 == 0 ? 0 : 1 + rng() % (rng() % 8 == 0 ? 40 : 5);
  for (std::size_t i = 0; i < n; ++i) f += atoms[rng() % atoms.size()];
  return f;
}

// A random CSV document. `sloppiness` 0: always valid RFC 4180; 1: also
// unquoted fields with quotes in them (data by our rules); 2: also damage.
std::string random_csv(std::mt19937_64& rng, int sloppiness) {
  std::string out;
  if (rng() % 8 == 0) out += "\xEF\xBB\xBF";
  const std::size_t records = 1 + rng() % 40;
  const std::size_t width = 1 + rng() % 6;
  for (std::size_t r = 0; r < records; ++r) {
    const std::size_t cols = rng() % 10 == 0 ? 1 + rng() % 8 : width;
    if (rng() % 15 == 0) {
      out += rng() % 2 ? "\n" : "\r\n";  // an empty record
      continue;
    }
    for (std::size_t c = 0; c < cols; ++c) {
      if (c) out += ',';
      const std::string f = random_field(rng);
      const bool must_quote = f.find_first_of(",\"\r\n") != std::string::npos || f.empty() ||
                              (r == 0 && c == 0 && f.rfind("\xEF", 0) == 0);
      if (sloppiness >= 1 && rng() % 10 == 0 && f.find_first_of(",\r\n") == std::string::npos && !f.empty() &&
          f[0] != '"') {
        out += f;  // unquoted, possibly with quotes inside
      } else if (must_quote || rng() % 5 == 0) {
        out += '"';
        for (char ch : f) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        out += '"';
      } else {
        out += f;
      }
    }
    const int end = static_cast<int>(rng() % 10);
    out += end < 6 ? "\n" : end < 9 ? "\r\n" : "\r";
  }
  if (rng() % 4 == 0) out.pop_back();  // no final line end (or a CR without its LF)
  if (sloppiness >= 2) {
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !out.empty(); ++e) {
      const std::size_t at = rng() % out.size();
      out.insert(at, 1, "\",\r\nx"[rng() % 5]);
    }
  }
  return out;
}

csv_limits random_limits(std::mt19937_64& rng) {
  csv_limits l;
  if (rng() % 3 == 0) {
    l.max_field_bytes = rng() % 64;
    l.max_columns = 1 + rng() % 8;
  }
  return l;
}

}  // namespace

TEST_CASE("the reference agrees with the hand-checked cases of csv_parser.hpp") {
  const csv_limits l;
  CHECK(reference("a,\"b,\"\"c\"\"\"\r\n\n\"x\ny\"", l).rows ==
        table{{"a", "b,\"c\""}, {""}, {"x\ny"}});
  CHECK(reference("\xEF\xBB\xBF" "a\rb,", l).rows == table{{"a"}, {"b", ""}});
  CHECK(reference("a\"b,c", l).rows == table{{"a\"b", "c"}});
  CHECK(reference("\"a\"b", l).ec == errc::csv_bad_quote);
  CHECK(reference("\"a", l).ec == errc::csv_unterminated_quote);
}

TEST_CASE("random CSV: SIMD and scalar paths equal the reference at every split point") {
  INFO("SIMD supported on this CPU: " << csv_parser::simd_supported());
  std::mt19937_64 rng(20261129);
  int compared = 0;
  for (int doc = 0; doc < 240; ++doc) {
    const int sloppiness = doc % 3;
    const std::string in = random_csv(rng, sloppiness);
    const csv_limits limits = random_limits(rng);
    const parsed want = reference(in, limits);
    CAPTURE(doc);
    CAPTURE(in);
    for (const csv_path path : {csv_path::simd, csv_path::scalar}) {
      CAPTURE(static_cast<int>(path));
      // Whole, then cut in two at every position, then in random pieces.
      std::vector<std::vector<std::size_t>> splits = {{}};
      for (std::size_t cut = 1; cut < in.size(); ++cut) splits.push_back({cut});
      for (int k = 0; k < 20; ++k) {
        std::vector<std::size_t> cuts;
        for (std::size_t at = 1 + rng() % 70; at < in.size(); at += 1 + rng() % 70) cuts.push_back(at);
        splits.push_back(cuts);
      }
      for (const auto& cuts : splits) {
        const parsed got = ours(in, cuts, path, limits);
        REQUIRE(got.ec == want.ec);
        if (want.ec) {
          CHECK(got.error_offset == want.error_offset);
          CHECK(got.error_record == want.error_record);
          continue;  // records before an error may be handed over in different batches
        }
        REQUIRE(got.rows == want.rows);
        ++compared;
      }
    }
  }
  CHECK(compared > 10000);
}

TEST_CASE("a large regular document goes through the SIMD path where the CPU has it") {
  std::string in;
  std::mt19937_64 rng(5);
  for (int r = 0; r < 2000; ++r)
    in += "2c92c0f8" + std::to_string(rng()) + ",\"Smith, J\"\"r\",12.50,\"two\nlines\",,2026-01-02\r\n";
  const parsed want = reference(in, {});
  csv_parser simd({}, csv_path::simd);
  CHECK(simd.simd() == csv_parser::simd_supported());
  CHECK_FALSE(csv_parser({}, csv_path::scalar).simd());
  for (const csv_path path : {csv_path::simd, csv_path::scalar}) {
    const parsed got = ours(in, {1, 63, 64, 65, 4097, 40000}, path, {});
    REQUIRE_FALSE(got.ec);
    CHECK(got.rows == want.rows);
  }
}

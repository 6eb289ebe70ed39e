// Fuzz target: the CSV parser must never crash, must give the same records
// and the same error whatever the chunking and whichever inner loop (SIMD or
// scalar; differential oracle), and what it parses must come back unchanged
// through a quoting writer (round trip).
// Input: byte 0 picks the chunking, byte 1 the limits, the rest is the CSV.
// Small limits are drawn on purpose so the limit paths (including a field
// that is only a BOM prefix) are exercised, not just the happy path.
#include "decode/csv_parser.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef AQUADUCT_FUZZ_ENTRY
#define AQUADUCT_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

namespace {

struct result {
  std::vector<std::vector<std::string>> rows;
  std::error_code ec;
  std::uint64_t error_offset = 0;
};

using table = std::vector<std::vector<std::string>>;

result run(std::string_view in, std::size_t step, bool clear_each, aquaduct::decode::csv_limits limits,
           aquaduct::decode::csv_path path) {
  aquaduct::decode::csv_parser p(limits, path);
  result r;
  const auto take = [&] {
    const auto& recs = p.records();
    for (std::size_t i = 0; i < recs.size(); ++i) {
      std::vector<std::string> row;
      for (std::size_t c = 0; c < recs.field_count(i); ++c) row.emplace_back(recs.field(i, c));
      r.rows.push_back(std::move(row));
    }
    p.clear_records();
  };
  while (!in.empty()) {
    const auto piece = in.substr(0, step);
    const std::size_t used = p.put(piece, r.ec);
    if (r.ec) {
      r.error_offset = p.error_offset();
      take();
      return r;
    }
    if (used != piece.size()) std::abort();
    in.remove_prefix(piece.size());
    if (clear_each) take();
  }
  p.finish(r.ec);
  if (r.ec) r.error_offset = p.error_offset();
  take();
  return r;
}

// Quotes whenever a field could otherwise be misread, including a first
// field that starts like a BOM (it would be stripped) and a record that is
// one empty field (it would read back the same, but be explicit).
std::string write(const table& rows) {
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string& f = row[c];
      if (c != 0) out += ',';
      const bool quote = f.empty() || f.find_first_of(",\"\r\n") != std::string::npos ||
                         static_cast<unsigned char>(f[0]) == 0xEF;
      if (!quote) {
        out += f;
        continue;
      }
      out += '"';
      for (char ch : f) {
        if (ch == '"') out += '"';
        out += ch;
      }
      out += '"';
    }
    out += '\n';
  }
  return out;
}

}  // namespace

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t step = 1 + data[0] % 17;
  aquaduct::decode::csv_limits limits;
  limits.max_field_bytes = (data[1] & 0x80) ? 64 : data[1] % 8;
  limits.max_columns = (data[1] & 0x40) ? 16 : 1 + (data[1] >> 3) % 4;
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  using aquaduct::decode::csv_path;
  const result whole = run(in, in.size() + 1, true, limits, csv_path::scalar);
  for (const csv_path path : {csv_path::simd, csv_path::scalar}) {
    for (const std::size_t s : {in.size() + 1, step}) {
      const result other = run(in, s, (data[0] & 0x80) != 0, limits, path);
      if (whole.ec != other.ec || whole.error_offset != other.error_offset) std::abort();
      // Records completed before an error may differ in how many were handed
      // over; on success they must be identical.
      if (!whole.ec && whole.rows != other.rows) std::abort();
    }
  }
  if (whole.ec) return 0;
  const std::string again = write(whole.rows);
  const result back = run(again, step, true, limits, csv_path::simd);
  if (back.ec || back.rows != whole.rows) std::abort();
  return 0;
}

// Fuzz target: the CSV parser must never crash, and must give the same
// records and the same error whatever the chunking (differential oracle).
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

result run(std::string_view in, std::size_t step, bool clear_each) {
  aquaduct::decode::csv_limits limits;
  limits.max_field_bytes = 64;
  limits.max_columns = 16;
  aquaduct::decode::csv_parser p(limits);
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

}  // namespace

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 17;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const result whole = run(in, in.size() + 1, true);
  const result pieces = run(in, step, data[0] & 0x80);
  if (whole.ec != pieces.ec || whole.error_offset != pieces.error_offset) std::abort();
  // Records completed before an error may differ in how many were handed
  // over; on success they must be identical.
  if (!whole.ec && whole.rows != pieces.rows) std::abort();
  return 0;
}

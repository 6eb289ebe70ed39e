// Fuzz target: the JSON batch-results decoder on arbitrary bytes. It must
// not crash, must honour its size limit, and every table it returns must be
// rectangular with offsets inside its data.
#include "decode/batch_results.hpp"
#include "decode/decode_error.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

#ifndef AQUADUCT_FUZZ_ENTRY
#define AQUADUCT_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

using namespace aquaduct::decode;

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  static batch_results_decoder decoder({.max_document_bytes = 4096});
  batch_results out;
  std::error_code ec;
  std::string what;
  decoder.parse(in, out, ec, what);
  if (in.size() > 4096 && ec != errc::json_too_large) std::abort();
  if (ec) {
    if (what.empty() || !out.tables.empty()) std::abort();
    return 0;
  }
  if (out.batch_id.empty() || out.batch_status.empty()) std::abort();
  for (const result_table& t : out.tables) {
    if (t.row_offsets.back() + 1 != t.field_offsets.size()) std::abort();
    for (std::size_t r = 0; r < t.rows(); ++r)
      if (t.row_offsets[r + 1] - t.row_offsets[r] != t.columns.size()) std::abort();
    for (std::size_t i = 1; i < t.field_offsets.size(); ++i)
      if (t.field_offsets[i] < t.field_offsets[i - 1] || t.field_offsets[i] > t.data.size()) std::abort();
  }
  return 0;
}

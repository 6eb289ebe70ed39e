// Fuzz target: the streaming zip decoder must never crash, must agree with
// itself across chunkings and output sizes and between inflate backends where
// both accept, and the input packed as an archive (stored or deflated, with
// or without a data descriptor, Zip64 or not) must come back exactly.
// Input: byte 0 picks the chunking, output size and archive layout; the rest
// is the archive (and the payload).
#include "fuzz/fuzz_support.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

#ifndef AQUADUCT_FUZZ_ENTRY
#define AQUADUCT_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

using aquaduct::decode::inflate_backend;
using aquaduct::decode::make_zip_decoder;
using aquaduct::fuzz::run_decoder;

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 29;
  const std::size_t out_size = 1 + data[0] % 11;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  static auto isal = make_zip_decoder(inflate_backend::isal);
  static auto zlib = make_zip_decoder(inflate_backend::zlib);

  // Arbitrary bytes: the same verdict and output at any chunking, and between backends.
  aquaduct::fuzz::check_consistent(*isal, *zlib, in, step, out_size);

  aquaduct::fuzz::zip_options o;
  o.deflated = (data[0] & 0x20) != 0;
  o.descriptor = (data[0] & 0x40) != 0;
  o.zip64 = (data[0] & 0x80) != 0;
  // A stored entry of unknown size ends at the first descriptor whose CRC and
  // sizes match: a payload holding such a lookalike is ambiguous by design.
  if (!o.deflated && o.descriptor && in.find("PK\x07\x08") != std::string_view::npos) return 0;
  const std::string archive = aquaduct::fuzz::zip_bytes("q.csv", in, o);
  for (auto* d : {isal.get(), zlib.get()}) {
    const auto c = run_decoder(*d, archive, step, out_size);
    if (c.ec || c.out != in) std::abort();
  }
  return 0;
}

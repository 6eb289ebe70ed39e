// Fuzz target: the gzip decoder must never crash, must agree with itself
// across chunkings and output sizes, ISA-L and zlib must produce the same
// bytes where both accept, and what zlib compresses must round-trip.
// Input: byte 0 picks the chunking and output size, the rest is the stream.
#include "fuzz/fuzz_support.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

#ifndef AQUADUCT_FUZZ_ENTRY
#define AQUADUCT_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

using aquaduct::decode::inflate_backend;
using aquaduct::decode::make_gzip_decoder;
using aquaduct::fuzz::run_decoder;

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 13;
  const std::size_t out_size = 1 + data[0] % 7;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  static auto isal = make_gzip_decoder(inflate_backend::isal);
  static auto zlib = make_gzip_decoder(inflate_backend::zlib);

  // Arbitrary bytes: the same verdict and output at any chunking, and between backends.
  aquaduct::fuzz::check_consistent(*isal, *zlib, in, step, out_size);

  // The bytes compressed by zlib (two members): must come back exactly.
  const std::string gz = aquaduct::fuzz::deflate_bytes(in, 1, 31) + aquaduct::fuzz::deflate_bytes(in.substr(0, 7), 9, 31);
  const std::string want = std::string(in) + std::string(in.substr(0, 7));
  for (auto* d : {isal.get(), zlib.get()}) {
    const auto c = run_decoder(*d, gz, step, out_size);
    if (c.ec || c.out != want) std::abort();
  }
  return 0;
}

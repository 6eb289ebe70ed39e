// Fuzz target: the gzip decoder must never crash, must agree with itself
// across chunkings and output sizes, and must round-trip what zlib compresses.
#include "decode/content_decoder.hpp"

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef AQUADUCT_FUZZ_ENTRY
#define AQUADUCT_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

namespace {

struct result {
  std::string out;
  bool failed = false;
};

result run(std::string_view in, std::size_t step, std::size_t out_size) {
  auto d = aquaduct::decode::make_gzip_decoder();
  std::vector<char> buf(out_size);
  result r;
  std::error_code ec;
  while (!in.empty()) {
    std::string_view piece = in.substr(0, step);
    in.remove_prefix(piece.size());
    while (!piece.empty()) {
      const auto x = d->put(piece, buf, ec);
      r.out.append(buf.data(), x.produced);
      if (ec) {
        r.failed = true;
        return r;
      }
      if (x.consumed == 0 && x.produced == 0) std::abort();  // no progress: would spin forever
      piece.remove_prefix(x.consumed);
    }
  }
  for (;;) {
    const auto x = d->put({}, buf, ec);
    r.out.append(buf.data(), x.produced);
    if (ec) {
      r.failed = true;
      return r;
    }
    if (x.produced == 0) break;
  }
  d->finish(ec);
  r.failed = static_cast<bool>(ec);
  return r;
}

std::string compress(std::string_view in) {
  z_stream z{};
  deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 13;
  const std::size_t out_size = 1 + data[0] % 7;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Arbitrary bytes as a gzip stream: same verdict and same output either way.
  const result a = run(in, in.size() + 1, 4096);
  const result b = run(in, step, out_size);
  if (a.failed != b.failed) std::abort();
  if (!a.failed && a.out != b.out) std::abort();

  // The bytes compressed by zlib: must come back exactly.
  const std::string gz = compress(in);
  const result c = run(gz, step, out_size);
  if (c.failed || c.out != in) std::abort();
  return 0;
}

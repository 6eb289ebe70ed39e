#pragma once
// What the fuzz targets share (and the fuzz_replay test that runs their
// bodies in every ctest run): driving a content decoder through chunked
// input, and building zip archives to feed it.
#include "decode/content_decoder.hpp"

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::fuzz {

struct decoded {
  std::string out;
  std::error_code ec;
};

// Feeds `in` in pieces of `step` bytes through an output buffer of
// `out_size`, drains and finishes. A put that makes no progress aborts: a
// caller would spin forever.
inline decoded run_decoder(decode::content_decoder& d, std::string_view in, std::size_t step, std::size_t out_size) {
  d.reset();
  std::vector<char> buf(out_size);
  decoded r;
  while (!in.empty()) {
    std::string_view piece = in.substr(0, step);
    in.remove_prefix(piece.size());
    while (!piece.empty()) {
      const auto x = d.put(piece, buf, r.ec);
      r.out.append(buf.data(), x.produced);
      if (r.ec) return r;
      if (x.consumed == 0 && x.produced == 0) std::abort();
      piece.remove_prefix(x.consumed);
    }
  }
  for (;;) {
    const auto x = d.put({}, buf, r.ec);
    r.out.append(buf.data(), x.produced);
    if (r.ec || x.produced == 0) break;
  }
  if (!r.ec) d.finish(r.ec);
  return r;
}

// The oracle of the gzip and zip targets on arbitrary bytes: each decoder
// gives the same verdict and output whole and in pieces of `step` through an
// output buffer of `out_size`, and two decoders (ISA-L and zlib backends)
// give the same output where both accept.
inline void check_consistent(decode::content_decoder& a, decode::content_decoder& b, std::string_view in,
                             std::size_t step, std::size_t out_size) {
  decoded whole[2];
  decode::content_decoder* both[2] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    whole[i] = run_decoder(*both[i], in, in.size() + 1, 4096);
    const decoded pieces = run_decoder(*both[i], in, step, out_size);
    if (whole[i].ec != pieces.ec) std::abort();
    if (!whole[i].ec && whole[i].out != pieces.out) std::abort();
  }
  if (!whole[0].ec && !whole[1].ec && whole[0].out != whole[1].out) std::abort();
}

inline std::string le_bytes(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// Raw deflate (no wrapper) of `in`, or gzip-wrapped with `window_bits` 31.
inline std::string deflate_bytes(std::string_view in, int level = 6, int window_bits = -15) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

struct zip_options {
  bool deflated = true;
  bool descriptor = false;  // sizes and CRC after the data (flag bit 3), as streaming writers do
  bool zip64 = false;       // Zip64 extra field, 8-byte sizes in the descriptor
};

// A one-entry zip archive, followed by a central directory record and the end record.
inline std::string zip_bytes(std::string_view name, std::string_view data, zip_options o = {}) {
  const auto crc = static_cast<std::uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
  const std::string body = o.deflated ? deflate_bytes(data) : std::string(data);
  const std::uint64_t csize = body.size(), usize = data.size();
  const std::string extra = o.zip64 ? le_bytes(1, 2) + le_bytes(16, 2) + le_bytes(o.descriptor ? 0 : usize, 8) +
                                          le_bytes(o.descriptor ? 0 : csize, 8)
                                    : std::string();
  const std::uint64_t header_csize = o.zip64 ? 0xFFFFFFFF : o.descriptor ? 0 : csize;
  const std::uint64_t header_usize = o.zip64 ? 0xFFFFFFFF : o.descriptor ? 0 : usize;
  std::string z = "PK\x03\x04" + le_bytes(45, 2) + le_bytes(o.descriptor ? 8 : 0, 2) + le_bytes(o.deflated ? 8 : 0, 2) +
                  le_bytes(0, 4) + le_bytes(o.descriptor ? 0 : crc, 4) + le_bytes(header_csize, 4) +
                  le_bytes(header_usize, 4) + le_bytes(name.size(), 2) + le_bytes(extra.size(), 2) + std::string(name) +
                  extra + body;
  if (o.descriptor) {
    const int w = o.zip64 ? 8 : 4;
    z += "PK\x07\x08" + le_bytes(crc, 4) + le_bytes(csize, w) + le_bytes(usize, w);
  }
  const std::size_t central = z.size();
  z += "PK\x01\x02" + le_bytes(45, 2) + le_bytes(45, 2) + le_bytes(o.descriptor ? 8 : 0, 2) +
       le_bytes(o.deflated ? 8 : 0, 2) + le_bytes(0, 4) + le_bytes(crc, 4) + le_bytes(std::min<std::uint64_t>(csize, 0xFFFFFFFF), 4) +
       le_bytes(std::min<std::uint64_t>(usize, 0xFFFFFFFF), 4) + le_bytes(name.size(), 2) + le_bytes(0, 2) +
       le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(0, 4) + le_bytes(0, 4) + std::string(name);
  z += "PK\x05\x06" + le_bytes(0, 4) + le_bytes(1, 2) + le_bytes(1, 2) + le_bytes(z.size() - central, 4) +
       le_bytes(central, 4) + le_bytes(0, 2);
  return z;
}

}  // namespace aquaduct::fuzz

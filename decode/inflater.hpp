#pragma once
// Raw deflate or gzip-wrapped inflate behind one small interface, with two
// backends chosen at run time: ISA-L's igzip (several times faster, the
// default where the CPU has what its fast paths need) and zlib (everywhere).
// The building block of the gzip and zip content decoders; push style, no
// allocation after construction.
#include "decode/content_decoder.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

namespace aquaduct::decode {

enum class inflate_wrapper {
  gzip,  // one RFC 1952 member: header, deflate data, CRC-32 and size checked
  raw,   // bare RFC 1951 deflate data (zip entries); no checks beyond the data
};

struct inflate_step {
  std::size_t consumed = 0;
  std::size_t produced = 0;
  bool stream_end = false;  // the member/stream is complete; unused input was not consumed
  bool corrupt = false;     // bad header, data, CRC or size
  // With stream_end: bytes consumed by earlier calls that lie past the end
  // of the stream. They come before the unconsumed input; valid until the
  // next call.
  std::string_view carry;
};

class inflater {
 public:
  virtual ~inflater() = default;
  virtual inflate_step run(std::string_view in, std::span<char> out) = 0;
  // Ready for a new member/stream.
  virtual void reset() = 0;
};

// `backend` must not be automatic: resolve it first.
std::unique_ptr<inflater> make_inflater(inflate_backend backend, inflate_wrapper wrapper);

// automatic -> isal where supported, else zlib.
inflate_backend resolve(inflate_backend backend) noexcept;

// CRC-32 (ISO-HDLC, as zip and gzip use it), continued from `crc`.
std::uint32_t crc32_update(std::uint32_t crc, std::string_view bytes) noexcept;

}  // namespace aquaduct::decode

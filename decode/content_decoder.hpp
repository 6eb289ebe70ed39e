#pragma once
// Content decoders: turn the bytes of a result file as they arrive over HTTP
// into the bytes of the CSV inside it. Push style, like zlib: the caller offers
// input and an output buffer; the decoder says how much of each it used.
// No I/O, no allocation per call, resumable at any byte boundary.
//
// Limits: a decoder's memory is fixed once built (the caller's output buffer
// bounds every call; ISA-L/zlib state ~100 KiB/~45 KiB; a zip header is at
// most 30 + 2 x 65535 bytes by its format; a stored zip entry of unknown
// size holds back at most 23 bytes). The decompressed size is not capped:
// AQuA results are legitimately tens of GB, and the CSV parser's field and
// column limits bound what one record can hold.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

namespace aquaduct::decode {

struct decode_result {
  std::size_t consumed = 0;  // bytes of input used
  std::size_t produced = 0;  // bytes written to the output buffer
};

class content_decoder {
 public:
  virtual ~content_decoder() = default;

  // Decodes from `in` into `out`. Call again with the unconsumed rest of `in`
  // (and a fresh `out`) until `consumed == in.size()`. On error sets `ec`
  // (decode::errc) and returns what was used before the error.
  virtual decode_result put(std::string_view in, std::span<char> out, std::error_code& ec) = 0;

  // The input has ended. Sets `ec` when the stream is incomplete (e.g.
  // gzip_truncated). Output still buffered inside the decoder, if any, must
  // have been drained by put() calls with empty input first: while
  // put("", out) produces bytes, keep calling it.
  virtual void finish(std::error_code& ec) = 0;

  // Ready for a new, independent stream (buffers are kept).
  virtual void reset() = 0;

  // Compressed bytes consumed so far in this stream (for error offsets).
  virtual std::uint64_t total_in() const noexcept = 0;
};

// Which inflate implementation a gzip or zip decoder uses. `automatic` is
// ISA-L where the CPU supports its fast paths, zlib elsewhere; the explicit
// values are for tests and benchmarks.
enum class inflate_backend { automatic, isal, zlib };
bool isal_supported() noexcept;
const char* to_string(inflate_backend backend) noexcept;  // "isa-l" or "zlib" (automatic resolved)

// Passes bytes through unchanged.
std::unique_ptr<content_decoder> make_identity_decoder();

// RFC 1952 gzip, any number of concatenated members.
std::unique_ptr<content_decoder> make_gzip_decoder(inflate_backend backend = inflate_backend::automatic);

// A zip archive read front to back as it arrives (no seeking, the central
// directory is not needed): local headers, then the entry's data. Stored and
// deflated entries, with or without data descriptors (bit 3), Zip64 sizes.
// The output is the archive's one file entry (directory entries are skipped);
// a second file entry is errc::zip_unsupported, as are encryption and other
// methods. CRC-32 and sizes are checked. finish() wants the central directory
// to have begun, so a cut archive is errc::zip_truncated.
std::unique_ptr<content_decoder> make_zip_decoder(inflate_backend backend = inflate_backend::automatic);

// The decoder for a result format: "csv" (identity), "gzip" or "zip"
// (case-insensitive); nullptr for anything else.
std::unique_ptr<content_decoder> make_content_decoder(std::string_view format,
                                                      inflate_backend backend = inflate_backend::automatic);

}  // namespace aquaduct::decode

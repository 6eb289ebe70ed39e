#pragma once
// Content decoders: turn the bytes of a result file as they arrive over HTTP
// into the bytes of the CSV inside it. Push style, like zlib: the caller offers
// input and an output buffer; the decoder says how much of each it used.
// No I/O, no allocation per call, resumable at any byte boundary.
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

// Passes bytes through unchanged.
std::unique_ptr<content_decoder> make_identity_decoder();

// RFC 1952 gzip, any number of concatenated members. zlib backend.
std::unique_ptr<content_decoder> make_gzip_decoder();

}  // namespace aquaduct::decode

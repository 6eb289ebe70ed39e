// gzip (RFC 1952) with zlib: any number of concatenated members, as `gzip`
// itself accepts. Whatever follows a member must be another member: trailing
// garbage (even zeros) is corruption, never silently dropped.
#include "decode/content_decoder.hpp"
#include "decode/decode_error.hpp"

#include <zlib.h>

#include <limits>
#include <new>

namespace aquaduct::decode {

namespace {

class gzip_decoder final : public content_decoder {
 public:
  gzip_decoder() {
    // 16 + MAX_WBITS: gzip wrapper only (no zlib or raw streams).
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();
  }
  ~gzip_decoder() override { inflateEnd(&z_); }
  gzip_decoder(const gzip_decoder&) = delete;
  gzip_decoder& operator=(const gzip_decoder&) = delete;

  decode_result put(std::string_view in, std::span<char> out, std::error_code& ec) override {
    ec.clear();
    if (!in_member_) {
      if (in.empty()) return {};  // between members nothing is buffered
      // zlib wants both magic bytes before it judges a header, so a single
      // stray byte at the end (a NUL pad, a newline) would read as a cut
      // member. It is not one: call it corrupt at once.
      if (static_cast<unsigned char>(in[0]) != 0x1f) {
        ec = errc::gzip_corrupt;
        return {};
      }
      inflateReset(&z_);
      in_member_ = true;
      seen_input_ = true;
    }
    if (out.empty()) return {};
    // zlib counts in uInt; larger spans are handled over several calls.
    constexpr std::size_t max_chunk = std::numeric_limits<uInt>::max();
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(std::min(in.size(), max_chunk));
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(std::min(out.size(), max_chunk));
    const uInt avail_in = z_.avail_in;
    const uInt avail_out = z_.avail_out;
    const int rc = inflate(&z_, Z_NO_FLUSH);
    const decode_result r{avail_in - z_.avail_in, avail_out - z_.avail_out};
    total_in_ += r.consumed;
    switch (rc) {
      case Z_OK: break;
      case Z_BUF_ERROR: break;  // no progress possible with what was given: not an error
      case Z_STREAM_END: in_member_ = false; break;
      case Z_MEM_ERROR: throw std::bad_alloc();
      default: ec = errc::gzip_corrupt; break;  // Z_DATA_ERROR (bad header, data, CRC or length), Z_NEED_DICT
    }
    return r;
  }

  void finish(std::error_code& ec) override {
    ec.clear();
    if (in_member_ || !seen_input_) ec = errc::gzip_truncated;
  }

  void reset() override {
    in_member_ = false;
    seen_input_ = false;
    total_in_ = 0;
  }

  std::uint64_t total_in() const noexcept override { return total_in_; }

 private:
  z_stream z_{};
  bool in_member_ = false;
  bool seen_input_ = false;
  std::uint64_t total_in_ = 0;
};

}  // namespace

std::unique_ptr<content_decoder> make_gzip_decoder() { return std::make_unique<gzip_decoder>(); }

}  // namespace aquaduct::decode

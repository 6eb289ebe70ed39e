// gzip (RFC 1952): any number of concatenated members, as `gzip` itself
// accepts. Whatever follows a member must be another member: trailing
// garbage (even zeros) is corruption, never silently dropped.
#include "decode/content_decoder.hpp"
#include "decode/decode_error.hpp"
#include "decode/inflater.hpp"

#include <zlib.h>

#include <cstdint>
#include <string>

namespace aquaduct::decode {

namespace {

// RFC 1952 §2.3 member header, one byte at a time: magic, CM = deflate, no
// reserved FLG bits, the optional FEXTRA/FNAME/FCOMMENT fields, and the
// header CRC (FHCRC), the low 16 bits of the CRC-32 of the bytes before it.
class member_header {
 public:
  bool done() const noexcept { return state_ == state::done; }

  // Takes the next header byte; false when the header is corrupt.
  bool feed(unsigned char b) {
    const std::uint64_t at = scanned_++;
    if (state_ != state::hcrc) crc_ = static_cast<std::uint32_t>(::crc32(crc_, &b, 1));
    switch (state_) {
      case state::fixed:
        if ((at == 0 && b != 0x1f) || (at == 1 && b != 0x8b) || (at == 2 && b != 8)) return false;
        if (at == 3) {
          if ((b & 0xe0) != 0) return false;
          flags_ = b;
        }
        if (at == 9) next_after(0);
        return true;
      case state::xlen:
        xlen_ |= static_cast<std::uint32_t>(b) << (8 * count_);
        if (++count_ == 2) {
          count_ = 0;
          if (xlen_ == 0) next_after(fextra);
          else state_ = state::extra;
        }
        return true;
      case state::extra:
        if (++count_ == xlen_) next_after(fextra);
        return true;
      case state::name:
        if (b == 0) next_after(fname);
        return true;
      case state::comment:
        if (b == 0) next_after(fcomment);
        return true;
      case state::hcrc:
        stored_ |= static_cast<std::uint32_t>(b) << (8 * count_);
        if (++count_ == 2) {
          if (stored_ != (crc_ & 0xffff)) return false;
          state_ = state::done;
        }
        return true;
      case state::done: return true;
    }
    return true;
  }

 private:
  static constexpr unsigned fhcrc = 2, fextra = 4, fname = 8, fcomment = 16;
  enum class state { fixed, xlen, extra, name, comment, hcrc, done };

  // Moves to the first optional field after `passed` (0: after the fixed part).
  void next_after(unsigned passed) {
    count_ = 0;
    if (passed < fextra && (flags_ & fextra)) state_ = state::xlen;
    else if (passed < fname && (flags_ & fname)) state_ = state::name;
    else if (passed < fcomment && (flags_ & fcomment)) state_ = state::comment;
    else if (flags_ & fhcrc) state_ = state::hcrc;
    else state_ = state::done;
  }

  state state_ = state::fixed;
  std::uint64_t scanned_ = 0;
  unsigned flags_ = 0;
  std::uint32_t xlen_ = 0;
  std::uint32_t count_ = 0;
  std::uint32_t stored_ = 0;
  std::uint32_t crc_ = 0;  // crc32(0, nullptr, 0) == 0
};

class gzip_decoder final : public content_decoder {
 public:
  explicit gzip_decoder(inflate_backend backend) : inflater_(make_inflater(backend, inflate_wrapper::gzip)) {}

  decode_result put(std::string_view in, std::span<char> out, std::error_code& ec) override {
    ec.clear();
    if (!in_member_) {
      if (in.empty()) return {};  // between members nothing is buffered
      inflater_->reset();
      header_ = {};
      header_buf_.clear();
      header_fed_ = 0;
      member_in_ = 0;
      in_member_ = true;
      seen_input_ = true;
    }
    // The member header is read here, byte by byte as it arrives, and
    // handed to the inflater whole. ISA-L parses a header reliably only in
    // one piece: split, it refuses some valid headers (FEXTRA, FHCRC) and
    // misses a wrong header CRC, so its verdict would depend on the chunking.
    std::size_t taken = 0;
    if (!header_.done()) {
      while (taken < in.size() && !header_.done()) {
        if (!header_.feed(static_cast<unsigned char>(in[taken]))) {
          ec = errc::gzip_corrupt;
          return {};
        }
        ++taken;
      }
      header_buf_.append(in.data(), taken);
      total_in_ += taken;
      member_in_ += taken;
      if (header_buf_.size() > max_header_bytes) {
        ec = errc::gzip_corrupt;
        return {taken, 0};
      }
      if (!header_.done()) return {taken, 0};
      in.remove_prefix(taken);
    }
    if (out.empty()) return {taken, 0};
    while (header_fed_ < header_buf_.size()) {
      const inflate_step h = inflater_->run(std::string_view(header_buf_).substr(header_fed_), out);
      header_fed_ += h.consumed;
      if (h.corrupt || (h.consumed == 0 && h.produced == 0) || h.produced != 0) {
        ec = errc::gzip_corrupt;
        return {taken, 0};
      }
    }
    const inflate_step s = inflater_->run(in, out);
    total_in_ += s.consumed;
    member_in_ += s.consumed;
    if (s.corrupt) ec = errc::gzip_corrupt;
    else if (s.stream_end) in_member_ = false;
    return {taken + s.consumed, s.produced};
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
  std::unique_ptr<inflater> inflater_;
  member_header header_;
  // A header longer than this (FEXTRA is at most 64 KiB; FNAME and FCOMMENT
  // are unbounded) is refused as corrupt rather than buffered without end.
  static constexpr std::size_t max_header_bytes = 256 * 1024;
  std::string header_buf_;       // the current member's header, read so far
  std::size_t header_fed_ = 0;   // bytes of header_buf_ the inflater has taken
  bool in_member_ = false;
  std::uint64_t member_in_ = 0;  // bytes of the current member consumed
  bool seen_input_ = false;
  std::uint64_t total_in_ = 0;
};

}  // namespace

std::unique_ptr<content_decoder> make_gzip_decoder(inflate_backend backend) {
  return std::make_unique<gzip_decoder>(backend);
}

}  // namespace aquaduct::decode

#include "decode/inflater.hpp"

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <new>
#include <string>

namespace aquaduct::decode {

namespace {

// Both libraries count in 32 bits; larger spans take several calls.
constexpr std::size_t max_chunk = std::numeric_limits<std::uint32_t>::max();

class zlib_inflater final : public inflater {
 public:
  explicit zlib_inflater(inflate_wrapper wrapper) {
    // 16 + MAX_WBITS: gzip wrapper only; -MAX_WBITS: raw deflate.
    if (inflateInit2(&z_, wrapper == inflate_wrapper::gzip ? 16 + MAX_WBITS : -MAX_WBITS) != Z_OK)
      throw std::bad_alloc();
  }
  ~zlib_inflater() override { inflateEnd(&z_); }
  zlib_inflater(const zlib_inflater&) = delete;
  zlib_inflater& operator=(const zlib_inflater&) = delete;

  inflate_step run(std::string_view in, std::span<char> out) override {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(std::min(in.size(), max_chunk));
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(std::min(out.size(), max_chunk));
    const uInt avail_in = z_.avail_in;
    const uInt avail_out = z_.avail_out;
    const int rc = inflate(&z_, Z_NO_FLUSH);
    inflate_step s;
    s.consumed = avail_in - z_.avail_in;
    s.produced = avail_out - z_.avail_out;
    switch (rc) {
      case Z_OK: break;
      case Z_BUF_ERROR: break;  // no progress possible with what was given: not an error
      case Z_STREAM_END: s.stream_end = true; break;
      case Z_MEM_ERROR: throw std::bad_alloc();
      default: s.corrupt = true; break;  // Z_DATA_ERROR (bad header, data, CRC or length), Z_NEED_DICT
    }
    return s;
  }

  void reset() override { inflateReset(&z_); }

 private:
  z_stream z_{};
};

class isal_inflater final : public inflater {
 public:
  explicit isal_inflater(inflate_wrapper wrapper)
      : flag_(wrapper == inflate_wrapper::gzip ? ISAL_GZIP : ISAL_DEFLATE), state_(std::make_unique<inflate_state>()) {
    isal_inflate_init(state_.get());
    state_->crc_flag = flag_;
  }

  inflate_step run(std::string_view in, std::span<char> out) override {
    inflate_state& s = *state_;
    if (s.block_state == ISAL_BLOCK_FINISH) {
      inflate_step done;
      done.stream_end = true;
      return done;
    }
    s.next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(in.data()));
    s.avail_in = static_cast<std::uint32_t>(std::min(in.size(), max_chunk));
    s.next_out = reinterpret_cast<std::uint8_t*>(out.data());
    s.avail_out = static_cast<std::uint32_t>(std::min(out.size(), max_chunk));
    const std::uint32_t avail_in = s.avail_in;
    const std::uint32_t avail_out = s.avail_out;
    const int rc = isal_inflate(&s);
    inflate_step step;
    step.consumed = avail_in - s.avail_in;
    step.produced = avail_out - s.avail_out;
    // Negative codes are corrupt input (bad block, symbol, lookback, wrapper,
    // method, checksum); ISAL_NEED_DICT cannot happen for gzip or raw streams
    // we accept, so it is corrupt too.
    if (rc < 0 || rc == ISAL_NEED_DICT) step.corrupt = true;
    else if (s.block_state == ISAL_BLOCK_FINISH) step.stream_end = true;
    if (step.stream_end && s.read_in_length >= 8) give_back(step);
    return step;
  }

  void reset() override {
    carry_.clear();
    isal_inflate_reset(state_.get());
    state_->crc_flag = flag_;
  }

 private:
  // A raw stream can end with whole bytes still in igzip's 64-bit bit buffer
  // (a gzip member's trailer drains it). Those bytes follow the stream: the
  // ones read in this call are handed back as unconsumed, older ones as carry.
  void give_back(inflate_step& step) {
    inflate_state& s = *state_;
    const auto extra = static_cast<std::size_t>(s.read_in_length / 8);
    const std::uint64_t bits = s.read_in >> (s.read_in_length % 8);
    const std::size_t here = std::min(extra, step.consumed);
    step.consumed -= here;
    carry_.clear();
    for (std::size_t k = 0; k < extra - here; ++k) carry_ += static_cast<char>((bits >> (8 * k)) & 0xff);
    step.carry = carry_;
    s.read_in = 0;
    s.read_in_length = 0;
  }

  std::uint32_t flag_;
  std::string carry_;
  std::unique_ptr<inflate_state> state_;  // ~100 KiB of tables and window
};

bool cpu_has_isal_fast_path() noexcept {
#if defined(__x86_64__)
  // igzip's inflate kernels want SSE4.1/PCLMUL (CRC) at least; older x86 gets zlib.
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("pclmul");
#else
  return true;  // aarch64 and the others: ISA-L's generic code is still faster than zlib
#endif
}

}  // namespace

std::unique_ptr<inflater> make_inflater(inflate_backend backend, inflate_wrapper wrapper) {
  if (resolve(backend) == inflate_backend::isal) return std::make_unique<isal_inflater>(wrapper);
  return std::make_unique<zlib_inflater>(wrapper);
}

inflate_backend resolve(inflate_backend backend) noexcept {
  if (backend != inflate_backend::automatic) return backend;
  static const bool isal = cpu_has_isal_fast_path();
  return isal ? inflate_backend::isal : inflate_backend::zlib;
}

bool isal_supported() noexcept { return resolve(inflate_backend::automatic) == inflate_backend::isal; }

const char* to_string(inflate_backend backend) noexcept {
  switch (resolve(backend)) {
    case inflate_backend::isal: return "isa-l";
    case inflate_backend::zlib: return "zlib";
    case inflate_backend::automatic: break;
  }
  return "?";
}

std::uint32_t crc32_update(std::uint32_t crc, std::string_view bytes) noexcept {
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), max_chunk);
    crc = crc32_gzip_refl(crc, reinterpret_cast<const unsigned char*>(bytes.data()), n);
    bytes.remove_prefix(n);
  }
  return crc;
}

}  // namespace aquaduct::decode

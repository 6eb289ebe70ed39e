// A zip archive read as a stream (APPNOTE 6.3): local file header, the entry's
// data, an optional data descriptor, and so on until the central directory,
// which is skipped. Sizes come from the local header (or its Zip64 extra
// field); with a data descriptor (flag bit 3) a deflated entry ends where its
// deflate stream ends, and a stored entry ends at the first descriptor
// signature whose CRC-32 and sizes match the bytes before it.
#include "decode/content_decoder.hpp"
#include "decode/decode_error.hpp"
#include "decode/inflater.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

namespace aquaduct::decode {

namespace {

constexpr std::uint32_t local_header_sig = 0x04034b50;
constexpr std::uint32_t descriptor_sig = 0x08074b50;
constexpr std::uint32_t central_header_sig = 0x02014b50;
constexpr std::uint32_t end_of_central_sig = 0x06054b50;
constexpr std::uint32_t zip64_end_sig = 0x06064b50;
constexpr std::size_t local_header_size = 30;
constexpr std::uint32_t zip64_marker = 0xFFFFFFFF;

std::uint64_t le(const char* p, std::size_t bytes) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = bytes; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

class zip_decoder final : public content_decoder {
 public:
  explicit zip_decoder(inflate_backend backend) : inflater_(make_inflater(backend, inflate_wrapper::raw)) {}

  decode_result put(std::string_view in, std::span<char> out, std::error_code& ec) override {
    ec.clear();
    decode_result r;
    const auto emit = [&](std::string_view bytes) {
      std::memcpy(out.data() + r.produced, bytes.data(), bytes.size());
      r.produced += bytes.size();
      crc_ = crc32_update(crc_, bytes);
      out_count_ += bytes.size();
    };
    const auto fail = [&](errc e) {
      ec = e;
      state_ = state::failed;
      total_in_ += r.consumed;
      return r;
    };
    for (;;) {
      const std::string_view rest = in.substr(r.consumed);
      const std::span<char> room = out.subspan(r.produced);
      switch (state_) {
        case state::failed: ec = errc::zip_corrupt; return r;  // reset() first
        case state::tail:  // central directory and end records: not needed for streaming
          r.consumed = in.size();
          total_in_ += r.consumed;
          return r;
        case state::signature: {
          if (!fill(in, r, 4)) return done(r);
          const auto sig = static_cast<std::uint32_t>(le(hdr_.data(), 4));
          if (sig == local_header_sig) {
            state_ = state::local_header;
          } else if (sig == central_header_sig || sig == end_of_central_sig || sig == zip64_end_sig) {
            state_ = state::tail;
          } else {
            return fail(errc::zip_corrupt);
          }
          break;
        }
        case state::local_header: {
          if (!fill(in, r, local_header_size)) return done(r);
          const char* h = hdr_.data();
          flags_ = static_cast<unsigned>(le(h + 6, 2));
          method_ = static_cast<unsigned>(le(h + 8, 2));
          expect_crc_ = static_cast<std::uint32_t>(le(h + 14, 4));
          expect_csize_ = le(h + 18, 4);
          expect_usize_ = le(h + 22, 4);
          name_extra_ = local_header_size + le(h + 26, 2) + le(h + 28, 2);
          state_ = state::name_extra;
          break;
        }
        case state::name_extra: {
          if (!fill(in, r, name_extra_)) return done(r);
          if (const errc e = begin_entry(); e != errc{}) return fail(e);
          break;
        }
        case state::stored: {
          const std::size_t n = std::min({rest.size(), room.size(), static_cast<std::size_t>(expect_csize_ - in_count_)});
          if (n == 0 && in_count_ < expect_csize_) return done(r);
          emit(rest.substr(0, n));
          in_count_ += n;
          r.consumed += n;
          if (in_count_ == expect_csize_)
            if (const errc e = end_data(); e != errc{}) return fail(e);
          break;
        }
        case state::deflated: {
          if (room.empty()) return done(r);
          const inflate_step s = inflater_->run(rest, room);
          r.consumed += s.consumed;
          in_count_ += s.consumed;
          crc_ = crc32_update(crc_, std::string_view(room.data(), s.produced));
          out_count_ += s.produced;
          r.produced += s.produced;
          if (s.corrupt) return fail(errc::zip_corrupt);
          if (s.stream_end) {
            in_count_ -= s.carry.size();
            if (const errc e = end_data(); e != errc{}) return fail(e);
            hdr_.assign(s.carry);  // the descriptor or next header begins with them
          } else if (s.consumed == 0 && s.produced == 0) {
            return done(r);
          }
          // (An inflater may read ahead of what it has decoded, so running
          // past the header's compressed size is judged at the stream's end.)
          break;
        }
        case state::stored_scan: {
          const errc e = scan_stored(rest, room, r, emit);
          if (e != errc{}) return fail(e);
          if (state_ == state::stored_scan) return done(r);
          break;
        }
        case state::descriptor: {
          // The signature is optional: 4 bytes tell whether it is there.
          if (!fill(in, r, 4)) return done(r);
          const bool signed_dd = le(hdr_.data(), 4) == descriptor_sig;
          if (!fill(in, r, (signed_dd ? 4 : 0) + 4 + 2 * size_width())) return done(r);
          const char* d = hdr_.data() + (signed_dd ? 4 : 0);
          expect_crc_ = static_cast<std::uint32_t>(le(d, 4));
          expect_csize_ = le(d + 4, size_width());
          expect_usize_ = le(d + 4 + size_width(), size_width());
          if (const errc e = check_entry(); e != errc{}) return fail(e);
          break;
        }
      }
    }
  }

  void finish(std::error_code& ec) override {
    ec.clear();
    if (state_ != state::tail) ec = errc::zip_truncated;
  }

  void reset() override {
    state_ = state::signature;
    hdr_.clear();
    hold_.clear();
    file_entries_ = 0;
    total_in_ = 0;
  }

  std::uint64_t total_in() const noexcept override { return total_in_; }

 private:
  enum class state { signature, local_header, name_extra, stored, deflated, stored_scan, descriptor, tail, failed };

  decode_result done(decode_result r) {
    total_in_ += r.consumed;
    return r;
  }

  // Moves input into hdr_ until it holds `need` bytes; true when it does
  // (the next fill() of a record then continues from there).
  bool fill(std::string_view in, decode_result& r, std::size_t need) {
    if (hdr_.size() < need) {
      const std::size_t n = std::min(in.size() - r.consumed, need - hdr_.size());
      hdr_.append(in.data() + r.consumed, n);
      r.consumed += n;
    }
    return hdr_.size() >= need;
  }

  std::size_t size_width() const noexcept { return zip64_ ? 8 : 4; }

  errc begin_entry() {
    const std::string_view name(hdr_.data() + local_header_size, le(hdr_.data() + 26, 2));
    std::string_view extra = std::string_view(hdr_).substr(local_header_size + name.size());
    if (flags_ & 1) return errc::zip_unsupported;  // encrypted
    if (method_ != 0 && method_ != 8) return errc::zip_unsupported;
    const bool directory = !name.empty() && name.back() == '/';
    if (!directory && ++file_entries_ > 1) return errc::zip_unsupported;  // one result file per archive
    // Zip64 extended information: the 8-byte sizes replace the 0xFFFFFFFF ones, in this order.
    zip64_ = false;
    while (extra.size() >= 4) {
      const auto id = le(extra.data(), 2);
      const auto len = static_cast<std::size_t>(le(extra.data() + 2, 2));
      if (len > extra.size() - 4) return errc::zip_corrupt;
      if (id == 1) {
        zip64_ = true;
        std::string_view field = extra.substr(4, len);
        for (std::uint64_t* size : {&expect_usize_, &expect_csize_}) {
          if (*size != zip64_marker) continue;
          if (field.size() < 8) return errc::zip_corrupt;
          *size = le(field.data(), 8);
          // Past 2^63 it is malformed, even where a descriptor makes it unused (libarchive refuses it too).
          if (*size > static_cast<std::uint64_t>(INT64_MAX)) return errc::zip_corrupt;
          field.remove_prefix(8);
        }
      }
      extra.remove_prefix(4 + len);
    }
    hdr_.clear();
    crc_ = 0;
    in_count_ = out_count_ = 0;
    if (method_ == 8) {
      inflater_->reset();
      state_ = state::deflated;
    } else if (flags_ & 8) {
      hold_.clear();
      state_ = state::stored_scan;
    } else {
      state_ = state::stored;
      if (expect_csize_ != expect_usize_) return errc::zip_corrupt;
      if (expect_csize_ == 0) return end_data();
    }
    return {};
  }

  // The entry's data has ended: its descriptor follows, or the header's values are checked now.
  errc end_data() {
    if (flags_ & 8) {
      state_ = state::descriptor;
      return {};
    }
    return check_entry();
  }

  errc check_entry() {
    hdr_.clear();
    state_ = state::signature;
    if (crc_ != expect_crc_ || in_count_ != expect_csize_ || out_count_ != expect_usize_) return errc::zip_corrupt;
    return {};
  }

  // A stored entry of unknown size: data up to a descriptor (signature
  // required here) whose CRC and sizes match what precedes it. The last
  // descriptor-size-minus-one bytes are held back until that is decided.
  template <class Emit>
  errc scan_stored(std::string_view rest, std::span<char> room, decode_result& r, Emit& emit) {
    const std::size_t dd = 4 + 4 + 2 * size_width();
    const std::size_t take = std::min(rest.size(), room.size());
    if (take == 0) return {};
    window_.assign(hold_);
    window_.append(rest.data(), take);
    const std::string_view w(window_);
    const std::string_view sig("PK\x07\x08", 4);
    for (std::size_t j = w.find(sig); j != std::string_view::npos && j + dd <= w.size(); j = w.find(sig, j + 1)) {
      const char* d = w.data() + j + 4;
      const std::uint64_t size = out_count_ + j;
      if (le(d + 4, size_width()) != size || le(d + 4 + size_width(), size_width()) != size) continue;
      if (crc32_update(crc_, w.substr(0, j)) != static_cast<std::uint32_t>(le(d, 4))) continue;
      emit(w.substr(0, j));
      in_count_ = out_count_;
      expect_crc_ = crc_;
      expect_csize_ = expect_usize_ = out_count_;
      // Everything past the descriptor came from `rest` (hold_ is shorter than a descriptor).
      r.consumed += take - (w.size() - (j + dd));
      hold_.clear();
      return check_entry();
    }
    const std::size_t safe = w.size() > dd - 1 ? w.size() - (dd - 1) : 0;
    emit(w.substr(0, safe));
    hold_.assign(w.substr(safe));
    r.consumed += take;
    return {};
  }

  std::unique_ptr<inflater> inflater_;
  state state_ = state::signature;
  std::string hdr_;     // the header or descriptor being collected
  std::string hold_;    // stored_scan: bytes that may begin a descriptor
  std::string window_;  // stored_scan: hold_ + new input
  std::size_t name_extra_ = 0;
  unsigned flags_ = 0;
  unsigned method_ = 0;
  bool zip64_ = false;
  std::uint32_t expect_crc_ = 0;
  std::uint64_t expect_csize_ = 0;
  std::uint64_t expect_usize_ = 0;
  std::uint32_t crc_ = 0;
  std::uint64_t in_count_ = 0;
  std::uint64_t out_count_ = 0;
  unsigned file_entries_ = 0;
  std::uint64_t total_in_ = 0;
};

}  // namespace

std::unique_ptr<content_decoder> make_zip_decoder(inflate_backend backend) {
  return std::make_unique<zip_decoder>(backend);
}

std::unique_ptr<content_decoder> make_content_decoder(std::string_view format, inflate_backend backend) {
  std::string f(format);
  for (char& c : f) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (f == "csv") return make_identity_decoder();
  if (f == "gzip") return make_gzip_decoder(backend);
  if (f == "zip") return make_zip_decoder(backend);
  return nullptr;
}

}  // namespace aquaduct::decode

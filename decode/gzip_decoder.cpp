// gzip (RFC 1952): any number of concatenated members, as `gzip` itself
// accepts. Whatever follows a member must be another member: trailing
// garbage (even zeros) is corruption, never silently dropped.
#include "decode/content_decoder.hpp"
#include "decode/decode_error.hpp"
#include "decode/inflater.hpp"

namespace aquaduct::decode {

namespace {

class gzip_decoder final : public content_decoder {
 public:
  explicit gzip_decoder(inflate_backend backend) : inflater_(make_inflater(backend, inflate_wrapper::gzip)) {}

  decode_result put(std::string_view in, std::span<char> out, std::error_code& ec) override {
    ec.clear();
    if (!in_member_) {
      if (in.empty()) return {};  // between members nothing is buffered
      inflater_->reset();
      member_in_ = 0;
      in_member_ = true;
      seen_input_ = true;
    }
    // The fixed start of a member (magic, CM = deflate, no reserved FLG
    // bits) is checked here, byte by byte as it arrives: ISA-L judges a
    // header only once it has all of it, which would make the verdict on a
    // stray "\x1f?" after a member depend on the chunking.
    for (std::size_t k = 0; member_in_ + k < 4 && k < in.size(); ++k) {
      const auto byte = static_cast<unsigned char>(in[k]);
      const std::uint64_t at = member_in_ + k;
      const bool ok = at == 0 ? byte == 0x1f : at == 1 ? byte == 0x8b : at == 2 ? byte == 8 : (byte & 0xe0) == 0;
      if (!ok) {
        ec = errc::gzip_corrupt;
        return {};
      }
    }
    if (out.empty()) return {};
    const inflate_step s = inflater_->run(in, out);
    total_in_ += s.consumed;
    member_in_ += s.consumed;
    if (s.corrupt) ec = errc::gzip_corrupt;
    else if (s.stream_end) in_member_ = false;
    return {s.consumed, s.produced};
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

#include "decode/content_decoder.hpp"

#include <algorithm>
#include <cstring>

namespace aquaduct::decode {

namespace {

class identity_decoder final : public content_decoder {
 public:
  decode_result put(std::string_view in, std::span<char> out, std::error_code& ec) override {
    ec.clear();
    const std::size_t n = std::min(in.size(), out.size());
    if (n) std::memcpy(out.data(), in.data(), n);
    total_in_ += n;
    return {n, n};
  }
  void finish(std::error_code& ec) override { ec.clear(); }
  void reset() override { total_in_ = 0; }
  std::uint64_t total_in() const noexcept override { return total_in_; }

 private:
  std::uint64_t total_in_ = 0;
};

}  // namespace

std::unique_ptr<content_decoder> make_identity_decoder() { return std::make_unique<identity_decoder>(); }

}  // namespace aquaduct::decode

// Fuzz target: the HTTP response path (transport/response_parser, the llhttp
// glue) must never crash, must respect its header limits, and must give the
// same status, headers, body, completion and error whatever the chunking
// (differential oracle: one piece vs. pieces cut by the input's first byte).
// Input: byte 0 picks the chunk size, byte 1 the limits and whether EOF
// follows, the rest is the response bytes.
#include "transport/response_parser.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef AQUADUCT_FUZZ_ENTRY
#define AQUADUCT_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

namespace {

struct result {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool complete = false;
  bool keep_alive = false;
  std::size_t trailing = 0;
  bool failed = false;
};

result run(std::string_view in, std::size_t step, bool eof, aquaduct::transport::response_limits limits) {
  aquaduct::transport::response_parser p(limits);
  result r;
  p.set_body_callback([&](std::string_view piece) { r.body.append(piece); });
  std::error_code ec;
  for (std::size_t at = 0; at < in.size() && !ec; at += step) p.put(in.substr(at, step), ec);
  if (!ec && eof) p.finish(ec);
  r.failed = static_cast<bool>(ec);
  r.status = p.status();
  r.complete = p.message_complete();
  r.keep_alive = p.keep_alive();
  r.trailing = p.trailing_bytes();
  for (const auto& h : p.headers()) r.headers.emplace_back(h.name, h.value);
  if (p.headers().size() > limits.max_headers) std::abort();
  return r;
}

}  // namespace

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t step = 1 + data[0] % 64;
  const bool eof = (data[1] & 1) != 0;
  aquaduct::transport::response_limits limits;
  if (data[1] & 2) {
    limits.max_header_bytes = 16 + (data[1] >> 2) * 8;
    limits.max_headers = 1 + (data[1] >> 4);
  }
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  const result whole = run(in, in.empty() ? 1 : in.size(), eof, limits);
  const result split = run(in, step, eof, limits);
  // The header-bytes limit counts as bytes arrive, so only the outcome of a
  // success must agree exactly; a failure must fail both ways.
  if (whole.failed != split.failed) std::abort();
  if (!whole.failed) {
    if (whole.status != split.status || whole.headers != split.headers || whole.body != split.body ||
        whole.complete != split.complete || whole.keep_alive != split.keep_alive)
      std::abort();
    if (whole.complete && whole.trailing != split.trailing) std::abort();
  }
  return 0;
}

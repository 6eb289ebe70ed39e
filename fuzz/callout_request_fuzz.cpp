// Fuzz target: the callout listener's request path (engine/callout_request:
// llhttp in request mode under limits, then judge_callout) must never crash,
// must keep its limits, and must reach the same verdict whatever the
// chunking (differential oracle: one piece vs. pieces cut by the input's
// first byte). Input: byte 0 picks the chunk size, byte 1 the limits and
// whether EOF follows, the rest is the request bytes.
#include "engine/callout_request.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

#ifndef AQUADUCT_FUZZ_ENTRY
// The libFuzzer binary compiles the code under test itself (the rest of
// engine/ needs Asio coroutines, which clang 14 + asio 1.22 lack); the ctest
// replay (tests/engine) links it from aquaduct_engine instead.
#include "engine/callout_request.cpp"
#define AQUADUCT_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

namespace {

using aquaduct::engine_detail::callout_limits;
using aquaduct::engine_detail::request_reader;

struct outcome {
  request_reader::state state = request_reader::state::more;
  unsigned error_status = 0;
  std::string method, target;
  aquaduct::engine_detail::callout_verdict verdict;
};

outcome run(std::string_view in, std::size_t step, bool eof, const callout_limits& limits) {
  request_reader r(limits);
  outcome o;
  for (std::size_t at = 0; at < in.size() && o.state == request_reader::state::more; at += step)
    o.state = r.put(in.substr(at, step));
  if (eof) o.state = r.finish();
  o.error_status = r.error_status();
  if (o.state == request_reader::state::bad && o.error_status != 400 && o.error_status != 413 && o.error_status != 431)
    std::abort();
  if (o.state == request_reader::state::done) {
    o.method = std::string(r.method());
    o.target = r.target();
    if (o.target.size() > limits.max_header_bytes) std::abort();
    o.verdict = aquaduct::engine_detail::judge_callout(o.method, o.target, {"/callout", "/hooks/done"});
    if (o.verdict.status == 200 && o.verdict.job_id.empty()) std::abort();
    if (o.verdict.status != 200 && o.verdict.status != 400 && o.verdict.status != 404 && o.verdict.status != 405)
      std::abort();
    // The answer is always one well-formed status line.
    const std::string answer = aquaduct::engine_detail::http_answer(o.verdict.status, o.verdict.reason);
    if (answer.compare(0, 9, "HTTP/1.1 ") != 0) std::abort();
  }
  return o;
}

}  // namespace

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t step = 1 + data[0] % 64;
  const bool eof = (data[1] & 1) != 0;
  callout_limits limits;
  if (data[1] & 2) {
    limits.max_header_bytes = 16 + (data[1] >> 2) * 8;
    limits.max_body_bytes = (data[1] >> 4) * 4;
  }
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  const outcome whole = run(in, in.empty() ? 1 : in.size(), eof, limits);
  const outcome split = run(in, step, eof, limits);
  // The header limit counts bytes as llhttp hands them over, so a request
  // that is both too large and malformed may be refused for either reason:
  // only a success must agree exactly.
  if (whole.state != split.state) std::abort();
  if (whole.state == request_reader::state::done &&
      (whole.method != split.method || whole.target != split.target || whole.verdict.status != split.verdict.status ||
       whole.verdict.job_id != split.verdict.job_id || whole.verdict.status_text != split.verdict.status_text))
    std::abort();
  return 0;
}

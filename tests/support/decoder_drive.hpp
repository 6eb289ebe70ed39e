#pragma once
// Driving a content decoder as result_pipeline does: input cut anywhere, a
// small output buffer, the flush calls, finish().
#include "decode/content_decoder.hpp"

#include <doctest/doctest.h>

#include <string>
#include <system_error>
#include <vector>

namespace aquaduct::test {

struct outcome {
  std::string out;
  std::error_code ec;
};

// Feeds `in` cut at `cuts` (ascending offsets) through an output buffer of
// `out_size`, drains, and finishes. Every put must make progress.
inline outcome decode_cuts(decode::content_decoder& d, const std::string& in, std::vector<std::size_t> cuts, std::size_t out_size) {
  d.reset();
  outcome o;
  std::vector<char> buf(out_size);
  cuts.push_back(in.size());
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    std::string_view chunk = std::string_view(in).substr(at, cut - at);
    at = cut;
    while (!chunk.empty()) {
      const auto r = d.put(chunk, buf, o.ec);
      o.out.append(buf.data(), r.produced);
      if (o.ec) return o;
      REQUIRE((r.consumed != 0 || r.produced != 0));  // progress, or the caller would spin
      chunk.remove_prefix(r.consumed);
    }
  }
  for (;;) {
    const auto r = d.put({}, buf, o.ec);
    o.out.append(buf.data(), r.produced);
    if (o.ec || r.produced == 0) break;
  }
  if (!o.ec) d.finish(o.ec);
  return o;
}

// Pieces of `piece` bytes.
inline outcome decode(decode::content_decoder& d, const std::string& in, std::size_t piece, std::size_t out_size) {
  std::vector<std::size_t> cuts;
  for (std::size_t at = piece; at < in.size(); at += piece) cuts.push_back(at);
  return decode_cuts(d, in, std::move(cuts), out_size);
}

}  // namespace aquaduct::test

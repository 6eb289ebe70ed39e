#include "decode/content_decoder.hpp"

#include "decode/decode_error.hpp"
#include "support/gzip_bytes.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace aquaduct::decode;
using aquaduct::test::gzip_bytes;

namespace {

struct outcome {
  std::string out;
  std::error_code ec;
};

// Feeds `in` cut at `cuts` (ascending offsets) through an output buffer of
// `out_size`, drains, and finishes. Every put must make progress.
outcome decode_cuts(content_decoder& d, const std::string& in, std::vector<std::size_t> cuts, std::size_t out_size) {
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
outcome decode(content_decoder& d, const std::string& in, std::size_t piece, std::size_t out_size) {
  std::vector<std::size_t> cuts;
  for (std::size_t at = piece; at < in.size(); at += piece) cuts.push_back(at);
  return decode_cuts(d, in, std::move(cuts), out_size);
}

std::string sample_text(std::size_t n) {
  std::mt19937 rng(7);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += "Id,Name,Balance\n"[rng() % 16];
  return s;
}

}  // namespace

TEST_CASE("gzip round trip at every input split, with a one-byte output buffer too") {
  const std::string text = sample_text(300);
  const std::string gz = gzip_bytes(text);
  auto d = make_gzip_decoder();
  for (std::size_t piece = 1; piece <= gz.size(); ++piece) {
    CAPTURE(piece);
    const outcome o = decode(*d, gz, piece, 64);
    REQUIRE_FALSE(o.ec);
    CHECK(o.out == text);
  }
  const outcome tiny = decode(*d, gz, 3, 1);
  REQUIRE_FALSE(tiny.ec);
  CHECK(tiny.out == text);
  CHECK(d->total_in() == gz.size());
}

TEST_CASE("two concatenated members decode as one stream") {
  const std::string a = sample_text(500), b = "second member\n";
  const std::string gz = gzip_bytes(a) + gzip_bytes(b);
  auto d = make_gzip_decoder();
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, gz.size()}) {
    const outcome o = decode(*d, gz, piece, 100);
    REQUIRE_FALSE(o.ec);
    CHECK(o.out == a + b);
  }
}

TEST_CASE("a stream cut at any point is an error, never a short success") {
  const std::string gz = gzip_bytes(sample_text(400));
  auto d = make_gzip_decoder();
  for (std::size_t len = 0; len < gz.size(); ++len) {
    CAPTURE(len);
    const outcome o = decode(*d, gz.substr(0, len), 5, 64);
    CHECK(o.ec == errc::gzip_truncated);
  }
}

TEST_CASE("corruption is detected: flipped bytes, trailing garbage, not gzip at all") {
  const std::string text = sample_text(400);
  const std::string gz = gzip_bytes(text);
  auto d = make_gzip_decoder();
  // Every byte flipped in turn: the header, the deflate data, the CRC or the
  // length must catch it (or, for a few header bytes such as MTIME/OS, the
  // output is still exactly right).
  for (std::size_t i = 0; i < gz.size(); ++i) {
    std::string bad = gz;
    bad[i] = static_cast<char>(bad[i] ^ 0x55);
    const outcome o = decode(*d, bad, 16, 64);
    CAPTURE(i);
    CHECK((o.ec || o.out == text));
  }
  CHECK(decode(*d, gz + std::string(4, '\0'), 16, 64).ec == errc::gzip_corrupt);
  CHECK(decode(*d, "Id,Name\n1,a\n", 16, 64).ec == errc::gzip_corrupt);
  CHECK(decode(*d, "", 16, 64).ec == errc::gzip_truncated);
}

TEST_CASE("identity passes bytes through, limited by the output buffer") {
  auto d = make_identity_decoder();
  const outcome o = decode(*d, "hello world", 4, 3);
  REQUIRE_FALSE(o.ec);
  CHECK(o.out == "hello world");
}

namespace {

// Two pieces cut at `cut`.
outcome decode_split(content_decoder& d, const std::string& in, std::size_t cut, std::size_t out_size) {
  return decode_cuts(d, in, {cut}, out_size);
}

}  // namespace

TEST_CASE("gzip at every split point into a one-byte output buffer, one and two members") {
  const std::string a = sample_text(120), b = "second\n";
  auto d = make_gzip_decoder();
  for (const auto& [gz, text] : {std::pair{gzip_bytes(a), a}, std::pair{gzip_bytes(a) + gzip_bytes(b), a + b}}) {
    for (std::size_t cut = 0; cut <= gz.size(); ++cut) {
      CAPTURE(cut);
      const outcome o = decode_split(*d, gz, cut, 1);
      REQUIRE_FALSE(o.ec);
      CHECK(o.out == text);
      CHECK(d->total_in() == gz.size());
    }
  }
}

TEST_CASE("a wrong CRC32 or ISIZE in the trailer is gzip_corrupt, not success") {
  const std::string text = sample_text(200);
  const std::string gz = gzip_bytes(text);
  auto d = make_gzip_decoder();
  // The trailer is CRC32 then ISIZE, four bytes each, little-endian.
  for (std::size_t i = gz.size() - 8; i < gz.size(); ++i) {
    CAPTURE(i);
    std::string bad = gz;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    CHECK(decode(*d, bad, 16, 64).ec == errc::gzip_corrupt);
  }
  // The same in the second member of two.
  std::string two = gz + gz;
  two[two.size() - 6] = static_cast<char>(two[two.size() - 6] ^ 0x01);
  CHECK(decode(*d, two, 7, 64).ec == errc::gzip_corrupt);
}

TEST_CASE("a second member cut anywhere is truncated; garbage after a member is corrupt") {
  const std::string first = gzip_bytes("first\n"), second = gzip_bytes(sample_text(100));
  auto d = make_gzip_decoder();
  for (std::size_t len = 1; len < second.size(); ++len) {
    CAPTURE(len);
    CHECK(decode(*d, first + second.substr(0, len), 5, 64).ec == errc::gzip_truncated);
  }
  CHECK(decode(*d, first + "\x1f", 5, 64).ec == errc::gzip_truncated);
  CHECK(decode(*d, first + "\x1f\x8c", 5, 64).ec == errc::gzip_corrupt);  // wrong magic
  CHECK(decode(*d, first + "x", 5, 64).ec == errc::gzip_corrupt);
  CHECK(decode(*d, first + std::string(1, '\0'), 5, 64).ec == errc::gzip_corrupt);  // one NUL of padding
  CHECK(decode(*d, "x", 5, 64).ec == errc::gzip_corrupt);
}

TEST_CASE("the decoder is reusable after an error") {
  auto d = make_gzip_decoder();
  CHECK(decode(*d, "not gzip at all", 4, 64).ec == errc::gzip_corrupt);
  const outcome o = decode(*d, gzip_bytes("fine\n"), 4, 64);
  REQUIRE_FALSE(o.ec);
  CHECK(o.out == "fine\n");
}

// The content decoders: identity, gzip (both inflate backends) and zip.
#include "decode/content_decoder.hpp"

#include "decode/decode_error.hpp"
#include <algorithm>  // temp_dir.hpp sorts

#include "fuzz/fuzz_support.hpp"
#include "support/csv_table.hpp"
#include "support/decoder_drive.hpp"
#include "support/gzip_bytes.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>

using namespace aquaduct::decode;
using aquaduct::test::gzip_bytes;
using aquaduct::test::decode;
using aquaduct::test::decode_cuts;
using aquaduct::test::outcome;

namespace {

// Each test that calls this runs once per backend (doctest subcases).
inflate_backend each_backend() {
  inflate_backend b = inflate_backend::zlib;
  SUBCASE("zlib") { b = inflate_backend::zlib; }
  SUBCASE("isa-l") { b = inflate_backend::isal; }
  return b;
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
  auto d = make_gzip_decoder(each_backend());
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
  auto d = make_gzip_decoder(each_backend());
  for (std::size_t piece = 1; piece <= gz.size(); piece += 1 + piece / 8) {
    for (std::size_t out_size : {std::size_t{100}, std::size_t{1} << 16}) {
      CAPTURE(piece);
      CAPTURE(out_size);
      const outcome o = decode(*d, gz, piece, out_size);
      REQUIRE_FALSE(o.ec);
      CHECK(o.out == a + b);
    }
  }
}

TEST_CASE("a stream cut at any point is an error, never a short success") {
  const std::string gz = gzip_bytes(sample_text(400));
  auto d = make_gzip_decoder(each_backend());
  for (std::size_t len = 0; len < gz.size(); ++len) {
    CAPTURE(len);
    const outcome o = decode(*d, gz.substr(0, len), 5, 64);
    CHECK(o.ec == errc::gzip_truncated);
  }
}

TEST_CASE("corruption is detected: flipped bytes, trailing garbage, not gzip at all") {
  const std::string text = sample_text(400);
  const std::string gz = gzip_bytes(text);
  auto d = make_gzip_decoder(each_backend());
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
  auto d = make_gzip_decoder(each_backend());
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
  auto d = make_gzip_decoder(each_backend());
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
  auto d = make_gzip_decoder(each_backend());
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

// A gzip member written by hand with every optional header field: FEXTRA,
// FNAME, FCOMMENT and FHCRC (the low 16 bits of the header's CRC-32).
std::string gzip_with_header_fields(const std::string& text, bool good_hcrc) {
  std::string h = std::string("\x1f\x8b\x08", 3) + static_cast<char>(2 | 4 | 8 | 16) + std::string(6, '\0');
  h += aquaduct::fuzz::le_bytes(5, 2) + "extra";
  h += std::string("name.csv") + '\0' + std::string("a comment") + '\0';
  const auto crc = static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(h.data()), static_cast<uInt>(h.size())));
  h += aquaduct::fuzz::le_bytes(good_hcrc ? (crc & 0xffff) : ((crc & 0xffff) ^ 1), 2);
  const auto data_crc = crc32(0, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(text.size()));
  return h + aquaduct::fuzz::deflate_bytes(text) + aquaduct::fuzz::le_bytes(data_crc, 4) +
         aquaduct::fuzz::le_bytes(text.size(), 4);
}

TEST_CASE("optional header fields and the header CRC: the same verdict at every split, on both backends") {
  const std::string text = sample_text(50);
  auto d = make_gzip_decoder(each_backend());
  const std::string good = gzip_with_header_fields(text, true), bad = gzip_with_header_fields(text, false);
  for (std::size_t cut = 0; cut <= good.size(); ++cut) {
    CAPTURE(cut);
    const outcome o = decode_split(*d, good, cut, 7);
    REQUIRE_FALSE(o.ec);
    CHECK(o.out == text);
    CHECK(decode_split(*d, bad, cut, 7).ec == errc::gzip_corrupt);
  }
  for (std::size_t piece = 1; piece <= 5; ++piece) CHECK(decode(*d, bad, piece, 3).ec == errc::gzip_corrupt);
  // Cut inside the header, before its CRC: truncated, whatever the pieces.
  for (std::size_t len = 1; len < 40; ++len) {
    CAPTURE(len);
    CHECK(decode(*d, good.substr(0, len), 1 + len % 4, 3).ec == errc::gzip_truncated);
  }
}

TEST_CASE("the decoder is reusable after an error") {
  auto d = make_gzip_decoder(each_backend());
  CHECK(decode(*d, "not gzip at all", 4, 64).ec == errc::gzip_corrupt);
  const outcome o = decode(*d, gzip_bytes("fine\n"), 4, 64);
  REQUIRE_FALSE(o.ec);
  CHECK(o.out == "fine\n");
}

TEST_CASE("automatic picks ISA-L where the CPU supports it, zlib elsewhere") {
  CHECK(std::string(to_string(inflate_backend::automatic)) == (isal_supported() ? "isa-l" : "zlib"));
  CHECK(std::string(to_string(inflate_backend::zlib)) == "zlib");
  CHECK(make_content_decoder("GZIP") != nullptr);
  CHECK(make_content_decoder("zip") != nullptr);
  CHECK(make_content_decoder("csv") != nullptr);
  CHECK(make_content_decoder("tar") == nullptr);
}

// ---- zip ----------------------------------------------------------------

namespace {

using aquaduct::test::read_file;
using aquaduct::test::temp_dir;

// Runs a shell command in `dir`; the test fails if it does.
void shell(const temp_dir& dir, const std::string& cmd) {
  const std::string full = "cd '" + dir.path().string() + "' && " + cmd;
  REQUIRE_MESSAGE(std::system(full.c_str()) == 0, full);
}

void write_file(const temp_dir& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir.path() / name, std::ios::binary) << bytes;
}

// A CSV-like text with every byte value a zip could trip on, including a fake descriptor signature.
std::string zip_payload(std::size_t n) {
  std::string s = sample_text(n);
  s.insert(s.size() / 2, std::string("PK\x07\x08\0\0\0\0", 8));
  return s;
}

}  // namespace

TEST_CASE("zip archives written by Info-ZIP decode at many splits: stored, deflated, Zip64, streamed with descriptors") {
  const inflate_backend backend = each_backend();
  temp_dir dir;
  const std::string text = zip_payload(20000);
  write_file(dir, "q.csv", text);
  // `zip - -` reads stdin and, writing to a pipe, cannot seek back: it emits
  // data descriptors (and Zip64 unless -fz- says no).
  shell(dir, "zip -q -0 stored.zip q.csv && zip -q -6 deflated.zip q.csv && zip -q -fz z64.zip q.csv && "
             "cat q.csv | zip -q - - | cat > piped.zip && cat q.csv | zip -q -fz- - - | cat > piped32.zip");
  auto d = make_zip_decoder(backend);
  for (const std::string name : {"stored.zip", "deflated.zip", "z64.zip", "piped.zip", "piped32.zip"}) {
    const std::string zip = read_file((dir.path() / name).string());
    for (std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{61}, std::size_t{4096}, zip.size()}) {
      CAPTURE(name);
      CAPTURE(piece);
      const outcome o = decode(*d, zip, piece, piece == 1 ? 7 : 1000);
      REQUIRE_FALSE(o.ec);
      CHECK(o.out == text);
      CHECK(d->total_in() == zip.size());
    }
  }
  // Data descriptors really are there in the piped archives (flag bit 3).
  const std::string piped = read_file((dir.path() / "piped.zip").string());
  CHECK((static_cast<unsigned char>(piped[6]) & 8) != 0);
}

TEST_CASE("a stored entry with a data descriptor ends at the descriptor that matches, not at a lookalike") {
  const inflate_backend backend = each_backend();
  const std::string text = zip_payload(3000);
  auto d = make_zip_decoder(backend);
  for (bool zip64 : {false, true}) {
    const std::string zip = aquaduct::fuzz::zip_bytes("q.csv", text, {.deflated = false, .descriptor = true, .zip64 = zip64});
    for (std::size_t cut = 0; cut <= zip.size(); cut += 1 + cut / 50) {
      CAPTURE(zip64);
      CAPTURE(cut);
      const outcome o = decode_cuts(*d, zip, {cut}, 64);
      REQUIRE_FALSE(o.ec);
      CHECK(o.out == text);
    }
    // Without the descriptor the entry never ends.
    CHECK(decode(*d, zip.substr(0, zip.find("PK\x01\x02") - (zip64 ? 24 : 16)), 100, 64).ec == errc::zip_truncated);
  }
}

TEST_CASE("zip: a Zip64 size past 2^63 is corrupt, even where a data descriptor makes it unused") {
  // Found by the zip fuzz target's libarchive oracle, which refuses it ("Malformed 64-bit uncompressed size").
  const inflate_backend backend = each_backend();
  const std::string text = zip_payload(300);
  auto d = make_zip_decoder(backend);
  for (const bool descriptor : {false, true}) {
    CAPTURE(descriptor);
    std::string zip = aquaduct::fuzz::zip_bytes("q.csv", text, {.deflated = true, .descriptor = descriptor, .zip64 = true});
    REQUIRE_FALSE(decode(*d, zip, 4096, 4096).ec);
    zip[30 + 5 + 4 + 7] = '\x80';  // the extra field's uncompressed size, top byte
    CHECK(decode(*d, zip, 4096, 4096).ec == errc::zip_corrupt);
  }
}

TEST_CASE("zip: a cut archive is truncated, damage is corrupt, unsupported features are named") {
  const inflate_backend backend = each_backend();
  temp_dir dir;
  const std::string text = zip_payload(3000);
  write_file(dir, "q.csv", text);
  write_file(dir, "r.csv", "other\n");
  shell(dir, "zip -q -6 one.zip q.csv && cat q.csv | zip -q - - | cat > piped.zip && zip -q two.zip q.csv r.csv && "
             "zip -q -P secret enc.zip q.csv && mkdir sub && cp q.csv sub/ && zip -q -r dir.zip sub");
  auto d = make_zip_decoder(backend);
  for (const std::string name : {"one.zip", "piped.zip"}) {
    const std::string zip = read_file((dir.path() / name).string());
    // Everything before the central directory is needed.
    const std::size_t central = zip.find("PK\x01\x02");
    REQUIRE(central != std::string::npos);
    for (std::size_t len = 0; len < central; ++len) {
      CAPTURE(name);
      CAPTURE(len);
      const outcome o = decode(*d, zip.substr(0, len), 17, 256);
      CHECK((o.ec == errc::zip_truncated || o.ec == errc::zip_corrupt));
      CHECK(o.ec == errc::zip_truncated);
    }
    // Any flipped byte of header, data or descriptor is caught (or, for
    // bytes nothing depends on such as times and versions, harmless).
    for (std::size_t i = 0; i < central; ++i) {
      std::string bad = zip;
      bad[i] = static_cast<char>(bad[i] ^ 0x21);
      const outcome o = decode(*d, bad, 64, 256);
      CAPTURE(name);
      CAPTURE(i);
      CHECK((o.ec || o.out == text));
    }
  }
  // A wrong CRC in the local header of a plain archive.
  std::string bad_crc = read_file((dir.path() / "one.zip").string());
  bad_crc[14] = static_cast<char>(bad_crc[14] ^ 1);
  CHECK(decode(*d, bad_crc, 100, 256).ec == errc::zip_corrupt);
  CHECK(decode(*d, read_file((dir.path() / "two.zip").string()), 100, 256).ec == errc::zip_unsupported);
  CHECK(decode(*d, read_file((dir.path() / "enc.zip").string()), 100, 256).ec == errc::zip_unsupported);
  CHECK(decode(*d, "Id,Name\n1,a\n", 100, 256).ec == errc::zip_corrupt);
  CHECK(decode(*d, "", 100, 256).ec == errc::zip_truncated);
  // A directory entry before the file is skipped.
  const outcome with_dir = decode(*d, read_file((dir.path() / "dir.zip").string()), 100, 256);
  REQUIRE_FALSE(with_dir.ec);
  CHECK(with_dir.out == text);
  // Reusable after an error.
  const outcome again = decode(*d, read_file((dir.path() / "one.zip").string()), 100, 256);
  REQUIRE_FALSE(again.ec);
  CHECK(again.out == text);
}

// Runs the fuzz targets' bodies on a few thousand deterministic inputs:
// random bytes drawn from CSV-ish and binary alphabets, and mutations of
// valid CSV and valid gzip. A target that finds a problem aborts.
#include "support/gzip_bytes.hpp"

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

extern "C" int fuzz_csv_parser(const std::uint8_t* data, std::size_t size);
extern "C" int fuzz_gzip_decoder(const std::uint8_t* data, std::size_t size);

namespace {

std::string random_text(std::mt19937_64& rng, std::size_t n, std::string_view alphabet) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
  return s;
}

std::string mutate(std::mt19937_64& rng, std::string s) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const std::size_t at = rng() % s.size();
    switch (rng() % 3) {
      case 0: s[at] = static_cast<char>(rng()); break;
      case 1: s.erase(at, 1 + rng() % 3); break;
      default: s.insert(at, 1, static_cast<char>(rng())); break;
    }
  }
  return s;
}

// `head` is the targets' control prefix (chunking, limits), then the body.
int call(int (*fn)(const std::uint8_t*, std::size_t), const std::string& head, const std::string& body) {
  std::string in = head + body;
  return fn(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
}

}  // namespace

int main() {
  std::mt19937_64 rng(1123);
  const std::string csv_alphabet = std::string("ab,\"\r\n \xEF\xBB\xBF", 11) + std::string(1, '\0');
  const std::string valid = "Id,Name,Notes\n1,\"Smith, J\",\"a\"\"b\nc\"\r\n2,x,\n,,\n";
  const std::string gz = aquaduct::test::gzip_bytes(valid) + aquaduct::test::gzip_bytes("second\n");
  int runs = 0;
  for (int i = 0; i < 3000; ++i) {
    // The CSV target reads two control bytes; the second picks the limits.
    const std::string head = {static_cast<char>(rng()), static_cast<char>(rng())};
    call(fuzz_csv_parser, head, random_text(rng, rng() % 200, csv_alphabet));
    call(fuzz_csv_parser, head, mutate(rng, valid));
    call(fuzz_gzip_decoder, head.substr(0, 1), mutate(rng, gz));
    call(fuzz_gzip_decoder, head.substr(0, 1), random_text(rng, rng() % 100, csv_alphabet));
    runs += 4;
  }
  std::printf("fuzz_replay: %d passed, 0 failed\n", runs);
  return 0;
}

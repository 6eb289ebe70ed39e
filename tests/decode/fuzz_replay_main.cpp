// Runs the fuzz targets' bodies on deterministic inputs in every ctest run
// (and every sanitizer run): each target's seeds (fuzz/seeds.hpp), mutations
// of them, and random bytes from CSV-ish and binary alphabets. A target that
// finds a problem aborts.
#include "fuzz/seeds.hpp"

#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>

extern "C" int fuzz_csv_parser(const std::uint8_t* data, std::size_t size);
extern "C" int fuzz_gzip_decoder(const std::uint8_t* data, std::size_t size);
extern "C" int fuzz_zip_decoder(const std::uint8_t* data, std::size_t size);
extern "C" int fuzz_aqua_json(const std::uint8_t* data, std::size_t size);
extern "C" int fuzz_batch_results(const std::uint8_t* data, std::size_t size);

namespace {

using entry = int (*)(const std::uint8_t*, std::size_t);

std::string random_text(std::mt19937_64& rng, std::size_t n, std::string_view alphabet) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
  return s;
}

// A few byte flips, deletions, insertions and duplications of a slice.
std::string mutate(std::mt19937_64& rng, std::string s) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const std::size_t at = rng() % s.size();
    switch (rng() % 4) {
      case 0: s[at] = static_cast<char>(rng()); break;
      case 1: s.erase(at, 1 + rng() % 3); break;
      case 2: s.insert(at, 1, static_cast<char>(rng())); break;
      default: s.insert(at, s.substr(rng() % s.size(), 1 + rng() % 16)); break;
    }
  }
  return s;
}

int call(entry fn, const std::string& in) { return fn(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()); }

}  // namespace

int main() {
  const std::map<std::string, entry> targets = {{"csv_parser", fuzz_csv_parser},
                                                {"gzip_decoder", fuzz_gzip_decoder},
                                                {"zip_decoder", fuzz_zip_decoder},
                                                {"aqua_json", fuzz_aqua_json},
                                                {"batch_results", fuzz_batch_results}};
  std::string alphabet = "ab,\"\r\n {}[]:<>/&;PK\x03\x04\x07\x08\x1f\x8b\xEF\xBB\xBF";
  alphabet += std::string(1, '\0');
  std::mt19937_64 rng(1123);
  int runs = 0;
  for (const auto& [name, inputs] : aquaduct::fuzz::seeds()) {
    const entry fn = targets.at(name);
    for (const std::string& seed : inputs) {
      call(fn, seed);
      ++runs;
      for (int i = 0; i < 600; ++i) {
        call(fn, mutate(rng, seed));
        call(fn, random_text(rng, rng() % 200, alphabet));
        runs += 2;
      }
    }
  }
  std::printf("fuzz_replay: %d inputs through %zu targets, no finding\n", runs, targets.size());
  return 0;
}

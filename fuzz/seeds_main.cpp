// fuzz_seeds DIR: writes every target's seeds (fuzz/seeds.hpp) to DIR/<target>/seed-<n>,
// the starting corpus of the libFuzzer smoke.
#include "fuzz/seeds.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds DIR\n";
    return 2;
  }
  for (const auto& [target, inputs] : aquaduct::fuzz::seeds()) {
    const std::filesystem::path dir = std::filesystem::path(argv[1]) / target;
    std::filesystem::create_directories(dir);
    for (std::size_t i = 0; i < inputs.size(); ++i)
      std::ofstream(dir / ("seed-" + std::to_string(i)), std::ios::binary) << inputs[i];
  }
  return 0;
}

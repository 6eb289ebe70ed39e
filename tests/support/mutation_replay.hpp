#pragma once
// Replays a fuzz target's body on deterministic inputs in every ctest run:
// each input is two random bytes (the targets read them as chunking choices)
// followed by one of `seeds`, changed by up to three random byte edits.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace aquaduct::test {

template <class Target>
int replay_mutations(const std::vector<std::string>& seeds, std::uint64_t seed, int runs, Target&& target) {
  std::mt19937_64 rng(seed);
  int done = 0;
  for (int i = 0; i < runs; ++i) {
    std::string in(2, '\0');
    in[0] = static_cast<char>(rng());
    in[1] = static_cast<char>(rng());
    std::string body = seeds[rng() % seeds.size()];
    for (int e = 0, edits = static_cast<int>(rng() % 4); e < edits && !body.empty(); ++e) {
      const std::size_t at = rng() % body.size();
      switch (rng() % 3) {
        case 0: body[at] = static_cast<char>(rng()); break;
        case 1: body.erase(at, 1 + rng() % 3); break;
        default: body.insert(at, 1, static_cast<char>(rng())); break;
      }
    }
    in += body;
    target(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
    ++done;
  }
  return done;
}

}  // namespace aquaduct::test

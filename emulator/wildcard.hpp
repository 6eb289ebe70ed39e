#pragma once
// One wildcard matcher for the emulator: ZOQL `like` ('%' any run, '_' one
// byte) and fault path globs ('*', '?'). Byte-wise, case-sensitive, linear
// backtracking on the last `many`.
#include <string_view>

namespace aquaduct::emulator {

inline bool wildcard_match(std::string_view pattern, std::string_view text, char many, char one) {
  std::size_t p = 0, t = 0;
  std::size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] != many && (pattern[p] == one || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == many) {
      star_p = p++;
      star_t = t;
    } else if (star_p != std::string_view::npos) {
      p = star_p + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == many) ++p;
  return p == pattern.size();
}

}  // namespace aquaduct::emulator

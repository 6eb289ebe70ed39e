#pragma once
// ASCII case helpers for protocol tokens (header values, enum-like fields).
#include <string>
#include <string_view>

namespace aquaduct::emulator {

inline std::string ascii_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return r;
}

inline std::string ascii_upper(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return r;
}

}  // namespace aquaduct::emulator

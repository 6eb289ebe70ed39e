#pragma once
// JSON text, one way for every client module (decode, sinks, engine, tap):
// escaping a string (invalid UTF-8 becomes U+FFFD, one per maximal invalid
// sequence, so the output is always valid JSON), quoting one, and RFC 8259's
// number grammar. Header-only; includes nothing of ours. The emulator keeps
// its own copy on purpose (emulator/json_writer.hpp): it stays an
// independent judge of what the client writes and reads.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace aquaduct::text {

// Bytes out per byte in, at most (a control character: \u00XX).
inline constexpr std::size_t json_escaped_max = 6;

namespace detail {


// 0: copy; 1: needs an escape; 2: start of a multi-byte (or invalid) UTF-8 sequence.
constexpr std::array<std::uint8_t, 256> make_json_class() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c) t[static_cast<std::size_t>(c)] = 2;
  return t;
}
inline constexpr auto json_class = make_json_class();

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid.
inline std::size_t utf8_length(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto cont = [&](std::size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(i);
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    const unsigned char c1 = b(i + 1);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) return 0;  // overlong, surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    const unsigned char c1 = b(i + 1);
    if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return 0;  // overlong, > U+10FFFF
    return 4;
  }
  return 0;
}

// Whether any of the 8 bytes in `x` is a control character, '"', '\\' or
// non-ASCII: the bytes append_json_escaped must look at one by one.
inline bool any_special(std::uint64_t x) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t highs = 0x8080808080808080ull;
  const auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
  return ((x - ones * 0x20) & ~x & highs) | (x & highs) | has_zero(x ^ (ones * '"')) | has_zero(x ^ (ones * '\\'));
}

}  // namespace detail

inline char* write_json_escaped(char* p, std::string_view s) noexcept {
  const auto put = [&p](const char* from, std::size_t n) {
    std::memcpy(p, from, n);
    p += n;
  };
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size();) {
    // Plain ASCII runs, 8 bytes at a time.
    while (i + 8 <= s.size()) {
      std::uint64_t x;
      std::memcpy(&x, s.data() + i, 8);
      if (detail::any_special(x)) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::uint8_t k = detail::json_class[c];
    if (k == 0) {
      ++i;
      continue;
    }
    put(s.data() + start, i - start);
    if (k == 2) {
      const std::size_t n = detail::utf8_length(s, i);
      if (n) {
        put(s.data() + i, n);
        i += n;
      } else {
        put("\xEF\xBF\xBD", 3);  // U+FFFD; skip the continuation bytes of the broken sequence
        ++i;
        while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
      }
    } else {
      switch (c) {
        case '"': put("\\\"", 2); break;
        case '\\': put("\\\\", 2); break;
        case '\n': put("\\n", 2); break;
        case '\r': put("\\r", 2); break;
        case '\t': put("\\t", 2); break;
        default: {
          static constexpr char hex[] = "0123456789abcdef";
          const char esc[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
          put(esc, sizeof esc);
        }
      }
      ++i;
    }
    start = i;
  }
  put(s.data() + start, s.size() - start);
  return p;
}

inline void append_json_escaped(std::string& out, std::string_view s) {
  const std::size_t at = out.size();
  out.resize(at + json_escaped_max * s.size());
  out.resize(static_cast<std::size_t>(write_json_escaped(out.data() + at, s) - out.data()));
}

// `s` as a JSON string literal, quotes included.
inline std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  append_json_escaped(out, s);
  out += '"';
  return out;
}

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
inline bool is_json_number(std::string_view s) noexcept {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

}  // namespace aquaduct::text

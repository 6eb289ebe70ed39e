#include "emulator/http_util.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <zlib.h>

#include "emulator/ascii.hpp"

namespace aquaduct::emulator {

bool base64_decode(std::string_view in, std::string& out) {
  const auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  out.clear();
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = val(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xffu);
    }
  }
  return true;
}

namespace {

int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_val(s[i + 1]) >= 0 && hex_val(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_val(s[i + 1]) * 16 + hex_val(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_form(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos)
      out[url_decode(pair.substr(0, eq), true)] = url_decode(pair.substr(eq + 1), true);
    else if (!pair.empty())
      out[url_decode(pair, true)] = "";
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return out;
}

bool accepts(const std::string* value, std::string_view token) {
  if (value == nullptr) return false;
  std::string_view v = *value;
  while (!v.empty()) {
    const auto comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const auto semi = item.find(';');
    std::string_view name = item.substr(0, semi);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (ascii_lower(name) == token) {
      if (semi == std::string_view::npos) return true;
      const std::string params = ascii_lower(item.substr(semi));
      const auto q = params.find("q=");
      if (q == std::string::npos) return true;
      // q=0, q=0.0, q=0.000: refused; any non-zero digit: accepted.
      const std::string_view qv = std::string_view(params).substr(q + 2);
      for (char c : qv) {
        if (c >= '1' && c <= '9') return true;
        if (c != '0' && c != '.') break;
      }
      return false;
    }
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return false;
}

int gunzip_body(std::string_view in, std::size_t limit, std::string& out, std::string& error) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) {
    error = "cannot initialise zlib";
    return 500;
  }
  out.clear();
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > limit) {
      inflateEnd(&zs);
      error = fmt::format("request body too large after gzip decoding (limit {} bytes)", limit);
      return 413;
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      rc = Z_BUF_ERROR;
      break;
    }
  }
  const std::uint64_t at = zs.total_in;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    error = fmt::format("the gzip request body is corrupt or truncated at compressed byte {}", at);
    return 400;
  }
  return 0;
}

range_result parse_range(std::string_view rv, std::uint64_t size, std::uint64_t& first, std::uint64_t& last) {
  if (rv.substr(0, 6) != "bytes=" || rv.find(',') != std::string_view::npos) return range_result::ignore;
  const std::string_view spec = rv.substr(6);
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return range_result::ignore;
  const auto num = [](std::string_view s, std::uint64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
  };
  std::uint64_t a = 0, b = 0;
  if (dash == 0) {  // suffix: the last b bytes
    if (!num(spec.substr(1), b)) return range_result::ignore;
    if (b == 0 || size == 0) return range_result::unsatisfiable;
    first = b >= size ? 0 : size - b;
    last = size - 1;
    return range_result::ok;
  }
  if (!num(spec.substr(0, dash), a)) return range_result::ignore;
  if (dash + 1 < spec.size()) {
    if (!num(spec.substr(dash + 1), b) || b < a) return range_result::ignore;
  } else {
    b = UINT64_MAX;
  }
  if (a >= size) return range_result::unsatisfiable;
  first = a;
  last = std::min<std::uint64_t>(b, size - 1);
  return range_result::ok;
}

std::string header_safe(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\') c = '_';
  return out;
}

}  // namespace aquaduct::emulator

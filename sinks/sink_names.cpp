#include "sinks/sink_names.hpp"

#include <cstdint>
#include <cstdio>

namespace aquaduct::sinks {

std::string safe_file_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f || c == '/' || c == '\\') ? '_' : c;
  }
  if (out.size() > 200) {
    out.resize(200);
    // Do not cut a UTF-8 sequence in half.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
  }
  if (out.empty()) return "_";
  // No "..", no hidden files, no trailing dot: a dot never starts the name,
  // never follows another dot and never ends it.
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i] == '.' && (i == 0 || out[i - 1] == '.' || i + 1 == out.size())) out[i] = '_';
  return out;
}

std::string safe_sql_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '_' : c;
  }
  if (out.empty()) return "_";
  if (out.size() <= 63) return out;
  std::uint32_t h = 2166136261u;  // FNV-1a over the original name
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  out.resize(54);
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
  if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%08x", h);
  return out + suffix;
}

std::string table_name(std::string_view job, std::string_view query) {
  std::string joined(job);
  joined += "__";
  joined += query;
  return safe_sql_name(joined);
}

std::string quote_ident(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace aquaduct::sinks

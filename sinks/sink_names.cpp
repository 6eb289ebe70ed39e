#include "sinks/sink_names.hpp"

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

}  // namespace aquaduct::sinks

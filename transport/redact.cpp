#include "transport/redact.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace aquaduct::transport {

namespace {

// Keys whose value is a secret, matched case-insensitively, followed by one
// of ':', '=', or '":' (JSON) and optional spaces/quotes.
constexpr std::array<std::string_view, 9> secret_keys{
    "authorization", "proxy-authorization", "apisecretaccesskey", "client_secret", "access_token",
    "password",      "secret_access_key",   "refresh_token",      "id_token"};
// Schemes whose next token is a credential.
constexpr std::array<std::string_view, 2> secret_schemes{"bearer ", "basic "};

bool iequal_at(std::string_view text, std::size_t at, std::string_view word) {
  if (at + word.size() > text.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i]) return false;
  return true;
}

bool ends_value(char c, bool quoted) {
  if (quoted) return c == '"';
  return c == '&' || c == '\r' || c == '\n' || c == ',' || c == ';' || c == ' ' || c == '"' || c == '}';
}

}  // namespace

std::string redact(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    bool matched = false;
    for (auto key : secret_keys) {
      if (!iequal_at(text, i, key)) continue;
      std::size_t j = i + key.size();
      if (j < text.size() && text[j] == '"') ++j;  // JSON: "key":
      if (j >= text.size() || (text[j] != ':' && text[j] != '=')) continue;
      ++j;
      while (j < text.size() && text[j] == ' ') ++j;
      const bool quoted = j < text.size() && text[j] == '"';
      if (quoted) ++j;
      out.append(text.substr(i, j - i));
      // An Authorization value keeps its scheme word, not its credential.
      for (auto scheme : secret_schemes)
        if (iequal_at(text, j, scheme)) {
          out.append(text.substr(j, scheme.size()));
          j += scheme.size();
        }
      std::size_t end = j;
      const bool header_like = text[i + key.size()] == ':' && !quoted;
      while (end < text.size() && !(header_like ? (text[end] == '\r' || text[end] == '\n') : ends_value(text[end], quoted)))
        ++end;
      out.append(redacted);
      i = end;
      matched = true;
      break;
    }
    if (matched) continue;
    // URL credentials: scheme://user:password@host
    if (text.compare(i, 3, "://") == 0) {
      const std::size_t start = i + 3;
      std::size_t end = start;
      while (end < text.size() && text[end] != '@' && text[end] != '/' && text[end] != ' ' && text[end] != '"')
        ++end;
      if (end < text.size() && text[end] == '@' && end > start) {
        out.append("://");
        out.append(redacted);
        i = end;
        continue;
      }
    }
    for (auto scheme : secret_schemes) {
      if (!iequal_at(text, i, scheme) || (i > 0 && std::isalnum(static_cast<unsigned char>(text[i - 1])))) continue;
      std::size_t end = i + scheme.size();
      while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) && text[end] != '"' &&
             text[end] != ',')
        ++end;
      if (end == i + scheme.size()) continue;
      out.append(text.substr(i, scheme.size()));
      out.append(redacted);
      i = end;
      matched = true;
      break;
    }
    if (!matched) out += text[i++];
  }
  return out;
}

}  // namespace aquaduct::transport

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

bool word_like_secret(std::string_view secret) noexcept {
  constexpr std::size_t strong_length = 16;
  if (secret.size() >= strong_length) return false;
  return std::all_of(secret.begin(), secret.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
}

namespace {

// A character that continues a word, a path or a host name.
bool joins_token(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.' || c == '/';
}

}  // namespace

std::string redact_secrets(std::string_view text, const std::vector<std::string>& secrets,
                           const std::vector<std::string>& public_values) {
  std::string out(text);
  for (const auto& s : secrets) {
    if (s.empty()) continue;
    const bool word = word_like_secret(s);
    if (word && std::find(public_values.begin(), public_values.end(), s) != public_values.end()) continue;
    for (auto at = out.find(s); at != std::string::npos; at = out.find(s, at)) {
      const std::size_t end = at + s.size();
      if (word && ((at > 0 && joins_token(out[at - 1])) || (end < out.size() && joins_token(out[end])))) {
        at = end;
        continue;
      }
      out.replace(at, s.size(), redacted);
      at += redacted.size();
    }
  }
  return out;
}

}  // namespace aquaduct::transport

#include "emulator/zoql.hpp"

#include <charconv>
#include <fmt/format.h>

namespace aquaduct::emulator {

namespace {

enum class tok { ident, number, star, comma, semicolon, string, other, end };

struct token {
  tok kind = tok::end;
  std::string_view text;
};

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class lexer {
 public:
  explicit lexer(std::string_view s) : s_(s) {}

  token next() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
    if (pos_ >= s_.size()) return {tok::end, {}};
    const std::size_t start = pos_;
    const char c = s_[pos_];
    if (is_ident_start(c)) {
      while (pos_ < s_.size() && is_ident_char(s_[pos_])) ++pos_;
      // "Account.*"
      if (s_[pos_ - 1] == '.' && pos_ < s_.size() && s_[pos_] == '*') ++pos_;
      return {tok::ident, s_.substr(start, pos_ - start)};
    }
    if (is_digit(c)) {
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
      return {tok::number, s_.substr(start, pos_ - start)};
    }
    ++pos_;
    switch (c) {
      case '*': return {tok::star, s_.substr(start, 1)};
      case ',': return {tok::comma, s_.substr(start, 1)};
      case ';': return {tok::semicolon, s_.substr(start, 1)};
      case '\'':
        while (pos_ < s_.size()) {
          if (s_[pos_] == '\'') {
            if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '\'') {
              pos_ += 2;
              continue;
            }
            ++pos_;
            return {tok::string, s_.substr(start, pos_ - start)};
          }
          ++pos_;
        }
        return {tok::other, s_.substr(start)};
      default: return {tok::other, s_.substr(start, 1)};
    }
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool keyword(const token& t, std::string_view kw) {
  if (t.kind != tok::ident || t.text.size() != kw.size()) return false;
  for (std::size_t i = 0; i < kw.size(); ++i) {
    char c = t.text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != kw[i]) return false;
  }
  return true;
}

std::string describe(const token& t) {
  if (t.kind == tok::end) return "end of query";
  return fmt::format("'{}'", t.text);
}

bool parse_number(std::string_view s, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

bool parse_zoql(std::string_view text, zoql_dialect dialect, zoql_query& out, std::string& error) {
  out = zoql_query{};
  lexer lx{text};
  token t = lx.next();
  if (!keyword(t, "select")) {
    error = fmt::format("You must specify a select (found {})", describe(t));
    return false;
  }
  struct item {
    std::string_view text;
    bool star;
  };
  std::vector<item> items;
  for (;;) {
    t = lx.next();
    if (t.kind == tok::star) {
      items.push_back({t.text, true});
    } else if (t.kind == tok::ident && !keyword(t, "from")) {
      items.push_back({t.text, false});
    } else {
      error = fmt::format("expected a field name after 'select' or ',', found {}", describe(t));
      return false;
    }
    t = lx.next();
    if (t.kind == tok::comma) continue;
    break;
  }
  if (!keyword(t, "from")) {
    error = fmt::format("expected 'from' after the field list, found {}", describe(t));
    return false;
  }
  t = lx.next();
  if (t.kind != tok::ident) {
    error = fmt::format("expected an object name after 'from', found {}", describe(t));
    return false;
  }
  out.object = find_object(t.text);
  if (out.object == nullptr) {
    error = fmt::format("Error.zoql.noSuchObject: '{}' is not an object the emulator serves (only Account so far)",
                        t.text);
    return false;
  }
  const object_def& obj = *out.object;

  t = lx.next();
  if (keyword(t, "where") || keyword(t, "order") || keyword(t, "group") || keyword(t, "having")) {
    error = fmt::format("the emulator does not support '{}' clauses yet", t.text);
    return false;
  }
  if (keyword(t, "limit")) {
    token a = lx.next();
    std::uint64_t n = 0;
    if (a.kind != tok::number || !parse_number(a.text, n)) {
      error = fmt::format("expected a number after 'limit', found {}", describe(a));
      return false;
    }
    t = lx.next();
    if (t.kind == tok::comma) {
      token b = lx.next();
      std::uint64_t count = 0;
      if (b.kind != tok::number || !parse_number(b.text, count)) {
        error = fmt::format("expected a count after 'limit {},', found {}", a.text, describe(b));
        return false;
      }
      out.offset = n;
      out.limit = count;
      t = lx.next();
    } else {
      out.limit = n;
    }
  }
  if (t.kind == tok::semicolon) t = lx.next();
  if (t.kind != tok::end) {
    error = fmt::format("unexpected {} in the query", describe(t));
    return false;
  }

  const auto add_all = [&out, &obj] {
    for (std::size_t i = 0; i < obj.fields.size(); ++i) out.fields.push_back(i);
  };
  for (const item& it : items) {
    if (it.star) {
      if (dialect == zoql_dialect::plain_zoql) {
        error = "'*' is not allowed in plain ZOQL (type zoql); use type zoqlexport";
        return false;
      }
      add_all();
      continue;
    }
    std::string_view name = it.text;
    const auto dot = name.rfind('.');
    if (dot != std::string_view::npos) {
      const std::string_view prefix = name.substr(0, dot);
      if (find_object(prefix) != &obj) {
        error = fmt::format("Error.zoql.noSuchFieldId: {} (joined objects are not supported by the emulator yet)",
                            name);
        return false;
      }
      name = name.substr(dot + 1);
      if (name == "*") {
        if (dialect == zoql_dialect::plain_zoql) {
          error = "'*' is not allowed in plain ZOQL (type zoql); use type zoqlexport";
          return false;
        }
        add_all();
        continue;
      }
    }
    const auto idx = find_field(obj, name);
    if (!idx) {
      error = fmt::format("Error.zoql.noSuchFieldId: {}.{}", obj.name, name);
      return false;
    }
    out.fields.push_back(*idx);
  }
  return true;
}

}  // namespace aquaduct::emulator

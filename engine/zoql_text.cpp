// The ZOQL the engine reads (zoql_text.hpp).
#include "engine/zoql_text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace aquaduct::engine_detail {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.';
}

}  // namespace

bool zoql_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_field_name(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  bool segment_start = true;
  for (char c : s) {
    if (c == '.') {
      if (segment_start) return false;
      segment_start = true;
      continue;
    }
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(is_digit(c) && !segment_start)) return false;
    segment_start = false;
  }
  return true;
}

bool zoql_scan(std::string_view q, std::vector<zoql_token>& out, std::string& error) {
  int depth = 0;
  std::size_t i = 0;
  while (i < q.size()) {
    const char c = q[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    const std::size_t start = i;
    zoql_token::kind k = zoql_token::kind::other;
    if (word_char(c)) {
      while (i < q.size() && word_char(q[i])) ++i;
      if (i < q.size() && q[i] == '*' && q[i - 1] == '.') ++i;  // Account.*
      k = zoql_token::kind::word;
    } else if (c == '\'' || c == '"') {
      ++i;
      for (;;) {
        if (i >= q.size()) {
          error = fmt::format("the query has an unterminated string starting at position {}", start + 1);
          return false;
        }
        if (q[i] == c) {
          if (i + 1 < q.size() && q[i + 1] == c) {  // '' inside '...'
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        ++i;
      }
      k = c == '\'' ? zoql_token::kind::string : zoql_token::kind::quoted;
    } else {
      ++i;
      if (c == '(') k = zoql_token::kind::lparen;
      else if (c == ')') k = zoql_token::kind::rparen;
      else if (c == ',') k = zoql_token::kind::comma;
      else if (c == ';') k = zoql_token::kind::semicolon;
    }
    if (k == zoql_token::kind::rparen && --depth < 0) {
      error = fmt::format("the query has an unbalanced ')' at position {}", start + 1);
      return false;
    }
    out.push_back({k, start, i, depth});
    if (k == zoql_token::kind::lparen) ++depth;
  }
  if (depth != 0) {
    error = "the query has an unclosed '('";
    return false;
  }
  return true;
}

bool select_shape::has_star() const noexcept {
  return std::any_of(items.begin(), items.end(), [](const select_item& i) { return i.star(); });
}

std::optional<std::size_t> select_shape::base_id_item() const {
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& e = items[i].expression;
    if (zoql_iequals(e, "Id") || zoql_iequals(e, object + ".Id")) return i;
  }
  return std::nullopt;
}

std::optional<select_shape> read_select(std::string_view zoql, std::string& error) {
  using k = zoql_token::kind;
  std::vector<zoql_token> toks;
  if (!zoql_scan(zoql, toks, error)) return std::nullopt;
  const auto text = [&](std::size_t i) { return zoql.substr(toks[i].begin, toks[i].end - toks[i].begin); };
  const auto is_kw = [&](std::size_t i, std::string_view kw) {
    return i < toks.size() && toks[i].k == k::word && toks[i].depth == 0 && zoql_iequals(text(i), kw);
  };
  if (!is_kw(0, "select")) {
    error = "the query must start with select";
    return std::nullopt;
  }
  std::size_t from = 1;
  while (from < toks.size() && !is_kw(from, "from")) ++from;
  if (from == toks.size() || from + 1 >= toks.size() || toks[from + 1].k != k::word) {
    error = "the query has no FROM object";
    return std::nullopt;
  }
  select_shape shape;
  shape.object = std::string(text(from + 1));
  // Items are the top-level comma-separated runs between select and from.
  std::size_t begin = 1;
  for (std::size_t i = 1; i <= from; ++i) {
    if (i < from && !(toks[i].k == k::comma && toks[i].depth == 0)) continue;
    if (i == begin) {
      error = "the select list has an empty item";
      return std::nullopt;
    }
    std::size_t end = i;  // tokens [begin, end)
    select_item item;
    if (end - begin >= 3 && is_kw(end - 2, "as")) {
      std::string_view alias = text(end - 1);
      if (toks[end - 1].k == k::quoted || toks[end - 1].k == k::string) alias = alias.substr(1, alias.size() - 2);
      item.alias = std::string(alias);
      end -= 2;
    }
    item.expression = std::string(zoql.substr(toks[begin].begin, toks[end - 1].end - toks[begin].begin));
    shape.items.push_back(std::move(item));
    begin = i + 1;
  }
  return shape;
}

std::optional<std::size_t> locate_base_id(const select_shape& shape, const std::vector<std::string>& header,
                                          bool deleted_first) {
  const std::size_t first = deleted_first ? 1 : 0;
  if (shape.has_star()) {
    const std::string want = shape.object + ".Id";
    for (std::size_t i = first; i < header.size(); ++i)
      if (zoql_iequals(header[i], want)) return i;
    return std::nullopt;
  }
  const std::optional<std::size_t> item = shape.base_id_item();
  if (!item || header.size() < first + shape.items.size()) return std::nullopt;
  return first + *item;
}

std::string keyset_page_problem(std::string_view zoql) {
  std::string lower(zoql);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* clause : {"order by", "group by", " limit ", " or "})
    if (lower.find(clause) != std::string::npos)
      return std::string("it has ") + (clause[0] == ' ' ? std::string(clause + 1, std::strlen(clause) - 2) : clause);
  return {};
}

std::string base_id_problem(std::string_view zoql, bool use_query_labels) {
  std::string error;
  const std::optional<select_shape> shape = read_select(zoql, error);
  if (!shape) return error;
  if (shape->has_star()) {
    if (use_query_labels) return {};
    return "its select list has a '*' and use_query_labels is false, so the result header holds display labels "
           "and the " + shape->object + " Id cannot be found in it: list the fields, or set use_query_labels = true";
  }
  if (shape->base_id_item()) return {};
  std::string parent;  // a related object's Id in the list, the likely mistake
  for (const auto& item : shape->items)
    if (item.expression.size() > 3 && zoql_iequals(item.expression.substr(item.expression.size() - 3), ".Id")) {
      parent = item.expression;
      break;
    }
  return "its select list has no Id of " + shape->object + ", the object after FROM" +
         (parent.empty() ? std::string()
                         : " (" + parent + " is the Id of a related object, not of a row of " + shape->object + ")") +
         ": add Id to the select list";
}

}  // namespace aquaduct::engine_detail

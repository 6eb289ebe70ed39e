#include "emulator/zoql.hpp"

#include <limits>
#include <algorithm>
#include <charconv>
#include <cstdint>

#include <fmt/format.h>

#include "emulator/wildcard.hpp"

namespace aquaduct::emulator {

namespace {

enum class tok { ident, number, string, quoted, star, comma, semicolon, lparen, rparen, op, other, end };

struct token {
  tok kind = tok::end;
  std::string_view text;
  std::size_t pos = 0;  // 0-based offset
};

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c) || c == '.'; }

// Thrown inside the parser; parse_zoql turns it into the error message.
struct zoql_error {
  std::size_t pos;
  std::string message;
};

class lexer {
 public:
  explicit lexer(std::string_view s) : s_(s) {}

  token next() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
    const std::size_t start = pos_;
    if (pos_ >= s_.size()) return {tok::end, {}, start};
    const char c = s_[pos_];
    if (is_ident_start(c)) {
      while (pos_ < s_.size() && is_ident_char(s_[pos_])) ++pos_;
      if (s_[pos_ - 1] == '.' && pos_ < s_.size() && s_[pos_] == '*') ++pos_;  // "Account.*"
      return {tok::ident, s_.substr(start, pos_ - start), start};
    }
    if (is_digit(c) || (c == '-' && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1]))) {
      ++pos_;
      while (pos_ < s_.size() && (is_digit(s_[pos_]) || s_[pos_] == '.')) ++pos_;
      return {tok::number, s_.substr(start, pos_ - start), start};
    }
    ++pos_;
    switch (c) {
      case '*': return {tok::star, s_.substr(start, 1), start};
      case ',': return {tok::comma, s_.substr(start, 1), start};
      case ';': return {tok::semicolon, s_.substr(start, 1), start};
      case '(': return {tok::lparen, s_.substr(start, 1), start};
      case ')': return {tok::rparen, s_.substr(start, 1), start};
      case '=': return {tok::op, s_.substr(start, 1), start};
      case '!':
        if (pos_ < s_.size() && s_[pos_] == '=') return {tok::op, s_.substr(start, ++pos_ - start), start};
        return {tok::other, s_.substr(start, 1), start};
      case '<':
      case '>':
        if (pos_ < s_.size() && (s_[pos_] == '=' || (c == '<' && s_[pos_] == '>')))
          return {tok::op, s_.substr(start, ++pos_ - start), start};
        return {tok::op, s_.substr(start, 1), start};
      case '\'':
      case '"':
        while (pos_ < s_.size()) {
          if (s_[pos_] == c) {
            if (pos_ + 1 < s_.size() && s_[pos_ + 1] == c) {
              pos_ += 2;
              continue;
            }
            ++pos_;
            return {c == '\'' ? tok::string : tok::quoted, s_.substr(start, pos_ - start), start};
          }
          ++pos_;
        }
        throw zoql_error{start, "unterminated string literal"};
      default: return {tok::other, s_.substr(start, 1), start};
    }
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool keyword(const token& t, std::string_view kw) { return t.kind == tok::ident && iequals(t.text, kw); }

std::string describe(const token& t) {
  if (t.kind == tok::end) return "end of query";
  return fmt::format("'{}'", t.text);
}

// 'it''s' -> it's
std::string unquote(std::string_view quoted) {
  std::string out;
  const char q = quoted.front();
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    out += quoted[i];
    if (quoted[i] == q) ++i;
  }
  return out;
}

bool parse_uint(std::string_view s, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// "-12.345" -> hundredths, truncated toward zero beyond 2 places.
// -?digits[.digits]: the literals a number field accepts.
bool is_decimal_text(std::string_view s) {
  if (!s.empty() && s.front() == '-') s.remove_prefix(1);
  const auto dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  const auto all_digits = [](std::string_view d) { return std::all_of(d.begin(), d.end(), is_digit); };
  return !whole.empty() && all_digits(whole) && all_digits(frac);
}

bool parse_hundredths(std::string_view s, std::int64_t& out) {
  bool neg = false;
  if (!s.empty() && s.front() == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  const auto dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  std::uint64_t w = 0;
  if (whole.empty() || !parse_uint(whole, w) || w > 90'000'000'000'000'000ULL / 1000) return false;
  std::int64_t v = static_cast<std::int64_t>(w) * 100;
  for (std::size_t i = 0; i < frac.size(); ++i) {
    if (!is_digit(frac[i])) return false;
    if (i == 0) v += (frac[i] - '0') * 10;
    if (i == 1) v += frac[i] - '0';
  }
  out = neg ? -v : v;
  return true;
}

int digits(std::string_view s, std::size_t at, std::size_t n, bool& ok) {
  int v = 0;
  if (at + n > s.size()) {
    ok = false;
    return 0;
  }
  for (std::size_t i = at; i < at + n; ++i) {
    if (!is_digit(s[i])) ok = false;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

// 'now', 'today', 'today - 30 days', 'now + 2 hours (America/Los_Angeles)'.
bool parse_relative(std::string_view text, zoql_literal& lit) {
  std::string s = lower(text);
  if (const auto paren = s.find('('); paren != std::string::npos) s.resize(paren);  // time zone: tenant's only
  std::string_view v = s;
  const auto trim = [](std::string_view x) {
    while (!x.empty() && x.front() == ' ') x.remove_prefix(1);
    while (!x.empty() && x.back() == ' ') x.remove_suffix(1);
    return x;
  };
  v = trim(v);
  bool today;
  if (v.starts_with("today")) {
    today = true;
    v.remove_prefix(5);
  } else if (v.starts_with("now")) {
    today = false;
    v.remove_prefix(3);
  } else {
    return false;
  }
  v = trim(v);
  std::int64_t offset_s = 0;
  if (!v.empty()) {
    const char sign = v.front();
    if (sign != '+' && sign != '-') return false;
    v = trim(v.substr(1));
    const auto sp = v.find(' ');
    if (sp == std::string_view::npos) return false;
    std::uint64_t n = 0;
    if (!parse_uint(v.substr(0, sp), n) || n > 100'000) return false;
    std::string_view unit = trim(v.substr(sp + 1));
    if (unit.ends_with('s')) unit.remove_suffix(1);
    std::int64_t mult;
    if (unit == "second") mult = 1;
    else if (unit == "minute") mult = 60;
    else if (unit == "hour") mult = 3600;
    else if (unit == "day") mult = 86400;
    else if (unit == "week") mult = 7 * 86400;
    else if (unit == "month") mult = 30 * 86400;  // approximation, documented
    else if (unit == "year") mult = 365 * 86400;
    else return false;
    offset_s = static_cast<std::int64_t>(n) * mult * (sign == '-' ? -1 : 1);
  }
  lit.relative = true;
  if (today) {
    lit.k = zoql_literal::kind::date;
    lit.i = offset_s / 86400;
  } else {
    lit.k = zoql_literal::kind::datetime;
    lit.i = offset_s;
  }
  return true;
}

// 'YYYY-MM-DD', 'YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]', 'YYYY-MM-DD hh:mm:ss' (ignored).
bool parse_date_literal(std::string_view s, zoql_literal& lit) {
  if (parse_relative(s, lit)) return true;
  bool ok = true;
  const int y = digits(s, 0, 4, ok);
  const int mo = digits(s, 5, 2, ok);
  const int d = digits(s, 8, 2, ok);
  if (!ok || s.size() < 10 || s[4] != '-' || s[7] != '-' || mo < 1 || mo > 12 || d < 1 || d > 31) return false;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (s.size() == 10) {
    lit.k = zoql_literal::kind::date;
    lit.i = days;
    return true;
  }
  if (s[10] == ' ') {  // Zuora silently drops such a predicate (contract §5.1)
    lit.k = zoql_literal::kind::ignored;
    return true;
  }
  if (s[10] != 'T') return false;
  const int h = digits(s, 11, 2, ok);
  const int mi = digits(s, 14, 2, ok);
  if (!ok || s.size() < 16 || s[13] != ':' || h > 23 || mi > 59) return false;
  std::size_t at = 16;
  int sec = 0;
  if (at < s.size() && s[at] == ':') {
    sec = digits(s, at + 1, 2, ok);
    if (!ok || sec > 59) return false;
    at += 3;
  }
  bool fraction = false;  // '...:ss.fff': accepted, but Zuora returned no rows for such a bound (§5.1)
  if (at < s.size() && s[at] == '.') {
    ++at;
    const std::size_t start = at;
    while (at < s.size() && is_digit(s[at])) ++at;
    if (at == start) return false;
    fraction = true;
  }
  std::int64_t v = days * 86400 + h * 3600 + mi * 60 + sec;
  lit.tenant_zone = true;
  if (at < s.size()) {
    if (s[at] == 'Z' && at + 1 == s.size()) {
      lit.tenant_zone = false;
    } else if ((s[at] == '+' || s[at] == '-') && (s.size() == at + 6 || s.size() == at + 5)) {
      const int oh = digits(s, at + 1, 2, ok);
      const std::size_t mpos = s[at + 3] == ':' ? at + 4 : at + 3;
      const int om = digits(s, mpos, 2, ok);
      if (!ok || mpos + 2 != s.size()) return false;
      const int off = (oh * 60 + om) * (s[at] == '-' ? -1 : 1);
      v -= off * 60;
      lit.tenant_zone = false;
    } else {
      return false;
    }
  }
  lit.k = fraction ? zoql_literal::kind::unmatched : zoql_literal::kind::datetime;
  lit.i = v;
  return true;
}

class parser {
 public:
  parser(std::string_view text, zoql_dialect d, zoql_query& q) : lx_(text), dialect_(d), q_(q) { advance(); }

  void parse() {
    if (!keyword(t_, "select")) fail(t_, fmt::format("You must specify a select (found {})", describe(t_)));
    advance();
    struct item {
      token name;
      std::optional<std::string> alias;
    };
    std::vector<item> items;
    for (;;) {
      if (t_.kind != tok::star && (t_.kind != tok::ident || keyword(t_, "from")))
        fail(t_, fmt::format("expected a field name after 'select' or ',', found {}", describe(t_)));
      item it{t_, std::nullopt};
      advance();
      if (t_.kind == tok::lparen)
        fail(it.name, fmt::format("functions and aggregates ('{}(...)') are not supported by the emulator",
                                  it.name.text));
      if (keyword(t_, "as")) {
        advance();
        if (t_.kind == tok::quoted || t_.kind == tok::string) it.alias = unquote(t_.text);
        else if (t_.kind == tok::ident) it.alias = std::string(t_.text);
        else fail(t_, fmt::format("expected an alias after 'as', found {}", describe(t_)));
        advance();
      }
      items.push_back(std::move(it));
      if (t_.kind != tok::comma) break;
      advance();
    }
    if (!keyword(t_, "from")) fail(t_, fmt::format("expected 'from' after the field list, found {}", describe(t_)));
    advance();
    if (t_.kind != tok::ident) fail(t_, fmt::format("expected an object name after 'from', found {}", describe(t_)));
    q_.object = find_object(t_.text);
    if (q_.object == nullptr)
      fail(t_, fmt::format("Error.zoql.noSuchObject: '{}' is not an object of the tenant", t_.text));
    advance();
    for (const item& it : items) add_item(it.name, it.alias);

    if (keyword(t_, "where")) {
      advance();
      const token where = t_;
      q_.where = parse_or();
      if (plain() && predicates(*q_.where) > max_plain_conditions)
        fail(where, fmt::format("plain ZOQL allows at most {} conditions in WHERE ({} given)", max_plain_conditions,
                                predicates(*q_.where)));
    }
    if (keyword(t_, "group") || keyword(t_, "having"))
      fail(t_, fmt::format("'{}' is not supported by the emulator", t_.text));
    if (keyword(t_, "order")) {
      const token order = t_;
      advance();
      if (!keyword(t_, "by")) fail(t_, fmt::format("expected 'by' after 'order', found {}", describe(t_)));
      if (dialect_ == zoql_dialect::plain_zoql) fail(order, "'order by' is not allowed in plain ZOQL (type zoql)");
      advance();
      for (;;) {
        if (t_.kind != tok::ident) fail(t_, fmt::format("expected a field name in 'order by', found {}", describe(t_)));
        order_key k{resolve(t_), false};
        advance();
        if (keyword(t_, "asc")) {
          advance();
        } else if (keyword(t_, "desc")) {
          k.descending = true;
          advance();
        }
        q_.order_by.push_back(k);
        if (t_.kind != tok::comma) break;
        advance();
      }
    }
    if (keyword(t_, "limit")) {
      advance();
      std::uint64_t n = 0;
      if (t_.kind != tok::number || !parse_uint(t_.text, n))
        fail(t_, fmt::format("expected a number after 'limit', found {}", describe(t_)));
      advance();
      if (t_.kind == tok::comma) {
        advance();
        std::uint64_t count = 0;
        if (t_.kind != tok::number || !parse_uint(t_.text, count))
          fail(t_, fmt::format("expected a count after 'limit {},', found {}", n, describe(t_)));
        advance();
        q_.offset = n;
        q_.limit = count;
      } else {
        q_.limit = n;
      }
    }
    if (t_.kind == tok::semicolon) advance();
    if (t_.kind != tok::end) fail(t_, fmt::format("unexpected {} in the query", describe(t_)));
  }

 private:
  [[noreturn]] static void fail(const token& t, std::string message) { throw zoql_error{t.pos, std::move(message)}; }
  void advance() { t_ = lx_.next(); }
  bool plain() const { return dialect_ == zoql_dialect::plain_zoql; }

  std::size_t slot_for(const relation_def* rel) {
    for (std::size_t i = 0; i < q_.joins.size(); ++i)
      if (q_.joins[i] == rel) return i + 1;
    q_.joins.push_back(rel);
    return q_.joins.size();
  }

  // "Field", "Base.Field", "Rel.Field" (and "Rel.*" when `star_ok`).
  struct resolved_prefix {
    std::size_t slot;
    const object_def* object;
  };
  resolved_prefix resolve_prefix(const token& t, std::string_view prefix) {
    if (prefix.empty() || iequals(prefix, q_.object->name)) return {0, q_.object};
    const relation_def* rel = find_relation(*q_.object, prefix);
    if (rel == nullptr || prefix.find('.') != std::string_view::npos)
      fail(t, fmt::format("Error.zoql.noSuchFieldId: '{}' is not a relationship of {}", prefix, q_.object->name));
    if (plain()) fail(t, fmt::format("joined objects ('{}') are not allowed in plain ZOQL (type zoql)", prefix));
    return {slot_for(rel), find_object(rel->target)};
  }

  column_ref resolve(const token& t) {
    const auto dot = t.text.rfind('.');
    const std::string_view prefix = dot == std::string_view::npos ? std::string_view{} : t.text.substr(0, dot);
    const std::string_view name = dot == std::string_view::npos ? t.text : t.text.substr(dot + 1);
    const resolved_prefix p = resolve_prefix(t, prefix);
    const auto idx = find_field(*p.object, name);
    // A field Export ZOQL does not export is unknown to it: the same error
    // (docs/emulator.md "Describe").
    if (!idx || (!plain() && !p.object->fields[*idx].exportable())) fail(t, no_such_field(p.object->name, name));
    return {p.slot, p.object, *idx};
  }

  // "Error.zoql.noSuchFieldId: Account.Nope" (kept stable: tests and docs quote it).
  static std::string no_such_field(std::string_view object, std::string_view field) {
    return fmt::format("Error.zoql.noSuchFieldId: {}.{}", object, field);
  }

  static bool is_foreign_key(const object_def& obj, std::size_t field) {
    for (const relation_def& r : obj.relations)
      if (iequals(r.path[0], obj.fields[field].name)) return true;
    return false;
  }

  void add_item(const token& t, const std::optional<std::string>& alias) {
    const bool star = t.kind == tok::star || t.text.ends_with(".*");
    if (star) {
      if (plain()) fail(t, "'*' is not allowed in plain ZOQL (type zoql); use type zoqlexport");
      if (alias) fail(t, "an alias cannot name '*'");
      const std::string_view prefix = t.kind == tok::star ? std::string_view{} : t.text.substr(0, t.text.size() - 2);
      const resolved_prefix p = resolve_prefix(t, prefix);
      for (std::size_t i = 0; i < p.object->fields.size(); ++i) {
        // `select *`: the base object's own fields, no foreign keys (§5.1);
        // only the fields export exports.
        if (p.slot == 0 && is_foreign_key(*p.object, i)) continue;
        if (!p.object->fields[i].exportable()) continue;
        add_column({p.slot, p.object, i}, {});
      }
      return;
    }
    const column_ref c = resolve(t);
    if (alias) {
      for (const select_column& s : q_.columns)
        if (s.alias == *alias) fail(t, fmt::format("Duplicate column aliases {} were defined.", *alias));
    }
    add_column(c, alias.value_or(std::string{}));
  }

  void add_column(const column_ref& c, std::string alias) { q_.columns.push_back({c, std::move(alias)}); }

  // cond or cond ... / cond and cond ...: one node for a run of the same keyword.
  condition parse_or() { return parse_chain("or", condition::kind::or_, &parser::parse_and); }
  condition parse_and() { return parse_chain("and", condition::kind::and_, &parser::parse_not); }

  condition parse_chain(std::string_view kw, condition::kind k, condition (parser::*operand)()) {
    condition left = (this->*operand)();
    if (!keyword(t_, kw)) return left;
    condition node;
    node.k = k;
    node.position = left.position;
    node.children.push_back(std::move(left));
    while (keyword(t_, kw)) {
      advance();
      node.children.push_back((this->*operand)());
    }
    return node;
  }

  condition parse_not() {
    if (keyword(t_, "not")) {
      condition node;
      node.k = condition::kind::not_;
      node.position = t_.pos + 1;
      advance();
      node.children.push_back(parse_not());
      return node;
    }
    if (t_.kind == tok::lparen) {
      if (plain()) fail(t_, "parentheses are not allowed in plain ZOQL (type zoql)");
      advance();
      condition inner = parse_or();
      if (t_.kind != tok::rparen) fail(t_, fmt::format("expected ')', found {}", describe(t_)));
      advance();
      return inner;
    }
    return parse_predicate();
  }

  condition parse_predicate() {
    if (t_.kind != tok::ident || keyword(t_, "and") || keyword(t_, "or"))
      fail(t_, fmt::format("expected a field name in the condition, found {}", describe(t_)));
    condition c;
    c.position = t_.pos + 1;
    c.lhs = resolve(t_);
    const field_type type = c.lhs.object->fields[c.lhs.field].type;
    advance();
    if (keyword(t_, "is")) {
      advance();
      c.op = compare_op::is_null;
      if (keyword(t_, "not")) {
        c.op = compare_op::is_not_null;
        advance();
      }
      if (!keyword(t_, "null")) fail(t_, fmt::format("expected 'null' after 'is', found {}", describe(t_)));
      advance();
      return c;
    }
    if (keyword(t_, "like")) {
      c.op = compare_op::like;
      advance();
      if (t_.kind != tok::string) fail(t_, fmt::format("expected a quoted pattern after 'like', found {}", describe(t_)));
      if (type != field_type::text && type != field_type::longtext && type != field_type::picklist &&
          type != field_type::id)
        fail(t_, fmt::format("'like' needs a text field; {} is not one", c.lhs.object->fields[c.lhs.field].name));
      c.rhs.k = zoql_literal::kind::string;
      c.rhs.text = unquote(t_.text);
      advance();
      return c;
    }
    if (t_.kind != tok::op) fail(t_, fmt::format("expected a comparison operator, found {}", describe(t_)));
    const std::string_view op = t_.text;
    if (op == "=") c.op = compare_op::eq;
    else if (op == "!=" || op == "<>") c.op = compare_op::ne;
    else if (op == "<") c.op = compare_op::lt;
    else if (op == "<=") c.op = compare_op::le;
    else if (op == ">") c.op = compare_op::gt;
    else c.op = compare_op::ge;
    if (type == field_type::boolean && c.op != compare_op::eq && c.op != compare_op::ne)
      fail(t_, fmt::format("a boolean field allows only = and != ('{}' used)", op));
    advance();
    if (keyword(t_, "null")) {  // "= null" / "!= null"
      if (c.op != compare_op::eq && c.op != compare_op::ne) fail(t_, "null can only be compared with = or !=");
      c.op = c.op == compare_op::eq ? compare_op::is_null : compare_op::is_not_null;
      advance();
      return c;
    }
    if (t_.kind == tok::ident && !keyword(t_, "true") && !keyword(t_, "false")) {
      if (plain()) fail(t_, "field-to-field comparison is not allowed in plain ZOQL (type zoql)");
      c.rhs_column = resolve(t_);
      advance();
      return c;
    }
    c.rhs = literal_for(type, t_);
    advance();
    return c;
  }

  static zoql_literal literal_for(field_type type, const token& t) {
    zoql_literal lit;
    const bool str = t.kind == tok::string;
    if (!str && t.kind != tok::number && !(t.kind == tok::ident && (keyword(t, "true") || keyword(t, "false"))))
      fail(t, fmt::format("expected a value, found {}", describe(t)));
    const std::string text = str ? unquote(t.text) : std::string(t.text);
    switch (type) {
      case field_type::id:
      case field_type::text:
      case field_type::longtext:
      case field_type::picklist:
        lit.k = zoql_literal::kind::string;
        lit.text = text;
        return lit;
      case field_type::decimal:
      case field_type::integer:
        lit.k = zoql_literal::kind::number;
        if (!is_decimal_text(text)) fail(t, fmt::format("{} is not a number", describe(t)));
        lit.text = text;  // compared exactly with an exact decimal
        if (!parse_hundredths(text, lit.i))  // beyond int64 hundredths: saturate
          lit.i = text.front() == '-' ? INT64_MIN : INT64_MAX;
        return lit;
      case field_type::boolean:
        lit.k = zoql_literal::kind::boolean;
        if (iequals(text, "true")) lit.i = 1;
        else if (iequals(text, "false")) lit.i = 0;
        else fail(t, fmt::format("{} is not a boolean (true or false)", describe(t)));
        return lit;
      case field_type::date:
      case field_type::datetime:
      case field_type::timestamp:
        if (!str || !parse_date_literal(text, lit))
          fail(t, fmt::format("{} is not a date or datetime literal ('YYYY-MM-DD', 'YYYY-MM-DDThh:mm:ss[Z|+hh:mm]')",
                              describe(t)));
        return lit;
    }
    return lit;
  }

  static constexpr std::size_t max_plain_conditions = 200;  // contract §3.1

  static std::size_t predicates(const condition& c) {
    if (c.k == condition::kind::predicate) return 1;
    std::size_t n = 0;
    for (const condition& ch : c.children) n += predicates(ch);
    return n;
  }

  lexer lx_;
  zoql_dialect dialect_;
  zoql_query& q_;
  token t_;
};

// ---- evaluation ----

enum class truth { yes, no, dropped };

std::int64_t local_midnight_utc(std::int64_t days, tenant_zone zone) { return tenant_local_to_utc(zone, days * 86400); }

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// -1/0/1
template <typename T>
int cmp3(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

bool apply(compare_op op, int c) {
  switch (op) {
    case compare_op::eq: return c == 0;
    case compare_op::ne: return c != 0;
    case compare_op::lt: return c < 0;
    case compare_op::le: return c <= 0;
    case compare_op::gt: return c > 0;
    case compare_op::ge: return c >= 0;
    default: return false;
  }
}

// A datetime or date value as UTC seconds (a date counts from its local midnight).
std::int64_t as_seconds(const field_value& v, tenant_zone zone) {
  return v.k == field_value::kind::date ? local_midnight_utc(v.i, zone) : v.i;
}

bool compare_literal(const field_value& v, const condition& c, std::int64_t now, tenant_zone zone) {
  const zoql_literal& lit = c.rhs;
  if (v.is_null()) return c.op == compare_op::ne;  // DECISION: null differs from every value
  switch (lit.k) {
    case zoql_literal::kind::string:
      if (c.op == compare_op::like) return wildcard_match(lit.text, v.s, '%', '_');
      return apply(c.op, v.s.compare(lit.text) < 0 ? -1 : (v.s == lit.text ? 0 : 1));
    case zoql_literal::kind::number:
      if (v.k == field_value::kind::exact) return apply(c.op, compare_decimal_text(v.s, lit.text));
      return apply(c.op, cmp3(v.i, lit.i));
    case zoql_literal::kind::boolean: return apply(c.op, cmp3(v.i, lit.i));
    case zoql_literal::kind::date: {
      std::int64_t day = lit.i;
      if (lit.relative) day += floor_div(now + tenant_offset_minutes(zone, now) * std::int64_t{60}, 86400);
      if (v.k == field_value::kind::date) return apply(c.op, cmp3(v.i, day));
      // A whole day against a datetime: [local midnight, next midnight).
      const std::int64_t start = local_midnight_utc(day, zone);
      const std::int64_t end = local_midnight_utc(day + 1, zone);
      switch (c.op) {
        case compare_op::eq: return v.i >= start && v.i < end;
        case compare_op::ne: return v.i < start || v.i >= end;
        case compare_op::lt: return v.i < start;
        case compare_op::le: return v.i < end;
        case compare_op::gt: return v.i >= end;
        case compare_op::ge: return v.i >= start;
        default: return false;
      }
    }
    case zoql_literal::kind::datetime: {
      std::int64_t t = lit.i;
      if (lit.relative) t += now;
      else if (lit.tenant_zone) t = tenant_local_to_utc(zone, t);
      return apply(c.op, cmp3(as_seconds(v, zone), t));
    }
    default: return false;
  }
}

bool compare_columns(const field_value& a, const field_value& b, compare_op op, tenant_zone zone) {
  if (a.is_null() || b.is_null()) return op == compare_op::ne && !(a.is_null() && b.is_null());
  const bool a_time = a.k == field_value::kind::date || a.k == field_value::kind::datetime;
  const bool b_time = b.k == field_value::kind::date || b.k == field_value::kind::datetime;
  if (a_time && b_time) return apply(op, cmp3(as_seconds(a, zone), as_seconds(b, zone)));
  if (a.k == field_value::kind::text && b.k == field_value::kind::text) return apply(op, cmp3(a.s, b.s));
  if (a.k == field_value::kind::exact || b.k == field_value::kind::exact) {
    if ((a.k != field_value::kind::exact && a.k != field_value::kind::number) ||
        (b.k != field_value::kind::exact && b.k != field_value::kind::number))
      return op == compare_op::ne;
    std::string at, bt;  // a number against an exact decimal: compare the texts
    render_value(a, time_zone::utc, at);
    render_value(b, time_zone::utc, bt);
    return apply(op, compare_decimal_text(at, bt));
  }
  if (a.k == b.k) return apply(op, cmp3(a.i, b.i));
  return op == compare_op::ne;
}

truth eval(const condition& c, row_slots rows, std::int64_t now, tenant_zone zone) {
  switch (c.k) {
    case condition::kind::and_: {
      bool any = false;
      for (const condition& ch : c.children) {
        const truth t = eval(ch, rows, now, zone);
        if (t == truth::no) return truth::no;
        any |= t == truth::yes;
      }
      return any ? truth::yes : truth::dropped;
    }
    case condition::kind::or_: {
      bool any_no = false;
      for (const condition& ch : c.children) {
        const truth t = eval(ch, rows, now, zone);
        if (t == truth::yes) return truth::yes;
        any_no |= t == truth::no;
      }
      return any_no ? truth::no : truth::dropped;
    }
    case condition::kind::not_: {
      const truth t = eval(c.children.front(), rows, now, zone);
      return t == truth::dropped ? t : (t == truth::yes ? truth::no : truth::yes);
    }
    case condition::kind::predicate: break;
  }
  const field_value& v = column_value(c.lhs, rows);
  if (c.op == compare_op::is_null) return v.is_null() ? truth::yes : truth::no;
  if (c.op == compare_op::is_not_null) return v.is_null() ? truth::no : truth::yes;
  if (c.rhs_column) return compare_columns(v, column_value(*c.rhs_column, rows), c.op, zone) ? truth::yes : truth::no;
  if (c.rhs.k == zoql_literal::kind::ignored) return truth::dropped;
  if (c.rhs.k == zoql_literal::kind::unmatched) return truth::no;
  return compare_literal(v, c, now, zone) ? truth::yes : truth::no;
}

}  // namespace

bool parse_zoql(std::string_view text, zoql_dialect dialect, zoql_query& out, std::string& error) {
  out = zoql_query{};
  try {
    parser p(text, dialect, out);
    p.parse();
    return true;
  } catch (const zoql_error& e) {
    error = fmt::format("at position {}: {}", e.pos + 1, e.message);
    out = zoql_query{};
    return false;
  }
}

const field_value& column_value(const column_ref& c, row_slots rows) {
  static const field_value null_value{};
  const record* r = c.slot < rows.size() ? rows[c.slot] : nullptr;
  return r != nullptr ? (*r)[c.field] : null_value;
}

std::pair<std::int64_t, std::int64_t> base_time_range(const zoql_query& q, std::size_t field, std::int64_t now_unix_s,
                                                      tenant_zone zone) {
  std::int64_t first = std::numeric_limits<std::int64_t>::min(), last = std::numeric_limits<std::int64_t>::max();
  const auto narrow = [&](const condition& c) {
    if (c.k != condition::kind::predicate || c.rhs_column || c.lhs.slot != 0 || c.lhs.field != field ||
        c.rhs.k != zoql_literal::kind::datetime)
      return;
    std::int64_t t = c.rhs.i;
    if (c.rhs.relative) t += now_unix_s;
    else if (c.rhs.tenant_zone) t = tenant_local_to_utc(zone, t);
    switch (c.op) {
      case compare_op::eq: first = std::max(first, t); last = std::min(last, t); break;
      case compare_op::ge: first = std::max(first, t); break;
      case compare_op::gt: first = std::max(first, t + 1); break;
      case compare_op::le: last = std::min(last, t); break;
      case compare_op::lt: last = std::min(last, t - 1); break;
      default: break;
    }
  };
  if (q.where && q.where->k == condition::kind::and_)
    for (const condition& c : q.where->children) narrow(c);
  else if (q.where)
    narrow(*q.where);
  return {first, last};
}

std::vector<text_floor> base_text_floors(const zoql_query& q, std::size_t field) {
  std::vector<text_floor> out;
  const auto take = [&](const condition& c) {
    if (c.k == condition::kind::predicate && !c.rhs_column && c.lhs.slot == 0 && c.lhs.field == field &&
        c.rhs.k == zoql_literal::kind::string && (c.op == compare_op::gt || c.op == compare_op::ge))
      out.push_back(text_floor{c.rhs.text, c.op == compare_op::gt});
  };
  if (q.where && q.where->k == condition::kind::and_)
    for (const condition& c : q.where->children) take(c);
  else if (q.where)
    take(*q.where);
  return out;
}

bool zoql_matches(const zoql_query& q, row_slots rows, std::int64_t now_unix_s, tenant_zone zone) {
  if (!q.where) return true;
  return eval(*q.where, rows, now_unix_s, zone) != truth::no;
}

}  // namespace aquaduct::emulator

#include "sinks/typed_values.hpp"

#include "sinks/sink_common.hpp"
#include "text/json_text.hpp"

#include <aquaduct/error.hpp>

#include <charconv>
#include <chrono>
#include <cstring>
#include <system_error>

namespace aquaduct::sinks {

namespace {

bool digit(char c) noexcept { return c >= '0' && c <= '9'; }

// `n` digits at v[at], as a number; false when any is not a digit.
bool number_at(std::string_view v, std::size_t at, std::size_t n, int& out) noexcept {
  if (at + n > v.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!digit(v[i])) return false;
    out = out * 10 + (v[i] - '0');
  }
  return true;
}

bool leap(int y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// YYYY-MM-DD at the start of v.
bool date_prefix(std::string_view v) noexcept {
  int y, m, d;
  if (v.size() < 10 || v[4] != '-' || v[7] != '-' || !number_at(v, 0, 4, y) || !number_at(v, 5, 2, m) ||
      !number_at(v, 8, 2, d))
    return false;
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] + (m == 2 && leap(y));
}

}  // namespace

value_kind kind_of(column_type t) noexcept {
  switch (t) {
    case column_type::integer: return value_kind::integer;
    case column_type::decimal: return value_kind::decimal;
    case column_type::boolean: return value_kind::boolean;
    case column_type::date: return value_kind::date;
    case column_type::datetime: return value_kind::datetime;
    case column_type::text: break;
  }
  return value_kind::text;
}

const char* kind_name(value_kind k) noexcept {
  switch (k) {
    case value_kind::integer: return "an integer (digits with an optional '-', within 64 bits)";
    case value_kind::decimal: return "a decimal (digits, an optional '-', '.' and exponent, e.g. -11095.25)";
    case value_kind::boolean: return "a boolean (true or false)";
    case value_kind::numeric_flag: return "a deleted flag in Numeric format (1 or 0)";
    case value_kind::date: return "a date (YYYY-MM-DD)";
    case value_kind::datetime: return "a datetime (YYYY-MM-DDThh:mm:ss+hhmm, or a date alone for midnight)";
    case value_kind::text: break;
  }
  return "text";
}

bool parse_integer(std::string_view v, std::int64_t& out) noexcept {
  if (v.empty()) return false;
  const std::size_t start = v[0] == '-' ? 1 : 0;
  if (start == v.size() || (v[start] == '0' && v.size() > start + 1)) return false;
  for (std::size_t i = start; i < v.size(); ++i)
    if (!digit(v[i])) return false;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && p == v.data() + v.size();
}

bool is_decimal(std::string_view s) noexcept { return text::is_json_number(s); }

bool is_date(std::string_view v) noexcept { return v.size() == 10 && date_prefix(v); }

bool normal_datetime(std::string_view v, char* out, std::size_t& n) noexcept {
  if (!date_prefix(v)) return false;
  if (v.size() == 10) {  // a midnight value printed as its date
    std::memcpy(out, v.data(), 10);
    std::memcpy(out + 10, "T00:00:00Z", 10);
    n = 20;
    return true;
  }
  int h, m, s;
  if (v.size() < 20 || v[10] != 'T' || v[13] != ':' || v[16] != ':' || !number_at(v, 11, 2, h) ||
      !number_at(v, 14, 2, m) || !number_at(v, 17, 2, s) || h > 23 || m > 59 || s > 59)
    return false;
  std::size_t i = 19;
  if (v[i] == '.') {
    const std::size_t from = ++i;
    while (i < v.size() && digit(v[i])) ++i;
    if (i == from || i - from > 9) return false;
  }
  const std::size_t zone = i;
  if (zone == v.size()) return false;  // no offset: which instant it names is unknown
  if (v[zone] == 'Z') {
    if (zone + 1 != v.size()) return false;
    std::memcpy(out, v.data(), zone + 1);
    n = zone + 1;
    return true;
  }
  if (v[zone] != '+' && v[zone] != '-') return false;
  int oh, om;
  const std::size_t rest = v.size() - zone - 1;
  const bool colon = rest == 5 && v[zone + 3] == ':';
  if (!(rest == 4 || colon) || !number_at(v, zone + 1, 2, oh) || !number_at(v, zone + (colon ? 4 : 3), 2, om) ||
      oh > 15 || om > 59)
    return false;
  std::memcpy(out, v.data(), zone + 3);  // through the offset's hours
  out[zone + 3] = ':';
  std::memcpy(out + zone + 4, v.data() + v.size() - 2, 2);
  n = zone + 6;
  return true;
}

bool utc_datetime(std::string_view v, char* out) noexcept {
  char normal[datetime_max];
  std::size_t n = 0;
  if (v.size() > datetime_max || !normal_datetime(v, normal, n)) return false;
  const std::string_view t(normal, n);  // YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm)
  const auto put_fraction = [&](std::size_t from) {
    char* f = out + 20;
    std::memcpy(f, "000000", 6);
    for (std::size_t k = 0; from < t.size() && digit(t[from]) && k < 6; ++from, ++k) f[k] = t[from];
  };
  if (t.back() == 'Z' || t.ends_with("+00:00") || t.ends_with("-00:00")) {  // already UTC: the common case
    std::memcpy(out, t.data(), 19);
    out[19] = '.';
    put_fraction(t[19] == '.' ? 20 : t.size());
    out[26] = 'Z';
    return true;
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  number_at(t, 0, 4, y);
  number_at(t, 5, 2, mo);
  number_at(t, 8, 2, d);
  number_at(t, 11, 2, h);
  number_at(t, 14, 2, mi);
  number_at(t, 17, 2, s);
  std::size_t i = 19;
  if (t[i] == '.')
    while (++i < t.size() && digit(t[i])) {
    }
  using namespace std::chrono;
  sys_seconds at = sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} + hours{h} +
                   minutes{mi} + seconds{s};
  if (t[i] != 'Z') {  // ±hh:mm: UTC is the local time minus the offset
    int oh = 0, om = 0;
    number_at(t, i + 1, 2, oh);
    number_at(t, i + 4, 2, om);
    const seconds offset = hours{oh} + minutes{om};
    at = t[i] == '+' ? at - offset : at + offset;
  }
  const year_month_day ymd{floor<days>(at)};
  const hh_mm_ss hms{at - floor<days>(at)};
  const int yy = static_cast<int>(ymd.year());
  if (yy < 1 || yy > 9999) return false;
  const auto two = [&](char* p, unsigned x) {
    p[0] = static_cast<char>('0' + x / 10);
    p[1] = static_cast<char>('0' + x % 10);
  };
  two(out, static_cast<unsigned>(yy / 100));
  two(out + 2, static_cast<unsigned>(yy % 100));
  out[4] = '-';
  two(out + 5, static_cast<unsigned>(ymd.month()));
  out[7] = '-';
  two(out + 8, static_cast<unsigned>(ymd.day()));
  out[10] = 'T';
  two(out + 11, static_cast<unsigned>(hms.hours().count()));
  out[13] = ':';
  two(out + 14, static_cast<unsigned>(hms.minutes().count()));
  out[16] = ':';
  two(out + 17, static_cast<unsigned>(hms.seconds().count()));
  out[19] = '.';
  put_fraction(t[19] == '.' ? 20 : t.size());
  out[26] = 'Z';
  return true;
}

bool python_truth(std::string_view v) noexcept {
  if (v.size() != 5) return !v.empty();
  static constexpr char f[] = "false";
  for (std::size_t i = 0; i < 5; ++i)
    if ((v[i] | 0x20) != f[i]) return true;
  return false;
}

bool fits(value_kind k, std::string_view v, bool& flag) noexcept {
  switch (k) {
    case value_kind::text: return true;
    case value_kind::integer: {
      std::int64_t x;
      return parse_integer(v, x);
    }
    case value_kind::decimal: return is_decimal(v);
    case value_kind::boolean:
      flag = v == "true";
      return flag || v == "false";
    case value_kind::numeric_flag:
      flag = v == "1";
      return flag || v == "0";
    case value_kind::date: return is_date(v);
    case value_kind::datetime: {
      char buf[datetime_max];
      std::size_t n;
      return v.size() <= datetime_max && normal_datetime(v, buf, n);
    }
  }
  return false;
}

void refuse_value(std::string_view sink, const stream_schema& schema, std::uint64_t record, std::size_t column,
                  std::string_view value, value_kind k) {
  std::string shown;
  for (char c : value.substr(0, 60)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      shown += c;
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      shown += "\\x";
      shown += hex[u >> 4];
      shown += hex[u & 15];
    }
  }
  if (value.size() > 60) shown += "...";
  throw std::system_error(sink_errc::bad_value,
                          std::string(sink) + ": " + where(schema) + ", record " + std::to_string(record) +
                              " of the stream, column " + (column < schema.columns.size() ? schema.columns[column] : "?") +
                              ": '" + shown + "' is not " + kind_name(k) + "; nothing of this stream is committed");
}

}  // namespace aquaduct::sinks

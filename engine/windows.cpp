// Time windows, their ZOQL, and the data centres' wall clocks (windows.hpp).
#include "engine/windows.hpp"

#include "engine/zoql_text.hpp"

#include <date/tz.h>

#include "text/utc_time.hpp"

#include "transport/url.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace aquaduct::engine_detail {

namespace {

using namespace std::chrono;

constexpr seconds max_duration{100LL * 366 * 86400};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// `n` decimal digits of `s` at `at` (digits only: no sign, no space).
bool number_at(std::string_view s, std::size_t at, std::size_t n, int& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!is_digit(s[i])) return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// "YYYY-MM-DD" with an optional 'T' or ' ' and "HH:MM:SS"; `rest` is what follows.
struct wall_time {
  sys_seconds t;
  char separator = 0;  // 0 (date only), 'T' or ' '
  std::string_view rest;
};

std::optional<wall_time> parse_wall(std::string_view s) {
  int y = 0, mo = 0, d = 0;
  if (s.size() < 10 || !number_at(s, 0, 4, y) || s[4] != '-' || !number_at(s, 5, 2, mo) || s[7] != '-' ||
      !number_at(s, 8, 2, d))
    return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  wall_time w{sys_days{ymd}, 0, {}};
  if (s.size() == 10) return w;
  w.separator = s[10];
  int h = 0, mi = 0, se = 0;
  if ((w.separator != 'T' && w.separator != ' ') || !number_at(s, 11, 2, h) || s.size() < 19 || s[13] != ':' ||
      !number_at(s, 14, 2, mi) || s[16] != ':' || !number_at(s, 17, 2, se) || h > 23 || mi > 59 || se > 59)
    return std::nullopt;
  w.t += hours{h} + minutes{mi} + seconds{se};
  w.rest = s.substr(19);
  return w;
}

struct civil_time {
  int y;
  unsigned mo, d;
  long h, mi, s;
};

civil_time break_down(sys_seconds t) {
  const sys_days day_start = floor<days>(t);
  const year_month_day ymd{day_start};
  const hh_mm_ss<seconds> hms{t - day_start};
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
          static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
          static_cast<long>(hms.seconds().count())};
}

// "YYYY-MM-DD<sep>HH:MM:SS"
std::string format_wall(sys_seconds t, char sep) {
  const civil_time c = break_down(t);
  return fmt::format("{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}", c.y, c.mo, c.d, sep, c.h, c.mi, c.s);
}

std::string check_field(std::string_view what, const std::string& by) {
  if (by.empty()) return std::string(what) + ".by is required: the datetime field the windows cut, e.g. UpdatedDate";
  if (!is_field_name(by))
    return std::string(what) + ".by = \"" + by + "\" is not a field name (e.g. UpdatedDate or Account.UpdatedDate)";
  return {};
}

// A positive duration, or the message why not.
std::string check_step(std::string_view key, const std::string& text) {
  std::string error;
  const auto d = parse_iso_duration(text, error);
  if (!d) return std::string(key) + ": " + error;
  if (*d <= seconds{0}) return std::string(key) + " = \"" + text + "\" must be longer than zero";
  return {};
}

}  // namespace

std::optional<sys_seconds> parse_time_point(std::string_view text, sys_seconds now, std::string& error) {
  if (text == "now") return now;
  const auto w = parse_wall(text);
  if (w && (w->separator == 0 || (w->separator == ' ' && w->rest.empty()) ||
            (w->separator == 'T' && w->rest == "Z")))
    return w->t;
  if (w && w->separator == 'T' && w->rest.empty())
    error = fmt::format("'{0}' has no zone: add Z (these times are UTC), e.g. {0}Z", text);
  else
    error = fmt::format(
        "'{}' is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD HH:MM:SS (all UTC), or now", text);
  return std::nullopt;
}

std::optional<seconds> parse_iso_duration(std::string_view text, std::string& error) {
  const auto fail = [&](std::string_view why) -> std::optional<seconds> {
    error = fmt::format(
        "'{}' is not an ISO 8601 duration of days, hours, minutes and seconds ({}), e.g. P30D, PT6H or P1DT12H30M",
        text, why);
    return std::nullopt;
  };
  if (text.empty() || text.front() != 'P') return fail("it must start with P");
  std::size_t i = 1;
  bool in_time = false;
  int rank = -1;  // D=0, H=1, M=2, S=3: each once, in this order
  bool any = false;
  seconds total{0};
  while (i < text.size()) {
    if (text[i] == 'T') {
      if (in_time) return fail("T appears twice");
      in_time = true;
      ++i;
      if (i == text.size()) return fail("nothing follows T");
      continue;
    }
    const std::size_t start = i;
    std::int64_t n = 0;
    while (i < text.size() && is_digit(text[i])) {
      if (i - start >= 12) return fail("a number is too large");
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return fail("a number must come before each unit");
    if (i == text.size()) return fail("the last number has no unit");
    const char unit = text[i++];
    if (unit == '.' || unit == ',') return fail("fractions are not supported");
    int r = 0;
    std::int64_t mult = 0;
    if (!in_time) {
      if (unit == 'Y' || unit == 'M')
        return fail("years and months are not supported, their length varies: use days, e.g. P30D");
      if (unit == 'W') return fail("weeks are not supported: use days, e.g. P14D");
      if (unit != 'D') return fail(fmt::format("'{}' is not a unit; before T only D (days) is", unit));
      r = 0;
      mult = 86400;
    } else if (unit == 'H') {
      r = 1;
      mult = 3600;
    } else if (unit == 'M') {
      r = 2;
      mult = 60;
    } else if (unit == 'S') {
      r = 3;
      mult = 1;
    } else {
      return fail(fmt::format("'{}' is not a unit; after T only H, M and S are", unit));
    }
    if (r <= rank) return fail("units must appear once each, in the order D, T, H, M, S");
    rank = r;
    any = true;
    total += seconds{n * mult};
    if (total > max_duration) return fail("longer than 100 years");
  }
  if (!any) return fail("it has no number");
  return total;
}

std::string check_partition(const partition_config& cfg) {
  if (std::string e = check_field("partition", cfg.by); !e.empty()) return e;
  if (cfg.from.empty()) return "partition.from is required: where the first window starts, e.g. \"2020-01-01\"";
  if (cfg.from == "now") return "partition.from cannot be \"now\": nothing lies between now and the end";
  std::string error;
  const auto from = parse_time_point(cfg.from, sys_seconds{}, error);
  if (!from) return "partition.from: " + error;
  const auto to = parse_time_point(cfg.to, sys_seconds{}, error);
  if (!to) return "partition.to: " + error;
  if (cfg.to != "now" && *from >= *to)
    return "partition.from (" + cfg.from + ") must come before partition.to (" + cfg.to + ")";
  if (cfg.step.empty()) return "partition.step is required: each window's length, e.g. \"P30D\"";
  if (std::string e = check_step("partition.step", cfg.step); !e.empty()) return e;
  // "now" is read from the clock here only to size the plan.
  const sys_seconds end = cfg.to == "now" ? floor<seconds>(system_clock::now()) : *to;
  const seconds step = *parse_iso_duration(cfg.step, error);
  if (end > *from && (end - *from - seconds{1}) / step + 1 > static_cast<std::int64_t>(max_partition_windows))
    return fmt::format("partition.step = \"{}\" cuts {}..{} into more than {} windows: use a longer step", cfg.step,
                       cfg.from, cfg.to, max_partition_windows);
  return check_step("partition.min_step", cfg.min_step);
}

std::string check_incremental(const incremental_config& cfg) {
  if (std::string e = check_field("incremental", cfg.by); !e.empty()) return e;
  if (cfg.start == "now")
    return "incremental.start cannot be \"now\": the first window must start at a fixed time";
  std::string error;
  if (!parse_time_point(cfg.start, sys_seconds{}, error)) return "incremental.start: " + error;
  return check_step("incremental.min_step", cfg.min_step);
}

std::vector<time_window> plan_partition(const partition_config& cfg, sys_seconds now) {
  std::string error;
  const auto from = parse_time_point(cfg.from, now, error);
  const auto to = parse_time_point(cfg.to, now, error);
  const auto step = parse_iso_duration(cfg.step, error);
  std::vector<time_window> out;
  if (!from || !to || !step || *step <= seconds{0} || *from >= *to ||
      (*to - *from - seconds{1}) / *step + 1 > static_cast<std::int64_t>(max_partition_windows))
    return out;
  for (sys_seconds t = *from; t < *to; t += *step) out.push_back({t, std::min(t + *step, *to)});
  return out;
}

bool rows_move_along(std::string_view by) {
  const std::size_t dot = by.rfind('.');
  return !zoql_iequals(dot == std::string_view::npos ? by : by.substr(dot + 1), "CreatedDate");
}

std::string catch_up_key_problem(const query_config& q, bool use_query_labels) {
  if (!q.partition || q.partition->to != "now" || !rows_move_along(q.partition->by)) return {};
  const std::string why = base_id_problem(q.query, use_query_labels);
  if (why.empty()) return {};
  return "query " + q.name + " is a full load partitioned on " + q.partition->by +
         " up to now: rows updated during the backfill leave their window, and the catch-up window that brings "
         "them back replaces their older copies by the base object's Id, but " + why +
         " (or partition on CreatedDate, which no update moves)";
}

std::optional<time_window> incremental_window(const incremental_config& cfg, std::optional<sys_seconds> high_water,
                                              sys_seconds now) {
  std::string error;
  std::optional<sys_seconds> from = high_water;
  if (!from) from = parse_time_point(cfg.start, now, error);
  if (!from) return std::nullopt;
  const sys_seconds to = now - seconds{cfg.lag_s};
  if (*from >= to) return std::nullopt;
  return time_window{*from, to};
}

bool can_split(time_window w, seconds min_step) {
  const seconds length = w.to - w.from;
  return length / 2 >= std::max(min_step, seconds{1});  // the floor half is the shorter one; never empty
}

std::pair<time_window, time_window> split_window(time_window w) {
  const sys_seconds mid = w.from + (w.to - w.from) / 2;
  return {{w.from, mid}, {mid, w.to}};
}

std::string zoql_utc_literal(sys_seconds t) { return format_wall(t, 'T') + "+00:00"; }

std::string windowed_query(std::string_view zoql, std::string_view column, time_window w, std::string& error) {
  using k = zoql_token::kind;
  if (!is_field_name(column)) {
    error = fmt::format("'{}' is not a field name to window by", column);
    return {};
  }
  std::vector<zoql_token> toks;
  if (!zoql_scan(zoql, toks, error)) return {};
  const auto text = [&](std::size_t i) { return zoql.substr(toks[i].begin, toks[i].end - toks[i].begin); };
  const auto is_kw = [&](std::size_t i, std::string_view kw) {
    return i < toks.size() && toks[i].k == k::word && toks[i].depth == 0 && zoql_iequals(text(i), kw);
  };
  if (!is_kw(0, "select")) {
    error = "the query must start with select";
    return {};
  }
  std::size_t from = 1;
  while (from < toks.size() && !is_kw(from, "from")) ++from;
  if (from == toks.size()) {
    error = "the query has no FROM";
    return {};
  }
  if (from + 1 >= toks.size() || toks[from + 1].k != k::word) {
    error = "the query's FROM names no object";
    return {};
  }
  // The clause that ends the WHERE: group by, having, order by, limit N, ';'.
  const auto ends_where = [&](std::size_t i) {
    if (toks[i].depth != 0) return false;
    if (toks[i].k == k::semicolon) return true;
    if ((is_kw(i, "group") || is_kw(i, "order")) && is_kw(i + 1, "by")) return true;
    if (is_kw(i, "having")) return true;
    return is_kw(i, "limit") && i + 1 < toks.size() && toks[i + 1].k == k::word && is_digit(text(i + 1).front());
  };
  // After the object: WHERE, the tail, or the end.
  const std::size_t where = is_kw(from + 2, "where") ? from + 2 : 0;  // 0: none
  std::size_t tail = from + 2;
  if (where != 0)
    while (tail < toks.size() && !ends_where(tail)) ++tail;
  else if (tail < toks.size() && !ends_where(tail)) {
    error = fmt::format("unexpected '{}' after the FROM object", text(tail));
    return {};
  }
  const std::size_t body_end = toks[tail - 1].end;  // the last byte before the tail's whitespace
  const std::string col(column);
  std::string window = col + " >= '" + zoql_utc_literal(w.from) + "' and " + col + " < '" +
                       zoql_utc_literal(w.to) + "'";
  std::string out;
  if (where == 0) {
    out = std::string(zoql.substr(0, body_end)) + " where " + window;
  } else {
    if (where + 1 == tail) {
      error = "the query's WHERE has no condition";
      return {};
    }
    bool parentheses = false;
    std::vector<std::size_t> ors;  // top-level `or` tokens
    for (std::size_t i = where + 1; i < tail; ++i) {
      parentheses = parentheses || toks[i].k == k::lparen;
      if (is_kw(i, "or")) ors.push_back(i);
    }
    const std::size_t cond_begin = toks[where + 1].begin;
    out = std::string(zoql.substr(0, cond_begin));
    if (ors.empty()) {  // a and b ... and window
      out += zoql.substr(cond_begin, body_end - cond_begin);
      out += " and " + window;
    } else if (parentheses) {  // Export ZOQL: (a or b) and window
      out += '(';
      out += zoql.substr(cond_begin, body_end - cond_begin);
      out += ") and " + window;
    } else {
      // No parentheses (plain ZOQL forbids them): and binds tighter than or,
      // so a or b becomes a and window or b and window.
      std::size_t begin = cond_begin;
      for (std::size_t i = 0; i <= ors.size(); ++i) {
        const std::size_t end = i < ors.size() ? toks[ors[i] - 1].end : body_end;
        out += zoql.substr(begin, end - begin);
        out += " and " + window;
        if (i < ors.size()) {
          out += zoql.substr(end, toks[ors[i]].end - end);  // " or"
          begin = toks[ors[i]].end;
        }
      }
    }
  }
  const std::string_view rest = zoql.substr(body_end);
  if (!rest.empty() && rest.front() != ' ' && rest.front() != '\t' && rest.front() != '\n' && rest.front() != '\r' &&
      rest.front() != ';')
    out += ' ';
  out += rest;
  return out;
}

data_center_zone resolve_zone(const source_config& src) {
  if (src.time_zone != data_center_zone::automatic) return src.time_zone;
  std::string url = src.base_url;
  if (!src.environment.empty())
    if (std::string u = transport::environment_base_url(src.environment); !u.empty()) url = std::move(u);
  std::error_code ec;
  const transport::origin o = transport::parse_base_url(url, ec);
  if (ec) return data_center_zone::pacific;
  std::string host = o.host;
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!host.empty() && host.back() == '.') host.pop_back();  // a fully qualified "rest.eu.zuora.com."
  const bool eu = host == "eu.zuora.com" || host.ends_with(".eu.zuora.com");
  return eu ? data_center_zone::utc : data_center_zone::pacific;
}

wall_zone::wall_zone(data_center_zone z)
    : z_(date::locate_zone(z == data_center_zone::utc ? "UTC" : "America/Los_Angeles")) {}

std::optional<wall_zone> wall_zone::named(std::string_view iana, std::string& error) {
  try {
    return wall_zone(date::locate_zone(iana));
  } catch (const std::exception&) {
    error = fmt::format("'{}' is not a time zone of the IANA database (e.g. Asia/Tokyo, Europe/Berlin, UTC)", iana);
    return std::nullopt;
  }
}

std::string_view wall_zone::name() const { return z_->name(); }

seconds wall_zone::offset_at(sys_seconds t) const { return z_->get_info(t).offset; }

sys_seconds wall_zone::to_utc(sys_seconds local) const {
  const date::local_seconds l{local.time_since_epoch()};
  // unique: its offset; ambiguous: `first` is the earlier instant; nonexistent:
  // `first` is the offset in force before the gap.
  const date::local_info info = z_->get_info(l);
  return sys_seconds{local.time_since_epoch() - info.first.offset};
}

wall_zone tenant_zone(const source_config& src) {
  std::string error;
  if (!src.tenant_time_zone.empty())
    if (auto z = wall_zone::named(src.tenant_time_zone, error)) return *z;
  return wall_zone(resolve_zone(src));
}

seconds pacific_offset(sys_seconds t) { return wall_zone(data_center_zone::pacific).offset_at(t); }

sys_seconds local_to_utc(sys_seconds local, const wall_zone& z) { return z.to_utc(local); }

std::string format_incremental_time(sys_seconds t, const wall_zone& z) { return format_wall(t + z.offset_at(t), ' '); }

std::optional<sys_seconds> parse_start_time(std::string_view text, const wall_zone& z) {
  const auto w = parse_wall(text);
  if (!w || w->separator == 0) return std::nullopt;
  std::string_view rest = w->rest;
  if (!rest.empty() && rest.front() == '.') {  // fractional seconds: dropped
    std::size_t i = 1;
    while (i < rest.size() && is_digit(rest[i])) ++i;
    if (i == 1) return std::nullopt;
    rest.remove_prefix(i);
  }
  if (rest.empty()) return local_to_utc(w->t, z);
  if (rest == "Z") return w->t;
  if (rest.front() != '+' && rest.front() != '-') return std::nullopt;
  int oh = 0, om = 0;
  const std::size_t mpos = rest.size() == 6 && rest[3] == ':' ? 4 : 3;
  if ((rest.size() != 5 && rest.size() != 6) || (rest.size() == 6 && mpos != 4) || !number_at(rest, 1, 2, oh) ||
      !number_at(rest, mpos, 2, om) || oh > 23 || om > 59)
    return std::nullopt;
  const seconds offset = (hours{oh} + minutes{om}) * (rest.front() == '-' ? -1 : 1);
  return w->t - offset;
}

std::string window_label(time_window w) { return text::compact_utc(w.from) + "-" + text::compact_utc(w.to); }


}  // namespace aquaduct::engine_detail

#pragma once
// Time windows over a datetime column: partitioned backfills, stateless
// high-water-mark windows, adaptive splitting, the window as a ZOQL WHERE, and
// the time zones AQuA reads and writes wall-clock times in. Pure functions: no
// I/O, no clock (callers pass `now`), no Asio.
//
// Time zones (aqua-contract.md §1.3, §7): the data centre reads
// incrementalTime as a wall-clock time in its zone (US: America/Los_Angeles,
// EU: UTC); the tenant writes startTime as a wall-clock time in the tenant's
// own zone, which may be any IANA zone (`[source] tenant_time_zone`). Zones
// and their rules come from the IANA database (Howard Hinnant's date/tz over
// the system's tzdata). Wall-clock times that occur twice (a fall-back hour)
// are read as their first occurrence (the earlier instant, so a cursor never
// jumps ahead); times that do not exist (a spring-forward gap) are read with
// the offset in force before the gap.
#include "text/utc_time.hpp"

#include <aquaduct/config.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace date {
class time_zone;  // <date/tz.h>, kept out of this header
}

namespace aquaduct::engine_detail {

using sys_seconds = std::chrono::sys_seconds;

struct time_window {
  sys_seconds from, to;  // [from, to), UTC
  friend bool operator==(const time_window&, const time_window&) = default;
};

// "YYYY-MM-DD" (midnight), "YYYY-MM-DDTHH:MM:SSZ", "YYYY-MM-DD HH:MM:SS" (all
// UTC) or "now" (returns `now`). nullopt + `error` (naming the text) otherwise.
std::optional<sys_seconds> parse_time_point(std::string_view text, sys_seconds now, std::string& error);

// ISO 8601 durations of days, hours, minutes and seconds: "P30D", "PT6H",
// "P1DT12H30M", "PT90S", "P0D". Years, months and weeks are refused (their
// length varies or they are easy to misread; the error says to use days), as
// are fractions, signs, lower case and durations over 100 years.
std::optional<std::chrono::seconds> parse_iso_duration(std::string_view text, std::string& error);

// The most windows one partition may plan.
inline constexpr std::size_t max_partition_windows = 10000;

// "" when valid, else one message (used by the config loader, which prefixes
// FILE:LINE:COL). Checks: `by` is a field name; from/to/start parse; from is not
// "now" and lies before a fixed `to`; step and min_step are positive; the plan
// has at most max_partition_windows windows (to = "now" read from the system
// clock for this count only); start is not "now". A min_step longer than step
// is allowed: such windows are never split.
std::string check_partition(const partition_config&);
std::string check_incremental(const incremental_config&);

// Consecutive windows from..to by step, the last one clipped to `to`; empty
// when from >= to, the config does not parse or the plan would exceed
// max_partition_windows (check_partition says why).
std::vector<time_window> plan_partition(const partition_config&, sys_seconds now);

// Whether a full load partitioned on `by` needs a catch-up window
// (window_group.hpp): every column but CreatedDate may move a row out of its
// window while the backfill runs.
bool rows_move_along(std::string_view by);
// Why `q`, a partitioned full load that needs a catch-up (to = "now" on a
// column rows move along), cannot have one: the catch-up replaces older
// copies of a row by the base object's Id, which its result header must
// show. "" when it can, or when it needs none.
std::string catch_up_key_problem(const query_config& q, bool use_query_labels);

// Stateless high-water mark: [high_water or cfg.start, now - lag_s); nullopt
// when that is empty (or cfg.start does not parse).
std::optional<time_window> incremental_window(const incremental_config&, std::optional<sys_seconds> high_water,
                                              sys_seconds now);

// Whether both halves of `w` would be at least `min_step` (and 1 s) long.
bool can_split(time_window w, std::chrono::seconds min_step);
// The halves of `w`, split at a whole second (the first half is the shorter
// one by at most a second).
std::pair<time_window, time_window> split_window(time_window w);

// The query restricted to the window: its WHERE gains
//   <column> >= 'YYYY-MM-DDTHH:MM:SS+00:00' and <column> < '...+00:00'
// (an explicit UTC offset, so the tenant's time zone cannot shift the window).
// An existing condition is kept in front. With a top-level `or` it is
// parenthesised, `(a or b) and <window>`, unless it has no parentheses at all
// (plain ZOQL forbids them): then each or-ed term gets the window,
// `a and <window> or b and <window>` (the same, as and binds tighter than or).
// The predicates go before group by / having / order by / limit / ';'.
// Strings ('it''s where') and quoted aliases are skipped, never read as
// keywords. Errors (no select/from, unterminated string, unbalanced
// parentheses, something after the FROM object other than a clause, a column
// that is not a field name) return "" and set `error`.
std::string windowed_query(std::string_view zoql, std::string_view column, time_window w, std::string& error);

// A wall clock: an IANA zone, resolved once. Cheap to copy.
class wall_zone {
 public:
  // data_center_zone::utc is UTC; automatic and pacific are America/Los_Angeles.
  wall_zone(data_center_zone z);  // NOLINT(google-explicit-constructor): a zone names a wall clock
  // Any IANA zone name; nullopt + `error` (naming it) when the database has none.
  static std::optional<wall_zone> named(std::string_view iana, std::string& error);
  std::string_view name() const;
  // The zone's offset from UTC at `t`.
  std::chrono::seconds offset_at(sys_seconds t) const;
  // Wall-clock seconds in the zone (as if UTC) -> the instant (rules above).
  sys_seconds to_utc(sys_seconds local) const;

 private:
  explicit wall_zone(const date::time_zone* z) : z_(z) {}
  const date::time_zone* z_;
};

// The data centre's zone for `src`: time_zone when set; automatic -> utc when
// source.environment names an EU data centre or base_url's host is an EU Zuora
// host (*.eu.zuora.com), else pacific.
data_center_zone resolve_zone(const source_config&);
// The tenant's zone: tenant_time_zone when set (the config loader checked the
// name), else the data centre's.
wall_zone tenant_zone(const source_config&);

// incrementalTime for AQuA: "YYYY-MM-DD HH:MM:SS", the wall-clock time of `t`
// in the data centre's zone.
std::string format_incremental_time(sys_seconds t, const wall_zone& z);

// AQuA's startTime: "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DDTHH:MM:SS" (wall clock
// in the tenant's zone), or ISO with an offset "2021-01-18T17:13:48+0000"
// (also "+00:00" and "Z"); fractional seconds are dropped. nullopt when malformed.
std::optional<sys_seconds> parse_start_time(std::string_view text, const wall_zone& z);

// "20200101T000000Z-20200131T000000Z", safe in file names.
std::string window_label(time_window w);
// "YYYY-MM-DDTHH:MM:SSZ" (text/utc_time.hpp).
using text::iso_utc;

// Helpers also used by tests.
// The Pacific zone's offset from UTC at `t`: -8h or -7h.
std::chrono::seconds pacific_offset(sys_seconds t);
// Wall-clock seconds in the zone (as if UTC) -> the instant (see the rules above).
sys_seconds local_to_utc(sys_seconds local, const wall_zone& z);
// 'YYYY-MM-DDTHH:MM:SS+00:00': the ZOQL literal windowed_query writes (without quotes).
std::string zoql_utc_literal(sys_seconds t);

}  // namespace aquaduct::engine_detail

#pragma once
// UTC instants as text, one way for every client module: file names
// (compact_utc: 20261129T100000Z, a job's start in an incremental file's
// name, a window's label) and messages, reports and cursors (iso_utc:
// 2026-11-29T10:00:00Z). Header-only, no I/O; the calendar is <chrono>'s.
#include <chrono>
#include <cstdio>
#include <string>

namespace aquaduct::text {

namespace detail {
inline std::string format_utc(std::chrono::sys_seconds t, const char* format) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, format, static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return buf;
}
}  // namespace detail

// YYYYmmddTHHMMSSZ
inline std::string compact_utc(std::chrono::sys_seconds t) {
  return detail::format_utc(t, "%04d%02u%02uT%02d%02d%02dZ");
}

// YYYY-MM-DDTHH:MM:SSZ
inline std::string iso_utc(std::chrono::sys_seconds t) {
  return detail::format_utc(t, "%04d-%02u-%02uT%02d:%02d:%02dZ");
}

}  // namespace aquaduct::text

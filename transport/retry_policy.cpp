#include "transport/retry_policy.hpp"

#include <aquaduct/error.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <ctime>
#include <random>

namespace aquaduct::transport {

outcome classify(unsigned status, keyed key) noexcept {
  if (status >= 200 && status < 300) return outcome::success;
  if (status == 429) return outcome::throttled;
  if (status == 500 || status == 502 || status == 503 || status == 504) return outcome::retriable;
  if (status == 409 && key == keyed::yes) return outcome::retriable;
  return outcome::fatal;
}

outcome classify(const std::error_code& ec) noexcept {
  if (!ec) return outcome::success;
  return ec == make_error_condition(condition::retriable) ? outcome::retriable : outcome::fatal;
}

namespace {

bool digits(std::string_view s, int& out) {
  const auto [p, err] = std::from_chars(s.data(), s.data() + s.size(), out);
  return err == std::errc{} && p == s.data() + s.size();
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view v) {
  static constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (v.size() != 29 || v[3] != ',' || v.substr(25) != " GMT" || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
      v[19] != ':' || v[22] != ':')
    return std::nullopt;
  std::tm tm{};
  int day = 0, year = 0, h = 0, m = 0, s = 0;
  if (!digits(v.substr(5, 2), day) || !digits(v.substr(12, 4), year) || !digits(v.substr(17, 2), h) ||
      !digits(v.substr(20, 2), m) || !digits(v.substr(23, 2), s))
    return std::nullopt;
  const auto mon = std::find(months.begin(), months.end(), v.substr(8, 3));
  if (mon == months.end() || day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return std::nullopt;
  tm.tm_mday = day;
  tm.tm_mon = static_cast<int>(mon - months.begin());
  tm.tm_year = year - 1900;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  std::uint64_t seconds = 0;
  const auto [p, err] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (err == std::errc{} && p == value.data() + value.size())
    return std::chrono::milliseconds(std::min<std::uint64_t>(seconds, 86400) * 1000);
  if (auto when = parse_http_date(value)) {
    if (*when <= now) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(*when - now);
  }
  return std::nullopt;
}

std::chrono::milliseconds retry_policy::backoff(unsigned n, double unit) const noexcept {
  const double exp = static_cast<double>(opts_.initial.count()) *
                     std::pow(opts_.multiplier, static_cast<double>(n > 0 ? n - 1 : 0));
  const double cap = std::min(exp, static_cast<double>(opts_.max_delay.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(cap * std::clamp(unit, 0.0, 1.0)));
}

retry_decision retry_policy::next(outcome kind, const retry_state& state,
                                  std::optional<std::chrono::milliseconds> retry_after, double unit) const noexcept {
  const bool throttled = kind == outcome::throttled;
  if (!throttled && state.failures >= opts_.max_attempts) return {retry_action::give_up, {}, give_up_reason::attempts};
  if (state.elapsed >= opts_.budget) return {retry_action::give_up, {}, give_up_reason::budget};
  const auto fits = [&](std::chrono::milliseconds d) { return state.elapsed + d < opts_.budget; };
  const std::chrono::milliseconds polite = backoff(throttled ? state.throttles : state.failures, unit);
  std::chrono::milliseconds delay = polite;
  if (retry_after) delay = throttled ? std::max(*retry_after, polite) : *retry_after;
  if (fits(delay)) return {retry_action::wait, delay, give_up_reason::none};
  if (!retry_after) return {retry_action::give_up, {}, give_up_reason::budget};
  if (fits(*retry_after)) return {retry_action::wait, *retry_after, give_up_reason::none};  // the backoff was only politeness
  if (*retry_after > opts_.max_pause) return {retry_action::give_up, *retry_after, give_up_reason::pause_too_long};
  return {retry_action::pause, *retry_after, give_up_reason::none};
}

double jitter_unit() noexcept {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace aquaduct::transport

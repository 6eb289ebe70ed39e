#pragma once
// When to try again, split in two pure parts:
//  - classify(): is this outcome worth another attempt at all?
//    Connect errors, resets, timeouts, 429, 502, 503 and 504 are; other 4xx
//    (and every other status or error) are not.
//  - retry_policy::next(): given the attempt number, the time spent and any
//    Retry-After, whether to try again and after how long: exponential
//    backoff with full jitter, a cap, a maximum number of attempts and an
//    overall budget. Retry-After (seconds or HTTP-date) wins over the backoff,
//    but never beyond the budget.
// No I/O, no clock reads, no randomness of its own: the caller passes `now`
// and a uniform random number, so every decision is testable.
#include <chrono>
#include <optional>
#include <string_view>
#include <system_error>

namespace aquaduct::transport {

enum class outcome { success, retriable, fatal };

// An HTTP status: 2xx success; 429/502/503/504 retriable; anything else fatal.
outcome classify(unsigned status) noexcept;
// A failed operation: the `retriable` condition (connect_failed, timeout,
// connection_closed) is retriable; everything else is fatal.
outcome classify(const std::error_code& ec) noexcept;

// Retry-After as a delay from `now`: delta-seconds, or an IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT"). A date in the past is zero. Anything
// else is nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

struct retry_options {
  std::chrono::milliseconds initial{250};  // the first backoff's upper bound
  std::chrono::milliseconds max_delay{30000};
  double multiplier = 2.0;
  unsigned max_attempts = 5;                // attempts in all, the first included
  std::chrono::milliseconds budget{300000};  // time for all attempts and waits together
};

struct retry_decision {
  bool retry = false;
  std::chrono::milliseconds delay{0};
};

class retry_policy {
 public:
  explicit retry_policy(retry_options opts = {}) : opts_(opts) {}

  // After attempt number `attempt` (1 = the first) failed retriably, having
  // spent `elapsed` since the first attempt started. `unit` is uniform in
  // [0, 1) (full jitter: delay = unit * min(cap, initial * multiplier^(attempt-1))).
  retry_decision next(unsigned attempt, std::chrono::milliseconds elapsed,
                      std::optional<std::chrono::milliseconds> retry_after, double unit) const noexcept;

  const retry_options& options() const noexcept { return opts_; }

 private:
  retry_options opts_;
};

// A uniform number in [0, 1) for the jitter (thread-local generator).
double jitter_unit() noexcept;

}  // namespace aquaduct::transport

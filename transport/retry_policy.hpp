#pragma once
// When to try again, split in two pure parts:
//  - classify(): what an outcome means for the retry loop:
//      success    2xx
//      throttled  429: the service asks us to slow down. Back-pressure, not
//                 a failed attempt: it never counts toward max_attempts.
//      retriable  500, 502, 503, 504; 409 when the request carries an
//                 Idempotency-Key (an attempt with that key is still being
//                 processed); connect errors, resets, timeouts
//      fatal      every other status or error
//  - retry_policy::next(): given what the request went through, whether to
//    try again, after how long, or to pause the whole tenant: exponential
//    backoff with full jitter, a cap, a maximum number of failed attempts and
//    an overall budget of the request's own time. Retry-After (seconds or
//    HTTP-date) is honoured; one that does not fit in what is left of the
//    budget asks for a tenant-wide pause, up to max_pause.
// No I/O, no clock reads, no randomness of its own: the caller passes the
// time spent and a uniform random number, so every decision is testable.
#include <chrono>
#include <optional>
#include <string_view>
#include <system_error>

namespace aquaduct::transport {

enum class outcome { success, throttled, retriable, fatal };

// Whether a request carries an Idempotency-Key (a retried POST then cannot
// act twice, and a 409 means "that key's first attempt is still running").
enum class keyed : bool { no, yes };

// An HTTP status, as in the table above.
outcome classify(unsigned status, keyed key = keyed::no) noexcept;
// A failed operation: the `retriable` condition (connect_failed, timeout,
// connection_closed, aqua_errc::unavailable) is retriable; everything else is fatal.
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
  unsigned max_attempts = 5;                // failed attempts in all, the first included; 429s do not count
  std::chrono::milliseconds budget{300000};  // the request's own time: attempts and waits, pauses excluded
  std::chrono::milliseconds max_pause{3600000};  // the longest tenant-wide pause a Retry-After may ask for
};

// What one request went through so far.
struct retry_state {
  unsigned failures = 0;   // retriable failures (they count toward max_attempts)
  unsigned throttles = 0;  // 429s (they do not)
  std::chrono::milliseconds elapsed{0};  // the request's own time: waits in a tenant-wide pause excluded
};

enum class retry_action {
  give_up,  // see give_up_reason
  wait,     // this request waits `delay`, then tries again
  pause,    // the service asked for a wait beyond the budget: every request of the tenant waits `delay`
};

enum class give_up_reason { none, attempts, budget, pause_too_long };

struct retry_decision {
  retry_action action = retry_action::give_up;
  std::chrono::milliseconds delay{0};
  give_up_reason reason = give_up_reason::none;
};

class retry_policy {
 public:
  explicit retry_policy(retry_options opts = {}) : opts_(opts) {}

  // After an attempt whose outcome was `kind` (retriable or throttled),
  // with `state` already counting it. `unit` is uniform in [0, 1) (full
  // jitter: backoff = unit * min(cap, initial * multiplier^(n-1)), n being
  // the failures, or the 429s for a throttled attempt).
  //  - retriable: Retry-After replaces the backoff.
  //  - throttled: the longer of Retry-After and the backoff, so that a
  //    service answering "Retry-After: 0" again and again is not hammered
  //    (nothing but the budget ends a run of 429s).
  // A wait that does not fit in the budget's rest gives up, unless the
  // service asked for it with Retry-After: then it is a pause, when it is
  // no longer than max_pause.
  retry_decision next(outcome kind, const retry_state& state, std::optional<std::chrono::milliseconds> retry_after,
                      double unit) const noexcept;

  const retry_options& options() const noexcept { return opts_; }

 private:
  std::chrono::milliseconds backoff(unsigned n, double unit) const noexcept;

  retry_options opts_;
};

// A uniform number in [0, 1) for the jitter (thread-local generator).
double jitter_unit() noexcept;

}  // namespace aquaduct::transport

#include "transport/retry_policy.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

using namespace aquaduct;
using namespace std::chrono_literals;
using transport::outcome;
using transport::retry_options;
using transport::retry_policy;

using transport::retry_action;
using transport::retry_state;

namespace {

retry_state failed(unsigned failures, std::chrono::milliseconds elapsed = 0ms) { return {failures, 0, elapsed}; }
retry_state throttled(unsigned throttles, std::chrono::milliseconds elapsed = 0ms, unsigned failures = 0) {
  return {failures, throttles, elapsed};
}

}  // namespace

TEST_CASE("classification: what is worth another attempt, and what is back-pressure") {
  for (unsigned s : {200u, 204u, 206u}) CHECK(transport::classify(s) == outcome::success);
  CHECK(transport::classify(429) == outcome::throttled);
  CHECK(transport::classify(429, transport::keyed::yes) == outcome::throttled);
  for (unsigned s : {500u, 502u, 503u, 504u}) CHECK(transport::classify(s) == outcome::retriable);
  // 409: "this Idempotency-Key's first attempt is still being processed"; without a key, a real conflict.
  CHECK(transport::classify(409, transport::keyed::yes) == outcome::retriable);
  CHECK(transport::classify(409) == outcome::fatal);
  for (unsigned s : {400u, 401u, 403u, 404u, 416u, 422u, 501u, 505u}) CHECK(transport::classify(s) == outcome::fatal);
  for (auto e : {transport_errc::connect_failed, transport_errc::timeout, transport_errc::connection_closed})
    CHECK(transport::classify(make_error_code(e)) == outcome::retriable);
  for (auto e : {transport_errc::tls_failed, transport_errc::bad_response, transport_errc::cancelled,
                 transport_errc::restart_needed, transport_errc::body_too_large})
    CHECK(transport::classify(make_error_code(e)) == outcome::fatal);
  CHECK(transport::classify(make_error_code(aqua_errc::unavailable)) == outcome::retriable);
  CHECK(transport::classify(make_error_code(aqua_errc::auth_refused)) == outcome::fatal);
}

TEST_CASE("exponential backoff with full jitter and a cap") {
  retry_options o;
  o.initial = 100ms;
  o.max_delay = 1000ms;
  o.multiplier = 2.0;
  o.max_attempts = 10;
  o.budget = 3600s;
  const retry_policy p(o);
  // unit just below 1 gives the upper bound of each attempt's window.
  const double top = 0.999999;
  std::chrono::milliseconds window = o.initial;
  for (unsigned attempt = 1; attempt <= 6; ++attempt) {
    CAPTURE(attempt);
    const auto d = p.next(outcome::retriable, failed(attempt), std::nullopt, top);
    REQUIRE(d.action == retry_action::wait);
    // The window doubles per attempt until the cap; the delay stays inside it.
    CHECK(d.delay < window);
    CHECK(d.delay >= window - 1ms);
    // A run of 429s backs off the same way, by its own count.
    CHECK(p.next(outcome::throttled, throttled(attempt), std::nullopt, top).delay == d.delay);
    window = std::min(window * 2, o.max_delay);
  }
  CHECK(p.next(outcome::retriable, failed(3), std::nullopt, 0.0).delay == 0ms);    // full jitter reaches zero
  CHECK(p.next(outcome::retriable, failed(3), std::nullopt, 0.5).delay == 200ms);  // and everything between
}

TEST_CASE("max attempts and the overall budget stop retries; 429s count toward the budget only") {
  retry_options o;
  o.initial = 100ms;
  o.max_attempts = 3;
  o.budget = 1000ms;
  const retry_policy p(o);
  CHECK(p.next(outcome::retriable, failed(2), std::nullopt, 0.5).action == retry_action::wait);
  const auto third = p.next(outcome::retriable, failed(3), std::nullopt, 0.5);  // the third attempt was the last
  CHECK(third.action == retry_action::give_up);
  CHECK(third.reason == transport::give_up_reason::attempts);
  const auto spent = p.next(outcome::retriable, failed(1, 1000ms), std::nullopt, 0.5);
  CHECK(spent.action == retry_action::give_up);
  CHECK(spent.reason == transport::give_up_reason::budget);
  CHECK(p.next(outcome::retriable, failed(1, 700ms), 200ms, 0.5).action == retry_action::wait);

  // Fifty 429s, after as many failures as max_attempts allows: still only the budget can end them.
  CHECK(p.next(outcome::throttled, throttled(50, 0ms, 3), 0ms, 0.5).action == retry_action::wait);
  const auto throttled_out = p.next(outcome::throttled, throttled(50, 1000ms), 0ms, 0.5);
  CHECK(throttled_out.action == retry_action::give_up);
  CHECK(throttled_out.reason == transport::give_up_reason::budget);
  // With no Retry-After, a backoff that does not fit in the rest of the budget ends the request.
  CHECK(p.next(outcome::throttled, throttled(1, 999ms), std::nullopt, 0.999).reason == transport::give_up_reason::budget);
}

TEST_CASE("a 429 waits the longer of Retry-After and its backoff") {
  retry_options o;
  o.initial = 100ms;
  o.max_delay = 100ms;
  o.budget = 10s;
  const retry_policy p(o);
  CHECK(p.next(outcome::throttled, throttled(1), 0ms, 0.5).delay == 50ms);      // "Retry-After: 0" is not a busy loop
  CHECK(p.next(outcome::throttled, throttled(1), 2000ms, 0.5).delay == 2000ms);  // and Retry-After is honoured
  // A retriable failure takes Retry-After as it is.
  CHECK(p.next(outcome::retriable, failed(1), 0ms, 0.5).delay == 0ms);
  // When only the backoff would overrun the budget, Retry-After alone is waited.
  const auto late = p.next(outcome::throttled, throttled(1, 9960ms), 10ms, 0.999);
  CHECK(late.action == retry_action::wait);
  CHECK(late.delay == 10ms);
}

TEST_CASE("a Retry-After beyond the request's budget is a tenant-wide pause, up to max_pause") {
  retry_options o;
  o.budget = 1000ms;
  o.max_pause = 3600s;
  const retry_policy p(o);
  for (const outcome kind : {outcome::throttled, outcome::retriable}) {
    CAPTURE(static_cast<int>(kind));
    const auto pause = p.next(kind, {1, 1, 900ms}, 200ms, 0.5);  // 200 ms do not fit in the 100 ms left
    CHECK(pause.action == retry_action::pause);
    CHECK(pause.delay == 200ms);
    const auto long_pause = p.next(kind, {1, 1, 0ms}, 3600s, 0.5);
    CHECK(long_pause.action == retry_action::pause);
    CHECK(long_pause.delay == 3600s);
    const auto too_long = p.next(kind, {1, 1, 0ms}, 3601s, 0.5);
    CHECK(too_long.action == retry_action::give_up);
    CHECK(too_long.reason == transport::give_up_reason::pause_too_long);
    CHECK(too_long.delay == 3601s);  // for the message
  }
  // Attempts still bound a retriable failure: no pause after the last one.
  retry_options one = o;
  one.max_attempts = 1;
  CHECK(retry_policy(one).next(outcome::retriable, failed(1), 5000ms, 0.5).reason == transport::give_up_reason::attempts);
}

TEST_CASE("Retry-After wins over the backoff: seconds or an HTTP-date") {
  const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(transport::parse_retry_after("120", now) == 120000ms);
  CHECK(transport::parse_retry_after(" 0 ", now) == 0ms);
  CHECK(transport::parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now) == 10000ms);
  CHECK(transport::parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", now) == 0ms);  // in the past
  CHECK(transport::parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", now) == 86400000ms);
  for (const char* bad : {"", "soon", "-5", "1.5", "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 32 Nov 1994 08:49:37 GMT"})
    CHECK_FALSE(transport::parse_retry_after(bad, now));

  retry_options o;
  o.max_attempts = 5;
  o.budget = 600s;
  const retry_policy p(o);
  const auto d = p.next(outcome::retriable, failed(1), 120000ms, 0.1);
  CHECK(d.action == retry_action::wait);
  CHECK(d.delay == 120000ms);
}

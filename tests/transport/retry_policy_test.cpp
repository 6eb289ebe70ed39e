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

TEST_CASE("classification: what is worth another attempt") {
  for (unsigned s : {200u, 204u, 206u}) CHECK(transport::classify(s) == outcome::success);
  for (unsigned s : {429u, 502u, 503u, 504u}) CHECK(transport::classify(s) == outcome::retriable);
  for (unsigned s : {400u, 401u, 403u, 404u, 409u, 416u, 422u, 500u, 501u}) CHECK(transport::classify(s) == outcome::fatal);
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
    const auto d = p.next(attempt, 0ms, std::nullopt, top);
    REQUIRE(d.retry);
    // The window doubles per attempt until the cap; the delay stays inside it.
    CHECK(d.delay < window);
    CHECK(d.delay >= window - 1ms);
    window = std::min(window * 2, o.max_delay);
  }
  CHECK(p.next(3, 0ms, std::nullopt, 0.0).delay == 0ms);     // full jitter reaches zero
  CHECK(p.next(3, 0ms, std::nullopt, 0.5).delay == 200ms);   // and everything between
}

TEST_CASE("max attempts and the overall budget stop retries") {
  retry_options o;
  o.initial = 100ms;
  o.max_attempts = 3;
  o.budget = 1000ms;
  const retry_policy p(o);
  CHECK(p.next(2, 0ms, std::nullopt, 0.5).retry);
  CHECK_FALSE(p.next(3, 0ms, std::nullopt, 0.5).retry);         // the third attempt was the last
  CHECK_FALSE(p.next(1, 1000ms, std::nullopt, 0.5).retry);      // budget spent
  CHECK_FALSE(p.next(1, 900ms, 200ms, 0.5).retry);              // the wait alone would overrun it
  CHECK(p.next(1, 700ms, 200ms, 0.5).retry);
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
  const auto d = p.next(1, 0ms, 120000ms, 0.1);
  CHECK(d.retry);
  CHECK(d.delay == 120000ms);
}

#include "transport/request_gate.hpp"

#include <aquaduct/error.hpp>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <system_error>

namespace aquaduct::transport {

struct request_gate::waiter {
  explicit waiter(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  bool granted = false;  // admitted: unlinked, and counted in flight
  bool woken = false;    // the gate cancelled the timer to make it look again
  std::uint64_t epoch = 0;
};

request_gate::permit& request_gate::permit::operator=(permit&& o) noexcept {
  if (this != &o) {
    release();
    gate_ = o.gate_;
    epoch_ = o.epoch_;
    o.gate_ = nullptr;
  }
  return *this;
}

void request_gate::permit::release() noexcept {
  if (gate_) gate_->give_back();
  gate_ = nullptr;
}

request_gate::request_gate(std::size_t max_window)
    : max_window_(std::max<std::size_t>(1, max_window)),
      window_(static_cast<double>(max_window_)),
      min_window_(max_window_) {}

bool request_gate::paused() const noexcept { return !interrupted_ && clock::now() < pause_until_; }

asio::awaitable<request_gate::admission> request_gate::enter() {
  const auto started = clock::now();
  waiter w(co_await asio::this_coro::executor);
  waiters_.push_back(&w);
  // Whatever ends this frame (a cancellation, the io_context going away)
  // leaves no dangling waiter and no room taken by nobody.
  struct leave_guard {
    request_gate& gate;
    waiter& w;
    bool handed_over = false;
    ~leave_guard() {
      if (!w.granted) gate.waiters_.remove(&w);
      else if (!handed_over) gate.give_back();
    }
  } guard{*this, w};

  for (;;) {
    admit_waiters();
    if (w.granted) break;
    w.woken = false;
    w.timer.expires_at(paused() ? pause_until_ : clock::time_point::max());
    std::error_code ec;
    co_await w.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (w.granted) break;
    const bool cancelled = (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
    if (cancelled || (ec && !w.woken))
      throw std::system_error(transport_errc::cancelled, "cancelled while waiting for the service's pause or window");
  }
  guard.handed_over = true;
  co_return admission{permit{this, w.epoch}, clock::now() - started};
}

void request_gate::admit_waiters() noexcept {
  if (paused()) return;
  while (!waiters_.empty() && in_flight_ < window()) {
    waiter* w = waiters_.front();
    waiters_.pop_front();
    w->granted = true;
    w->epoch = epoch_;
    ++in_flight_;
    peak_in_flight_ = std::max(peak_in_flight_, in_flight_);
    w->timer.cancel();
  }
}

void request_gate::give_back() noexcept {
  --in_flight_;
  admit_waiters();
}

bool request_gate::pause_until(clock::time_point until) {
  if (interrupted_) return false;
  if (until <= pause_until_) return true;
  pause_until_ = until;
  // Waiters sleeping until a slot frees must now sleep until the pause ends.
  for (waiter* w : waiters_) {
    w->woken = true;
    w->timer.cancel();
  }
  return true;
}

void request_gate::throttled(const permit& p) noexcept {
  if (p.epoch_ != epoch_) return;  // sent before the last halving: that halving answered it already
  const double halved = std::max(1.0, window_ / 2);
  if (halved == window_) return;  // at 1 already
  window_ = halved;
  ++epoch_;
  min_window_ = std::min(min_window_, window());
}

void request_gate::answered(const permit&) noexcept {
  window_ = std::min(static_cast<double>(max_window_), window_ + 1.0 / window_);
  admit_waiters();
}

void request_gate::interrupt() noexcept {
  interrupted_ = true;
  for (waiter* w : waiters_) {
    w->woken = true;
    w->timer.cancel();
  }
}

}  // namespace aquaduct::transport

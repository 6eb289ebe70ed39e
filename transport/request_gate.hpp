#pragma once
// Admission of a session's requests to the service: every request of a run
// passes one gate before it is sent, so that what the service says to one
// request slows the whole run down instead of failing it.
//
//  - A tenant-wide PAUSE: pause_until(t) holds back every request that has
//    not been sent yet until t (a Retry-After longer than a request's own
//    budget). Pauses only ever extend.
//  - An AIMD WINDOW over the requests in flight: at most floor(window) hold
//    a permit at once. A 429 halves it (throttled(), at most once per window
//    of requests: the permits issued before a halving do not halve it
//    again), any other answer grows it by 1/window (answered(), about +1 per
//    window of answers), never below 1, never above `max_window` (the
//    session's max_connections). It starts at max_window.
//
//   request_gate::admission a = co_await gate.enter();  // waits out a pause and for room
//   ... send, with a.slot held ...                       // ~permit frees the room
//
// Waiters are served first come, first served. enter() reports how long it
// waited, so the caller can leave that time out of the request's budget.
// interrupt() ends the pause and refuses later ones (the run is being
// cancelled: its last requests, the cancels of its jobs, must not wait an
// hour); the window stays.
// NOT thread-safe: one executor (the run's io_context), like http_client.
// The gate must outlive its permits and the coroutines waiting in enter().
// The standard headers come first: Asio decides whether it has
// std::aligned_alloc from macros they define, and a translation unit that
// includes Asio first decides otherwise (an ODR split that ASan reports as
// alloc-dealloc-mismatch).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>

#include <asio/awaitable.hpp>

namespace aquaduct::transport {

class request_gate {
 public:
  using clock = std::chrono::steady_clock;

  explicit request_gate(std::size_t max_window);
  request_gate(const request_gate&) = delete;
  request_gate& operator=(const request_gate&) = delete;

  class permit {
   public:
    permit() = default;
    permit(permit&& o) noexcept : gate_(o.gate_), epoch_(o.epoch_) { o.gate_ = nullptr; }
    permit& operator=(permit&& o) noexcept;
    ~permit() { release(); }
    explicit operator bool() const noexcept { return gate_ != nullptr; }
    // Frees the room now (before a backoff wait, say). Idempotent.
    void release() noexcept;

   private:
    friend class request_gate;
    permit(request_gate* gate, std::uint64_t epoch) : gate_(gate), epoch_(epoch) {}
    request_gate* gate_ = nullptr;
    std::uint64_t epoch_ = 0;  // the window's epoch when it was issued
  };

  struct admission {
    permit slot;
    clock::duration waited{};  // time spent in enter()
  };

  // Waits until no pause is in force and the window has room. Throws
  // std::system_error(transport_errc::cancelled) when the awaiting
  // coroutine is cancelled while it waits.
  asio::awaitable<admission> enter();

  // Holds back every request not yet admitted until `until`. Returns false
  // (and does nothing) once interrupted.
  bool pause_until(clock::time_point until);
  // The pause in force, or a time in the past.
  clock::time_point paused_until() const noexcept { return pause_until_; }

  // The request sent under `p` was answered 429 / answered otherwise.
  void throttled(const permit& p) noexcept;
  void answered(const permit& p) noexcept;

  void interrupt() noexcept;

  std::size_t window() const noexcept { return static_cast<std::size_t>(window_); }
  std::size_t max_window() const noexcept { return max_window_; }
  std::size_t min_window() const noexcept { return min_window_; }  // the lowest the window went
  std::size_t in_flight() const noexcept { return in_flight_; }
  std::size_t peak_in_flight() const noexcept { return peak_in_flight_; }
  std::size_t waiting() const noexcept { return waiters_.size(); }
  std::uint64_t halvings() const noexcept { return epoch_; }

 private:
  struct waiter;
  bool paused() const noexcept;
  void admit_waiters() noexcept;  // hands free room to the longest waiters
  void give_back() noexcept;

  std::size_t max_window_;
  double window_;
  std::size_t min_window_;
  std::uint64_t epoch_ = 0;  // halvings so far
  std::size_t in_flight_ = 0;
  std::size_t peak_in_flight_ = 0;
  clock::time_point pause_until_{};
  bool interrupted_ = false;
  std::list<waiter*> waiters_;  // each lives in its enter() frame, which unlinks it on every exit
};

}  // namespace aquaduct::transport

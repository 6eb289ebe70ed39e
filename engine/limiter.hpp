#pragma once
// An async counting semaphore for coroutines on ONE io_context (no locks):
// the tenant's job slots, the download slots and a stateful session's turn.
//
//   async_limiter::permit p = co_await downloads.acquire();   // waits for a slot
//   ...                                                        // the slot is ours
//   // ~permit gives it back, handing it straight to the longest waiter
//
// interrupt() wakes every waiter with an empty permit and makes later
// acquire() calls return one at once: the run is being cancelled. A waiter
// whose own wait is cancelled (a cancellation slot) gets an empty permit too
// and leaves the queue: it is never handed a slot.

// Standard headers before Asio: a translation unit that meets Asio first
// disagrees with the others on std::aligned_alloc (ASan: alloc-dealloc-mismatch).
#include <cstddef>
#include <deque>
#include <memory>

#include <asio/awaitable.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace aquaduct::engine_detail {

class async_limiter {
 public:
  explicit async_limiter(std::size_t slots) : free_(slots) {}
  async_limiter(const async_limiter&) = delete;
  async_limiter& operator=(const async_limiter&) = delete;

  class permit {
   public:
    permit() = default;
    explicit permit(async_limiter* owner) : owner_(owner) {}
    permit(permit&& o) noexcept : owner_(o.owner_) { o.owner_ = nullptr; }
    permit& operator=(permit&& o) noexcept {
      if (this != &o) {
        release();
        owner_ = o.owner_;
        o.owner_ = nullptr;
      }
      return *this;
    }
    ~permit() { release(); }
    explicit operator bool() const noexcept { return owner_ != nullptr; }
    void release() noexcept {
      if (owner_) owner_->give_back();
      owner_ = nullptr;
    }

   private:
    async_limiter* owner_ = nullptr;
  };

  asio::awaitable<permit> acquire() {
    if (interrupted_) co_return permit{};
    if (free_ > 0 && waiters_.empty()) {
      --free_;
      note_in_use();
      co_return permit{this};
    }
    auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
    waiters_.push_back(w);
    // A wait that ends without taking its slot (the operation cancelled, or
    // the coroutine destroyed while waiting) leaves the queue, and a slot
    // handed to it meanwhile goes on to the next waiter: none is lost.
    struct leave_queue {
      async_limiter* l;
      std::shared_ptr<waiter> w;
      bool taken = false;
      ~leave_queue() {
        if (taken) return;
        if (w->granted) {
          l->give_back();
          return;
        }
        std::erase(l->waiters_, w);
      }
    } guard{this, w};
    std::error_code ec;
    co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!w->granted) co_return permit{};  // interrupted or cancelled
    guard.taken = true;
    co_return permit{this};
  }

  void interrupt() {
    interrupted_ = true;
    for (auto& w : waiters_) w->timer.cancel();
    waiters_.clear();
  }

  std::size_t in_use() const noexcept { return in_use_; }
  std::size_t peak() const noexcept { return peak_; }
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  struct waiter {
    explicit waiter(asio::any_io_executor ex) : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    bool granted = false;
  };

  void note_in_use() {
    ++in_use_;
    if (in_use_ > peak_) peak_ = in_use_;
  }
  void give_back() noexcept {
    --in_use_;
    if (!waiters_.empty()) {
      // Straight to the longest waiter: a newcomer cannot overtake it.
      auto w = std::move(waiters_.front());
      waiters_.pop_front();
      w->granted = true;
      note_in_use();
      w->timer.cancel();
      return;
    }
    ++free_;
  }

  std::size_t free_;
  std::size_t in_use_ = 0;
  std::size_t peak_ = 0;
  bool interrupted_ = false;
  std::deque<std::shared_ptr<waiter>> waiters_;
};

}  // namespace aquaduct::engine_detail

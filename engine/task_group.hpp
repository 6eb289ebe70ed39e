#pragma once
// Runs several coroutines at once on the caller's executor and waits for all
// of them (Asio 1.22 has no ranged parallel_group):
//
//   task_group g;
//   for (auto& b : batches) g.spawn(ex, run_batch(b));
//   co_await g.wait();   // rethrows the first failure, after every task ended
//
// Single-threaded use only: the tasks and the waiter share one io_context.

// Standard headers before Asio: a translation unit that meets Asio first
// disagrees with the others on std::aligned_alloc (ASan: alloc-dealloc-mismatch).
#include <exception>
#include <memory>

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace aquaduct::engine_detail {

class task_group {
 public:
  void spawn(asio::any_io_executor ex, asio::awaitable<void> task) {
    ++state_->running;
    asio::co_spawn(ex, std::move(task), [s = state_](std::exception_ptr e) {
      if (e && !s->first_error) s->first_error = e;
      if (--s->running == 0 && s->done) s->done->cancel();
    });
  }

  asio::awaitable<void> wait() {
    if (state_->running > 0) {
      asio::steady_timer done(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
      state_->done = &done;
      std::error_code ec;
      while (state_->running > 0) co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      state_->done = nullptr;
    }
    if (state_->first_error) std::rethrow_exception(state_->first_error);
  }

 private:
  struct shared {
    std::size_t running = 0;
    std::exception_ptr first_error;
    asio::steady_timer* done = nullptr;
  };
  std::shared_ptr<shared> state_ = std::make_shared<shared>();
};

}  // namespace aquaduct::engine_detail

#include "engine/limiter.hpp"

#include <doctest/doctest.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <vector>

using aquaduct::engine_detail::async_limiter;

namespace {

// Holds a permit across `yields` trips through the io_context, so that other
// coroutines get to run while it is held.
asio::awaitable<void> hold(async_limiter& l, int id, int yields, int& inside, int& most, std::vector<int>& order) {
  async_limiter::permit p = co_await l.acquire();
  REQUIRE(bool(p));
  order.push_back(id);
  ++inside;
  most = std::max(most, inside);
  for (int i = 0; i < yields; ++i) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  --inside;
}

}  // namespace

TEST_CASE("a limiter never lets more than its slots in, and serves waiters first come first served") {
  asio::io_context io;
  async_limiter l(3);
  int inside = 0, most = 0;
  std::vector<int> order;
  for (int i = 0; i < 40; ++i) asio::co_spawn(io, hold(l, i, 1 + i % 5, inside, most, order), asio::detached);
  io.run();
  CHECK(most == 3);
  CHECK(inside == 0);
  CHECK(l.peak() == 3);
  CHECK(l.in_use() == 0);
  REQUIRE(order.size() == 40);
  for (int i = 0; i < 40; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("interrupt wakes every waiter with an empty permit, and later acquires get one at once") {
  asio::io_context io;
  async_limiter l(1);
  int woken_empty = 0;
  async_limiter::permit held;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { held = co_await l.acquire(); }, asio::detached);
  for (int i = 0; i < 5; ++i)
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          async_limiter::permit p = co_await l.acquire();
          if (!p) ++woken_empty;
        },
        asio::detached);
  io.run_one();  // the first takes the slot
  io.poll();     // the others queue
  CHECK(l.waiting() == 5);
  l.interrupt();
  io.run();
  CHECK(woken_empty == 5);
  CHECK(bool(held));
  held.release();
  bool later_empty = false;
  io.restart();
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { later_empty = !(co_await l.acquire()); }, asio::detached);
  io.run();
  CHECK(later_empty);
}

TEST_CASE("a waiter whose wait is cancelled leaves the queue: it is never handed a slot, and none is lost") {
  asio::io_context io;
  async_limiter l(1);
  async_limiter::permit held;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { held = co_await l.acquire(); }, asio::detached);
  io.run_one();
  REQUIRE(bool(held));
  asio::cancellation_signal stop;
  bool cancelled_got_slot = true;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        async_limiter::permit p = co_await l.acquire();
        cancelled_got_slot = bool(p);
      },
      asio::bind_cancellation_slot(stop.slot(), asio::detached));
  bool second_got_slot = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        async_limiter::permit p = co_await l.acquire();
        second_got_slot = bool(p);
      },
      asio::detached);
  io.poll();
  CHECK(l.waiting() == 2);
  stop.emit(asio::cancellation_type::terminal);
  io.poll();
  CHECK_FALSE(cancelled_got_slot);
  CHECK(l.waiting() == 1);  // the cancelled waiter is gone
  held.release();           // goes to the second waiter, not the cancelled one
  io.run();
  CHECK(second_got_slot);
  CHECK(l.in_use() == 0);
  // The slot is free again: an acquire gets it at once.
  bool again = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { again = bool(co_await l.acquire()); }, asio::detached);
  io.restart();
  io.run();
  CHECK(again);
}

TEST_CASE("a waiter destroyed while it waits (its io_context goes) leaves the queue") {
  async_limiter l(1);
  async_limiter::permit held;
  {
    asio::io_context io;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { held = co_await l.acquire(); }, asio::detached);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { (void)co_await l.acquire(); }, asio::detached);
    io.poll();
    CHECK(l.waiting() == 1);
  }  // the waiting coroutine's frame is destroyed with its io_context
  CHECK(l.waiting() == 0);
  held.release();
  CHECK(l.in_use() == 0);
}

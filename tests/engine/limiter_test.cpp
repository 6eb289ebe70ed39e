#include "engine/limiter.hpp"

#include <doctest/doctest.h>

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

#pragma once
// Connections to one origin, shared by every request of a run: at most
// max_connections open at once (idle ones included), the most recently used
// idle connection reused first, idle connections retired after idle_timeout
// or as soon as the server closed them. A request that finds every slot
// taken waits (cancellably) for one to come back.
// NOT thread-safe: every user runs on the pool's executor (one io_context thread).
#include "transport/connection.hpp"

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <deque>
#include <list>
#include <memory>

namespace aquaduct::transport {

struct pool_options {
  std::size_t max_connections = 16;
  std::chrono::milliseconds idle_timeout{60000};
};

struct pool_stats {
  std::size_t open = 0;     // leased + idle, now
  std::size_t idle = 0;     // idle, now
  std::size_t created = 0;  // connections made, ever
  std::size_t reused = 0;   // leases served by an idle connection
  std::size_t retired = 0;  // idle connections dropped (expired or closed by the server)
  std::size_t peak_open = 0;
};

class connection_pool {
 public:
  connection_pool(asio::any_io_executor ex, connect_options opts, pool_options popts);
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;
  ~connection_pool();

  // An idle connection, or a new unopened one (open() it) when a slot is
  // free, else waits for release(). Throws transport_errc::cancelled when
  // the wait is cancelled. THE POOL MUST OUTLIVE every connection it leased.
  asio::awaitable<std::unique_ptr<connection>> acquire();
  // Hands a leased connection back: kept for reuse when `reusable` and still
  // open, otherwise closed; either way a waiter wakes.
  void release(std::unique_ptr<connection> c, bool reusable) noexcept;
  // Closes the idle connections (leased ones close when released).
  void close_idle() noexcept;

  pool_stats stats() const noexcept;
  const connect_options& options() const noexcept { return opts_; }

 private:
  struct waiter {
    asio::steady_timer timer;
    bool woken = false;
  };
  void wake_one() noexcept;
  void retire_stale() noexcept;

  asio::any_io_executor ex_;
  connect_options opts_;
  pool_options popts_;
  std::deque<std::unique_ptr<connection>> idle_;  // most recently used at the back
  std::list<waiter*> waiters_;
  std::size_t leased_ = 0;
  pool_stats stats_;
};

}  // namespace aquaduct::transport

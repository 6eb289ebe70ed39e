#include "transport/connection_pool.hpp"

#include <aquaduct/error.hpp>

#include <asio/redirect_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>

namespace aquaduct::transport {

connection_pool::connection_pool(asio::any_io_executor ex, connect_options opts, pool_options popts)
    : ex_(std::move(ex)), opts_(std::move(opts)), popts_(popts) {
  popts_.max_connections = std::max<std::size_t>(1, popts_.max_connections);
}

connection_pool::~connection_pool() { close_idle(); }

void connection_pool::close_idle() noexcept {
  for (auto& c : idle_) c->close();
  idle_.clear();
}

void connection_pool::retire_stale() noexcept {
  const auto now = clock::now();
  const auto stale = [&](const std::unique_ptr<connection>& c) {
    return now - c->idle_since >= popts_.idle_timeout || c->peer_closed();
  };
  for (auto it = idle_.begin(); it != idle_.end();) {
    if (stale(*it)) {
      (*it)->close();
      it = idle_.erase(it);
      ++stats_.retired;
    } else {
      ++it;
    }
  }
}

asio::awaitable<std::unique_ptr<connection>> connection_pool::acquire() {
  for (;;) {
    retire_stale();
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      ++leased_;
      ++stats_.reused;
      co_return c;
    }
    if (leased_ < popts_.max_connections) {
      ++leased_;
      ++stats_.created;
      stats_.peak_open = std::max(stats_.peak_open, leased_ + idle_.size());
      co_return std::make_unique<connection>(ex_, opts_);
    }
    waiter w{asio::steady_timer(ex_, clock::time_point::max())};
    const auto me = waiters_.insert(waiters_.end(), &w);
    std::error_code ec;
    co_await w.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!w.woken) {
      waiters_.erase(me);
      throw std::system_error(transport_errc::cancelled, "waiting for a pooled connection to " + opts_.target.to_string());
    }
  }
}

void connection_pool::wake_one() noexcept {
  if (waiters_.empty()) return;
  waiter* w = waiters_.front();
  waiters_.pop_front();
  w->woken = true;
  w->timer.cancel();
}

void connection_pool::release(std::unique_ptr<connection> c, bool reusable) noexcept {
  if (!c) return;
  --leased_;
  if (reusable && c->is_open()) {
    c->idle_since = clock::now();
    idle_.push_back(std::move(c));
  } else {
    c->close();
  }
  wake_one();
}

pool_stats connection_pool::stats() const noexcept {
  pool_stats s = stats_;
  s.idle = idle_.size();
  s.open = leased_ + idle_.size();
  return s;
}

}  // namespace aquaduct::transport

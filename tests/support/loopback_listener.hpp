#pragma once
// The accept loop of the test servers (scripted_server, connect_proxy, the
// transport bench's server): a loopback acceptor on an ephemeral port and a
// thread that hands each accepted socket to `serve`, until `serve` returns
// false or the listener stops. Declare it as the LAST member of its owner, so
// it stops (and joins its thread) before the state `serve` uses is destroyed.
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <atomic>
#include <functional>
#include <thread>

namespace aquaduct::test {

class loopback_listener {
 public:
  using serve_fn = std::function<bool(asio::ip::tcp::socket&)>;

  explicit loopback_listener(serve_fn serve)
      : serve_(std::move(serve)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] {
      while (!stopping_) {
        asio::ip::tcp::socket sock(io_);
        std::error_code ec;
        acceptor_.accept(sock, ec);
        if (ec || stopping_ || !serve_(sock)) return;
      }
    });
  }
  ~loopback_listener() {
    stopping_ = true;
    // Wake the accept loop with a throwaway connection.
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    std::error_code ec;
    s.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  loopback_listener(const loopback_listener&) = delete;
  loopback_listener& operator=(const loopback_listener&) = delete;

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  asio::io_context& io() { return io_; }

 private:
  serve_fn serve_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace aquaduct::test

#pragma once
// A loopback HTTP proxy that only does CONNECT tunnels (what the client uses
// for HTTPS_PROXY), or refuses every CONNECT with `refuse_status`. Records the
// authorities it was asked for. Threads: one per tunnel direction.
#include "support/loopback_listener.hpp"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace aquaduct::test {

class connect_proxy {
 public:
  explicit connect_proxy(int refuse_status = 0) : refuse_(refuse_status) {}
  ~connect_proxy() {
    listener_.reset();
    for (auto& t : tunnels_) t.join();
  }
  unsigned short port() const { return listener_->port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  std::vector<std::string> targets() {
    std::lock_guard lock(mu_);
    return targets_;
  }

 private:
  bool serve(asio::ip::tcp::socket& accepted) {
    auto client = std::make_shared<asio::ip::tcp::socket>(std::move(accepted));
    std::error_code ec;
    asio::streambuf buf;
    asio::read_until(*client, buf, "\r\n\r\n", ec);
    if (ec) return true;
    std::string head(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    if (head.rfind("CONNECT ", 0) != 0) return true;
    const std::string authority = head.substr(8, head.find(' ', 8) - 8);
    {
      std::lock_guard lock(mu_);
      targets_.push_back(authority);
    }
    if (refuse_) {
      asio::write(*client, asio::buffer("HTTP/1.1 " + std::to_string(refuse_) + " Forbidden\r\nContent-Length: 0\r\n\r\n"), ec);
      return true;
    }
    auto upstream = std::make_shared<asio::ip::tcp::socket>(client->get_executor());
    const auto colon = authority.rfind(':');
    asio::ip::tcp::resolver resolver(client->get_executor());
    asio::connect(*upstream, resolver.resolve(authority.substr(0, colon), authority.substr(colon + 1), ec), ec);
    if (ec) {
      asio::write(*client, asio::buffer(std::string("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")), ec);
      return true;
    }
    asio::write(*client, asio::buffer(std::string("HTTP/1.1 200 Connection established\r\n\r\n")), ec);
    tunnels_.emplace_back([client, upstream] { relay(*client, *upstream); });
    tunnels_.emplace_back([client, upstream] { relay(*upstream, *client); });
    return true;
  }
  static void relay(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to) {
    char data[16384];
    std::error_code ec;
    for (;;) {
      const std::size_t n = from.read_some(asio::buffer(data), ec);
      if (ec) break;
      asio::write(to, asio::buffer(data, n), ec);
      if (ec) break;
    }
    to.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  }

  int refuse_;
  std::vector<std::thread> tunnels_;
  std::mutex mu_;
  std::vector<std::string> targets_;
  std::unique_ptr<loopback_listener> listener_ =
      std::make_unique<loopback_listener>([this](asio::ip::tcp::socket& s) { return serve(s); });  // last
};

}  // namespace aquaduct::test

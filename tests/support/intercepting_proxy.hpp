#pragma once
// A loopback HTTP server in front of another one (the emulator), standing in
// for a service that is not ours: every request is numbered in arrival order
// (1, 2, ...) and either answered by `intercept` with raw response bytes or
// forwarded upstream on a fresh connection and its answer relayed (with
// `Connection: close`). One thread per connection, so requests the client
// sends at once are handled at once. Records each request's arrival (time,
// head, how many requests were in flight here then).
#include "support/loopback_listener.hpp"

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace aquaduct::test {

class intercepting_proxy {
 public:
  using clock = std::chrono::steady_clock;
  // Called on the connection's thread with the request's number and head
  // (request line and headers). May block (to hold an answer back).
  using intercept_fn = std::function<std::optional<std::string>(std::size_t n, const std::string& head)>;

  struct arrival {
    std::size_t n = 0;
    std::string head;
    clock::time_point at;
    std::size_t in_flight = 0;  // requests here, arrived and not yet answered, when it arrived (itself included)
    bool intercepted = false;
  };

  intercepting_proxy(unsigned short upstream_port, intercept_fn intercept)
      : upstream_port_(upstream_port), intercept_(std::move(intercept)) {}
  ~intercepting_proxy() {
    listener_.reset();
    {
      std::lock_guard lock(mu_);
      // Unblock reads on connections the client still keeps open.
      for (auto& s : sockets_) ::shutdown(s->native_handle(), SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
  }
  intercepting_proxy(const intercepting_proxy&) = delete;
  intercepting_proxy& operator=(const intercepting_proxy&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(listener_->port()); }
  std::vector<arrival> arrivals() {
    std::lock_guard lock(mu_);
    return arrivals_;
  }
  std::size_t peak_in_flight() {
    std::lock_guard lock(mu_);
    return peak_;
  }

  // A complete response with a JSON body.
  static std::string response(int status, const std::string& reason, const std::string& extra_headers,
                              const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: application/json\r\n" +
           extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

 private:
  bool accept(asio::ip::tcp::socket& accepted) {
    // Onto our own io_context: the listener's goes away before the connections end.
    std::error_code ec;
    const auto protocol = accepted.local_endpoint(ec).protocol();
    auto sock = std::make_shared<asio::ip::tcp::socket>(io_, protocol, accepted.release(ec));
    std::lock_guard lock(mu_);
    sockets_.push_back(sock);
    threads_.emplace_back([this, sock] { converse(*sock); });
    return true;
  }

  static std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  }

  // The head with its Connection header replaced by `Connection: close`.
  static std::string closing(const std::string& head) {
    std::string out;
    std::size_t pos = 0;
    while (pos < head.size()) {
      const std::size_t end = head.find("\r\n", pos);
      const std::string line = head.substr(pos, end - pos);
      pos = end + 2;
      if (line.empty()) break;
      if (lower(line).rfind("connection:", 0) != 0) out += line + "\r\n";
    }
    return out + "Connection: close\r\n\r\n";
  }

  void converse(asio::ip::tcp::socket& sock) {
    asio::streambuf buf;
    std::error_code ec;
    for (;;) {
      const std::size_t n = asio::read_until(sock, buf, "\r\n\r\n", ec);
      if (ec) return;
      std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
      buf.consume(n);
      std::size_t length = 0;
      if (auto p = lower(head).find("content-length: "); p != std::string::npos) length = std::stoul(head.substr(p + 16));
      if (buf.size() < length) asio::read(sock, buf, asio::transfer_exactly(length - buf.size()), ec);
      std::string body(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(length));
      buf.consume(length);

      std::size_t number = 0;
      {
        std::lock_guard lock(mu_);
        number = ++count_;
        ++in_flight_;
        peak_ = std::max(peak_, in_flight_);
        arrivals_.push_back({number, head, clock::now(), in_flight_, false});
      }
      const std::optional<std::string> canned = intercept_ ? intercept_(number, head) : std::nullopt;
      std::string answer;
      if (canned) {
        answer = *canned;
        std::lock_guard lock(mu_);
        for (auto& a : arrivals_)
          if (a.n == number) a.intercepted = true;
      } else {
        answer = forward(closing(head) + body);
      }
      {
        // Before the answer goes out: the client cannot have sent its next request yet, so this
        // count never runs ahead of the requests the client has in flight.
        std::lock_guard lock(mu_);
        --in_flight_;
      }
      asio::write(sock, asio::buffer(answer), ec);
      if (ec || !canned) return;  // a relayed answer says Connection: close
    }
  }

  // The upstream's whole answer to `request`, its Connection header made `close`.
  std::string forward(const std::string& request) {
    asio::io_context io;
    asio::ip::tcp::socket up(io);
    std::error_code ec;
    up.connect({asio::ip::make_address("127.0.0.1"), upstream_port_}, ec);
    if (ec) return response(502, "Bad Gateway", "", "{}");
    asio::write(up, asio::buffer(request), ec);
    std::string raw;
    char data[16384];
    for (;;) {
      const std::size_t got = up.read_some(asio::buffer(data), ec);
      raw.append(data, got);
      if (ec) break;
    }
    const std::size_t end = raw.find("\r\n\r\n");
    if (end == std::string::npos) return response(502, "Bad Gateway", "", "{}");
    return closing(raw.substr(0, end + 4)) + raw.substr(end + 4);
  }

  unsigned short upstream_port_;
  intercept_fn intercept_;
  asio::io_context io_;  // the connections' (used blocking, never run)
  std::mutex mu_;
  std::size_t count_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t peak_ = 0;
  std::vector<arrival> arrivals_;
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> sockets_;
  std::vector<std::thread> threads_;
  std::unique_ptr<loopback_listener> listener_ =
      std::make_unique<loopback_listener>([this](asio::ip::tcp::socket& s) { return accept(s); });  // last: stops first
};

}  // namespace aquaduct::test

#pragma once
// A loopback server that answers requests with scripted raw bytes, for
// driving the HTTP client through odd corners (chunked bodies, early closes,
// silence), over plain TCP or, given an identity, TLS. Each request (read up
// to the end of its headers and Content-Length body) consumes the next step.
#include "support/loopback_listener.hpp"
#include "support/test_pki.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace aquaduct::test {

struct script_step {
  std::string response;      // raw bytes sent back
  bool close_after = false;  // close the connection after sending
  bool silent = false;       // send nothing; wait until the client goes away
};

class scripted_server {
 public:
  explicit scripted_server(std::vector<script_step> steps, std::optional<pem_identity> tls = std::nullopt)
      : steps_(std::move(steps)), tls_(tls ? server_context(*tls) : nullptr) {}
  unsigned short port() const { return listener_.port(); }
  int connections() const { return connections_; }
  int handshake_failures() const { return handshake_failures_; }
  // Blocks until the server has closed `n` connections (a condition, not a sleep).
  void wait_closed(int n) {
    std::unique_lock lock(mu_);
    closed_cv_.wait(lock, [&] { return closed_ >= n; });
  }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  // One accepted connection; false when the script is used up.
  bool serve(asio::ip::tcp::socket& sock) {
    ++connections_;
    bool more = true;
    std::error_code ec;
    if (!tls_) {
      more = converse(sock, next_);
    } else {
      asio::ssl::stream<asio::ip::tcp::socket&> s(sock, *tls_);
      s.handshake(asio::ssl::stream_base::server, ec);
      if (ec) ++handshake_failures_;
      else more = converse(s, next_);
    }
    sock.close(ec);
    {
      std::lock_guard lock(mu_);
      ++closed_;
    }
    closed_cv_.notify_all();
    return more;
  }

  // Serves requests on one connection; false when the script is used up.
  template <class Stream>
  bool converse(Stream& sock, std::size_t& next) {
    asio::streambuf buf;
    std::error_code ec;
    for (;;) {
      const std::size_t n = asio::read_until(sock, buf, "\r\n\r\n", ec);
      if (ec) return true;
      std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
      buf.consume(n);
      std::size_t body = 0;
      if (auto p = head.find("Content-Length: "); p != std::string::npos) body = std::stoul(head.substr(p + 16));
      if (buf.size() < body) asio::read(sock, buf, asio::transfer_exactly(body - buf.size()), ec);
      std::string content(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(body));
      buf.consume(body);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(head + content);
      }
      if (next >= steps_.size()) return false;
      const script_step step = steps_[next++];
      if (step.silent) {
        char c;
        sock.read_some(asio::buffer(&c, 1), ec);  // returns when the client closes
        return true;
      }
      asio::write(sock, asio::buffer(step.response), ec);
      if (ec || step.close_after) return true;
    }
  }

  std::vector<script_step> steps_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::size_t next_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> handshake_failures_{0};
  std::mutex mu_;
  std::condition_variable closed_cv_;
  int closed_ = 0;
  std::vector<std::string> requests_;
  loopback_listener listener_{[this](asio::ip::tcp::socket& s) { return serve(s); }};  // last: stops first
};

}  // namespace aquaduct::test

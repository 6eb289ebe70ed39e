#pragma once
// A loopback server that answers requests with scripted raw bytes, for
// driving the HTTP client through odd corners (chunked bodies, early closes,
// silence), over plain TCP or, given an identity, TLS. Each request (read up
// to the end of its headers and Content-Length body) consumes the next step.
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
      : steps_(std::move(steps)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    if (tls) {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      tls_->use_certificate_chain(asio::buffer(tls->cert));
      tls_->use_private_key(asio::buffer(tls->key), asio::ssl::context::pem);
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~scripted_server() {
    stopping_ = true;
    std::error_code ec;
    // Wake the accept loop with a throwaway connection.
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
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
  void serve() {
    std::size_t next = 0;
    while (!stopping_) {
      asio::ip::tcp::socket sock(io_);
      std::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stopping_) return;
      ++connections_;
      bool more = true;
      if (!tls_) {
        more = converse(sock, next);
      } else {
        asio::ssl::stream<asio::ip::tcp::socket&> s(sock, *tls_);
        s.handshake(asio::ssl::stream_base::server, ec);
        if (ec) ++handshake_failures_;
        else more = converse(s, next);
      }
      sock.close(ec);
      {
        std::lock_guard lock(mu_);
        ++closed_;
      }
      closed_cv_.notify_all();
      if (!more) return;
    }
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
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> handshake_failures_{0};
  std::mutex mu_;
  std::condition_variable closed_cv_;
  int closed_ = 0;
  std::vector<std::string> requests_;
};

}  // namespace aquaduct::test

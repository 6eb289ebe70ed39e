#pragma once
// One connection to an origin, the connector seam of the transport: plain
// TCP, or TLS over TCP (SNI, peer and host-name verification, TLS >= 1.2),
// optionally through an HTTP proxy's CONNECT tunnel.
//
// open() runs resolve, connect, CONNECT and the handshake, moving the
// caller's deadline_clock from phase to phase; a watchdog owned by the caller
// closes the connection when a phase overruns (close() is how every pending
// operation is stopped). NOT thread-safe: one executor, one operation at a time.
#include "transport/url.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aquaduct::transport {

using clock = std::chrono::steady_clock;

// Test seam (beast's test::fail_count): the Nth I/O operation, counted over
// every connection that shares the counter, fails as the real one would.
enum class io_op { connect, handshake, write, read };
class fail_counter {
 public:
  explicit fail_counter(std::size_t n) : n_(n) {}
  // Throws std::system_error when this is the Nth operation.
  void step(io_op op);
  std::size_t operations() const noexcept { return seen_; }
  bool fired() const noexcept { return seen_ >= n_; }
  std::optional<io_op> failed_op() const noexcept { return failed_; }

 private:
  std::size_t n_;
  std::size_t seen_ = 0;
  std::optional<io_op> failed_;
};

struct tls_options {
  std::string ca_file;                // PEM file of extra trusted CAs (private CAs); the system store stays on
  bool insecure_skip_verify = false;  // DANGEROUS: accept any certificate for any name
};

// The TLS client context for these options: system CAs (+ ca_file), peer
// verification (unless insecure_skip_verify), TLS 1.2 or newer. Throws
// std::system_error (transport_errc::tls_failed) when ca_file cannot be loaded.
std::shared_ptr<asio::ssl::context> make_tls_context(const tls_options& opts);

// The phase deadlines of one request, moved along by the connection and the
// client, watched by the client's watchdog.
struct deadline_clock {
  clock::time_point total = clock::time_point::max();
  clock::time_point phase = clock::time_point::max();
  const char* phase_name = "request";
  std::chrono::milliseconds phase_length{0};
  // The watchdog's timer: a phase that ends sooner than it is set for wakes it.
  asio::steady_timer* watch = nullptr;
  bool moved = false;

  void begin(const char* name, std::chrono::milliseconds length) {
    phase_name = name;
    phase_length = length;
    phase = clock::now() + length;
    if (watch && due() < watch->expiry()) {
      moved = true;
      watch->cancel();
    }
  }
  clock::time_point due() const { return phase < total ? phase : total; }
};

struct connect_timeouts {
  std::chrono::milliseconds connect{10000};
  std::chrono::milliseconds handshake{10000};
};

struct connect_options {
  origin target;
  std::optional<proxy_route> proxy;           // reached with CONNECT target-host:port
  std::shared_ptr<asio::ssl::context> tls;    // set exactly when target.scheme == "https"
  connect_timeouts timeouts;
  std::shared_ptr<fail_counter> faults;       // tests only
};

class connection {
 public:
  connection(asio::any_io_executor ex, const connect_options& opts);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Throws std::system_error: connect_failed, proxy_failed, tls_failed.
  asio::awaitable<void> open(deadline_clock& deadlines);
  // Throws std::system_error (connection_closed) on failure; 0 bytes = EOF.
  asio::awaitable<std::size_t> read_some(asio::mutable_buffer into);
  asio::awaitable<void> write(std::array<asio::const_buffer, 2> data);

  void close() noexcept;
  bool is_open() const noexcept { return open_; }
  // For an idle connection: the peer closed it or sent something unasked
  // (either way it must not be reused).
  bool peer_closed() const noexcept;

  // This connection's read buffer, allocated once (`bytes` on first use).
  std::vector<char>& read_buffer(std::size_t bytes) {
    if (buffer_.size() != bytes) buffer_.resize(bytes);
    return buffer_;
  }

  clock::time_point idle_since{};
  std::uint64_t requests = 0;  // completed on this connection

 private:
  asio::awaitable<void> tunnel(deadline_clock& deadlines);
  void step(io_op op) {
    if (opts_.faults) opts_.faults->step(op);
  }

  const connect_options& opts_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  bool open_ = false;
  std::vector<char> buffer_;
};

}  // namespace aquaduct::transport

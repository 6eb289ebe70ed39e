#pragma once
// An HTTP/1.1 client on Asio coroutines for one origin (http or https),
// shared by every request of a run through a connection pool. Deadlines on
// every phase (connect, TLS handshake, write, time without a byte read, and
// a total per request); bodies either buffered (JSON, with a limit,
// Content-Encoding gzip decoded transparently) or streamed piece by piece to
// a handler (result files).
//
// Streaming has backpressure by construction: the handler runs before the
// next read is issued, so at most one read buffer is in memory per request.
// Cancellation (a cancellation slot bound by the caller) stops a request
// promptly; its connection is closed and its pool slot freed.
// NOT thread-safe: use it from one executor (one io_context thread).
#include "transport/connection_pool.hpp"
#include "transport/response_parser.hpp"
#include "transport/url.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aquaduct::transport {

struct http_request {
  std::string method = "GET";
  std::string target;  // path (and query), appended to the origin's path prefix
  std::vector<header> headers;
  std::string body;

  // First header with that name (case-insensitive).
  std::optional<std::string_view> find(std::string_view name) const;
};

struct http_response {
  unsigned status = 0;
  std::vector<header> headers;
  std::string body;  // buffered, decoded body: always for request(); for stream() only when not 2xx
  std::uint64_t body_bytes = 0;  // body bytes received on the wire (after chunked decoding, before gzip)

  // First header with that name (case-insensitive).
  std::optional<std::string_view> find(std::string_view name) const;
};

struct client_options {
  std::chrono::milliseconds connect_timeout{10000};    // resolve + TCP connect (+ proxy CONNECT)
  std::chrono::milliseconds handshake_timeout{10000};  // TLS handshake
  std::chrono::milliseconds write_timeout{30000};      // sending the request
  std::chrono::milliseconds idle_timeout{30000};       // longest wait for the next byte
  std::chrono::milliseconds request_timeout{30000};    // total for a buffered request, from getting a connection
  std::chrono::milliseconds stream_timeout{0};         // total for a streamed request; 0 = none
  std::size_t max_connections = 16;
  std::chrono::milliseconds pool_idle_timeout{60000};
  std::size_t max_buffered_body = 64u << 20;
  std::size_t read_buffer_bytes = 64u << 10;
  response_limits limits;
  std::string user_agent = "aquaduct/0.1";
  bool accept_gzip = true;                // Accept-Encoding: gzip on buffered requests
  std::size_t gzip_request_min_bytes = 0;  // gzip request bodies at least this large; 0 = never
  tls_options tls;                        // https only
  std::string proxy;                      // "" = from the environment (HTTPS_PROXY...), "none", or a URL
  std::shared_ptr<fail_counter> faults;   // tests only: fail the Nth I/O operation
  // Warnings (redacted before the call). Empty: written to stderr.
  std::function<void(std::string_view)> log;
};

// Called with each piece of a 2xx body, in order. May throw: the request is
// then abandoned, the connection closed, and the exception rethrown.
using body_handler = std::function<void(std::string_view)>;
// The same, awaited: the next read is issued only when it returns, so a slow
// consumer (a sink on a worker pool) holds the download back. The piece stays
// valid until the awaitable completes.
using async_body_handler = std::function<asio::awaitable<void>(std::string_view)>;
// Called once with the status and headers (body empty) before any body piece.
// May throw, like body_handler.
using head_handler = std::function<void(const http_response&)>;

class http_client {
 public:
  // Throws std::system_error: bad_url (proxy), tls_failed (ca_file).
  // Warns (opts.log) when TLS verification is off.
  http_client(asio::any_io_executor ex, origin where, client_options opts = {});
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Sends the request and buffers the response body (up to max_buffered_body).
  // Throws std::system_error (transport_errc) on I/O failure, timeout or cancellation.
  asio::awaitable<http_response> request(http_request req);

  // Sends the request; a 2xx body goes to `on_body` as it arrives, any other
  // status has its body buffered into the response instead.
  asio::awaitable<http_response> stream(http_request req, body_handler on_body, head_handler on_head = {});
  // The same with a consumer that is awaited piece by piece. While it runs
  // only the request's total deadline applies (a consumer is not an idle peer).
  asio::awaitable<http_response> stream_async(http_request req, async_body_handler on_body, head_handler on_head = {});

  void close() noexcept { pool_.close_idle(); }
  const origin& where() const noexcept { return origin_; }
  const client_options& options() const noexcept { return opts_; }
  pool_stats stats() const noexcept { return pool_.stats(); }
  // Writes a warning through options().log, redacted.
  void warn(std::string_view text) const;

 private:
  struct exchange_state;
  // Exactly one of the two body consumers is set for a streamed request, none for a buffered one.
  struct body_consumer {
    body_handler sync;
    async_body_handler async;
    explicit operator bool() const noexcept { return sync || async; }
  };
  asio::awaitable<http_response> perform(http_request req, body_consumer on_body, head_handler on_head);
  asio::awaitable<http_response> exchange(exchange_state& st, const std::string& head, const http_request& req,
                                          const body_consumer& on_body, const head_handler& on_head);
  asio::awaitable<void> watchdog(exchange_state& st);
  [[noreturn]] void fail(std::error_code ec, const http_request& req, std::string_view detail) const;

  origin origin_;
  client_options opts_;
  connection_pool pool_;
};

// A system_error's own text, without the ": <code message>" suffix that
// std::system_error appends (so a rethrown error does not say it twice).
std::string bare_what(const std::system_error& e);

// RFC 1952 gzip of `data` (one member), for request bodies and tests.
std::string gzip_compress(std::string_view data);

}  // namespace aquaduct::transport

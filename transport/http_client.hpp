#pragma once
// An HTTP/1.1 client on Asio coroutines: one keep-alive connection to one
// origin, deadlines on every operation, bodies either buffered (JSON, with a
// limit) or streamed chunk by chunk to a handler (result files).
//
// Streaming has backpressure by construction: the handler runs before the
// next read is issued, so at most one read buffer is in memory per client.
#include "transport/response_parser.hpp"
#include "transport/url.hpp"

#include <asio/awaitable.hpp>
#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::transport {

struct http_request {
  std::string method = "GET";
  std::string target;  // path (and query), appended to the origin's path prefix
  std::vector<header> headers;
  std::string body;
};

struct http_response {
  unsigned status = 0;
  std::vector<header> headers;
  std::string body;  // buffered body: always for request(); for stream() only when not 2xx
  std::uint64_t body_bytes = 0;  // body bytes received (after chunked decoding)

  // First header with that name (case-insensitive).
  std::optional<std::string_view> find(std::string_view name) const;
};

struct client_options {
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};     // longest wait for the next byte
  std::chrono::milliseconds request_timeout{30000};  // whole buffered request; streams use idle only
  std::size_t max_buffered_body = 64u << 20;
  std::size_t read_buffer_bytes = 64u << 10;
  std::string user_agent = "aquaduct/0.1";
};

// Called with each piece of a 2xx body, in order. May throw: the request is
// then abandoned, the connection closed, and the exception rethrown.
using body_handler = std::function<void(std::string_view)>;

class http_client {
 public:
  http_client(asio::any_io_executor ex, origin where, client_options opts = {});
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Sends the request and buffers the response body (up to max_buffered_body).
  // Throws std::system_error (transport_errc) on I/O failure or timeout.
  asio::awaitable<http_response> request(http_request req);

  // Sends the request; a 2xx body goes to `on_body` as it arrives, any other
  // status has its body buffered into the response instead.
  asio::awaitable<http_response> stream(http_request req, body_handler on_body);

  void close() noexcept;
  const origin& where() const noexcept { return origin_; }

 private:
  asio::awaitable<http_response> perform(http_request req, body_handler on_body);
  asio::awaitable<http_response> exchange(const http_request& req, const body_handler& on_body);
  asio::awaitable<void> connect();
  asio::awaitable<void> watchdog();
  [[noreturn]] void fail(std::error_code ec, const http_request& req, std::string_view detail);

  origin origin_;
  client_options opts_;
  asio::ip::tcp::socket socket_;
  response_parser parser_;
  std::vector<char> read_buffer_;
  std::chrono::steady_clock::time_point last_activity_;
  std::chrono::steady_clock::time_point deadline_;
  bool response_started_ = false;
};

}  // namespace aquaduct::transport

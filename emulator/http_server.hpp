#pragma once
// The emulator's own small HTTP/1.1 server: a request parser (request line,
// headers, Content-Length bodies, keep-alive, size limits) and the connection
// coroutine that writes responses in chunks and applies delivery faults.
// Shares nothing with aquaduct's client transport on purpose.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>

namespace aquaduct::emulator {

struct http_request {
  std::string method;  // as sent ("GET")
  std::string target;  // "/v1/file/abc?x=1"
  std::string path;    // target up to '?', not percent-decoded
  std::string query;   // after '?', may be empty
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = true;

  // First header with this name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

// How the body is delivered; set by fault rules.
struct delivery_faults {
  std::optional<std::uint64_t> truncate_at;  // close cleanly after this many body bytes
  std::optional<std::uint64_t> reset_at;     // reset (RST) after this many body bytes
  std::optional<std::uint64_t> stall_after;  // pause stall_ms after this many body bytes
  std::chrono::milliseconds stall_ms{0};
};

// A result file opened for one response. The descriptor keeps the bytes
// readable even when the file is purged (unlinked) while it is being sent.
class open_file {
 public:
  // Throws std::system_error naming `path` when it cannot be opened.
  explicit open_file(const std::string& path);
  ~open_file();
  open_file(const open_file&) = delete;
  open_file& operator=(const open_file&) = delete;
  int fd() const noexcept { return fd_; }
  std::uint64_t size() const noexcept { return size_; }

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // The body is either in memory or a file streamed from disk (never both);
  // [body_offset, body_offset+body_size) of it is sent.
  std::shared_ptr<const std::string> body;
  std::shared_ptr<const open_file> file;
  std::uint64_t body_offset = 0;
  std::uint64_t body_size = 0;
  // Absolute body offsets whose bytes are flipped on the way out (corrupt_gzip).
  std::vector<std::uint64_t> corrupt_at;
  bool head_only = false;  // HEAD: headers (with the GET Content-Length) but no body
  bool close = false;      // close the connection after this response
  delivery_faults faults;
  // Released when the response has been written (or its connection ended):
  // the handler's way to count requests in flight.
  std::shared_ptr<void> in_flight;

  void set_body(std::string s);
};

struct http_limits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  std::size_t write_chunk_bytes = 64 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};  // waiting for a (next) request
  std::chrono::milliseconds io_timeout{30'000};    // any single read or write once a request started
};

class request_parser {
 public:
  enum class result { need_more, done, error };

  explicit request_parser(http_limits limits = {}) : limits_(limits) {}

  // Parses the bytes buffered so far (always the whole buffer, from the start
  // of the request). `done`: `out` holds the request and consumed() bytes of
  // the buffer belong to it. `error`: see error_status()/error_message().
  result parse(std::string_view buffered, http_request& out);
  std::size_t consumed() const noexcept { return consumed_; }
  int error_status() const noexcept { return error_status_; }
  const std::string& error_message() const noexcept { return error_message_; }
  // True once the headers are complete and the client waits for "100 Continue".
  bool expects_continue() const noexcept { return expects_continue_; }
  void reset();

 private:
  result fail(int status, std::string message);

  http_limits limits_;
  bool headers_done_ = false;
  std::size_t header_end_ = 0;
  std::size_t content_length_ = 0;
  std::size_t consumed_ = 0;
  bool expects_continue_ = false;
  int error_status_ = 400;
  std::string error_message_;
  http_request head_;
};

class request_handler {
 public:
  virtual ~request_handler() = default;
  virtual http_response handle(const http_request& req) = 0;
  // The response to a request that could not be parsed (status 400, 413, 431, 501...).
  virtual http_response malformed(int status, std::string_view message) = 0;
  virtual void on_body_bytes_sent(std::uint64_t n) = 0;
};

std::string_view reason_phrase(int status);

// Serves one connection until it closes. `handler` must outlive the
// coroutine (the server owns both and destroys the io_context first).
asio::awaitable<void> serve_connection(asio::ip::tcp::socket socket, request_handler* handler,
                                       http_limits limits);
// The same over TLS: handshake first (within limits.io_timeout), then HTTP.
// `tls` must outlive the coroutine.
asio::awaitable<void> serve_tls_connection(asio::ip::tcp::socket socket, asio::ssl::context* tls,
                                           request_handler* handler, http_limits limits);

}  // namespace aquaduct::emulator

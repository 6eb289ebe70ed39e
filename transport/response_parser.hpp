#pragma once
// HTTP/1.1 response parsing: the glue between llhttp's callbacks and our
// client. Push style: put() the bytes as they arrive; the body goes to the
// body callback chunk by chunk (views into the bytes given to put()).
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <llhttp.h>

namespace aquaduct::transport {

struct header {
  std::string name;
  std::string value;
};

struct response_limits {
  std::size_t max_header_bytes = 64 * 1024;  // status line + all headers
  std::size_t max_headers = 100;
};

class response_parser {
 public:
  using body_callback = std::function<void(std::string_view)>;

  explicit response_parser(response_limits limits = {});
  response_parser(const response_parser&) = delete;
  response_parser& operator=(const response_parser&) = delete;

  // Ready for the next response. `head_request`: the response has no body.
  void reset(bool head_request = false);
  void set_body_callback(body_callback cb) { on_body_ = std::move(cb); }

  // Feeds bytes. Stops at the end of the message (bytes after it are not
  // consumed: see trailing_bytes()). Sets transport_errc::bad_response on
  // malformed input. An exception thrown by the body callback is rethrown.
  void put(std::string_view data, std::error_code& ec);
  // The connection reached EOF: completes a close-delimited body, else an
  // incomplete message is transport_errc::connection_closed.
  void finish(std::error_code& ec);

  bool headers_complete() const noexcept { return headers_complete_; }
  bool message_complete() const noexcept { return message_complete_; }
  bool keep_alive() const noexcept { return keep_alive_; }
  unsigned status() const noexcept { return status_; }
  const std::vector<header>& headers() const noexcept { return headers_; }
  std::size_t trailing_bytes() const noexcept { return trailing_; }
  // The last error for messages: llhttp's reason (or ours) and, for malformed
  // input, the byte of the response where it was found.
  const char* error_reason() const noexcept { return message_.empty() ? reason_ : message_.c_str(); }

 private:
  static int on_header_field(llhttp_t* p, const char* at, std::size_t len);
  static int on_header_value(llhttp_t* p, const char* at, std::size_t len);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, std::size_t len);
  static int on_message_complete(llhttp_t* p);
  int count_header_bytes(std::size_t len);

  llhttp_t parser_{};
  llhttp_settings_t settings_{};
  response_limits limits_;
  body_callback on_body_;
  std::vector<header> headers_;
  bool in_value_ = false;
  bool headers_complete_ = false;
  bool message_complete_ = false;
  bool keep_alive_ = false;
  unsigned status_ = 0;
  std::size_t header_bytes_ = 0;
  std::size_t trailing_ = 0;
  const char* reason_ = "";
  std::string message_;      // reason_ with the byte offset, once known
  std::uint64_t fed_ = 0;    // bytes of this response put before the current call
  std::exception_ptr callback_error_;
  bool head_request_ = false;
};

}  // namespace aquaduct::transport

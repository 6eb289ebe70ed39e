#include "emulator/http_server.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

namespace aquaduct::emulator {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower(x) == lower(y);
         });
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Does the comma-separated header value contain `token` (case-insensitive)?
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

const std::string* http_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

void http_response::set_body(std::string s) {
  body_size = s.size();
  body_offset = 0;
  body = std::make_shared<const std::string>(std::move(s));
}

void request_parser::reset() {
  headers_done_ = false;
  header_end_ = 0;
  content_length_ = 0;
  consumed_ = 0;
  expects_continue_ = false;
  error_status_ = 400;
  error_message_.clear();
  head_ = http_request{};
}

request_parser::result request_parser::fail(int status, std::string message) {
  error_status_ = status;
  error_message_ = std::move(message);
  return result::error;
}

request_parser::result request_parser::parse(std::string_view buf, http_request& out) {
  if (!headers_done_) {
    // Skip the empty lines a client may send between requests (RFC 9112 §2.2).
    std::size_t start = 0;
    while (start < buf.size() && (buf[start] == '\r' || buf[start] == '\n')) ++start;
    // The end of the head: the first empty line; a bare LF is accepted as a line end.
    std::size_t end = std::string_view::npos;
    for (std::size_t i = buf.find('\n', start); i != std::string_view::npos; i = buf.find('\n', i + 1)) {
      if (i + 1 < buf.size() && buf[i + 1] == '\n') {
        end = i + 2;
        break;
      }
      if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
        end = i + 3;
        break;
      }
    }
    if (end == std::string_view::npos) {
      if (buf.size() > limits_.max_header_bytes) return fail(431, "request header fields too large");
      return result::need_more;
    }
    if (end > limits_.max_header_bytes + start) return fail(431, "request header fields too large");

    http_request req;
    std::string_view head = buf.substr(start, end - start);
    const auto next_line = [&head]() {
      const auto nl = head.find('\n');
      std::string_view line = head.substr(0, nl);
      head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      return line;
    };

    // Request line: METHOD SP request-target SP HTTP-version
    const std::string_view line = next_line();
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
        line.find(' ', sp2 + 1) != std::string_view::npos)
      return fail(400, "malformed request line");
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!std::all_of(method.begin(), method.end(), is_tchar)) return fail(400, "malformed request method");
    if (target.empty() || target.front() != '/' ||
        std::any_of(target.begin(), target.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
      return fail(400, "malformed request target");
    if (version.size() != 8 || version.substr(0, 7) != "HTTP/1.")
      return fail(version.substr(0, 5) == "HTTP/" ? 505 : 400, "unsupported or malformed HTTP version");
    if (version[7] != '0' && version[7] != '1') return fail(505, "HTTP version not supported");
    req.method = std::string(method);
    req.target = std::string(target);
    const auto q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
    req.version_minor = version[7] - '0';

    std::optional<std::size_t> content_length;
    bool close = req.version_minor == 0;
    for (;;) {
      const std::string_view h = next_line();
      if (h.empty()) break;
      if (h.front() == ' ' || h.front() == '\t') return fail(400, "obsolete header line folding");
      const auto colon = h.find(':');
      if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header line");
      const std::string_view name = h.substr(0, colon);
      if (!std::all_of(name.begin(), name.end(), is_tchar)) return fail(400, "malformed header name");
      const std::string_view value = trim(h.substr(colon + 1));
      if (iequals(name, "content-length")) {
        std::size_t n = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (value.empty() || ec != std::errc{} || p != value.data() + value.size())
          return fail(400, "malformed Content-Length");
        if (content_length && *content_length != n) return fail(400, "conflicting Content-Length headers");
        content_length = n;
      } else if (iequals(name, "transfer-encoding")) {
        return fail(501, "Transfer-Encoding request bodies are not supported; send Content-Length");
      } else if (iequals(name, "connection")) {
        if (has_token(value, "close")) close = true;
        else if (has_token(value, "keep-alive")) close = false;
      } else if (iequals(name, "expect")) {
        if (!iequals(value, "100-continue")) return fail(417, "unsupported Expect");
        expects_continue_ = true;
      }
      req.headers.emplace_back(std::string(name), std::string(value));
    }
    req.keep_alive = !close;
    content_length_ = content_length.value_or(0);
    if (content_length_ > limits_.max_body_bytes) return fail(413, "request body too large");
    header_end_ = end;
    headers_done_ = true;
    head_ = std::move(req);
  }
  if (buf.size() - header_end_ < content_length_) return result::need_more;
  expects_continue_ = false;
  out = std::move(head_);
  out.body = std::string(buf.substr(header_end_, content_length_));
  consumed_ = header_end_ + content_length_;
  headers_done_ = false;
  return result::done;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 206: return "Partial Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

// Ends when `deadline` (owned by the awaiting frame, re-armed by the session)
// has passed; the `||` in serve_connection then cancels the session.
asio::awaitable<void> watchdog(clock::time_point& deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto now = clock::now();
  while (deadline > now) {
    timer.expires_at(deadline);
    co_await timer.async_wait(asio::use_awaitable);
    now = clock::now();
  }
}

std::string head_block(const http_response& r, bool keep_alive) {
  std::string h = fmt::format("HTTP/1.1 {} {}\r\n", r.status, reason_phrase(r.status));
  if (!r.content_type.empty()) h += fmt::format("Content-Type: {}\r\n", r.content_type);
  h += fmt::format("Content-Length: {}\r\n", r.body_size);
  for (const auto& [k, v] : r.headers) h += fmt::format("{}: {}\r\n", k, v);
  h += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  h += "Server: aquaduct-emulator\r\n\r\n";
  return h;
}

enum class ending { keep, close, reset };

// Writes one response; returns how the connection must end.
asio::awaitable<ending> write_response(tcp::socket& sock, const http_response& r, bool keep_alive,
                                       request_handler* handler, const http_limits& limits,
                                       clock::time_point& deadline) {
  const std::string head = head_block(r, keep_alive);
  const std::size_t total = r.head_only ? 0 : r.body_size;
  std::uint64_t limit = total;
  ending end = keep_alive ? ending::keep : ending::close;
  if (r.faults.truncate_at && *r.faults.truncate_at < limit) {
    limit = *r.faults.truncate_at;
    end = ending::close;
  }
  if (r.faults.reset_at && *r.faults.reset_at <= limit) {
    limit = *r.faults.reset_at;
    end = ending::reset;
  }
  const char* body = r.body ? r.body->data() + r.body_offset : nullptr;

  deadline = clock::now() + limits.io_timeout;
  std::size_t sent = 0;
  if (limit <= limits.write_chunk_bytes && !r.faults.stall_after) {
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(body, limit)};
    co_await asio::async_write(sock, bufs, asio::use_awaitable);
    sent = limit;
  } else {
    co_await asio::async_write(sock, asio::buffer(head), asio::use_awaitable);
    bool stalled = false;
    while (sent < limit) {
      if (r.faults.stall_after && !stalled && sent >= *r.faults.stall_after) {
        stalled = true;
        deadline = clock::now() + r.faults.stall_ms + limits.io_timeout;
        asio::steady_timer t(sock.get_executor(), r.faults.stall_ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      std::size_t n = std::min<std::size_t>(limits.write_chunk_bytes, limit - sent);
      if (r.faults.stall_after && !stalled && sent < *r.faults.stall_after)
        n = std::min<std::size_t>(n, *r.faults.stall_after - sent);
      deadline = clock::now() + limits.io_timeout;
      co_await asio::async_write(sock, asio::buffer(body + sent, n), asio::use_awaitable);
      sent += n;
      handler->on_body_bytes_sent(n);
    }
    if (r.faults.stall_after && !stalled && *r.faults.stall_after >= limit && limit == total &&
        r.faults.stall_ms.count() > 0) {
      // A stall at the very end of the body: hold the response open, then finish.
      deadline = clock::now() + r.faults.stall_ms + limits.io_timeout;
      asio::steady_timer t(sock.get_executor(), r.faults.stall_ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    co_return end;
  }
  handler->on_body_bytes_sent(sent);
  co_return end;
}

void finish(tcp::socket& sock, ending how) {
  std::error_code ec;
  if (how == ending::reset) {
    sock.set_option(asio::socket_base::linger(true, 0), ec);
  } else {
    sock.shutdown(tcp::socket::shutdown_send, ec);
  }
  sock.close(ec);
}

asio::awaitable<void> session(tcp::socket& sock, request_handler* handler, http_limits limits,
                              clock::time_point& deadline) {
  std::string buf;
  request_parser parser{limits};
  std::array<char, 16 * 1024> chunk{};
  bool continue_sent = false;
  for (;;) {
    http_request req;
    const auto r = parser.parse(buf, req);
    if (r == request_parser::result::error) {
      http_response resp = handler->malformed(parser.error_status(), parser.error_message());
      co_await write_response(sock, resp, false, handler, limits, deadline);
      finish(sock, ending::close);
      co_return;
    }
    if (r == request_parser::result::need_more) {
      if (parser.expects_continue() && !continue_sent) {
        continue_sent = true;
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        deadline = clock::now() + limits.io_timeout;
        co_await asio::async_write(sock, asio::buffer(cont.data(), cont.size()), asio::use_awaitable);
      }
      deadline = clock::now() + (buf.empty() ? limits.idle_timeout : limits.io_timeout);
      std::error_code ec;
      const std::size_t n =
          co_await sock.async_read_some(asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        std::error_code ignored;
        sock.close(ignored);
        co_return;
      }
      buf.append(chunk.data(), n);
      continue;
    }
    buf.erase(0, parser.consumed());
    parser.reset();
    continue_sent = false;
    http_response resp;
    try {
      resp = handler->handle(req);
    } catch (const std::exception& e) {
      resp = handler->malformed(500, fmt::format("internal emulator error: {}", e.what()));
    }
    const bool keep = req.keep_alive && !resp.close;
    const ending how = co_await write_response(sock, resp, keep, handler, limits, deadline);
    if (how != ending::keep) {
      finish(sock, how);
      co_return;
    }
  }
}

}  // namespace

asio::awaitable<void> serve_connection(tcp::socket socket, request_handler* handler, http_limits limits) {
  clock::time_point deadline = clock::now() + limits.idle_timeout;
  try {
    co_await (session(socket, handler, limits, deadline) || watchdog(deadline));
  } catch (const std::exception&) {
    // A peer that vanished mid-write: nothing to report to anyone.
  }
  std::error_code ec;
  socket.close(ec);
}

}  // namespace aquaduct::emulator

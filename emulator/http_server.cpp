#include "emulator/http_server.hpp"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <exception>
#include <system_error>
#include <type_traits>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/stream.hpp>
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

open_file::open_file(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open result file " + path);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int e = errno;
    ::close(fd_);
    throw std::system_error(e, std::generic_category(), "cannot stat result file " + path);
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

open_file::~open_file() {
  if (fd_ >= 0) ::close(fd_);
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
using tls_stream = asio::ssl::stream<tcp::socket>;
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

// Plain TCP and an untouched file: the kernel copies file pages to the socket.
asio::awaitable<void> sendfile_range(tcp::socket& s, const http_response& r, std::uint64_t from, std::uint64_t to,
                                     request_handler* handler, const http_limits& limits,
                                     clock::time_point& deadline) {
  s.native_non_blocking(true);
  auto off = static_cast<off_t>(r.body_offset + from);
  std::uint64_t remaining = to - from;
  while (remaining > 0) {
    deadline = clock::now() + limits.io_timeout;
    const ssize_t n = ::sendfile(s.native_handle(), r.file->fd(), &off,
                                 static_cast<std::size_t>(std::min<std::uint64_t>(remaining, 4u << 20)));
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        co_await s.async_wait(tcp::socket::wait_write, asio::use_awaitable);
        continue;
      }
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "sendfile");
    }
    if (n == 0) throw std::system_error(std::make_error_code(std::errc::io_error), "result file shrank while sent");
    remaining -= static_cast<std::uint64_t>(n);
    handler->on_body_bytes_sent(static_cast<std::uint64_t>(n));
    // A short write means the socket buffer is full: wait for room rather
    // than spend a syscall on the EAGAIN.
    if (remaining > 0 && static_cast<std::uint64_t>(n) < std::min<std::uint64_t>(remaining + static_cast<std::uint64_t>(n), 4u << 20))
      co_await s.async_wait(tcp::socket::wait_write, asio::use_awaitable);
  }
}

// Sends body bytes [from, to) (relative to body_offset).
template <class Stream>
asio::awaitable<void> send_range(Stream& s, const http_response& r, std::uint64_t from, std::uint64_t to,
                                 request_handler* handler, const http_limits& limits, clock::time_point& deadline) {
  if (from >= to) co_return;
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    if (r.file && r.corrupt_at.empty()) {
      co_await sendfile_range(s, r, from, to, handler, limits, deadline);
      co_return;
    }
  }
  std::vector<char> scratch;
  if (r.file || !r.corrupt_at.empty()) scratch.resize(limits.write_chunk_bytes);
  while (from < to) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(limits.write_chunk_bytes, to - from));
    const std::uint64_t abs = r.body_offset + from;
    const char* data = nullptr;
    if (r.file) {
      std::size_t got = 0;
      while (got < n) {
        const ssize_t k = ::pread(r.file->fd(), scratch.data() + got, n - got, static_cast<off_t>(abs + got));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) throw std::system_error(errno, std::generic_category(), "reading a result file");
        if (k == 0) throw std::system_error(std::make_error_code(std::errc::io_error), "result file shrank while sent");
        got += static_cast<std::size_t>(k);
      }
      data = scratch.data();
    } else if (!r.corrupt_at.empty()) {
      std::copy_n(r.body->data() + abs, n, scratch.data());
      data = scratch.data();
    } else {
      data = r.body->data() + abs;
    }
    if (!r.corrupt_at.empty()) {
      for (const std::uint64_t pos : r.corrupt_at)
        if (pos >= abs && pos < abs + n)
          scratch[pos - abs] = static_cast<char>(static_cast<unsigned char>(scratch[pos - abs]) ^ 0x5a);
    }
    deadline = clock::now() + limits.io_timeout;
    co_await asio::async_write(s, asio::buffer(data, n), asio::use_awaitable);
    from += n;
    handler->on_body_bytes_sent(n);
  }
}

// Writes one response; returns how the connection must end.
template <class Stream>
asio::awaitable<ending> write_response(Stream& s, const http_response& r, bool keep_alive,
                                       request_handler* handler, const http_limits& limits,
                                       clock::time_point& deadline) {
  const std::string head = head_block(r, keep_alive);
  const std::uint64_t total = r.head_only ? 0 : r.body_size;
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

  deadline = clock::now() + limits.io_timeout;
  if (r.body && !r.file && limit <= limits.write_chunk_bytes && !r.faults.stall_after && r.corrupt_at.empty()) {
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head),
                                           asio::buffer(r.body->data() + r.body_offset, static_cast<std::size_t>(limit))};
    co_await asio::async_write(s, bufs, asio::use_awaitable);
    handler->on_body_bytes_sent(limit);
    co_return end;
  }
  co_await asio::async_write(s, asio::buffer(head), asio::use_awaitable);
  if (r.faults.stall_after && *r.faults.stall_after <= limit) {
    const std::uint64_t at = *r.faults.stall_after;
    co_await send_range(s, r, 0, at, handler, limits, deadline);
    deadline = clock::now() + r.faults.stall_ms + limits.io_timeout;
    asio::steady_timer t(s.get_executor(), r.faults.stall_ms);
    co_await t.async_wait(asio::use_awaitable);
    co_await send_range(s, r, at, limit, handler, limits, deadline);
  } else {
    co_await send_range(s, r, 0, limit, handler, limits, deadline);
  }
  co_return end;
}

template <class Stream>
asio::awaitable<void> finish(Stream& s, ending how, clock::time_point& deadline) {
  std::error_code ec;
  auto& sock = s.lowest_layer();
  if (how == ending::reset) {
    sock.set_option(asio::socket_base::linger(true, 0), ec);
  } else {
    if constexpr (std::is_same_v<Stream, tls_stream>) {
      // close_notify, bounded: a peer that never answers it is not waited for.
      deadline = clock::now() + std::chrono::seconds(2);
      co_await s.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    }
    sock.shutdown(tcp::socket::shutdown_send, ec);
  }
  sock.close(ec);
}

template <class Stream>
asio::awaitable<void> session(Stream& s, request_handler* handler, http_limits limits, clock::time_point& deadline) {
  std::string buf;
  request_parser parser{limits};
  std::array<char, 16 * 1024> chunk{};
  bool continue_sent = false;
  for (;;) {
    http_request req;
    const auto r = parser.parse(buf, req);
    if (r == request_parser::result::error) {
      http_response resp = handler->malformed(parser.error_status(), parser.error_message());
      co_await write_response(s, resp, false, handler, limits, deadline);
      co_await finish(s, ending::close, deadline);
      co_return;
    }
    if (r == request_parser::result::need_more) {
      if (parser.expects_continue() && !continue_sent) {
        continue_sent = true;
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        deadline = clock::now() + limits.io_timeout;
        co_await asio::async_write(s, asio::buffer(cont.data(), cont.size()), asio::use_awaitable);
      }
      deadline = clock::now() + (buf.empty() ? limits.idle_timeout : limits.io_timeout);
      std::error_code ec;
      const std::size_t n =
          co_await s.async_read_some(asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        std::error_code ignored;
        s.lowest_layer().close(ignored);
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
    const ending how = co_await write_response(s, resp, keep, handler, limits, deadline);
    if (how != ending::keep) {
      co_await finish(s, how, deadline);
      co_return;
    }
  }
}

asio::awaitable<void> tls_session(tls_stream& s, request_handler* handler, http_limits limits,
                                  clock::time_point& deadline) {
  co_await s.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
  co_await session(s, handler, limits, deadline);
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

asio::awaitable<void> serve_tls_connection(tcp::socket socket, asio::ssl::context* tls, request_handler* handler,
                                           http_limits limits) {
  tls_stream stream(std::move(socket), *tls);
  clock::time_point deadline = clock::now() + limits.io_timeout;
  try {
    co_await (tls_session(stream, handler, limits, deadline) || watchdog(deadline));
  } catch (const std::exception&) {
    // A failed handshake or a peer that vanished: nothing to report to anyone.
  }
  std::error_code ec;
  stream.lowest_layer().close(ec);
}

}  // namespace aquaduct::emulator

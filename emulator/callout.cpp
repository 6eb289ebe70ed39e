#include "emulator/callout.hpp"

#include <charconv>
#include <stdexcept>
#include <system_error>

#include <asio/connect.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

namespace aquaduct::emulator {

std::string substitute_callout(std::string_view url, std::string_view job_id, std::string_view status) {
  std::string out;
  while (!url.empty()) {
    const auto at = url.find("${");
    out.append(url.substr(0, at));
    if (at == std::string_view::npos) break;
    url.remove_prefix(at);
    if (url.substr(0, 8) == "${JOBID}") {
      out.append(job_id);
      url.remove_prefix(8);
    } else if (url.substr(0, 9) == "${STATUS}") {
      out.append(status);
      url.remove_prefix(9);
    } else {
      out.append("${");
      url.remove_prefix(2);
    }
  }
  return out;
}

namespace {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

struct http_url {
  std::string host, port, target;
};

http_url split_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme)
    throw std::invalid_argument(fmt::format("callout URL {} is not http:// (the emulator calls out over plain HTTP only)", url));
  std::string_view rest = url.substr(scheme.size());
  const auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  http_url u;
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (!u.target.empty() && u.target.front() == '?') u.target.insert(0, "/");
  u.port = "80";
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument(fmt::format("callout URL {}: bad host", url));
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') u.port = std::string(authority.substr(close + 2));
  } else {
    const auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  if (u.host.empty()) throw std::invalid_argument(fmt::format("callout URL {} has no host", url));
  return u;
}

asio::awaitable<int> exchange(http_url u) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  const auto endpoints = co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable);
  tcp::socket sock(ex);
  co_await asio::async_connect(sock, endpoints, asio::use_awaitable);
  const std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  const std::string req = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: aquaduct-emulator-callout\r\nConnection: close\r\n\r\n", u.target,
      host, u.port);
  co_await asio::async_write(sock, asio::buffer(req), asio::use_awaitable);
  std::string head;
  char buf[1024];
  while (head.find("\r\n") == std::string::npos) {
    const std::size_t n = co_await sock.async_read_some(asio::buffer(buf), asio::use_awaitable);
    head.append(buf, n);
    if (head.size() > 8192) break;
  }
  int status = 0;
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0 ||
      std::from_chars(head.data() + 9, head.data() + 12, status).ec != std::errc{})
    throw std::system_error(std::make_error_code(std::errc::protocol_error), "callout answer is not HTTP");
  std::error_code ec;
  sock.shutdown(tcp::socket::shutdown_both, ec);
  co_return status;
}

asio::awaitable<void> expire(std::chrono::milliseconds after) {
  asio::steady_timer t(co_await asio::this_coro::executor, after);
  co_await t.async_wait(asio::use_awaitable);
}

}  // namespace

asio::awaitable<int> http_get_status(std::string url, std::chrono::milliseconds timeout) {
  http_url u = split_url(url);
  auto r = co_await (exchange(std::move(u)) || expire(timeout));
  if (r.index() == 1) throw std::system_error(std::make_error_code(std::errc::timed_out), "callout to " + url);
  co_return std::get<0>(r);
}

}  // namespace aquaduct::emulator

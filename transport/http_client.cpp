#include "transport/http_client.hpp"

#include <aquaduct/error.hpp>

#include <asio/connect.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cctype>
#include <system_error>

namespace aquaduct::transport {

using clock = std::chrono::steady_clock;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

bool has_header(const http_request& req, std::string_view name) {
  return std::any_of(req.headers.begin(), req.headers.end(), [&](const header& h) { return iequals(h.name, name); });
}

// A request may be sent again on a fresh connection when the old one turned
// out dead before any response byte: GETs, DELETEs, and POSTs that carry an
// Idempotency-Key (the service deduplicates them).
bool safe_to_resend(const http_request& req) {
  return req.method == "GET" || req.method == "HEAD" || req.method == "DELETE" || has_header(req, "Idempotency-Key");
}

}  // namespace

std::optional<std::string_view> http_response::find(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

http_client::http_client(asio::any_io_executor ex, origin where, client_options opts)
    : origin_(std::move(where)), opts_(std::move(opts)), socket_(std::move(ex)), read_buffer_(opts_.read_buffer_bytes) {}

void http_client::close() noexcept {
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void http_client::fail(std::error_code ec, const http_request& req, std::string_view detail) {
  close();
  std::string what = req.method + " " + origin_.to_string() + req.target;
  if (!detail.empty()) what += ": " + std::string(detail);
  throw std::system_error(ec, what);
}

asio::awaitable<http_response> http_client::request(http_request req) {
  co_return co_await perform(std::move(req), body_handler{});
}

asio::awaitable<http_response> http_client::stream(http_request req, body_handler on_body) {
  co_return co_await perform(std::move(req), std::move(on_body));
}

asio::awaitable<http_response> http_client::perform(http_request req, body_handler on_body) {
  for (int attempt = 0;; ++attempt) {
    const bool reused = socket_.is_open();
    response_started_ = false;
    last_activity_ = clock::now();
    deadline_ = on_body ? clock::time_point::max() : last_activity_ + opts_.request_timeout;
    if (!reused) deadline_ = std::min(deadline_, last_activity_ + opts_.connect_timeout);  // until connected
    // The exchange races a watchdog; whichever finishes first cancels the
    // other. Both borrow from this frame, which awaits the group directly.
    auto ex = co_await asio::this_coro::executor;
    auto [order, exchange_error, response, watchdog_error] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex, exchange(req, on_body), asio::experimental::deferred),
            asio::co_spawn(ex, watchdog(), asio::experimental::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)watchdog_error;
    if (order[0] == 1) fail(transport_errc::timeout, req, "no progress before the deadline");
    if (!exchange_error) co_return std::move(response);
    try {
      std::rethrow_exception(exchange_error);
    } catch (const std::system_error& e) {
      const bool stale = reused && attempt == 0 && !response_started_ && safe_to_resend(req) &&
                         e.code() == make_error_condition(condition::retriable);
      if (!stale) throw;
    }
    close();
  }
}

asio::awaitable<void> http_client::watchdog() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    const auto due = std::min(last_activity_ + opts_.idle_timeout, deadline_);
    if (clock::now() >= due) co_return;
    timer.expires_at(due);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<void> http_client::connect() {
  asio::ip::tcp::resolver resolver(socket_.get_executor());
  std::error_code ec;
  auto endpoints = co_await resolver.async_resolve(origin_.host, origin_.port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) throw std::system_error(transport_errc::connect_failed, "resolve " + origin_.host + ": " + ec.message());
  co_await asio::async_connect(socket_, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) throw std::system_error(transport_errc::connect_failed, "connect " + origin_.to_string() + ": " + ec.message());
  socket_.set_option(asio::ip::tcp::no_delay(true));
}

asio::awaitable<http_response> http_client::exchange(const http_request& req, const body_handler& on_body) {
  if (!socket_.is_open()) {
    co_await connect();
    last_activity_ = clock::now();
    deadline_ = on_body ? clock::time_point::max() : last_activity_ + opts_.request_timeout;
  }

  std::string head;
  head.reserve(256 + req.target.size());
  head += req.method;
  head += ' ';
  head += origin_.path_prefix;
  head += req.target;
  head += " HTTP/1.1\r\nHost: ";
  head += origin_.host_header();
  head += "\r\nUser-Agent: ";
  head += opts_.user_agent;
  head += "\r\n";
  for (const auto& h : req.headers) {
    head += h.name;
    head += ": ";
    head += h.value;
    head += "\r\n";
  }
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
    head += "Content-Length: ";
    head += std::to_string(req.body.size());
    head += "\r\n";
  }
  head += "\r\n";

  std::error_code ec;
  const std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(req.body)};
  co_await asio::async_write(socket_, out, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) fail(transport_errc::connection_closed, req, "write: " + ec.message());
  last_activity_ = clock::now();

  http_response response;
  parser_.reset(req.method == "HEAD");
  parser_.set_body_callback([&](std::string_view piece) {
    response.body_bytes += piece.size();
    const bool success = parser_.status() >= 200 && parser_.status() < 300;
    if (on_body && success) {
      on_body(piece);
      return;
    }
    if (response.body.size() + piece.size() > opts_.max_buffered_body)
      throw std::system_error(transport_errc::body_too_large,
                              req.method + " " + origin_.to_string() + req.target + ": body over " +
                                  std::to_string(opts_.max_buffered_body) + " bytes");
    response.body.append(piece);
  });

  while (!parser_.message_complete()) {
    const std::size_t n =
        co_await socket_.async_read_some(asio::buffer(read_buffer_), asio::redirect_error(asio::use_awaitable, ec));
    last_activity_ = clock::now();
    std::error_code pec;
    if (ec == asio::error::eof) {
      parser_.finish(pec);
      if (pec) fail(pec, req, parser_.error_reason());
      break;
    }
    if (ec) fail(transport_errc::connection_closed, req, "read: " + ec.message());
    response_started_ = true;
    try {
      parser_.put(std::string_view(read_buffer_.data(), n), pec);
    } catch (...) {
      close();  // the rest of this response is unread: the connection is unusable
      throw;
    }
    if (pec) fail(pec, req, parser_.error_reason());
  }

  response.status = parser_.status();
  response.headers = parser_.headers();
  if (!parser_.keep_alive() || parser_.trailing_bytes() != 0) close();
  co_return response;
}

}  // namespace aquaduct::transport

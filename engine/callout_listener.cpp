#include "engine/callout_listener.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <vector>

namespace aquaduct::engine_detail {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

[[noreturn]] void bad_listen(std::string_view listen, const std::string& why, std::error_code ec) {
  throw std::system_error(ec, "callout listener: cannot listen on \"" + std::string(listen) + "\": " + why);
}

struct host_port {
  std::string host;
  unsigned short port = 0;
};

host_port split_listen(std::string_view listen) {
  host_port hp;
  std::string_view port;
  if (!listen.empty() && listen.front() == '[') {
    const auto close = listen.find(']');
    if (close == std::string_view::npos || listen.substr(close + 1, 1) != ":")
      bad_listen(listen, "expected [IPv6]:PORT", std::make_error_code(std::errc::invalid_argument));
    hp.host = std::string(listen.substr(1, close - 1));
    port = listen.substr(close + 2);
  } else {
    const auto colon = listen.rfind(':');
    if (colon == std::string_view::npos)
      bad_listen(listen, "expected HOST:PORT", std::make_error_code(std::errc::invalid_argument));
    hp.host = std::string(listen.substr(0, colon));
    port = listen.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535)
    bad_listen(listen, "the port is not a number from 0 to 65535", std::make_error_code(std::errc::invalid_argument));
  hp.port = static_cast<unsigned short>(value);
  return hp;
}

tcp::endpoint endpoint_of(asio::any_io_executor ex, std::string_view listen, const host_port& hp) {
  if (hp.host.empty()) return {tcp::v4(), hp.port};
  std::error_code ec;
  const asio::ip::address addr = asio::ip::make_address(hp.host, ec);
  if (!ec) return {addr, hp.port};
  tcp::resolver resolver(ex);
  const auto results = resolver.resolve(hp.host, std::to_string(hp.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) bad_listen(listen, "cannot resolve " + hp.host + ": " + ec.message(), ec);
  return results.begin()->endpoint();
}

// Where the URL's authority and path part begins: "scheme://host[:port]" ends before it.
std::string path_of_url(std::string_view url) {
  const auto scheme = url.find("://");
  const std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  const auto slash = rest.find_first_of("/?#");
  if (slash == std::string_view::npos || rest[slash] != '/') return "/";
  std::string_view path = rest.substr(slash);
  path = path.substr(0, path.find_first_of("?#"));
  std::string decoded;
  return percent_decode(path, false, decoded) ? decoded : std::string(path);
}

}  // namespace

struct callout_listener::state {
  state(asio::any_io_executor e, callout_limits l) : ex(std::move(e)), acceptor(ex), limits(l) {}

  asio::any_io_executor ex;
  tcp::acceptor acceptor;
  callout_limits limits;
  std::vector<std::string> paths;  // where callouts arrive
  callback on_callout;
  std::vector<std::shared_ptr<tcp::socket>> open;
  std::atomic<bool> stopped{false};
  bool started = false;

  void forget(const std::shared_ptr<tcp::socket>& sock) { std::erase(open, sock); }

  // Reads one request, answers it (then sets *answered) and closes the sending side.
  static asio::awaitable<void> exchange(std::shared_ptr<state> st, std::shared_ptr<tcp::socket> sock, bool* answered) {
    request_reader reader(st->limits);
    char buf[4096];
    auto progress = request_reader::state::more;
    std::error_code ec;
    while (progress == request_reader::state::more) {
      const std::size_t n = co_await sock->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::eof) progress = reader.finish();
      else if (ec) co_return;
      else progress = reader.put(std::string_view(buf, n));
    }
    std::string answer;
    if (progress == request_reader::state::bad) {
      answer = http_answer(reader.error_status(), reader.error_reason());
    } else {
      callout_verdict v = judge_callout(reader.method(), reader.target(), st->paths);
      const bool head = reader.method() == "HEAD";
      if (v.status == 200 && !st->stopped && st->on_callout) {
        try {
          st->on_callout(v.job_id, v.status_text);
        } catch (...) {  // the callback's problem, not the caller's: say so, keep serving
          v.status = 500;
          v.reason = "the callout could not be handled";
        }
      }
      answer = http_answer(v.status, v.status == 200 ? std::string_view("ok") : std::string_view(v.reason), head);
    }
    co_await asio::async_write(*sock, asio::buffer(answer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    *answered = true;
    // Lingering close: read (and drop) what the client still sends until it
    // closes, so an early answer is not lost to a reset. The deadline bounds it.
    std::error_code ignored;
    sock->shutdown(tcp::socket::shutdown_send, ignored);
    while (!ec) co_await sock->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
  }

  static asio::awaitable<void> expire(std::chrono::milliseconds after) {
    asio::steady_timer t(co_await asio::this_coro::executor, after);
    std::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  static asio::awaitable<void> serve(std::shared_ptr<state> st, std::shared_ptr<tcp::socket> sock) {
    bool answered = false;
    auto r = co_await (exchange(st, sock, &answered) || expire(st->limits.deadline));
    std::error_code ec;
    if (r.index() == 1 && !answered && sock->is_open()) {
      // Out of time: say so if the socket takes it at once, then close.
      const std::string answer = http_answer(408, "request not received in time");
      sock->non_blocking(true, ec);
      sock->write_some(asio::buffer(answer), ec);
    }
    sock->close(ec);
    st->forget(sock);
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<state> st) {
    for (;;) {
      auto sock = std::make_shared<tcp::socket>(st->ex);
      std::error_code ec;
      co_await st->acceptor.async_accept(*sock, asio::redirect_error(asio::use_awaitable, ec));
      if (st->stopped || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      if (ec) {
        // Out of descriptors or a connection gone before accept: pause, go on.
        asio::steady_timer t(st->ex, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (st->open.size() >= st->limits.max_connections) {
        const std::string answer = http_answer(503, "too many callout connections");
        std::error_code ignored;
        sock->non_blocking(true, ignored);
        sock->write_some(asio::buffer(answer), ignored);
        sock->shutdown(tcp::socket::shutdown_send, ignored);
        // What already arrived is dropped, so the close is a FIN rather than a reset.
        char drain[4096];
        for (int i = 0; i < 16 && !ignored; ++i) sock->read_some(asio::buffer(drain), ignored);
        sock->close(ignored);
        continue;
      }
      st->open.push_back(sock);  // counted before the next accept
      asio::co_spawn(st->ex, serve(st, sock), asio::detached);
    }
  }

  void close_all() {
    std::error_code ec;
    acceptor.close(ec);
    for (const auto& sock : open) sock->close(ec);
  }
};

callout_listener::callout_listener(asio::any_io_executor ex, const callout_config& cfg, callout_limits limits)
    : state_(std::make_shared<state>(ex, limits)) {
  const host_port hp = split_listen(cfg.listen);
  const tcp::endpoint ep = endpoint_of(ex, cfg.listen, hp);
  std::error_code ec;
  auto& acc = state_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) bad_listen(cfg.listen, ec.message(), ec);

  state_->paths.push_back("/callout");
  if (cfg.public_url.empty()) {
    const auto bound = acc.local_endpoint();
    std::string host = hp.host;
    if (host.empty() || ep.address().is_unspecified()) host = ep.address().is_v6() ? "::1" : "127.0.0.1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    url_base_ = "http://" + host + ":" + std::to_string(bound.port()) + "/callout";
  } else {
    url_base_ = cfg.public_url;
    state_->paths.push_back(path_of_url(cfg.public_url));
  }
}

callout_listener::~callout_listener() { stop(); }

std::string callout_listener::notify_url() const {
  return url_base_ + (url_base_.find('?') == std::string::npos ? "?" : "&") + "job=${JOBID}&status=${STATUS}";
}

void callout_listener::on_callout(callback f) { state_->on_callout = std::move(f); }

void callout_listener::start() {
  if (state_->started || state_->stopped) return;
  state_->started = true;
  asio::co_spawn(state_->ex, state::accept_loop(state_), asio::detached);
}

void callout_listener::stop() {
  if (state_->stopped.exchange(true)) return;
  // On the executor: the sockets belong to it.
  asio::dispatch(state_->ex, [st = state_] { st->close_all(); });
}

tcp::endpoint callout_listener::local_endpoint() const {
  std::error_code ec;
  return state_->acceptor.local_endpoint(ec);
}

}  // namespace aquaduct::engine_detail

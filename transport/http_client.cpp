#include "transport/http_client.hpp"

#include "decode/content_decoder.hpp"
#include "transport/redact.hpp"

#include <aquaduct/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <iostream>
#include <system_error>

namespace aquaduct::transport {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

bool has_header(const http_request& req, std::string_view name) { return req.find(name).has_value(); }

// A request may be sent again on a fresh connection when the old one turned
// out dead before any response byte: GETs, DELETEs, and POSTs that carry an
// Idempotency-Key (the service deduplicates them).
bool safe_to_resend(const http_request& req) {
  return req.method == "GET" || req.method == "HEAD" || req.method == "DELETE" || has_header(req, "Idempotency-Key");
}

connect_options connect_options_for(const origin& where, const client_options& opts) {
  connect_options c;
  c.target = where;
  std::error_code ec;
  c.proxy = proxy_for(where, opts.proxy, ec);
  if (ec) throw std::system_error(transport_errc::bad_url, "proxy URL is not http://host[:port]");
  if (where.scheme == "https") c.tls = make_tls_context(opts.tls);
  c.timeouts = {opts.connect_timeout, opts.handshake_timeout};
  c.faults = opts.faults;
  return c;
}

// Content-Encoding: gzip bodies, decoded as they arrive.
class gzip_body {
 public:
  gzip_body() : decoder_(decode::make_gzip_decoder()), out_(64 * 1024) {}
  template <class Emit>
  void put(std::string_view in, Emit&& emit) {
    do {
      std::error_code ec;
      const auto r = decoder_->put(in, out_, ec);
      if (ec) throw std::system_error(transport_errc::bad_response, "gzip body: " + ec.message());
      if (r.produced) emit(std::string_view(out_.data(), r.produced));
      in.remove_prefix(r.consumed);
      if (r.consumed == 0 && r.produced == 0) break;
    } while (!in.empty() || drain_);
  }
  template <class Emit>
  void finish(Emit&& emit) {
    drain_ = true;
    put({}, emit);
    std::error_code ec;
    decoder_->finish(ec);
    if (ec) throw std::system_error(transport_errc::bad_response, "gzip body: " + ec.message());
  }

 private:
  std::unique_ptr<decode::content_decoder> decoder_;
  std::vector<char> out_;
  bool drain_ = false;
};

}  // namespace

std::string bare_what(const std::system_error& e) {
  std::string what = e.what();
  const std::string suffix = ": " + e.code().message();
  if (what.size() >= suffix.size() && what.compare(what.size() - suffix.size(), suffix.size(), suffix) == 0)
    what.resize(what.size() - suffix.size());
  if (what == e.code().message()) what.clear();
  return what;
}

std::string gzip_compress(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

namespace {

std::optional<std::string_view> find_header(const std::vector<header>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> http_request::find(std::string_view name) const { return find_header(headers, name); }
std::optional<std::string_view> http_response::find(std::string_view name) const { return find_header(headers, name); }

// One attempt's shared state between the exchange and its watchdog; both
// borrow it from perform()'s frame, which awaits them directly.
struct http_client::exchange_state {
  connection_pool& pool;
  deadline_clock deadlines;
  std::unique_ptr<connection> conn;
  bool reusable = false;          // the response ended cleanly on a keep-alive connection
  bool reused = false;            // the connection served an earlier request
  bool response_started = false;  // a response byte arrived
  bool done = false;              // the exchange finished (either way)
  bool fired = false;             // the watchdog's deadline passed
  bool cancelled = false;         // the caller cancelled
  std::chrono::milliseconds total{0};  // the request's total deadline; 0 = none
  std::string expired_phase;

  explicit exchange_state(connection_pool& p) : pool(p) {}
  ~exchange_state() { pool.release(std::move(conn), reusable); }
};

http_client::http_client(asio::any_io_executor ex, origin where, client_options opts)
    : origin_(std::move(where)),
      opts_(std::move(opts)),
      pool_(ex, connect_options_for(origin_, opts_), {opts_.max_connections, opts_.pool_idle_timeout}) {
  if (origin_.scheme == "https" && opts_.tls.insecure_skip_verify)
    warn("WARNING: insecure_skip_verify = true: the TLS certificate of " + origin_.to_string() +
         " is NOT verified; anyone on the path can read and change this traffic");
}

void http_client::warn(std::string_view text) const {
  const std::string line = redact(text);
  if (opts_.log) opts_.log(line);
  else std::cerr << line << '\n';
}

void http_client::fail(std::error_code ec, const http_request& req, std::string_view detail) const {
  std::string what = req.method + " " + origin_.to_string() + req.target;
  if (!detail.empty()) what += ": " + std::string(detail);
  throw std::system_error(ec, redact(what));
}

asio::awaitable<http_response> http_client::request(http_request req) {
  co_return co_await perform(std::move(req), body_consumer{}, head_handler{});
}

asio::awaitable<http_response> http_client::stream(http_request req, body_handler on_body, head_handler on_head) {
  co_return co_await perform(std::move(req), body_consumer{std::move(on_body), {}}, std::move(on_head));
}

asio::awaitable<http_response> http_client::stream_async(http_request req, async_body_handler on_body,
                                                         head_handler on_head) {
  co_return co_await perform(std::move(req), body_consumer{{}, std::move(on_body)}, std::move(on_head));
}

asio::awaitable<http_response> http_client::perform(http_request req, body_consumer on_body, head_handler on_head) {
  if (opts_.gzip_request_min_bytes && req.body.size() >= opts_.gzip_request_min_bytes &&
      !has_header(req, "Content-Encoding")) {
    req.body = gzip_compress(req.body);
    req.headers.push_back({"Content-Encoding", "gzip"});
  }
  if (!has_header(req, "Accept-Encoding"))
    req.headers.push_back({"Accept-Encoding", opts_.accept_gzip && !on_body ? "gzip" : "identity"});
  std::string head;
  head.reserve(256 + req.target.size());
  head += req.method + ' ' + origin_.path_prefix + req.target + " HTTP/1.1\r\nHost: " + origin_.host_header() + "\r\n";
  if (!has_header(req, "User-Agent")) head += "User-Agent: " + opts_.user_agent + "\r\n";
  for (const auto& h : req.headers) head += h.name + ": " + h.value + "\r\n";
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT")
    head += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  head += "\r\n";

  auto ex = co_await asio::this_coro::executor;
  for (int attempt = 0;; ++attempt) {
    exchange_state st(pool_);
    // Waiting for a pooled connection has no deadline of its own (a long
    // download may hold every slot); the total runs once one is ours.
    st.total = on_body ? opts_.stream_timeout : opts_.request_timeout;
    st.deadlines.phase_name = "waiting for a connection";
    // The exchange races its watchdog; whichever finishes first cancels the other.
    auto [order, exchange_error, response, watchdog_error] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex, exchange(st, head, req, on_body, on_head), asio::experimental::deferred),
            asio::co_spawn(ex, watchdog(st), asio::experimental::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)order;
    (void)watchdog_error;
    if (st.cancelled) fail(transport_errc::cancelled, req, "cancelled by the caller");
    if (st.fired) fail(transport_errc::timeout, req, st.expired_phase);
    if (!exchange_error) co_return std::move(response);
    try {
      std::rethrow_exception(exchange_error);
    } catch (const std::system_error& e) {
      // Asio refuses any co_await once the caller has cancelled.
      if (e.code() == asio::error::operation_aborted) fail(transport_errc::cancelled, req, "cancelled by the caller");
      const bool stale = st.reused && attempt == 0 && !st.response_started && safe_to_resend(req) &&
                         e.code() == make_error_condition(condition::retriable);
      if (!stale) {
        // Our own leaf errors get the request named; a handler's pass untouched.
        if (e.code().category() == transport_category()) fail(e.code(), req, bare_what(e));
        throw;
      }
    }
  }
}

asio::awaitable<void> http_client::watchdog(exchange_state& st) {
  asio::steady_timer timer(co_await asio::this_coro::executor, clock::time_point::max());
  st.deadlines.watch = &timer;
  struct unwatch {
    deadline_clock& d;
    ~unwatch() { d.watch = nullptr; }
  } guard{st.deadlines};
  for (;;) {
    const auto due = st.deadlines.due();
    if (clock::now() >= due) {
      st.fired = true;
      const bool total = due == st.deadlines.total && st.deadlines.total < st.deadlines.phase;
      st.expired_phase = total ? "the request's total deadline passed (while " + std::string(st.deadlines.phase_name) + ")"
                               : std::string(st.deadlines.phase_name) + " deadline of " +
                                     std::to_string(st.deadlines.phase_length.count()) + " ms passed";
      if (st.conn) st.conn->close();  // wakes whatever the exchange is waiting on
      co_return;
    }
    timer.expires_at(due);
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec && st.deadlines.moved) {  // a phase began that ends sooner: look again
      st.deadlines.moved = false;
      continue;
    }
    if (ec) {
      // Cancelled: by the group because the exchange finished, or by our caller.
      if (!st.done) {
        st.cancelled = true;
        if (st.conn) st.conn->close();
      }
      co_return;
    }
  }
}

asio::awaitable<http_response> http_client::exchange(exchange_state& st, const std::string& head,
                                                     const http_request& req, const body_consumer& on_body,
                                                     const head_handler& on_head) {
  struct mark_done {
    exchange_state& s;
    ~mark_done() { s.done = true; }
  } guard{st};

  st.conn = co_await pool_.acquire();
  if (st.total.count() > 0) st.deadlines.total = clock::now() + st.total;
  connection& conn = *st.conn;
  st.reused = conn.is_open();
  if (!conn.is_open()) co_await conn.open(st.deadlines);

  st.deadlines.begin("write", opts_.write_timeout);
  co_await conn.write({asio::buffer(head), asio::buffer(req.body)});

  http_response response;
  response_parser parser(opts_.limits);
  parser.reset(req.method == "HEAD");
  std::optional<gzip_body> gzip;
  bool head_seen = false;
  bool streaming = false;
  const auto see_head = [&] {
    if (head_seen) return;
    head_seen = true;
    response.status = parser.status();
    response.headers = parser.headers();
    streaming = on_body && response.status >= 200 && response.status < 300;
    if (auto ce = response.find("Content-Encoding"); ce && iequals(*ce, "gzip")) gzip.emplace();
    if (on_head) on_head(response);
  };
  // An awaited consumer gets the pieces after each parser pass: views into the
  // read buffer, which stays put until the next read (decoded gzip is copied).
  std::vector<std::string_view> pending;
  std::deque<std::string> pending_owned;  // a deque: views into it survive growth
  const auto deliver = [&](std::string_view piece) {
    if (streaming && on_body.async) {
      if (gzip) piece = pending_owned.emplace_back(piece);
      pending.push_back(piece);
      return;
    }
    if (streaming) {
      on_body.sync(piece);
      return;
    }
    if (response.body.size() + piece.size() > opts_.max_buffered_body)
      throw std::system_error(transport_errc::body_too_large,
                              "body over " + std::to_string(opts_.max_buffered_body) + " bytes");
    response.body.append(piece);
  };
  parser.set_body_callback([&](std::string_view piece) {
    see_head();
    response.body_bytes += piece.size();
    if (gzip) gzip->put(piece, deliver);
    else deliver(piece);
  });
  const auto hand_over = [&]() -> asio::awaitable<void> {
    if (pending.empty()) co_return;
    st.deadlines.begin("handing the body to its consumer", std::chrono::hours(24));
    for (const std::string_view piece : pending) co_await on_body.async(piece);
    pending.clear();
    pending_owned.clear();
  };

  std::vector<char>& buffer = conn.read_buffer(opts_.read_buffer_bytes);
  while (!parser.message_complete()) {
    st.deadlines.begin("idle read", opts_.idle_timeout);
    const std::size_t n = co_await conn.read_some(asio::buffer(buffer));
    std::error_code pec;
    if (n == 0) {
      parser.finish(pec);
      if (pec) throw std::system_error(pec, parser.error_reason());
      break;
    }
    st.response_started = true;
    std::string_view data(buffer.data(), n);
    for (;;) {
      parser.put(data, pec);
      if (pec) throw std::system_error(pec, parser.error_reason());
      // An interim 1xx answer precedes the real one: skip it.
      if (!parser.message_complete() || parser.status() < 100 || parser.status() >= 200) {
        co_await hand_over();
        break;
      }
      data = data.substr(data.size() - parser.trailing_bytes());
      parser.reset(req.method == "HEAD");
      if (data.empty()) break;
    }
  }
  see_head();
  if (gzip) gzip->finish(deliver);
  co_await hand_over();
  ++conn.requests;
  st.reusable = parser.keep_alive() && parser.trailing_bytes() == 0;
  co_return response;
}

}  // namespace aquaduct::transport

#include <aquaduct/emulator.hpp>

#include <charconv>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <csignal>
#include <thread>

#include <pthread.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include "emulator/aqua_service.hpp"
#include "emulator/churn.hpp"
#include "emulator/http_server.hpp"
#include "emulator/result_writer.hpp"
#include "emulator/tenant.hpp"

namespace aquaduct::emulator {

namespace {

using asio::ip::tcp;

// Completion of a spawned coroutine: errors were already answered on the
// wire or mean the peer left; there is nobody else to tell.
struct ignore_result {
  void operator()(const std::exception_ptr&) const noexcept {}
};

// `tls` null: plain HTTP.
asio::awaitable<void> accept_loop(tcp::acceptor acceptor, asio::ssl::context* tls, request_handler* handler,
                                  http_limits limits) {
  for (;;) {
    std::error_code ec;
    tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    sock.set_option(tcp::no_delay(true), ec);
    if (tls != nullptr)
      asio::co_spawn(acceptor.get_executor(), serve_tls_connection(std::move(sock), tls, handler, limits),
                     ignore_result{});
    else
      asio::co_spawn(acceptor.get_executor(), serve_connection(std::move(sock), handler, limits), ignore_result{});
  }
}

std::unique_ptr<asio::ssl::context> make_tls_context(const options& o) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty()) return nullptr;
  if (o.tls_cert_file.empty() || o.tls_key_file.empty())
    throw std::invalid_argument("TLS needs both --tls-cert and --tls-key");
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  std::error_code ec;
  ctx->use_certificate_chain_file(o.tls_cert_file, ec);
  if (ec) throw std::system_error(ec, "TLS certificate " + o.tls_cert_file);
  ctx->use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) throw std::system_error(ec, "TLS key " + o.tls_key_file);
  return ctx;
}

}  // namespace

struct server::impl {
  options opts;
  std::unique_ptr<asio::ssl::context> tls;
  std::unique_ptr<aqua_service> service;
  // Declared after `service`, reset first in stop(): destroying the context
  // destroys every suspended connection coroutine, which point at `service`.
  std::unique_ptr<asio::io_context> ctx;
  std::thread thread;
  std::uint16_t port = 0;
};

server::server(options opts) : impl_(std::make_unique<impl>()) { impl_->opts = std::move(opts); }

server::~server() { stop(); }

void server::start() {
  if (impl_->thread.joinable()) return;
  auto tls = make_tls_context(impl_->opts);
  auto ctx = std::make_unique<asio::io_context>(1);
  auto service = std::make_unique<aqua_service>(impl_->opts, ctx->get_executor());
  const tcp::endpoint ep(asio::ip::make_address(impl_->opts.bind), impl_->opts.port);
  tcp::acceptor acceptor(*ctx);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen();
  impl_->port = acceptor.local_endpoint().port();
  impl_->service = std::move(service);
  impl_->tls = std::move(tls);
  impl_->ctx = std::move(ctx);
  asio::co_spawn(*impl_->ctx,
                 accept_loop(std::move(acceptor), impl_->tls.get(), impl_->service.get(), http_limits{}),
                 ignore_result{});
  impl_->thread = std::thread([c = impl_->ctx.get()] {
    // sendfile() to a client that went away raises SIGPIPE, which would kill
    // the whole process (the emulator's, or the embedder's): blocked here, it
    // is EPIPE for this connection only.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    c->run();
  });
}

void server::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->ctx->stop();
  impl_->thread.join();
  impl_->service->stop_workers();  // before the context goes: workers post to it
  impl_->ctx.reset();  // closes the acceptor and every connection
  impl_->service.reset();
}

std::uint16_t server::port() const noexcept { return impl_->port; }

std::string server::base_url() const {
  const std::string& host = impl_->opts.bind;
  const char* scheme = impl_->opts.tls_cert_file.empty() ? "http" : "https";
  if (host.find(':') != std::string::npos) return fmt::format("{}://[{}]:{}", scheme, host, impl_->port);
  return fmt::format("{}://{}:{}", scheme, host, impl_->port);
}

bool parse_churn_option(std::string_view text, options& o) {
  const std::size_t colon = text.find(':');
  const std::string_view rate_text = text.substr(0, colon);
  double rate = 0;
  const auto [rp, rec] = std::from_chars(rate_text.data(), rate_text.data() + rate_text.size(), rate);
  if (rate_text.empty() || rec != std::errc{} || rp != rate_text.data() + rate_text.size() || !(rate >= 0) ||
      rate > max_churn_rate)
    return false;
  std::optional<std::uint64_t> seed;
  if (colon != std::string_view::npos) {
    const std::string_view seed_text = text.substr(colon + 1);
    std::uint64_t s = 0;
    const auto [sp, sec] = std::from_chars(seed_text.data(), seed_text.data() + seed_text.size(), s);
    if (seed_text.empty() || sec != std::errc{} || sp != seed_text.data() + seed_text.size()) return false;
    seed = s;
  }
  o.churn_rate = rate;
  if (seed) o.churn_seed = seed;
  return true;
}

bool parse_burst_option(std::string_view text, options& o) {
  const std::size_t colon = text.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  options::burst b;
  b.object = std::string(text.substr(0, colon));
  const std::string_view rest = text.substr(colon + 1);
  const std::size_t colon2 = rest.find(':');
  const std::string_view count_text = rest.substr(0, colon2);
  const auto [cp, cec] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), b.count);
  if (count_text.empty() || cec != std::errc{} || cp != count_text.data() + count_text.size()) return false;
  if (colon2 != std::string_view::npos) {
    // YYYY-MM-DDTHH:MM:SSZ
    const std::string_view t = rest.substr(colon2 + 1);
    int y = 0;
    unsigned mo = 0, d = 0, h = 0, mi = 0, s = 0;
    char tail = 0;
    if (t.size() != 20 ||
        std::sscanf(std::string(t).c_str(), "%4d-%2u-%2uT%2u:%2u:%2u%c", &y, &mo, &d, &h, &mi, &s, &tail) != 7 ||
        tail != 'Z' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
      return false;
    b.at_unix_s = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  }
  o.bursts.push_back(std::move(b));
  return true;
}

std::vector<burst_rows> bursts_of(const options& opts) {
  std::vector<burst_rows> out;
  for (const options::burst& b : opts.bursts) {
    const object_def* obj = find_object(b.object);
    if (obj == nullptr) throw std::invalid_argument("--burst: unknown object " + b.object);
    out.push_back(burst_rows{obj, b.count, b.at_unix_s.value_or(tenant_epoch_unix_s - 12 * 3600)});
  }
  return out;
}

credentials load_credentials(const std::string& path) {
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path).get(text))
    throw std::invalid_argument(fmt::format("credentials file {}: cannot be read", path));
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(text).get(o))
    throw std::invalid_argument(fmt::format("credentials file {}: not a JSON object", path));
  credentials c;
  for (auto [key, value] : o) {
    std::string_view v;
    if (value.get(v))
      throw std::invalid_argument(fmt::format("credentials file {}: \"{}\" must be a string", path, key));
    if (key == "client_id") c.client_id = std::string(v);
    else if (key == "client_secret") c.client_secret = std::string(v);
    else if (key == "access_key_id") c.access_key_id = std::string(v);
    else if (key == "secret_access_key") c.secret_access_key = std::string(v);
    else throw std::invalid_argument(fmt::format("credentials file {}: unknown key \"{}\"", path, key));
  }
  return c;
}

table tenant_rows(const options& opts, const std::string& object, const std::vector<std::string>& fields) {
  const object_def* obj = find_object(object);
  if (obj == nullptr) throw std::invalid_argument("tenant_rows: unknown object " + object);
  std::vector<std::size_t> idx;
  table t;
  for (const std::string& f : fields) {
    const auto i = find_field(*obj, f);
    if (!i) throw std::invalid_argument("tenant_rows: unknown field " + object + "." + f);
    idx.push_back(*i);
    t.columns.emplace_back(obj->fields[*i].name);
  }
  const tenant_generator gen(opts.seed, opts.scale, bursts_of(opts));
  const std::uint64_t n = gen.base_count(*obj);
  t.rows.reserve(n);
  record rec;
  for (std::uint64_t r = 0; r < n; ++r) {
    gen.generate(*obj, r, rec);
    std::vector<std::string> texts(idx.size());
    for (std::size_t k = 0; k < idx.size(); ++k) render_value(rec[idx[k]], time_zone::utc, texts[k]);
    t.rows.push_back(std::move(texts));
  }
  return t;
}

}  // namespace aquaduct::emulator

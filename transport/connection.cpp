#include "transport/connection.hpp"

#include <aquaduct/error.hpp>

#include <asio/connect.hpp>
#include <asio/read_until.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/error.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <poll.h>

namespace aquaduct::transport {

void fail_counter::step(io_op op) {
  if (++seen_ != n_) return;
  failed_ = op;
  switch (op) {
    case io_op::connect: throw std::system_error(transport_errc::connect_failed, "connect: injected failure");
    case io_op::handshake: throw std::system_error(transport_errc::tls_failed, "TLS handshake: injected failure");
    case io_op::write: throw std::system_error(transport_errc::connection_closed, "write: injected failure");
    case io_op::read: throw std::system_error(transport_errc::connection_closed, "read: injected failure");
  }
}

std::shared_ptr<asio::ssl::context> make_tls_context(const tls_options& opts) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
  std::error_code ec;
  ctx->set_default_verify_paths(ec);
  if (ec) throw std::system_error(transport_errc::tls_failed, "loading the system CA store: " + ec.message());
  if (!opts.ca_file.empty()) {
    ctx->load_verify_file(opts.ca_file, ec);
    if (ec) throw std::system_error(transport_errc::tls_failed, "ca_file " + opts.ca_file + ": " + ec.message());
  }
  ctx->set_verify_mode(opts.insecure_skip_verify ? asio::ssl::verify_none : asio::ssl::verify_peer);
  return ctx;
}

connection::connection(asio::any_io_executor ex, const connect_options& opts) : opts_(opts), socket_(std::move(ex)) {}

void connection::close() noexcept {
  open_ = false;
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

bool connection::peer_closed() const noexcept {
  if (!open_) return true;
  pollfd p{};
  p.fd = const_cast<asio::ip::tcp::socket&>(socket_).native_handle();
  p.events = POLLIN;
  return ::poll(&p, 1, 0) != 0;
}

asio::awaitable<void> connection::open(deadline_clock& deadlines) {
  const origin& hop = opts_.proxy ? opts_.proxy->via : opts_.target;
  deadlines.begin("connect", opts_.timeouts.connect);
  step(io_op::connect);
  asio::ip::tcp::resolver resolver(socket_.get_executor());
  std::error_code ec;
  auto endpoints = co_await resolver.async_resolve(hop.host, hop.port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) throw std::system_error(transport_errc::connect_failed, "resolve " + hop.host + ": " + ec.message());
  co_await asio::async_connect(socket_, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) throw std::system_error(transport_errc::connect_failed, "connect " + hop.to_string() + ": " + ec.message());
  socket_.set_option(asio::ip::tcp::no_delay(true));
  open_ = true;
  if (opts_.proxy) co_await tunnel(deadlines);
  if (!opts_.tls) co_return;

  deadlines.begin("TLS handshake", opts_.timeouts.handshake);
  step(io_op::handshake);
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *opts_.tls);
  SSL* ssl = tls_->native_handle();
  const std::string& host = opts_.target.host;
  asio::ip::make_address(host, ec);
  const bool ip_literal = !ec;
  if (!ip_literal)  // SNI takes names only
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str()));
  // Host-name (or IP) verification inside OpenSSL's chain verification.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (ip_literal) X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  else SSL_set1_host(ssl, host.c_str());
  co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    const long verify = SSL_get_verify_result(ssl);
    std::string why = verify != X509_V_OK ? std::string("certificate refused: ") + X509_verify_cert_error_string(verify)
                                          : ec.message();
    close();
    throw std::system_error(transport_errc::tls_failed, "TLS handshake with " + opts_.target.to_string() + ": " + why);
  }
}

asio::awaitable<void> connection::tunnel(deadline_clock& deadlines) {
  deadlines.begin("proxy CONNECT", opts_.timeouts.connect);
  const origin& t = opts_.target;
  const std::string authority = (t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host) + ":" + t.port;
  std::string req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  if (!opts_.proxy->authorization.empty()) req += "Proxy-Authorization: " + opts_.proxy->authorization + "\r\n";
  req += "\r\n";
  std::error_code ec;
  co_await asio::async_write(socket_, asio::buffer(req), asio::redirect_error(asio::use_awaitable, ec));
  const std::string via = " through proxy " + opts_.proxy->via.to_string();
  if (ec) throw std::system_error(transport_errc::proxy_failed, "CONNECT " + authority + via + ": " + ec.message());
  asio::streambuf buf(16 * 1024);
  const std::size_t n =
      co_await asio::async_read_until(socket_, buf, "\r\n\r\n", asio::redirect_error(asio::use_awaitable, ec));
  if (ec) throw std::system_error(transport_errc::proxy_failed, "CONNECT " + authority + via + ": " + ec.message());
  const std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
  const std::string status_line = head.substr(0, head.find('\r'));
  // The tunnel is ours only after a 2xx and before any byte we did not ask for.
  if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0 || status_line[9] != '2' ||
      buf.size() != n)
    throw std::system_error(transport_errc::proxy_failed, "CONNECT " + authority + via + ": " + status_line);
}

asio::awaitable<std::size_t> connection::read_some(asio::mutable_buffer into) {
  step(io_op::read);
  std::error_code ec;
  std::size_t n = 0;
  if (tls_) n = co_await tls_->async_read_some(into, asio::redirect_error(asio::use_awaitable, ec));
  else n = co_await socket_.async_read_some(into, asio::redirect_error(asio::use_awaitable, ec));
  // A TLS peer that closes without close_notify ends the stream like EOF;
  // the HTTP framing (length or chunks) still tells a cut body from a whole one.
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) co_return 0;
  if (ec == asio::error::operation_aborted) throw std::system_error(transport_errc::cancelled, "read");
  if (ec) throw std::system_error(transport_errc::connection_closed, "read: " + ec.message());
  co_return n;
}

asio::awaitable<void> connection::write(std::array<asio::const_buffer, 2> data) {
  step(io_op::write);
  std::error_code ec;
  if (tls_) co_await asio::async_write(*tls_, data, asio::redirect_error(asio::use_awaitable, ec));
  else co_await asio::async_write(socket_, data, asio::redirect_error(asio::use_awaitable, ec));
  if (ec == asio::error::operation_aborted) throw std::system_error(transport_errc::cancelled, "write");
  if (ec) throw std::system_error(transport_errc::connection_closed, "write: " + ec.message());
}

}  // namespace aquaduct::transport

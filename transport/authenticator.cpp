#include "transport/authenticator.hpp"

#include <aquaduct/error.hpp>

namespace aquaduct::transport {

std::string base64_encode(std::string_view in) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string form_url_encode(std::string_view in) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' || u == '.' ||
        u == '_' || u == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

authenticator::authenticator(auth_settings settings) : settings_(std::move(settings)) {}

void authenticator::token_rejected() noexcept {
  token_.clear();
  token_expiry_ = {};
}

asio::awaitable<void> authenticator::authorize(http_client& client, http_request& req) {
  switch (settings_.kind) {
    case auth_kind::none: break;
    case auth_kind::api_key:
      req.headers.push_back({"apiAccessKeyId", settings_.id});
      req.headers.push_back({"apiSecretAccessKey", settings_.secret});
      break;
    case auth_kind::basic:
      req.headers.push_back({"Authorization", "Basic " + base64_encode(settings_.id + ":" + settings_.secret)});
      break;
    case auth_kind::oauth:
      // Refresh a minute early so a token never expires in flight.
      if (token_.empty() || std::chrono::steady_clock::now() + std::chrono::seconds(60) >= token_expiry_)
        co_await fetch_token(client);
      req.headers.push_back({"Authorization", "Bearer " + token_});
      break;
  }
}

asio::awaitable<void> authenticator::fetch_token(http_client& client) {
  http_request req;
  req.method = "POST";
  req.target = "/oauth/token";
  req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  req.headers.push_back({"Accept", "application/json"});
  req.body = "client_id=" + form_url_encode(settings_.id) + "&client_secret=" + form_url_encode(settings_.secret) +
             "&grant_type=client_credentials";
  const http_response resp = co_await client.request(std::move(req));
  if (resp.status == 401 || resp.status == 403 || resp.status == 400)
    throw std::system_error(aqua_errc::auth_refused,
                            "POST /oauth/token: HTTP " + std::to_string(resp.status) + " (client id or secret refused)");
  if (resp.status != 200)
    throw std::system_error(aqua_errc::http_error, "POST /oauth/token: HTTP " + std::to_string(resp.status));
  decode::oauth_token token;
  std::error_code ec;
  std::string what;
  json_.parse_token(resp.body, token, ec, what);
  if (ec) throw std::system_error(aqua_errc::bad_response, "POST /oauth/token: " + what);
  token_ = std::move(token.access_token);
  token_expiry_ = std::chrono::steady_clock::now() + std::chrono::seconds(token.expires_in ? token.expires_in : 3599);
}

}  // namespace aquaduct::transport

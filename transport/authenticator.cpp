#include "transport/authenticator.hpp"

#include <aquaduct/error.hpp>

#include <asio/redirect_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>

namespace aquaduct::transport {

authenticator::authenticator(auth_settings settings) : settings_(std::move(settings)) {}

void authenticator::token_rejected(std::uint64_t generation) noexcept {
  if (generation != generation_) return;  // someone already replaced that token
  token_.clear();
  token_expiry_ = {};
}

bool authenticator::token_fresh() const {
  if (token_.empty()) return false;
  return std::chrono::steady_clock::now() + settings_.refresh_ahead < token_expiry_;
}

asio::awaitable<std::uint64_t> authenticator::authorize(http_client& client, http_request& req) {
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
      if (!token_fresh()) co_await refresh(client);
      req.headers.push_back({"Authorization", "Bearer " + token_});
      break;
  }
  co_return generation_;
}

asio::awaitable<void> authenticator::refresh(http_client& client) {
  if (fetching_) {
    // Single-flight: wait for the fetch in progress, then share its outcome.
    const std::uint64_t round = round_;
    waiter w{asio::steady_timer(co_await asio::this_coro::executor, std::chrono::steady_clock::time_point::max())};
    const auto me = waiters_.insert(waiters_.end(), &w);
    std::error_code ec;
    co_await w.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!w.woken) {
      waiters_.erase(me);
      throw std::system_error(transport_errc::cancelled, "waiting for an OAuth token");
    }
    if (failed_round_ == round && round_error_) std::rethrow_exception(round_error_);
    co_return;  // a brand-new token, even if refresh_ahead would call it old
  }
  fetching_ = true;
  const std::uint64_t round = ++round_;
  std::exception_ptr error;
  try {
    co_await fetch_token(client);
  } catch (...) {
    error = std::current_exception();
  }
  fetching_ = false;
  if (error) {
    failed_round_ = round;
    round_error_ = error;
  }
  for (waiter* w : waiters_) {
    w->woken = true;
    w->timer.cancel();
  }
  waiters_.clear();
  if (error) std::rethrow_exception(error);
}

asio::awaitable<void> authenticator::fetch_token(http_client& client) {
  http_request req;
  req.method = "POST";
  req.target = "/oauth/token";
  req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  req.headers.push_back({"Accept", "application/json"});
  req.body = "client_id=" + form_url_encode(settings_.id) + "&client_secret=" + form_url_encode(settings_.secret) +
             "&grant_type=client_credentials";
  ++fetches_;
  const http_response resp = co_await client.request(std::move(req));
  if (resp.status == 401 || resp.status == 403 || resp.status == 400)
    throw std::system_error(aqua_errc::auth_refused,
                            "POST /oauth/token: HTTP " + std::to_string(resp.status) + " (client id or secret refused)");
  if (resp.status == 429 || resp.status >= 500)
    throw std::system_error(aqua_errc::unavailable, "POST /oauth/token: HTTP " + std::to_string(resp.status));
  if (resp.status != 200)
    throw std::system_error(aqua_errc::http_error, "POST /oauth/token: HTTP " + std::to_string(resp.status));
  decode::oauth_token token;
  std::error_code ec;
  std::string what;
  json_.parse_token(resp.body, token, ec, what);
  if (ec) throw std::system_error(aqua_errc::bad_response, "POST /oauth/token: " + what);
  token_ = std::move(token.access_token);
  token_expiry_ = std::chrono::steady_clock::now() + std::chrono::seconds(token.expires_in ? token.expires_in : 3599);
  ++generation_;
}

}  // namespace aquaduct::transport

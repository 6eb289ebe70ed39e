#pragma once
// Credentials on every request (aqua-contract.md §2): an OAuth bearer token,
// the apiAccessKeyId/apiSecretAccessKey headers, or HTTP Basic.
//
// OAuth: the token is fetched from POST /oauth/token, cached, and refreshed
// `refresh_ahead` before it expires. Many requests that find it missing or
// expiring at once share ONE fetch (single-flight); if that fetch fails they
// all fail with its error. After a 401 the caller reports the token it used
// (token_rejected) and the next authorize() fetches a new one.
// SECRETS: nothing here is ever logged or put in an error message.
// NOT thread-safe: one executor.
#include "decode/aqua_models.hpp"
#include "transport/http_client.hpp"

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <list>
#include <string>

namespace aquaduct::transport {

enum class auth_kind { none, oauth, api_key, basic };

struct auth_settings {
  auth_kind kind = auth_kind::none;
  std::string id;      // client_id, access key id or user name
  std::string secret;  // client secret, secret access key or password   SECRET
  // Refresh this long before expiry. Longer than the token's lifetime: every
  // call fetches a new token (tests use that).
  std::chrono::milliseconds refresh_ahead{60000};
};

class authenticator {
 public:
  explicit authenticator(auth_settings settings);

  // Adds the credentials to `req`; returns the token generation it used (for
  // token_rejected). For OAuth, fetches a token through `client` first when
  // there is none or it is about to expire. Throws std::system_error:
  // aqua_errc::auth_refused when the token endpoint refuses the client,
  // aqua_errc::unavailable (retriable) on 429/5xx from it.
  asio::awaitable<std::uint64_t> authorize(http_client& client, http_request& req);

  // The request authorized with `generation` was answered 401: unless a newer
  // token exists already, the next authorize() fetches a new one.
  void token_rejected(std::uint64_t generation) noexcept;

  std::uint64_t token_fetches() const noexcept { return fetches_; }

 private:
  struct waiter {
    asio::steady_timer timer;
    bool woken = false;
  };
  bool token_fresh() const;
  asio::awaitable<void> fetch_token(http_client& client);
  asio::awaitable<void> refresh(http_client& client);

  auth_settings settings_;
  std::string token_;
  std::chrono::steady_clock::time_point token_expiry_{};
  std::uint64_t generation_ = 0;
  std::uint64_t fetches_ = 0;
  bool fetching_ = false;
  std::uint64_t round_ = 0;        // fetch rounds started
  std::exception_ptr round_error_;  // the last finished round's failure, if it failed
  std::uint64_t failed_round_ = 0;
  std::list<waiter*> waiters_;
  decode::json_reader json_;
};


}  // namespace aquaduct::transport

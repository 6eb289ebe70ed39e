#pragma once
// Credentials on every request (aqua-contract.md §2): an OAuth bearer token
// (fetched from /oauth/token and refreshed before it expires or after a 401),
// the apiAccessKeyId/apiSecretAccessKey headers, or HTTP Basic.
// SECRETS: nothing here is ever logged or put in an error message.
#include "decode/aqua_models.hpp"
#include "transport/http_client.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <string>

namespace aquaduct::transport {

enum class auth_kind { none, oauth, api_key, basic };

struct auth_settings {
  auth_kind kind = auth_kind::none;
  std::string id;      // client_id, access key id or user name
  std::string secret;  // client secret, secret access key or password
};

class authenticator {
 public:
  explicit authenticator(auth_settings settings);

  // Adds the credentials to `req`. For OAuth, fetches a token through
  // `client` first when there is none or it is about to expire. Throws
  // std::system_error (aqua_errc::auth_refused) when the token is refused.
  asio::awaitable<void> authorize(http_client& client, http_request& req);

  // The service answered 401: the next authorize() fetches a new token.
  void token_rejected() noexcept;

 private:
  asio::awaitable<void> fetch_token(http_client& client);

  auth_settings settings_;
  std::string token_;
  std::chrono::steady_clock::time_point token_expiry_{};
  decode::json_reader json_;
};

std::string base64_encode(std::string_view in);
std::string form_url_encode(std::string_view in);

}  // namespace aquaduct::transport

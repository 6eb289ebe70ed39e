#pragma once
// The AQuA operations of aqua-contract.md §1 over one HTTP connection:
// submit, get, cancel, and streaming a result file. Handles credentials
// (with one token refresh on 401), retries of transient failures on the
// small JSON calls (429 with Retry-After, 502/503/504, resets), and turns
// every answer the contract does not allow into a clear std::system_error.
#include "decode/aqua_models.hpp"
#include "transport/authenticator.hpp"
#include "transport/http_client.hpp"

#include <asio/awaitable.hpp>

#include <memory>
#include <string>

namespace aquaduct::engine_detail {

class aqua_client {
 public:
  aqua_client(asio::any_io_executor ex, transport::origin where, transport::client_options opts,
              std::shared_ptr<transport::authenticator> auth);

  // POST /v1/batch-query/. A validation error (HTTP 200, status "error")
  // throws aqua_errc::submit_rejected with the errorCode and message.
  asio::awaitable<decode::aqua_job> submit(std::string body, std::string idempotency_key);
  asio::awaitable<decode::aqua_job> get_job(std::string job_id);
  asio::awaitable<decode::aqua_job> cancel_job(std::string job_id);

  // GET /v1/file/{id}, the body streamed to `on_body`. Not retried here: the
  // caller owns what the handler already consumed.
  asio::awaitable<void> download(std::string file_id, transport::body_handler on_body);

 private:
  asio::awaitable<transport::http_response> send(transport::http_request req, transport::body_handler on_body);
  asio::awaitable<decode::aqua_job> job_call(transport::http_request req);
  [[noreturn]] void refuse(const transport::http_request& req, const transport::http_response& resp);

  transport::http_client http_;
  std::shared_ptr<transport::authenticator> auth_;
  decode::json_reader json_;
};

}  // namespace aquaduct::engine_detail

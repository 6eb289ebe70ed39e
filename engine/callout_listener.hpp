#pragma once
// The local HTTP listener whose URL goes to AQuA as notifyUrl
// (aqua-contract.md §1.8): a callout names a finished job and its status, so
// the job's poller can wake at once (polling stays the fallback).
//
// One request per connection, answered and closed: 200 to a callout, 400 to
// a malformed request or one without job/status, 404 to another path, 405
// to a method other than GET/POST, 413/431 past the body/header limits, 408
// when a connection outlives its deadline, 503 beyond max_connections, 500
// when the callback throws.
// Request parsing lives in engine/callout_request.hpp.
//
// Use it from the executor's thread (or while the executor is not running);
// destroy it before its io_context.
#include "engine/callout_request.hpp"

#include <aquaduct/config.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace aquaduct::engine_detail {

class callout_listener {
 public:
  using callback = std::function<void(std::string_view job_id, std::string_view status)>;

  // Binds cfg.listen, "HOST:PORT" (port 0 = any free port; HOST an IP
  // address, "[v6]", a name, or empty for all interfaces) on `ex`. Throws
  // std::system_error naming the address when it cannot be parsed or bound.
  callout_listener(asio::any_io_executor ex, const callout_config& cfg, callout_limits limits = {});
  ~callout_listener();
  callout_listener(const callout_listener&) = delete;
  callout_listener& operator=(const callout_listener&) = delete;

  // The notifyUrl to submit: cfg.public_url (or http://HOST:PORT/callout when
  // empty) + "?job=${JOBID}&status=${STATUS}" ('&' when it already has a query).
  std::string notify_url() const;
  // Called on the executor for every valid callout: the job id (URL-decoded)
  // and the status text as sent ("Completed", "Aborted", "Cancelled").
  void on_callout(callback f);
  void start();  // accepts until stop()
  void stop();   // closes the acceptor and every open connection; no callback after it; idempotent

  asio::ip::tcp::endpoint local_endpoint() const;  // the bound address and port

 private:
  struct state;
  std::shared_ptr<state> state_;
  std::string url_base_;  // the notifyUrl before the job/status parameters
};

}  // namespace aquaduct::engine_detail

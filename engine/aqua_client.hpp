#pragma once
// The AQuA operations of aqua-contract.md §1: submit, get, cancel, and
// streaming a result file, over the run's shared HTTP client (one pool per
// origin) with its credentials and common headers (§2).
//
// Every call passes the session's request_gate (one per run, shared by every
// job: the tenant-wide pause and the AIMD window over requests in flight)
// and retries under the run's retry_policy:
//   - what transport::classify() calls retriable (connect errors, resets,
//     timeouts, 500/502/503/504, and 409 on a POST with an Idempotency-Key)
//     and a job answer carrying AQuA errorCode 90022 ("internal error,
//     retry"), each a failed attempt counted toward max_attempts;
//   - 429, which is back-pressure: it halves the gate's window, honours
//     Retry-After, and only the request's budget ends it.
// A Retry-After that does not fit in the request's budget pauses the whole
// session (up to max_pause); waits in the gate do not use up the budget.
// A POST is retried only because it carries the same Idempotency-Key on
// every attempt; after a 90022 answer (which created no job, and which a
// service that stores answers per key would replay forever) a submit gets a
// fresh key derived from its own. After a 401 the token is refreshed once;
// a second 401 is aqua_errc::auth_refused (exit code 3). HTTP 200 carrying
// another AQuA errorCode is a failure with that code (aqua_errc::submit_rejected).
// A download broken mid-body resumes with Range from the last byte the
// consumer accepted, or fails with transport_errc::restart_needed when the
// server cannot resume; a 416 to a Range that starts at the file's length
// means every byte is in. Every message is redacted (transport/redact.hpp).
#include "decode/aqua_models.hpp"
#include "engine/run_log.hpp"
#include "transport/authenticator.hpp"
#include "transport/http_client.hpp"
#include "transport/request_gate.hpp"
#include "transport/retry_policy.hpp"

#include <aquaduct/config.hpp>

#include <asio/awaitable.hpp>

#include <memory>
#include <string>
#include <vector>

namespace aquaduct::engine_detail {

// What every AQuA call of a run shares.
struct aqua_session {
  std::shared_ptr<transport::http_client> http;
  std::shared_ptr<transport::authenticator> auth;
  transport::retry_policy retry;
  std::vector<transport::header> headers;  // Zuora-Track-Id, Zuora-Entity-Ids, Zuora-Org-Ids
  run_log log;                             // retries and warnings
  // Admission of every request (window of max_connections). interrupt() it
  // when the run is cancelled, so that no request waits out a long pause.
  std::shared_ptr<transport::request_gate> gate;
};

// The session for [source]: origin (base_url), TLS, proxy, deadlines, pool
// size, credentials, headers and retry policy. Throws config_error naming
// `config_path` when base_url, the proxy or ca_file is unusable.
aqua_session make_aqua_session(asio::any_io_executor ex, const source_config& src, const std::string& config_path,
                               run_log log = {});

// The headers [source.headers] adds to every AQuA call (Zuora-Track-Id,
// Zuora-Entity-Ids, Zuora-Org-Ids); empty ones are left out.
std::vector<transport::header> common_headers(const headers_config& h);

class aqua_client {
 public:
  // `job` names the config's job in the client's log records (retries).
  explicit aqua_client(aqua_session session, std::string job = {}) : s_(std::move(session)), job_(std::move(job)) {}

  // The requests of the job calls below, before the session's headers and
  // credentials are added: what --dry-run shows is what is sent.
  static transport::http_request submit_request(std::string body, std::string idempotency_key);
  static std::string job_target(const std::string& job_id);  // /v1/batch-query/jobs/{id}
  static std::string last_completed_target(const std::string& partner, const std::string& project);

  // POST /v1/batch-query/. A validation error (HTTP 200, status "error")
  // throws aqua_errc::submit_rejected with the errorCode and message.
  asio::awaitable<decode::aqua_job> submit(std::string body, std::string idempotency_key);
  asio::awaitable<decode::aqua_job> get_job(std::string job_id);
  asio::awaitable<decode::aqua_job> cancel_job(std::string job_id);
  // GET /v1/batch-query/jobs/partner/{partner}/project/{project}: the
  // session's most recent completed job; nullopt when it has none (404).
  asio::awaitable<std::optional<decode::aqua_job>> last_completed(std::string partner, std::string project);

  // GET /v1/file/{id}, the body streamed to `on_body`, each byte exactly once
  // and in order even across resumed connections. An exception from
  // `on_body` ends the download at once.
  asio::awaitable<void> download(std::string file_id, transport::body_handler on_body);
  // The same with a consumer that is awaited piece by piece (the next read
  // waits for it): how the engine hands pieces to its sink threads.
  asio::awaitable<void> download_async(std::string file_id, transport::async_body_handler on_body);

  // A JSON call to another endpoint of the service (the /v4/batch batches of
  // aqua-contract.md §6): the body of the 200 answer, under every retry,
  // auth and redaction rule above. Another final status throws as a job
  // call does (aqua_errc::http_error, auth_refused or unavailable, with the
  // service's reason). These POSTs carry no Idempotency-Key: a retried one
  // may create its object twice on a service that got the first attempt.
  asio::awaitable<std::string> post_json(std::string target, std::string body);
  asio::awaitable<std::string> get_json(std::string target);
  asio::awaitable<std::string> delete_json(std::string target);
  // The same GET for a body that is not JSON (describe's XML): `accept` is
  // the Accept header sent. nullopt when the service answers 404 (an object
  // it does not know), which is not retried.
  asio::awaitable<std::optional<std::string>> get_text(std::string target, std::string accept);

 private:
  // What varies between a JSON call and a download, per attempt.
  struct attempt_hooks {
    transport::async_body_handler on_body;  // empty: a buffered JSON call
    transport::head_handler on_head;
    std::function<void(transport::http_request&)> prepare;  // adjusts each attempt's request
    std::function<void(const std::system_error&)> on_failure;  // a retriable failure; may throw to stop
    std::function<std::string()> progress;  // said with each retry, e.g. where a download resumes
    std::function<bool(int)> answers;       // a status it says yes to is returned, not refused (e.g. 404)
    // A 200 that asks for another attempt (AQuA errorCode 90022): counted
    // as a failed attempt; the hook may prepare the next one (a fresh key).
    std::function<bool(const transport::http_response&)> asks_retry;
  };
  asio::awaitable<transport::http_response> send(transport::http_request req, attempt_hooks hooks = {});
  // What one answer means for the retry loop (a 401 is handled before).
  transport::outcome outcome_of(const transport::http_response& resp, const attempt_hooks& hooks,
                                transport::keyed key) const;
  // The hooks of a call answered with an AQuA job document (90022 retried).
  attempt_hooks job_hooks(const transport::http_request& req, unsigned& fresh_keys);
  asio::awaitable<decode::aqua_job> job_call(transport::http_request req);
  // Throws the failure of a final answer; `note` says why no retry follows.
  [[noreturn]] void refuse(const transport::http_request& req, const transport::http_response& resp,
                           const std::string& note = {});
  // Why a request stops retrying after decision `d` (empty: it goes on).
  std::string stop_note(const transport::retry_decision& d, const transport::retry_state& state,
                        const std::string& progress) const;
  // A retry or pause warning, with the job or file the request is about.
  void log_retry(const transport::http_request& req, unsigned attempt, std::string message);

  asio::awaitable<std::string> json_text(transport::http_request req);

  aqua_session s_;
  std::string job_;
  decode::json_reader json_;
};

}  // namespace aquaduct::engine_detail

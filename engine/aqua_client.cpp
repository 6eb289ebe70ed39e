#include "engine/aqua_client.hpp"

#include <aquaduct/error.hpp>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <charconv>
#include <optional>

namespace aquaduct::engine_detail {

namespace {

constexpr int max_attempts = 4;

bool transient_status(unsigned status) { return status == 429 || status == 502 || status == 503 || status == 504; }

// Exponential: 250 ms, 500 ms, 1 s, ...
std::chrono::milliseconds backoff(int attempt) { return std::chrono::milliseconds(250) * (1 << attempt); }

// Retry-After (seconds) when the service sent one, else the backoff.
std::chrono::milliseconds retry_delay(const transport::http_response& resp, int attempt) {
  if (auto ra = resp.find("Retry-After")) {
    unsigned seconds = 0;
    const auto [p, err] = std::from_chars(ra->data(), ra->data() + ra->size(), seconds);
    if (err == std::errc{} && p == ra->data() + ra->size()) return std::chrono::seconds(std::min(seconds, 600u));
  }
  return backoff(attempt);
}

}  // namespace

aqua_client::aqua_client(asio::any_io_executor ex, transport::origin where, transport::client_options opts,
                         std::shared_ptr<transport::authenticator> auth)
    : http_(std::move(ex), std::move(where), std::move(opts)), auth_(std::move(auth)) {}

void aqua_client::refuse(const transport::http_request& req, const transport::http_response& resp) {
  const decode::error_reply reply = json_.parse_error(resp.body);
  std::string what = req.method + " " + req.target + ": HTTP " + std::to_string(resp.status);
  if (!reply.code.empty()) what += " " + reply.code;
  if (!reply.message.empty()) what += " " + reply.message;
  const bool auth = resp.status == 401 || resp.status == 403;
  throw std::system_error(auth ? aqua_errc::auth_refused : aqua_errc::http_error, what);
}

asio::awaitable<transport::http_response> aqua_client::send(transport::http_request req,
                                                            transport::body_handler on_body) {
  bool refreshed = false;
  for (int attempt = 0;; ++attempt) {
    transport::http_request r = req;
    co_await auth_->authorize(http_, r);
    transport::http_response resp;
    std::optional<std::chrono::milliseconds> wait;  // set: try again after waiting this long
    try {
      if (on_body) resp = co_await http_.stream(std::move(r), on_body);
      else resp = co_await http_.request(std::move(r));
    } catch (const std::system_error& e) {
      if (on_body || attempt + 1 >= max_attempts || e.code() != make_error_condition(condition::retriable)) throw;
      wait = backoff(attempt);  // co_await is not allowed in a handler: wait below
    }
    if (!wait && resp.status == 401 && !refreshed) {
      // An expired or revoked token: fetch a new one once.
      refreshed = true;
      auth_->token_rejected();
      continue;
    }
    if (!wait && transient_status(resp.status) && attempt + 1 < max_attempts) wait = retry_delay(resp, attempt);
    if (wait) {
      asio::steady_timer t(co_await asio::this_coro::executor, *wait);
      co_await t.async_wait(asio::use_awaitable);
      continue;
    }
    if (resp.status != 200 && !(resp.status == 206 && on_body)) refuse(req, resp);
    co_return resp;
  }
}

asio::awaitable<decode::aqua_job> aqua_client::job_call(transport::http_request req) {
  req.headers.push_back({"Accept", "application/json"});
  const std::string target = req.method + " " + req.target;
  const transport::http_response resp = co_await send(std::move(req), {});
  decode::aqua_job job;
  std::error_code ec;
  std::string what;
  json_.parse_job(resp.body, job, ec, what);
  if (ec) throw std::system_error(aqua_errc::bad_response, target + ": " + what);
  if (job.status == "error" || !job.error_code.empty())
    throw std::system_error(aqua_errc::submit_rejected,
                            target + ": errorCode " + job.error_code + (job.message.empty() ? "" : ": " + job.message));
  co_return job;
}

asio::awaitable<decode::aqua_job> aqua_client::submit(std::string body, std::string idempotency_key) {
  transport::http_request req;
  req.method = "POST";
  req.target = "/v1/batch-query/";
  req.headers.push_back({"Content-Type", "application/json"});
  req.headers.push_back({"Idempotency-Key", std::move(idempotency_key)});
  req.body = std::move(body);
  co_return co_await job_call(std::move(req));
}

asio::awaitable<decode::aqua_job> aqua_client::get_job(std::string job_id) {
  transport::http_request req;
  req.target = "/v1/batch-query/jobs/" + job_id;
  co_return co_await job_call(std::move(req));
}

asio::awaitable<decode::aqua_job> aqua_client::cancel_job(std::string job_id) {
  transport::http_request req;
  req.method = "DELETE";
  req.target = "/v1/batch-query/jobs/" + job_id;
  co_return co_await job_call(std::move(req));
}

asio::awaitable<void> aqua_client::download(std::string file_id, transport::body_handler on_body) {
  transport::http_request req;
  req.target = "/v1/file/" + file_id;
  co_await send(std::move(req), std::move(on_body));
}

}  // namespace aquaduct::engine_detail

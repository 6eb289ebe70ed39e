#include "engine/aqua_client.hpp"

#include "transport/redact.hpp"
#include "transport/url.hpp"

#include <aquaduct/error.hpp>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <charconv>
#include <optional>

namespace aquaduct::engine_detail {

using steady = std::chrono::steady_clock;

namespace {

transport::auth_settings auth_settings_of(const auth_config& a) {
  switch (a.type) {
    case auth_type::oauth: return {transport::auth_kind::oauth, a.client_id, a.client_secret};
    case auth_type::api_key: return {transport::auth_kind::api_key, a.access_key_id, a.secret_access_key};
    case auth_type::basic: return {transport::auth_kind::basic, a.username, a.password};
    case auth_type::none: break;
  }
  return {};
}

std::optional<std::chrono::milliseconds> retry_after_of(const transport::http_response& resp) {
  const auto ra = resp.find("Retry-After");
  if (!ra) return std::nullopt;
  return transport::parse_retry_after(*ra, std::chrono::system_clock::now());
}

transport::keyed keyed_of(const transport::http_request& req) {
  return req.find("Idempotency-Key") ? transport::keyed::yes : transport::keyed::no;
}

// The key of a submit's attempt after its `n`th 90022 answer: the job's own
// key with a suffix, within the service's 255 characters.
void renew_idempotency_key(transport::http_request& req, unsigned n) {
  const std::string suffix = "-r" + std::to_string(n);
  for (auto& h : req.headers)
    if (h.name == "Idempotency-Key") h.value = h.value.substr(0, 255 - suffix.size()) + suffix;
}

std::string seconds_text(std::chrono::milliseconds d) {
  const auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

std::uint64_t number(std::string_view s, bool& ok) {
  std::uint64_t v = 0;
  const auto [p, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  ok = ok && err == std::errc{} && p == s.data() + s.size() && !s.empty();
  return v;
}

}  // namespace

aqua_session make_aqua_session(asio::any_io_executor ex, const source_config& src, const std::string& config_path,
                               run_log log) {
  std::error_code ec;
  transport::origin where = transport::parse_base_url(src.base_url, ec);
  if (ec)
    throw config_error(config_errc::bad_value,
                       {transport::redact(config_path + ": [source] base_url \"" + src.base_url +
                                          "\" is not http(s)://host[:port][/prefix]")});
  transport::client_options o;
  o.connect_timeout = std::chrono::milliseconds(src.connect_timeout_ms);
  o.handshake_timeout = std::chrono::milliseconds(src.handshake_timeout_ms);
  o.write_timeout = std::chrono::milliseconds(src.write_timeout_ms);
  o.idle_timeout = std::chrono::milliseconds(src.idle_timeout_ms);
  o.request_timeout = std::chrono::milliseconds(src.request_timeout_ms);
  o.pool_idle_timeout = std::chrono::milliseconds(src.pool_idle_timeout_ms);
  o.max_connections = src.max_connections;
  o.proxy = src.proxy;
  o.tls = {src.tls.ca_file, src.tls.insecure_skip_verify};
  o.gzip_request_min_bytes = src.gzip_request_bodies ? 1024 : 0;
  if (!src.headers.user_agent.empty()) o.user_agent = src.headers.user_agent;
  o.log = log.text_warnings();
  aqua_session s;
  s.log = std::move(log);
  try {
    s.http = std::make_shared<transport::http_client>(std::move(ex), std::move(where), std::move(o));
  } catch (const std::system_error& e) {
    throw config_error(config_errc::bad_value, {config_path + ": [source] " + transport::redact(e.what())});
  }
  s.auth = std::make_shared<transport::authenticator>(auth_settings_of(src.auth));
  transport::retry_options r;
  r.max_attempts = src.retry.max_attempts;
  r.initial = std::chrono::milliseconds(src.retry.initial_ms);
  r.max_delay = std::chrono::milliseconds(src.retry.max_ms);
  r.budget = std::chrono::seconds(src.retry.budget_s);
  r.max_pause = std::chrono::seconds(src.retry.max_pause_s);
  s.retry = transport::retry_policy(r);
  s.gate = std::make_shared<transport::request_gate>(src.max_connections);
  s.headers = common_headers(src.headers);
  return s;
}

std::vector<transport::header> common_headers(const headers_config& h) {
  std::vector<transport::header> out;
  if (!h.track_id.empty()) out.push_back({"Zuora-Track-Id", h.track_id});
  if (!h.entity_ids.empty()) out.push_back({"Zuora-Entity-Ids", h.entity_ids});
  if (!h.org_ids.empty()) out.push_back({"Zuora-Org-Ids", h.org_ids});
  return out;
}

void aqua_client::refuse(const transport::http_request& req, const transport::http_response& resp,
                         const std::string& note) {
  const decode::error_reply reply = json_.parse_error(resp.body);
  std::string what = req.method + " " + req.target + ": HTTP " + std::to_string(resp.status);
  if (!reply.code.empty() && reply.code != std::to_string(resp.status)) what += " " + reply.code;
  if (!reply.message.empty()) what += " " + reply.message;
  what += note;
  aqua_errc code = aqua_errc::http_error;
  const bool file = req.target.rfind("/v1/file/", 0) == 0;
  if (file && resp.status == 403 && resp.body.find("max-object-size") != std::string::npos)
    code = aqua_errc::file_too_large;  // the service's XML, not a refused credential
  else if (file && resp.status == 404) code = aqua_errc::file_gone;
  else if (resp.status == 401 || resp.status == 403) code = aqua_errc::auth_refused;
  else if (resp.status == 200) code = aqua_errc::unavailable;  // an answer that asked for a retry (90022)
  else if (transport::classify(resp.status, keyed_of(req)) != transport::outcome::fatal) code = aqua_errc::unavailable;
  throw std::system_error(code, transport::redact(what));
}

void aqua_client::log_retry(const transport::http_request& req, unsigned attempt, std::string message) {
  log_record r{.message = std::move(message), .job = job_, .attempt = attempt};
  // The job or file the request is about, from its target.
  const std::string_view target = req.target;
  for (const auto& [prefix, field] : {std::pair{std::string_view("/v1/file/"), &log_record::file},
                                      std::pair{std::string_view("/v1/batch-query/jobs/"), &log_record::job_id}}) {
    if (target.substr(0, prefix.size()) != prefix) continue;
    const std::string_view rest = target.substr(prefix.size());
    r.*field = std::string(rest.substr(0, rest.find_first_of("/?")));
  }
  s_.log.warning(std::move(r));
}

transport::outcome aqua_client::outcome_of(const transport::http_response& resp, const attempt_hooks& hooks,
                                           transport::keyed key) const {
  if (resp.status == 200 || (resp.status == 206 && hooks.on_body) || (hooks.answers && hooks.answers(resp.status))) {
    if (resp.status == 200 && hooks.asks_retry && hooks.asks_retry(resp)) return transport::outcome::retriable;
    return transport::outcome::success;
  }
  const transport::outcome o = transport::classify(resp.status, key);
  return o == transport::outcome::success ? transport::outcome::fatal : o;  // a 2xx the call does not expect
}

asio::awaitable<transport::http_response> aqua_client::send(transport::http_request req, attempt_hooks hooks) {
  using transport::outcome;
  using transport::retry_action;
  for (const auto& h : s_.headers) req.headers.push_back(h);
  const transport::keyed key = keyed_of(req);
  const auto started = steady::now();
  steady::duration gated{};  // time spent waiting in the gate: not the request's own
  transport::retry_state state;
  bool refreshed = false;
  for (;;) {
    transport::http_request r = req;  // the same Idempotency-Key on every attempt (unless 90022 renewed it)
    if (hooks.prepare) hooks.prepare(r);
    transport::request_gate::admission admitted = co_await s_.gate->enter();
    gated += admitted.waited;
    transport::http_response resp;
    std::uint64_t generation = 0;
    std::optional<std::system_error> failure;
    try {
      generation = co_await s_.auth->authorize(*s_.http, r);
      if (hooks.on_body) resp = co_await s_.http->stream_async(std::move(r), hooks.on_body, hooks.on_head);
      else resp = co_await s_.http->request(std::move(r));
    } catch (const std::system_error& e) {
      if (transport::classify(e.code()) != outcome::retriable) throw;
      if (hooks.on_failure) hooks.on_failure(e);
      failure = e;  // co_await is not allowed in a handler: back off below
    }
    outcome kind = outcome::retriable;
    if (!failure) {
      if (resp.status == 401 && !refreshed) {
        // An expired or revoked token: fetch a new one, once.
        refreshed = true;
        s_.auth->token_rejected(generation);
        continue;
      }
      kind = outcome_of(resp, hooks, key);
      if (kind == outcome::throttled) s_.gate->throttled(admitted.slot);
      else s_.gate->answered(admitted.slot);
      if (kind == outcome::success) co_return resp;
      if (kind == outcome::fatal) refuse(req, resp);
    }
    admitted.slot.release();  // no room held while this request waits

    if (kind == outcome::throttled) ++state.throttles;
    else ++state.failures;
    const unsigned tries = state.failures + state.throttles;
    state.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started - gated);
    const std::optional<std::chrono::milliseconds> retry_after = failure ? std::nullopt : retry_after_of(resp);
    const transport::retry_decision d = s_.retry.next(kind, state, retry_after, transport::jitter_unit());
    const std::string progress = hooks.progress ? hooks.progress() : "";
    const bool paused = d.action == retry_action::pause && s_.gate->pause_until(steady::now() + d.delay);
    const std::string note = paused ? std::string() : stop_note(d, state, progress);
    if (!note.empty()) {
      if (failure) throw std::system_error(failure->code(), transport::bare_what(*failure) + note);
      refuse(req, resp, note);
    }

    std::string why = failure ? failure->what() : "HTTP " + std::to_string(resp.status);
    if (!failure && resp.status == 200) why += " errorCode 90022 (internal error, retry)";
    if (kind == outcome::throttled) why += " (rate limited: not counted against max_attempts)";
    why += progress;
    if (paused) {
      // The gate holds every request of the run (this one too) until the pause ends.
      log_retry(req, tries + 1,
                "pausing every request to the service for " + seconds_text(d.delay) + " (Retry-After of " +
                    req.method + " " + req.target + "): " + why);
      continue;
    }
    log_retry(req, tries + 1,
              "retrying " + req.method + " " + req.target + " in " + std::to_string(d.delay.count()) + " ms: " + why);
    asio::steady_timer t(co_await asio::this_coro::executor, d.delay);
    co_await t.async_wait(asio::use_awaitable);
  }
}

std::string aqua_client::stop_note(const transport::retry_decision& d, const transport::retry_state& state,
                                   const std::string& progress) const {
  using transport::give_up_reason;
  const transport::retry_options& o = s_.retry.options();
  switch (d.reason) {
    case give_up_reason::attempts:
      return " (gave up after " + std::to_string(state.failures) + " attempts" + progress + ")";
    case give_up_reason::budget:
      return " (gave up after " + std::to_string(state.failures + state.throttles) + " tries: the retry budget of " +
             seconds_text(o.budget) + " is spent" + progress + ")";
    case give_up_reason::pause_too_long:
      return " (Retry-After " + seconds_text(d.delay) + " is longer than [source.retry] max_pause_s = " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(o.max_pause).count()) + progress + ")";
    case give_up_reason::none: break;
  }
  if (d.action == transport::retry_action::pause)  // the gate refused it: the run is being interrupted
    return " (Retry-After " + seconds_text(d.delay) + ", and the run is being interrupted" + progress + ")";
  return {};
}

aqua_client::attempt_hooks aqua_client::job_hooks(const transport::http_request& req, unsigned& fresh_keys) {
  attempt_hooks hooks;
  const bool submit = req.method == "POST" && keyed_of(req) == transport::keyed::yes;
  hooks.asks_retry = [this, &fresh_keys, submit](const transport::http_response& resp) {
    if (json_.parse_error(resp.body).code != "90022") return false;
    // The answer created no job; a service that stores answers per key
    // would give the same 90022 to the same key again.
    if (submit) ++fresh_keys;
    return true;
  };
  hooks.prepare = [&fresh_keys](transport::http_request& r) {
    if (fresh_keys > 0) renew_idempotency_key(r, fresh_keys);
  };
  return hooks;
}

asio::awaitable<decode::aqua_job> aqua_client::job_call(transport::http_request req) {
  req.headers.push_back({"Accept", "application/json"});
  const std::string target = req.method + " " + req.target;
  unsigned fresh_keys = 0;
  attempt_hooks hooks = job_hooks(req, fresh_keys);
  const transport::http_response resp = co_await send(std::move(req), std::move(hooks));
  decode::aqua_job job;
  std::error_code ec;
  std::string what;
  json_.parse_job(resp.body, job, ec, what);
  if (ec) throw std::system_error(aqua_errc::bad_response, target + ": " + what);
  if (job.error_code == "90028")
    throw std::system_error(aqua_errc::job_limit, target + ": errorCode 90028" +
                                                      (job.message.empty() ? "" : ": " + job.message));
  if (job.status == "error" || !job.error_code.empty())
    throw std::system_error(aqua_errc::submit_rejected,
                            transport::redact(target + ": errorCode " + job.error_code +
                                              (job.message.empty() ? "" : ": " + job.message)));
  co_return job;
}

transport::http_request aqua_client::submit_request(std::string body, std::string idempotency_key) {
  transport::http_request req;
  req.method = "POST";
  req.target = "/v1/batch-query/";
  req.headers.push_back({"Content-Type", "application/json"});
  req.headers.push_back({"Idempotency-Key", std::move(idempotency_key)});
  req.body = std::move(body);
  return req;
}

std::string aqua_client::job_target(const std::string& job_id) { return "/v1/batch-query/jobs/" + job_id; }

std::string aqua_client::last_completed_target(const std::string& partner, const std::string& project) {
  return "/v1/batch-query/jobs/partner/" + transport::form_url_encode(partner) + "/project/" +
         transport::form_url_encode(project);
}

asio::awaitable<decode::aqua_job> aqua_client::submit(std::string body, std::string idempotency_key) {
  co_return co_await job_call(submit_request(std::move(body), std::move(idempotency_key)));
}

asio::awaitable<decode::aqua_job> aqua_client::get_job(std::string job_id) {
  transport::http_request req;
  req.target = job_target(job_id);
  co_return co_await job_call(std::move(req));
}

asio::awaitable<decode::aqua_job> aqua_client::cancel_job(std::string job_id) {
  transport::http_request req;
  req.method = "DELETE";
  req.target = job_target(job_id);
  co_return co_await job_call(std::move(req));
}

asio::awaitable<std::optional<decode::aqua_job>> aqua_client::last_completed(std::string partner,
                                                                               std::string project) {
  transport::http_request req;
  req.target = last_completed_target(partner, project);
  req.headers.push_back({"Accept", "application/json"});
  const std::string target = req.method + " " + req.target;
  unsigned fresh_keys = 0;
  attempt_hooks hooks = job_hooks(req, fresh_keys);
  hooks.answers = [](int status) { return status == 404; };
  const transport::http_response resp = co_await send(std::move(req), std::move(hooks));
  if (resp.status == 404) co_return std::nullopt;
  decode::aqua_job job;
  std::error_code ec;
  std::string what;
  json_.parse_job(resp.body, job, ec, what);
  if (ec) throw std::system_error(aqua_errc::bad_response, target + ": " + what);
  co_return job;
}

asio::awaitable<void> aqua_client::download(std::string file_id, transport::body_handler on_body) {
  co_await download_async(std::move(file_id), [&](std::string_view piece) -> asio::awaitable<void> {
    on_body(piece);
    co_return;
  });
}

asio::awaitable<void> aqua_client::download_async(std::string file_id, transport::async_body_handler on_body) {
  transport::http_request req;
  req.target = "/v1/file/" + file_id;
  const std::string target = req.target;
  std::uint64_t accepted = 0;              // bytes the consumer took
  std::optional<std::uint64_t> length;     // the whole file's length, from the first response
  std::string etag;
  bool resumable = false;                  // Accept-Ranges: bytes, no content coding

  // A resumed response must continue exactly where the consumer stopped.
  const auto check_head = [&](const transport::http_response& h) {
    if (h.status < 200 || h.status >= 300) return;
    if (accepted == 0) {
      const auto ranges = h.find("Accept-Ranges");
      resumable = ranges && ranges->find("bytes") != std::string_view::npos && !h.find("Content-Encoding");
      bool ok = true;
      if (const auto cl = h.find("Content-Length")) length = number(*cl, ok);
      if (!ok) length.reset();
      if (const auto e = h.find("ETag")) etag = std::string(*e);
      return;
    }
    const std::string at = "at byte " + std::to_string(accepted);
    if (h.status != 206)
      throw std::system_error(transport_errc::restart_needed,
                              "GET " + target + ": the server ignored Range " + at + ": the download must restart");
    // Content-Range: bytes FIRST-LAST/TOTAL
    const std::string_view cr = h.find("Content-Range").value_or("");
    const auto dash = cr.find('-'), slash = cr.find('/');
    bool ok = cr.substr(0, 6) == "bytes " && dash != std::string_view::npos && slash != std::string_view::npos;
    const std::uint64_t first = ok ? number(cr.substr(6, dash - 6), ok) : 0;
    const std::uint64_t total = ok ? number(cr.substr(slash + 1), ok) : 0;
    if (!ok || first != accepted || (length && total != *length))
      throw std::system_error(transport_errc::restart_needed, "GET " + target + ": resumed " + at +
                                                                  " but got Content-Range \"" + std::string(cr) +
                                                                  "\": the download must restart");
  };
  const auto take = [&](std::string_view piece) -> asio::awaitable<void> {
    co_await on_body(piece);
    accepted += piece.size();
  };

  attempt_hooks hooks;
  hooks.on_body = take;
  hooks.on_head = check_head;
  hooks.prepare = [&](transport::http_request& r) {
    if (accepted == 0) return;
    r.headers.push_back({"Range", "bytes=" + std::to_string(accepted) + "-"});
    if (!etag.empty()) r.headers.push_back({"If-Range", etag});
  };
  hooks.on_failure = [&](const std::system_error& e) {
    if (accepted > 0 && !resumable)
      throw std::system_error(transport_errc::restart_needed,
                              transport::bare_what(e) + " after " + std::to_string(accepted) +
                                  " bytes, and the server does not support Range: the download must restart");
  };
  hooks.progress = [&]() -> std::string {
    return accepted ? "; resuming at byte " + std::to_string(accepted) : std::string();
  };
  // A connection that broke after the last byte leaves a Range that starts
  // at the file's end: the service answers 416 to it.
  hooks.answers = [&](int status) { return status == 416 && accepted > 0; };
  const transport::http_response resp = co_await send(std::move(req), std::move(hooks));
  if (resp.status != 416) co_return;
  // Content-Range: bytes */TOTAL
  const std::string_view cr = resp.find("Content-Range").value_or("");
  bool ok = cr.substr(0, 8) == "bytes */";
  const std::uint64_t total = ok ? number(cr.substr(8), ok) : 0;
  const bool complete = ok ? total == accepted && (!length || *length == total) : length && *length == accepted;
  if (!complete)
    throw std::system_error(transport_errc::restart_needed,
                            "GET " + target + ": HTTP 416 to Range at byte " + std::to_string(accepted) +
                                " with Content-Range \"" + std::string(cr) + "\": the download must restart");
}

asio::awaitable<std::string> aqua_client::json_text(transport::http_request req) {
  req.headers.push_back({"Accept", "application/json"});
  transport::http_response resp = co_await send(std::move(req));
  co_return std::move(resp.body);
}

asio::awaitable<std::string> aqua_client::post_json(std::string target, std::string body) {
  transport::http_request req;
  req.method = "POST";
  req.target = std::move(target);
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = std::move(body);
  co_return co_await json_text(std::move(req));
}

asio::awaitable<std::string> aqua_client::get_json(std::string target) {
  transport::http_request req;
  req.target = std::move(target);
  co_return co_await json_text(std::move(req));
}

asio::awaitable<std::optional<std::string>> aqua_client::get_text(std::string target, std::string accept) {
  transport::http_request req;
  req.target = std::move(target);
  req.headers.push_back({"Accept", std::move(accept)});
  attempt_hooks hooks;
  hooks.answers = [](int status) { return status == 404; };
  transport::http_response resp = co_await send(std::move(req), std::move(hooks));
  if (resp.status == 404) co_return std::nullopt;
  co_return std::move(resp.body);
}

asio::awaitable<std::string> aqua_client::delete_json(std::string target) {
  transport::http_request req;
  req.method = "DELETE";
  req.target = std::move(target);
  co_return co_await json_text(std::move(req));
}

}  // namespace aquaduct::engine_detail

#include "emulator/aqua_service.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <system_error>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <zlib.h>

#include "emulator/ascii.hpp"
#include "emulator/batch_results.hpp"
#include "emulator/callout.hpp"
#include "emulator/describe.hpp"
#include "emulator/http_util.hpp"
#include "emulator/json_writer.hpp"

namespace aquaduct::emulator {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool is_hex_id(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// "/v1/batch-query/jobs/2c92...": id-like segments become {id} so stats stay small.
std::string stats_key(std::string_view path) {
  std::string out;
  while (!path.empty()) {
    const auto slash = path.find('/', 1);
    std::string_view seg = path.substr(0, slash);
    const bool numeric = seg.size() > 1 && std::all_of(seg.begin() + 1, seg.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (seg.size() > 1 && (is_hex_id(seg.substr(1)) || numeric)) out += "/{id}";
    else out += seg;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

bool terminal(std::string_view status) {
  return status == "completed" || status == "aborted" || status == "cancelled" || status == "failed";
}

bool compressible(std::string_view content_type) {
  return content_type.find("json") != std::string_view::npos || content_type.find("xml") != std::string_view::npos ||
         starts_with(content_type, "text/");
}

std::string extension_type(const std::string& name, bool& gzip) {
  gzip = false;
  if (name.ends_with(".gz")) {
    gzip = true;
    return "application/gzip";
  }
  if (name.ends_with(".zip")) return "application/zip";
  if (name.ends_with(".json")) return "application/json; charset=utf-8";
  return "text/csv; charset=utf-8";
}

// Status word of a callout (${STATUS}): "Completed", "Aborted", "Cancelled".
std::string callout_status(std::string_view status) {
  std::string s(status);
  if (!s.empty()) s[0] = static_cast<char>(s[0] - 32);
  return s;
}

struct ignore_result {
  void operator()(const std::exception_ptr&) const noexcept {}
};

}  // namespace

aqua_service::aqua_service(options opts, asio::any_io_executor io)
    : opts_(std::move(opts)),
      io_(std::move(io)),
      workers_(std::make_unique<asio::thread_pool>(std::max<std::size_t>(1, opts_.worker_threads))),
      tenant_(make_tenant(opts_.seed, opts_.scale)),
      faults_(opts_.seed),
      rate_window_start_(clock::now()) {
  if (!opts_.faults_json.empty()) {
    std::string error;
    if (!faults_.add_json(opts_.faults_json, error)) throw std::invalid_argument("faults: " + error);
  }
  // Ids differ between runs of one process and between processes, so a client
  // cannot mistake one emulator's job for another's.
  id_counter_ = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  if (opts_.data_dir.empty()) {
    data_dir_ = std::filesystem::temp_directory_path() / ("aquaduct-emulator-" + new_id().substr(0, 12));
    own_data_dir_ = true;
  } else {
    data_dir_ = opts_.data_dir;
  }
  std::filesystem::create_directories(data_dir_);
}

aqua_service::~aqua_service() {
  stop_workers();
  std::error_code ec;
  if (own_data_dir_) {
    std::filesystem::remove_all(data_dir_, ec);
  } else {
    for (const auto& [id, f] : files_) std::filesystem::remove(f.path, ec);
  }
}

void aqua_service::stop_workers() {
  if (!workers_) return;
  for (auto& [id, j] : jobs_) j.cancel->store(true);
  for (auto& [id, b] : json_batches_) b.cancel->store(true);
  workers_->join();
  workers_.reset();
}

std::string aqua_service::new_id() {
  std::uint64_t s = id_counter_++;
  const std::uint64_t a = splitmix(s);
  const std::uint64_t b = splitmix(s);
  return fmt::format("{:016x}{:016x}", a, b);
}

std::int64_t aqua_service::now_unix_s() const {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string aqua_service::base_url(const http_request& req) const {
  const std::string* host = req.header("Host");
  const char* scheme = opts_.tls_cert_file.empty() ? "http" : "https";
  return fmt::format("{}://{}", scheme, host ? *host : opts_.bind);
}

http_response aqua_service::json(int status, std::string body) {
  http_response r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.set_body(std::move(body));
  return r;
}

http_response aqua_service::aqua_error(int http_status, std::string_view code, std::string_view message) {
  json_writer w;
  w.begin_object().member("errorCode", code).member("message", message).member("status", "error").end_object();
  return json(http_status, w.take());
}

http_response aqua_service::reasons_error(int http_status, std::int64_t code, std::string_view message) {
  json_writer w;
  w.begin_object().member("success", false).key("reasons").begin_array().begin_object();
  w.member("code", code).member("message", message);
  w.end_object().end_array().end_object();
  return json(http_status, w.take());
}

http_response aqua_service::auth_error() {
  json_writer w;
  w.begin_object().member("success", false).member("processId", new_id().substr(0, 16));
  w.key("reasons").begin_array().begin_object();
  w.member("code", 90000011).member("message", "Authentication error");
  w.end_object().end_array().end_object();
  return json(401, w.take());
}

http_response aqua_service::malformed(int status, std::string_view message) {
  ++requests_["(malformed)"][status];
  http_response r = reasons_error(status, status, message);
  r.close = true;
  return r;
}

// ---------------------------------------------------------------- dispatch

http_response aqua_service::handle(const http_request& req) {
  // Legacy base /apps/api/... is an alias of /v1/...
  std::string path = req.path;
  if (starts_with(path, "/apps/api/")) path = "/v1/" + path.substr(10);
  if (starts_with(path, "/_emulator/")) {
    std::string body = req.body;
    http_response resp = control(req, path, body);  // never faulted, limited or authenticated
    ++requests_[stats_key(path)][resp.status];
    return resp;
  }

  http_response resp;
  std::string body;
  if (auto limited = rate_limited()) {
    resp = std::move(*limited);
  } else if (auto st = faults_.take(fault_kind::status, req.method, path)) {
    resp = st->body ? json(st->code, *st->body)
                    : reasons_error(st->code, st->code, fmt::format("emulated fault: HTTP {}", st->code));
    if (st->retry_after_s) resp.headers.emplace_back("Retry-After", std::to_string(*st->retry_after_s));
  } else if (faults_.take(fault_kind::token_expired, req.method, path)) {
    resp = auth_error();
    resp.headers.emplace_back("WWW-Authenticate", R"(Bearer error="invalid_token", error_description="expired")");
  } else {
    int body_status = 0;
    std::string body_error;
    const std::string* enc = req.header("Content-Encoding");
    if (enc != nullptr && ascii_lower(*enc) == "gzip") {
      body_status = gunzip_body(req.body, http_limits{}.max_body_bytes, body, body_error);
    } else if (enc != nullptr && !enc->empty() && ascii_lower(*enc) != "identity") {
      body_status = 415;
      body_error = fmt::format("unsupported Content-Encoding '{}' (gzip or identity)", *enc);
    } else {
      body = req.body;
    }
    if (body_status != 0) resp = reasons_error(body_status, body_status, body_error);
    else if (path == "/oauth/token") resp = oauth_token(req, body);
    else if (!authorized(req)) resp = auth_error();
    else resp = route(req, path, body);
  }

  if (auto f = faults_.take(fault_kind::truncate, req.method, path)) resp.faults.truncate_at = f->bytes;
  if (auto f = faults_.take(fault_kind::reset_after_bytes, req.method, path)) resp.faults.reset_at = f->bytes;
  if (auto f = faults_.take(fault_kind::stall, req.method, path)) {
    resp.faults.stall_after = f->after_bytes;
    resp.faults.stall_ms = std::chrono::milliseconds(f->ms);
  }

  // gzip responses (§2.3): only in-memory bodies over 1000 bytes of a text type.
  if (resp.body && !resp.file && resp.body_size > 1000 && compressible(resp.content_type) &&
      accepts(req.header("Accept-Encoding"), "gzip")) {
    resp.set_body(gzip_compress(std::string_view(*resp.body).substr(resp.body_offset, resp.body_size)));
    resp.headers.emplace_back("Content-Encoding", "gzip");
    resp.headers.emplace_back("Vary", "Accept-Encoding");
  }

  add_rate_headers(resp);
  {
    const std::string h = new_id();
    resp.headers.emplace_back("Zuora-Request-Id", fmt::format("{}-{}-{}-{}-{}", h.substr(0, 8), h.substr(8, 4),
                                                              h.substr(12, 4), h.substr(16, 4), h.substr(20, 12)));
  }
  if (const std::string* track = req.header("Zuora-Track-Id")) {
    const bool ok = track->size() <= 64 && std::none_of(track->begin(), track->end(), [](char c) {
                      return c == ':' || c == ';' || c == '"' || c == '\'' || static_cast<unsigned char>(c) > 0x7e;
                    });
    if (ok) resp.headers.emplace_back("Zuora-Track-Id", *track);
  }
  if (req.method == "HEAD") resp.head_only = true;
  ++requests_[stats_key(path)][resp.status];
  return resp;
}

std::optional<http_response> aqua_service::rate_limited() {
  if (opts_.rate_limit == 0) return std::nullopt;
  const auto now = clock::now();
  if (now - rate_window_start_ >= opts_.rate_window) {
    rate_window_start_ = now;
    rate_count_ = 0;
  }
  if (rate_count_ < opts_.rate_limit) {
    ++rate_count_;
    return std::nullopt;
  }
  const auto reset_s =
      std::chrono::ceil<std::chrono::seconds>(rate_window_start_ + opts_.rate_window - now).count();
  http_response r = reasons_error(
      429, 70, fmt::format("API Rate limit exceeded for the {}, retry after {} seconds",
                           opts_.rate_window.count() == 60 ? "minute" : fmt::format("{}-second window", opts_.rate_window.count()),
                           reset_s));
  r.headers.emplace_back("Retry-After", std::to_string(std::max<std::int64_t>(1, reset_s)));
  return r;
}

void aqua_service::add_rate_headers(http_response& r) const {
  if (opts_.rate_limit == 0) return;
  const auto left = rate_window_start_ + opts_.rate_window - clock::now();
  const auto reset_s = std::max<std::int64_t>(0, std::chrono::ceil<std::chrono::seconds>(left).count());
  r.headers.emplace_back("RateLimit-Limit",
                         fmt::format("{}, {};w={}", opts_.rate_limit, opts_.rate_limit, opts_.rate_window.count()));
  r.headers.emplace_back("RateLimit-Remaining", std::to_string(opts_.rate_limit - std::min(rate_count_, opts_.rate_limit)));
  r.headers.emplace_back("RateLimit-Reset", std::to_string(reset_s));
}

bool aqua_service::authorized(const http_request& req) {
  if (const std::string* auth = req.header("Authorization")) {
    const std::string_view a = *auth;
    const auto sp = a.find(' ');
    const std::string scheme = ascii_lower(a.substr(0, sp));
    std::string_view cred = sp == std::string_view::npos ? std::string_view{} : a.substr(sp + 1);
    while (!cred.empty() && cred.front() == ' ') cred.remove_prefix(1);
    if (scheme == "bearer") {
      const auto it = tokens_.find(std::string(cred));
      return it != tokens_.end() && it->second > clock::now();
    }
    if (scheme == "basic") {
      std::string decoded;
      if (!base64_decode(cred, decoded)) return false;
      const auto colon = decoded.find(':');
      if (colon == std::string::npos) return false;
      return decoded.substr(0, colon) == opts_.creds.access_key_id &&
             decoded.substr(colon + 1) == opts_.creds.secret_access_key;
    }
    return false;
  }
  const std::string* id = req.header("apiAccessKeyId");
  const std::string* secret = req.header("apiSecretAccessKey");
  return id && secret && *id == opts_.creds.access_key_id && *secret == opts_.creds.secret_access_key;
}

http_response aqua_service::route(const http_request& req, const std::string& path, const std::string& body) {
  const std::string& m = req.method;
  const bool get = m == "GET" || m == "HEAD";
  if (path == "/v1/batch-query" || path == "/v1/batch-query/") {
    if (m == "POST") return submit(req, path, body);
    return aqua_error(405, "90010", "Method not allowed; submit with POST");
  }
  constexpr std::string_view jobs_prefix = "/v1/batch-query/jobs/";
  if (starts_with(path, jobs_prefix)) {
    std::string_view rest = std::string_view{path}.substr(jobs_prefix.size());
    if (starts_with(rest, "partner/")) {
      rest.remove_prefix(8);
      const auto slash = rest.find("/project/");
      if (slash != std::string_view::npos && get)
        return last_completed(url_decode(rest.substr(0, slash), false), url_decode(rest.substr(slash + 9), false));
      return aqua_error(404, "90002", "Invalid Job Id");
    }
    const std::string id = url_decode(rest, false);
    if (get) return get_job(id);
    if (m == "DELETE") return cancel_job(id);
    return aqua_error(405, "90010", "Method not allowed");
  }
  for (std::string_view prefix : {"/v1/file/", "/v1/files/", "/v1/batch-query/file/"}) {
    if (starts_with(path, prefix)) {
      if (!get) return aqua_error(405, "90010", "Method not allowed");
      return download(req, path, url_decode(std::string_view(path).substr(prefix.size()), false));
    }
  }
  if (path == "/v1/describe" || path == "/v1/describe/") {
    if (!get) return aqua_error(405, "90010", "Method not allowed");
    return describe(req, {});
  }
  if (starts_with(path, "/v1/describe/")) {
    if (!get) return aqua_error(405, "90010", "Method not allowed");
    return describe(req, url_decode(std::string_view(path).substr(13), false));
  }
  if (path == "/v4/batch" || path == "/v4/batch/") {
    if (m == "POST") return json_batch_create(body);
    return aqua_error(405, "90010", "Method not allowed; create with POST");
  }
  if (starts_with(path, "/v4/batch/")) {
    const std::string id(std::string_view(path).substr(10));
    if (get) return json_batch_get(req, id);
    if (m == "DELETE") return json_batch_cancel(id);
    return aqua_error(405, "90010", "Method not allowed");
  }
  return reasons_error(404, 50000040, fmt::format("No route for {} {}", m, path));
}

http_response aqua_service::oauth_token(const http_request& req, const std::string& body) {
  if (req.method != "POST") return aqua_error(405, "90010", "Method not allowed; use POST");
  auto form = parse_form(body);
  // client_secret_basic: the client credentials may come in a Basic header instead.
  if (const std::string* auth = req.header("Authorization"); auth && !form.count("client_id")) {
    std::string decoded;
    if (ascii_lower(auth->substr(0, 6)) == "basic " && base64_decode(auth->substr(6), decoded)) {
      const auto colon = decoded.find(':');
      if (colon != std::string::npos) {
        form["client_id"] = url_decode(decoded.substr(0, colon), true);
        form["client_secret"] = url_decode(decoded.substr(colon + 1), true);
      }
    }
  }
  if (form["grant_type"] != "client_credentials")
    return json(400, R"({"error":"unsupported_grant_type","error_description":"grant_type must be client_credentials"})");
  if (form["client_id"] != opts_.creds.client_id || form["client_secret"] != opts_.creds.client_secret)
    return auth_error();
  const auto now = clock::now();
  std::erase_if(tokens_, [now](const auto& kv) { return kv.second <= now; });
  const std::string token = new_id();
  tokens_[token] = now + opts_.token_lifetime;
  json_writer w;
  w.begin_object()
      .member("access_token", token)
      .member("token_type", "bearer")
      .member("expires_in", static_cast<std::int64_t>(opts_.token_lifetime.count()))
      .member("scope", "user.00000000-0000-0000-0000-000000000001 entity.00000000-0000-0000-0000-000000000002 "
                       "service.emulator tenant.19")
      .member("jti", new_id())
      .end_object();
  return json(200, w.take());
}

// ---------------------------------------------------------------- jobs

http_response aqua_service::submit(const http_request& req, const std::string& path, const std::string& body) {
  const std::string* idem = req.header("Idempotency-Key");
  if (idem != nullptr) {
    if (idem->empty() || idem->size() > 255)
      return reasons_error(400, 50000040, "Idempotency-Key must be 1 to 255 characters");
    if (auto it = idempotency_.find(*idem); it != idempotency_.end()) {
      if (it->second.body != body)
        return reasons_error(422, 50000422,
                             "Idempotency-Key was already used with a different request body");
      http_response r = json(200, it->second.response);
      r.headers.emplace_back("Idempotent-Replayed", "true");
      return r;
    }
  }

  job j;
  if (auto e = parse_job_request(body, json_parser_, zone(), j.req))
    return aqua_error(e->http_status, e->code, e->message);
  const bool stateful = j.req.stateful();
  if (!j.req.partner.empty() && !opts_.partners.empty() &&
      std::find(opts_.partners.begin(), opts_.partners.end(), j.req.partner) == opts_.partners.end())
    return aqua_error(200, "90019", fmt::format("The partner '{}' is not recognized", j.req.partner));
  if (stateful) j.session_key = j.req.partner + '\n' + j.req.project;

  // A stateful follow-up without queries (or with useLastCompletedJobQueries)
  // reruns the session's last completed queries (§4.2).
  if (stateful) {
    auto s = sessions_.find(j.session_key);
    const std::vector<query_request>* prev =
        s != sessions_.end() && !s->second.last_completed.empty() ? &s->second.last_queries : nullptr;
    if (j.req.queries.empty()) {
      if (prev == nullptr)
        return aqua_error(200, "90016",
                          "There are no queries in the request, and the session has no completed job to reuse");
      j.req.queries = *prev;
    } else if (j.req.use_last_completed && prev != nullptr) {
      for (const query_request& q : *prev) {
        const bool replaced = std::any_of(j.req.queries.begin(), j.req.queries.end(),
                                          [&q](const query_request& n) { return n.name == q.name; });
        if (!replaced) j.req.queries.push_back(q);
      }
    }
  }
  if (active_jobs(stateful) >= opts_.max_active_jobs)
    return aqua_error(200, "90028",
                      fmt::format("Concurrent AQuA job limit exceeded: {} {} jobs are submitted or executing",
                                  opts_.max_active_jobs, stateful ? "stateful" : "stateless"));

  for (query_request& q : j.req.queries) {
    batch b;
    b.batch_id = new_id();
    b.q = std::move(q);
    j.batches.push_back(std::move(b));
  }
  j.req.queries.clear();
  j.id = new_id();
  j.submitted_at = clock::now();
  j.submit_unix_s = now_unix_s();
  if (auto abort = faults_.take(fault_kind::job_abort, req.method, path)) j.abort_message = abort->message;
  const std::string id = j.id;
  job& stored = jobs_[id] = std::move(j);

  if (stateful) {
    session& s = sessions_[stored.session_key];
    // More than 180 days since the session's last request: a full load again (§4.2).
    if (s.last_request_s != 0 && stored.submit_unix_s - s.last_request_s > 180 * 86400) {
      s.window_start_s.reset();
      s.queries.clear();
    }
    s.last_request_s = stored.submit_unix_s;
    plan_batches(stored, &s);  // provisional: redone when the job starts
    if (s.running) s.waiting.push_back(id);
    else start_job(stored);
  } else {
    start_job(stored);
  }
  std::string response = job_json(stored);
  if (idem != nullptr) idempotency_[*idem] = idempotent_submit{body, response};
  return json(200, std::move(response));
}

std::size_t aqua_service::active_jobs(bool stateful) const {
  return static_cast<std::size_t>(std::count_if(jobs_.begin(), jobs_.end(), [stateful](const auto& kv) {
    return !terminal(kv.second.status) && kv.second.session_key.empty() != stateful;
  }));
}

// Full or incremental per batch (§4.2): full for the session's first job, for
// a new query, a changed text or deleted spec (the 180-day rule clears the
// session in submit). DECISION: an explicit incrementalTime always gives an
// incremental load from that time.
void aqua_service::plan_batches(job& j, const session* s) const {
  const bool full_all = s == nullptr || !s->window_start_s || s->last_completed.empty();
  for (batch& b : j.batches) {
    if (full_all && !(s != nullptr && j.req.incremental_time_ms)) {
      b.full = true;
      continue;
    }
    if (s == nullptr) {
      b.full = true;
      continue;
    }
    const auto memo = s->queries.find(b.q.name);
    b.full = memo == s->queries.end() || memo->second.text != b.q.query ||
             memo->second.deleted_json != b.q.deleted_json;
    if (j.req.incremental_time_ms) b.full = false;  // an explicit window start is always incremental
  }
}

void aqua_service::start_job(job& j) {
  session* s = nullptr;
  if (!j.session_key.empty()) {
    s = &sessions_[j.session_key];
    s->running = j.id;
  }
  // Timestamps have whole seconds. A job never starts in the second of a
  // mutation: then every row of its snapshot has UpdatedDate < its start S,
  // and every later change has UpdatedDate >= S, so windows [S_prev, S) meet
  // exactly, without gaps or repeats.
  const auto wall = std::chrono::system_clock::now();
  const std::int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(wall.time_since_epoch()).count();
  if (last_mutation_s_ >= now_s) {
    j.start_pending = true;
    const auto into = wall.time_since_epoch() - std::chrono::seconds(now_s);
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(std::chrono::seconds(last_mutation_s_ - now_s + 1) - into);
    asio::co_spawn(io_, start_later(j.id, wait + std::chrono::milliseconds(2)), ignore_result{});
    return;
  }
  j.start_pending = false;
  j.started_at = clock::now();
  j.start_unix_s = now_s;
  plan_batches(j, s);

  // The window: [incrementalTime ?: last transaction start, now - offset).
  std::optional<std::int64_t> from;
  if (j.req.incremental_time_ms) from = *j.req.incremental_time_ms / 1000;
  else if (s != nullptr) from = s->window_start_s;
  const std::int64_t to = now_s - j.req.offset.value_or(0);

  std::vector<export_spec> specs;
  std::vector<std::string> stems;
  for (const batch& b : j.batches) {
    export_spec spec;
    spec.query = b.q.parsed;
    spec.name = b.q.name.empty() ? std::string(b.q.parsed.object->name) : b.q.name;
    spec.format = j.req.format;
    spec.use_query_labels = j.req.use_query_labels;
    spec.tz = j.req.date_time_utc ? time_zone::utc : time_zone::tenant;
    spec.zone = zone();
    spec.null_replacement = j.req.null_replacement;
    spec.deleted = b.q.deleted;
    if (!b.full) spec.incremental = time_window{from, to};
    spec.now_unix_s = now_s;
    spec.segment_rows = opts_.segment_rows;
    spec.crlf = opts_.crlf;
    spec.bom = opts_.bom;
    spec.zip_stream = opts_.zip_stream;
    spec.cancel = j.cancel.get();
    specs.push_back(std::move(spec));
    stems.push_back(b.batch_id);
  }
  const std::filesystem::path dir = data_dir_ / j.id;
  // The worker owns copies of everything it reads; `cancel` stays alive in the
  // lambda's shared_ptr even when the job is dropped by a reset.
  asio::post(*workers_, [this, id = j.id, snapshot = tenant_, specs = std::move(specs), stems = std::move(stems), dir,
                         cancel = j.cancel, io = io_]() mutable {
    export_outcome out;
    try {
      std::filesystem::create_directories(dir);
      for (std::size_t i = 0; i < specs.size(); ++i)
        out.files.push_back(write_result_files(snapshot, specs[i], dir, stems[i]));
    } catch (const export_cancelled&) {
      out.cancelled = true;
    } catch (const std::exception& e) {
      out.error = e.what();
    }
    if (cancel->load() || out.cancelled || out.error) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      out.files.clear();
    }
    asio::post(io, [this, id, out = std::move(out)]() mutable { on_generated(id, std::move(out)); });
  });
}

void aqua_service::on_generated(const std::string& job_id, export_outcome outcome) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {  // dropped by a reset while its export ran
    std::error_code ec;
    std::filesystem::remove_all(data_dir_ / job_id, ec);
    return;
  }
  job& j = it->second;
  if (terminal(j.status)) {  // cancelled while exporting
    std::error_code ec;
    std::filesystem::remove_all(data_dir_ / j.id, ec);
    return;
  }
  j.generated = true;
  if (outcome.error) {
    j.abort_message = fmt::format("90006: the result file could not be stored: {}", *outcome.error);
  } else {
    const auto now = std::chrono::system_clock::now();
    for (std::size_t i = 0; i < j.batches.size() && i < outcome.files.size(); ++i) {
      batch& b = j.batches[i];
      b.record_count = 0;
      for (written_file& f : outcome.files[i]) {
        const std::string fid = new_id();
        stored_file sf;
        sf.path = std::move(f.path);
        sf.name = std::move(f.name);
        sf.content_type = extension_type(sf.name, sf.gzip);
        sf.bytes = f.bytes;
        sf.created = now;
        b.record_count += f.rows;
        files_.emplace(fid, std::move(sf));
        b.file_ids.push_back(fid);
      }
    }
  }
  const auto due = j.started_at + opts_.latency;
  if (clock::now() >= due) finalize(j);
  else asio::co_spawn(io_, finalize_later(j.id, due), ignore_result{});
}

asio::awaitable<void> aqua_service::start_later(std::string job_id, std::chrono::milliseconds after) {
  asio::steady_timer t(io_, after);
  co_await t.async_wait(asio::use_awaitable);
  auto it = jobs_.find(job_id);
  if (it != jobs_.end() && it->second.start_pending && !terminal(it->second.status)) start_job(it->second);
}

asio::awaitable<void> aqua_service::finalize_later(std::string job_id, clock::time_point when) {
  asio::steady_timer t(io_, when);
  co_await t.async_wait(asio::use_awaitable);
  auto it = jobs_.find(job_id);
  if (it != jobs_.end()) refresh(it->second);
}

// The status clients see: submitted for the first half of the latency (and
// while waiting for the session), executing until the export is done and the
// latency has passed, then completed (or aborted).
void aqua_service::refresh(job& j) {
  if (terminal(j.status)) return;
  if (!j.start_unix_s) return;  // queued behind the session's running job
  const auto elapsed = clock::now() - j.started_at;
  if (j.generated && elapsed >= opts_.latency) {
    finalize(j);
  } else if (j.status == "submitted" && elapsed * 2 >= opts_.latency) {
    j.status = "executing";
    for (batch& b : j.batches) b.status = "executing";
  }
}

void aqua_service::finalize(job& j) {
  if (terminal(j.status)) return;
  if (j.abort_message) {
    j.status = "aborted";
    for (batch& b : j.batches) {
      b.status = "aborted";
      b.message = *j.abort_message;
    }
    std::vector<std::string> ids;
    for (batch& b : j.batches) {
      ids.insert(ids.end(), b.file_ids.begin(), b.file_ids.end());
      b.file_ids.clear();
      b.record_count = 0;
    }
    drop_files(ids);
  } else {
    j.status = "completed";
    for (batch& b : j.batches) b.status = "completed";
    if (!j.session_key.empty()) {
      session& s = sessions_[j.session_key];
      // DECISION (§7): a run with an explicit incrementalTime does not move the window.
      if (!j.req.incremental_time_ms || opts_.incremental_time_moves_window) s.window_start_s = j.start_unix_s;
      s.last_completed = j.id;
      s.last_queries.clear();
      s.queries.clear();
      for (const batch& b : j.batches) {
        s.last_queries.push_back(b.q);
        s.queries[b.q.name] = query_memo{b.q.query, b.q.deleted_json};
      }
    }
  }
  end_job(j);
}

void aqua_service::end_job(job& j) {
  if (!j.session_key.empty()) {
    session& s = sessions_[j.session_key];
    if (s.running == j.id) {
      s.running.reset();
      while (!s.waiting.empty()) {
        const std::string next = s.waiting.front();
        s.waiting.pop_front();
        auto it = jobs_.find(next);
        if (it == jobs_.end() || terminal(it->second.status)) continue;
        start_job(it->second);
        break;
      }
    } else {
      std::erase(s.waiting, j.id);
    }
  }
  if (!j.req.notify_url.empty()) {
    const std::string url = substitute_callout(j.req.notify_url, j.id, callout_status(j.status));
    asio::co_spawn(io_, callout(url), ignore_result{});
  }
}

asio::awaitable<void> aqua_service::callout(std::string url) {
  std::string outcome;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) {
      asio::steady_timer t(io_, std::chrono::milliseconds(200 * attempt));
      co_await t.async_wait(asio::use_awaitable);
    }
    try {
      const int status = co_await http_get_status(url, std::chrono::seconds(10));
      outcome = std::to_string(status);
      if (status >= 200 && status < 300) break;
    } catch (const std::exception& e) {
      outcome = fmt::format("error ({})", e.what());
    }
  }
  if (!outcome.empty() && outcome.front() == '2') ++callouts_sent_;
  else ++callouts_failed_;
  callout_log_.push_back(fmt::format("{} {}", outcome, url));
  if (callout_log_.size() > 100) callout_log_.erase(callout_log_.begin());
}

std::string aqua_service::job_json(const job& j) const {
  json_writer w;
  w.begin_object();
  w.key("batches").begin_array();
  for (const batch& b : j.batches) {
    w.begin_object();
    w.member("batchId", b.batch_id).member("name", b.q.name).member("query", b.q.query);
    w.member("batchType", b.q.type).member("apiVersion", b.q.api_version);
    w.member("status", b.status).member("localizedStatus", b.status);
    w.member("full", b.full).member("recordCount", b.record_count).member("message", b.message);
    if (!b.q.deleted_json.empty()) w.key("deleted").raw(b.q.deleted_json);
    if (b.file_ids.size() == 1) {
      w.member("fileId", b.file_ids.front());
    } else if (b.file_ids.size() > 1) {
      w.key("segments").begin_array();
      for (const auto& f : b.file_ids) w.value(f);
      w.end_array();
    }
    w.end_object();
  }
  w.end_array();
  const job_request& r = j.req;
  w.member("id", j.id).member("name", r.name).member("status", j.status);
  w.member("format", format_name(r.format)).member("version", r.version).member("encrypted", r.encrypted);
  w.member("sourceData", r.source_data).member("useLastCompletedJobQueries", r.use_last_completed);
  if (!r.partner.empty()) w.member("partner", r.partner);
  if (!r.project.empty()) w.member("project", r.project);
  if (r.offset) w.member("offset", *r.offset);
  if (r.incremental_time_ms) w.member("incrementalTime", *r.incremental_time_ms);
  if (!r.notify_url.empty()) w.member("notifyUrl", r.notify_url);
  const std::int64_t start = j.start_unix_s.value_or(j.submit_unix_s);
  w.member("startTime", opts_.iso_start_time ? format_datetime(start, time_zone::utc)
                                             : format_plain_datetime(start, tenant_offset_minutes(zone(), start)));
  w.end_object();
  return w.take();
}

http_response aqua_service::get_job(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return aqua_error(404, "90002", "Invalid Job Id");
  refresh(it->second);
  return json(200, job_json(it->second));
}

http_response aqua_service::cancel_job(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return aqua_error(404, "90002", "Invalid Job Id");
  job& j = it->second;
  refresh(j);
  if (j.status == "cancelled") return json(200, job_json(j));
  if (terminal(j.status)) return aqua_error(200, "90003", "Invalid Job Id for cancellation");
  j.status = "cancelled";
  j.cancel->store(true);
  std::vector<std::string> ids;
  for (batch& b : j.batches) {
    b.status = "cancelled";
    ids.insert(ids.end(), b.file_ids.begin(), b.file_ids.end());
    b.file_ids.clear();
  }
  drop_files(ids);
  end_job(j);
  return json(200, job_json(j));
}

http_response aqua_service::last_completed(const std::string& partner, const std::string& project) {
  auto s = sessions_.find(partner + '\n' + project);
  if (s != sessions_.end() && !s->second.last_completed.empty()) {
    auto it = jobs_.find(s->second.last_completed);
    if (it != jobs_.end()) return json(200, job_json(it->second));
  }
  return aqua_error(404, "90002", "Invalid Job Id: the session has no completed job");
}

// ---------------------------------------------------------------- files

void aqua_service::drop_files(const std::vector<std::string>& file_ids) {
  for (const std::string& id : file_ids) {
    auto it = files_.find(id);
    if (it == files_.end()) continue;
    std::error_code ec;
    std::filesystem::remove(it->second.path, ec);
    files_.erase(it);
  }
}

bool aqua_service::purge_if_expired(const std::string& file_id) {
  auto it = files_.find(file_id);
  if (it == files_.end()) return true;
  if (std::chrono::system_clock::now() - it->second.created < opts_.file_retention) return false;
  drop_files({file_id});
  return true;
}

http_response aqua_service::download(const http_request& req, const std::string& path, const std::string& file_id) {
  if (purge_if_expired(file_id)) return reasons_error(404, 50000040, "File not found");
  const stored_file& f = files_.at(file_id);
  if (opts_.max_concurrent_downloads != 0 && downloads_in_flight_ >= opts_.max_concurrent_downloads) {
    http_response busy = reasons_error(
        429, 50000070,
        "The total number of concurrent requests has exceeded the limit allowed by the system. Please resubmit your "
        "request later.");
    busy.headers.emplace_back("Retry-After", "120");
    return busy;
  }
  if (f.bytes > opts_.max_file_bytes) {
    http_response r;
    r.status = 403;
    r.content_type = "application/xml";
    r.set_body(fmt::format(
        R"(<?xml version="1.0" encoding="UTF-8"?>)"
        "\n<Error xmlns:security=\"http://www.zuora.com/security\"><Code>AccessDenied</Code>"
        "<Message>The file is larger than the maximum object size</Message>"
        "<security:max-object-size>{}MB</security:max-object-size></Error>\n",
        (opts_.max_file_bytes + (1u << 20) - 1) >> 20));
    return r;
  }
  http_response r;
  r.content_type = f.content_type;
  r.headers.emplace_back("Content-Disposition", fmt::format("attachment; filename=\"{}\"", header_safe(f.name)));
  try {
    r.file = std::make_shared<const open_file>(f.path.string());
  } catch (const std::system_error&) {
    drop_files({file_id});  // gone from disk (purged by hand): as purged
    return reasons_error(404, 50000040, "File not found");
  }
  r.body_size = r.file->size();
  ++downloads_in_flight_;
  r.in_flight = std::shared_ptr<void>(nullptr, [this](void*) { --downloads_in_flight_; });
  if (opts_.range_requests) r.headers.emplace_back("Accept-Ranges", "bytes");

  if (f.gzip && r.body_size > 18 && faults_.take(fault_kind::corrupt_gzip, req.method, path)) {
    // Flip bytes inside the deflate stream (after the 10-byte header, before
    // the 8-byte trailer): inflate fails or the CRC check does.
    const std::uint64_t lo = 10, hi = r.body_size - 8;
    for (std::uint64_t k = 1; k <= 8; ++k) r.corrupt_at.push_back(lo + (hi - lo) * k / 9);
  }

  const std::string* range = opts_.range_requests ? req.header("Range") : nullptr;
  if (range != nullptr) {
    std::uint64_t first = 0, last = 0;
    switch (parse_range(*range, r.body_size, first, last)) {
      case range_result::ignore: break;
      case range_result::unsatisfiable: {
        http_response e = aqua_error(416, "90010", "Range Not Satisfiable");
        e.headers.emplace_back("Content-Range", fmt::format("bytes */{}", r.body_size));
        return e;
      }
      case range_result::ok:
        r.status = 206;
        r.headers.emplace_back("Content-Range", fmt::format("bytes {}-{}/{}", first, last, r.body_size));
        r.body_offset = first;
        r.body_size = last - first + 1;
        break;
    }
  }
  return r;
}

http_response aqua_service::describe(const http_request& req, const std::string& object) {
  http_response r;
  r.content_type = "application/xml; charset=utf-8";
  if (object.empty()) {
    r.set_body(describe_list_xml(base_url(req)));
    return r;
  }
  auto xml = describe_object_xml(object, base_url(req));
  if (!xml) return reasons_error(404, 50000040, fmt::format("Unknown object {}", object));
  r.set_body(std::move(*xml));
  return r;
}

// ---------------------------------------------------------------- /v4/batch

http_response aqua_service::json_batch_create(const std::string& body) {
  simdjson::dom::element doc;
  const simdjson::padded_string padded(body);
  if (auto ec = json_parser_.parse(padded).get(doc))
    return reasons_error(400, 400, fmt::format("the body is not JSON ({})", simdjson::error_message(ec)));
  std::string_view text;
  if (doc["query"].get(text))
    return reasons_error(400, 400, R"(the body must be {"query":"select ... from <Object>"})");
  const std::size_t queued = static_cast<std::size_t>(std::count_if(
      json_batches_.begin(), json_batches_.end(),
      [](const auto& kv) { return kv.second.status == "Created" || kv.second.status == "InProgress"; }));
  if (queued >= 10) {
    http_response r = reasons_error(429, 429, "at most 10 batches may be queued or running");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  zoql_query q;
  std::string error;
  if (!parse_zoql(text, zoql_dialect::export_zoql, q, error))
    return reasons_error(400, 400, fmt::format("{}: {}", syntax_error_message, error));

  json_batch b;
  b.id = next_json_batch_++;
  b.status = "InProgress";
  export_spec spec;
  spec.query = std::move(q);
  spec.name = std::string(spec.query.object->name);
  spec.tz = time_zone::utc;
  spec.zone = zone();
  spec.now_unix_s = now_unix_s();
  spec.cancel = b.cancel.get();
  const std::string fid = new_id();
  const std::filesystem::path path = data_dir_ / "v4" / (fid + ".json");
  const std::int64_t bid = b.id;
  json_batches_[bid] = b;
  asio::post(*workers_, [this, bid, fid, path, spec = std::move(spec), snapshot = tenant_, cancel = b.cancel,
                         io = io_]() mutable {
    std::string failure;
    try {
      std::filesystem::create_directories(path.parent_path());
      write_batch_results_json(snapshot, spec, bid, "Complete", path);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    asio::post(io, [this, bid, fid, path, failure]() {
      auto it = json_batches_.find(bid);
      std::error_code ec;
      if (it == json_batches_.end() || it->second.status != "InProgress") {
        std::filesystem::remove(path, ec);
        return;
      }
      if (!failure.empty()) {
        it->second.status = "Errored";
        it->second.error = failure;
        std::filesystem::remove(path, ec);
        return;
      }
      stored_file sf;
      sf.path = path;
      sf.name = fmt::format("batch-{}.json", bid);
      sf.content_type = extension_type(sf.name, sf.gzip);
      sf.bytes = std::filesystem::file_size(path, ec);
      sf.created = std::chrono::system_clock::now();
      files_.emplace(fid, std::move(sf));
      it->second.file_id = fid;
      it->second.status = "Complete";
    });
  });
  return json(200, fmt::format(R"({{"batchId":{},"batchStatus":"Created"}})", bid));
}

http_response aqua_service::json_batch_get(const http_request& req, const std::string& id) {
  std::int64_t bid = 0;
  const auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), bid);
  auto it = ec == std::errc{} && p == id.data() + id.size() ? json_batches_.find(bid) : json_batches_.end();
  if (it == json_batches_.end()) return reasons_error(404, 404, fmt::format("Unknown batch {}", id));
  const json_batch& b = it->second;
  if (b.status == "Complete" && b.file_id) {
    http_response r = download(req, req.path, *b.file_id);
    if (r.status != 404) return r;
  }
  json_writer w;
  w.begin_object().member("batchId", b.id).member("batchStatus", b.status);
  if (!b.error.empty()) w.member("message", b.error);
  w.key("batchResults").begin_object().key("records").begin_object().end_object();
  w.key("relationships").begin_array().end_array().end_object().end_object();
  return json(200, w.take());
}

http_response aqua_service::json_batch_cancel(const std::string& id) {
  std::int64_t bid = 0;
  const auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), bid);
  auto it = ec == std::errc{} && p == id.data() + id.size() ? json_batches_.find(bid) : json_batches_.end();
  if (it == json_batches_.end()) return reasons_error(404, 404, fmt::format("Unknown batch {}", id));
  json_batch& b = it->second;
  if (b.status == "Created" || b.status == "InProgress") {
    b.status = "Cancelled";
    b.cancel->store(true);
  }
  return json(200, fmt::format(R"({{"batchId":{},"batchStatus":"{}"}})", b.id, b.status));
}

// ---------------------------------------------------------------- /_emulator

http_response aqua_service::mutate(const std::string& body) {
  simdjson::dom::element doc;
  const simdjson::padded_string padded(body);
  if (auto ec = json_parser_.parse(padded).get(doc))
    return reasons_error(400, 400, fmt::format("the body is not JSON ({})", simdjson::error_message(ec)));
  mutation_request m;
  std::string_view object;
  if (doc["object"].get(object)) return reasons_error(400, 400, R"(the body needs "object")");
  m.object = std::string(object);
  const auto count = [&doc](std::string_view key, std::uint64_t& out) {
    simdjson::dom::element v;
    if (doc[key].get(v)) return true;
    std::int64_t n = 0;
    if (v.get(n) || n < 0) return false;
    out = static_cast<std::uint64_t>(n);
    return true;
  };
  const auto ids = [&doc](std::string_view key, std::vector<std::string>& out) {
    simdjson::dom::element v;
    if (doc[key].get(v)) return true;
    simdjson::dom::array a;
    if (v.get(a)) return false;
    for (simdjson::dom::element e : a) {
      std::string_view s;
      if (e.get(s)) return false;
      out.emplace_back(s);
    }
    return true;
  };
  if (!count("create", m.create) || !count("update", m.update) || !count("delete", m.remove))
    return reasons_error(400, 400, "create, update and delete must be non-negative integers");
  if (!ids("update_ids", m.update_ids) || !ids("delete_ids", m.delete_ids))
    return reasons_error(400, 400, "update_ids and delete_ids must be arrays of ids");
  mutation_outcome out;
  std::string error;
  const std::int64_t now_s = now_unix_s();
  if (!apply_mutation(tenant_, m, now_s, out, error)) return reasons_error(400, 400, error);
  tenant_ = std::move(out.state);
  last_mutation_s_ = now_s;
  json_writer w;
  w.begin_object().member("status", "ok").member("object", m.object);
  const auto list = [&w](std::string_view key, const std::vector<std::string>& v) {
    w.key(key).begin_array();
    for (const auto& s : v) w.value(s);
    w.end_array();
  };
  list("created", out.created_ids);
  list("updated", out.updated_ids);
  list("deleted", out.deleted_ids);
  w.end_object();
  return json(200, w.take());
}

http_response aqua_service::stats() {
  json_writer w;
  w.begin_object();
  w.key("requests").begin_object();
  for (const auto& [path, by_status] : requests_) {
    w.key(path).begin_object();
    for (const auto& [status, n] : by_status) w.member(std::to_string(status), n);
    w.end_object();
  }
  w.end_object();
  std::map<std::string, std::uint64_t> by_job_status;
  for (auto& [id, j] : jobs_) {
    refresh(j);
    ++by_job_status[j.status];
  }
  w.key("jobs").begin_object();
  for (const auto& [status, n] : by_job_status) w.member(status, n);
  w.end_object();
  w.member("active_stateless", static_cast<std::uint64_t>(active_jobs(false)));
  w.member("active_stateful", static_cast<std::uint64_t>(active_jobs(true)));
  w.member("files", static_cast<std::uint64_t>(files_.size()));
  w.member("downloads_in_flight", static_cast<std::uint64_t>(downloads_in_flight_));
  w.member("bytes_served", bytes_served_);
  w.member("faults_armed", static_cast<std::uint64_t>(faults_.size()));
  w.key("callouts").begin_object().member("sent", callouts_sent_).member("failed", callouts_failed_);
  w.key("log").begin_array();
  for (const auto& line : callout_log_) w.value(line);
  w.end_array().end_object();
  w.end_object();
  return json(200, w.take());
}

http_response aqua_service::reset() {
  for (auto& [id, j] : jobs_) j.cancel->store(true);
  for (auto& [id, b] : json_batches_) b.cancel->store(true);
  jobs_.clear();
  sessions_.clear();
  std::vector<std::string> ids;
  for (const auto& [id, f] : files_) ids.push_back(id);
  drop_files(ids);
  json_batches_.clear();
  idempotency_.clear();
  faults_.clear();
  requests_.clear();
  bytes_served_ = 0;
  callouts_sent_ = callouts_failed_ = 0;
  callout_log_.clear();
  rate_count_ = 0;
  rate_window_start_ = clock::now();
  tenant_ = make_tenant(opts_.seed, opts_.scale);
  return json(200, R"({"status":"ok"})");
}

// Purges result files now, as the retention period would: all of them, or
// those of {"job":"<id>"}.
http_response aqua_service::purge(const std::string& body) {
  std::vector<std::string> ids;
  std::string job_id;
  if (!body.empty()) {
    simdjson::dom::element doc;
    const simdjson::padded_string padded(body);
    std::string_view s;
    if (json_parser_.parse(padded).get(doc) || (!doc["job"].get(s) && (job_id = std::string(s)).empty()))
      return reasons_error(400, 400, R"(the body must be empty or {"job":"<id>"})");
  }
  if (job_id.empty()) {
    for (const auto& [id, f] : files_) ids.push_back(id);
  } else {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return aqua_error(404, "90002", "Invalid Job Id");
    for (const batch& b : it->second.batches) ids.insert(ids.end(), b.file_ids.begin(), b.file_ids.end());
  }
  drop_files(ids);
  return json(200, fmt::format(R"({{"status":"ok","purged":{}}})", ids.size()));
}

http_response aqua_service::control(const http_request& req, const std::string& path, const std::string& body) {
  const std::string& m = req.method;
  if (path == "/_emulator/faults") {
    if (m == "DELETE") {
      faults_.clear();
      return json(200, R"({"status":"ok","armed":0})");
    }
    if (m != "POST") return aqua_error(405, "90010", "Method not allowed; use POST or DELETE");
    std::string error;
    if (!faults_.add_json(body, error)) {
      json_writer w;
      w.begin_object().member("status", "error").member("message", error).end_object();
      return json(400, w.take());
    }
    return json(200, fmt::format(R"({{"status":"ok","armed":{}}})", faults_.size()));
  }
  if (path == "/_emulator/reset") {
    if (m != "POST") return aqua_error(405, "90010", "Method not allowed; use POST");
    return reset();
  }
  if (path == "/_emulator/stats") {
    if (m != "GET") return aqua_error(405, "90010", "Method not allowed; use GET");
    return stats();
  }
  if (path == "/_emulator/mutate") {
    if (m != "POST") return aqua_error(405, "90010", "Method not allowed; use POST");
    return mutate(body);
  }
  if (path == "/_emulator/purge") {
    if (m != "POST") return aqua_error(405, "90010", "Method not allowed; use POST");
    return purge(body);
  }
  return aqua_error(404, "90010", fmt::format("No emulator endpoint {}", path));
}

}  // namespace aquaduct::emulator

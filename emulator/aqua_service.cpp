// aqua_service: dispatch, auth, rate limits, OAuth, result files and describe.
// Jobs live in aqua_jobs.cpp, /v4/batch and /_emulator/* in aqua_admin.cpp.
#include "emulator/aqua_service.hpp"
#include "emulator/pgp_encrypt.hpp"

#include <algorithm>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "emulator/ascii.hpp"
#include "emulator/churn.hpp"
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

bool compressible(std::string_view content_type) {
  return content_type.find("json") != std::string_view::npos || content_type.find("xml") != std::string_view::npos ||
         starts_with(content_type, "text/");
}

tenant_zone center_zone_of(const options& o) {
  return o.region == data_center::eu || o.utc_tenant ? tenant_zone::utc : tenant_zone::pacific;
}

tenant_zone tenant_zone_of(const options& o) {
  if (o.tz.empty()) return center_zone_of(o);
  const auto z = tenant_zone::find(o.tz);
  if (!z)
    throw std::invalid_argument(
        fmt::format("unknown time zone '{}': use an IANA zone name such as Asia/Tokyo, or UTC", o.tz));
  return *z;
}

}  // namespace

bool known_time_zone(std::string_view name) { return tenant_zone::find(name).has_value(); }

aqua_service::aqua_service(options opts, asio::any_io_executor io)
    : opts_(std::move(opts)),
      io_(std::move(io)),
      workers_(std::make_unique<asio::thread_pool>(std::max<std::size_t>(1, opts_.worker_threads))),
      tenant_tz_(tenant_zone_of(opts_)),
      center_tz_(center_zone_of(opts_)),
      tenant_(make_tenant(opts_.seed, opts_.scale, bursts_of(opts_))),
      tenant_before_second_(tenant_),
      faults_(opts_.seed),
      rate_window_start_(clock::now()) {
  if (!(opts_.churn_rate >= 0) || opts_.churn_rate > max_churn_rate)
    throw std::invalid_argument(fmt::format("churn rate {} is not a number of mutations per second from 0 to {}",
                                            opts_.churn_rate, max_churn_rate));
  set_churn(opts_.churn_rate, opts_.churn_seed.value_or(opts_.seed), true);
  if (!opts_.pgp_public_key.empty()) pgp_public_key_ = read_pgp_public_key(opts_.pgp_public_key);
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
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
         clock_offset_s_;
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
    else if (auto bad = scope_error(req)) resp = std::move(*bad);
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

// ---------------------------------------------------------------- entities, orgs

namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool listed(const std::vector<std::string>& ids, std::string_view id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

std::optional<http_response> aqua_service::scope_error(const http_request& req) const {
  if (const std::string* h = req.header("Zuora-Entity-Ids"); !opts_.entities.empty()) {
    const std::string_view id = h ? trimmed(*h) : std::string_view{};
    if (id.empty() && opts_.entities.size() > 1)
      return reasons_error(400, 50000022,
                           "Zuora-Entity-Ids is required: the tenant has several entities; name the one to act in");
    if (id.find(',') != std::string_view::npos)
      return reasons_error(400, 50000020, fmt::format("Zuora-Entity-Ids must name one entity, not '{}'", id));
    if (!id.empty() && !listed(opts_.entities, id))
      return reasons_error(400, 50000020, fmt::format("Zuora-Entity-Ids: '{}' is not an entity of this tenant", id));
  }
  if (const std::string* h = req.header("Zuora-Org-Ids"); h != nullptr && !opts_.orgs.empty()) {
    std::string_view rest = *h;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view id = trimmed(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (id.empty() || !listed(opts_.orgs, id))
        return reasons_error(403, 50000010, fmt::format("Zuora-Org-Ids: no access to org '{}'", id));
    }
  }
  return std::nullopt;
}

std::string aqua_service::entity_of(const http_request& req) const {
  if (opts_.entities.empty()) return {};
  const std::string* h = req.header("Zuora-Entity-Ids");
  const std::string_view id = h ? trimmed(*h) : std::string_view{};
  return std::string(id.empty() ? std::string_view{opts_.entities.front()} : id);
}

std::string aqua_service::session_key_of(const std::string& entity, const std::string& partner,
                                         const std::string& project) {
  return entity.empty() ? partner + '\n' + project : entity + '\n' + partner + '\n' + project;
}

// ---------------------------------------------------------------- job retention

void aqua_service::forget_old_jobs() {
  const std::int64_t cutoff = now_unix_s() - 180 * 86400;
  while (!job_order_.empty() && job_order_.front().first <= cutoff) {
    const std::string id = std::move(job_order_.front().second);
    job_order_.pop_front();
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    refresh(it->second);
    // A job still queued or running half a year on keeps its metadata until
    // it ends (the emulator only gets there by POST /_emulator/clock).
    if (!terminal(it->second.status)) continue;
    std::vector<std::string> files;
    for (const batch& b : it->second.batches) files.insert(files.end(), b.file_ids.begin(), b.file_ids.end());
    drop_files(files);
    jobs_.erase(it);
  }
}

http_response aqua_service::route(const http_request& req, const std::string& path, const std::string& body) {
  const std::string& m = req.method;
  const bool get = m == "GET" || m == "HEAD";
  forget_old_jobs();
  const std::string entity = entity_of(req);
  // Another entity's job is unknown here, as one that never existed.
  const auto foreign = [&](const std::string& id) {
    auto it = jobs_.find(id);
    return it != jobs_.end() && it->second.entity != entity;
  };
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
        return last_completed(session_key_of(entity, url_decode(rest.substr(0, slash), false),
                                             url_decode(rest.substr(slash + 9), false)));
      return aqua_error(404, "90002", "Invalid Job Id");
    }
    const std::string id = url_decode(rest, false);
    if (foreign(id)) return aqua_error(404, "90002", "Invalid Job Id");
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
  if (f.name.ends_with(".pgp") && r.body_size > 64 && faults_.take(fault_kind::corrupt_pgp, req.method, path)) {
    // Flip bytes in the encrypted data, well past the session-key packet:
    // the message decrypts to garbage and fails its integrity check.
    const std::uint64_t lo = r.body_size / 2, hi = r.body_size;
    for (std::uint64_t k = 1; k <= 8; ++k) r.corrupt_at.push_back(lo + (hi - lo) * k / 9);
  }
  if (auto cut = faults_.take(fault_kind::cut_file, req.method, path)) r.body_size = std::min(r.body_size, cut->bytes);

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

bool aqua_service::terminal(std::string_view status) {
  return status == "completed" || status == "aborted" || status == "cancelled" || status == "failed";
}

std::string aqua_service::extension_type(const std::string& name, bool& gzip) {
  gzip = false;
  if (name.ends_with(".pgp")) return "application/pgp-encrypted";
  if (name.ends_with(".gz")) {
    gzip = true;
    return "application/gzip";
  }
  if (name.ends_with(".zip")) return "application/zip";
  if (name.ends_with(".json")) return "application/json; charset=utf-8";
  return "text/csv; charset=utf-8";
}

}  // namespace aquaduct::emulator

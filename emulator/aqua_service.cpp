#include "emulator/aqua_service.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

#include "emulator/json_writer.hpp"
#include "emulator/result_writer.hpp"
#include "emulator/tenant.hpp"

namespace aquaduct::emulator {

namespace {

constexpr std::string_view syntax_error_message =
    "There is a syntax error in one of the queries in the AQuA input";

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return r;
}

std::string to_upper(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return r;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool is_hex_id(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// "/v1/batch-query/jobs/2c92...": replace id-like segments so stats stay small.
std::string stats_key(std::string_view path) {
  std::string out;
  while (!path.empty()) {
    const auto slash = path.find('/', 1);
    std::string_view seg = path.substr(0, slash);
    if (seg.size() > 1 && is_hex_id(seg.substr(1))) out += "/{id}";
    else out += seg;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

bool base64_decode(std::string_view in, std::string& out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  out.clear();
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = val(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xffu);
    }
  }
  return true;
}

int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_val(s[i + 1]) >= 0 && hex_val(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_val(s[i + 1]) * 16 + hex_val(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_form(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos) out[url_decode(pair.substr(0, eq))] = url_decode(pair.substr(eq + 1));
    else if (!pair.empty()) out[url_decode(pair)] = "";
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return out;
}

// JSON boolean or the strings "true"/"false" (any case). False when absent.
bool read_bool(simdjson::dom::object o, std::string_view key, bool& out, std::string& error) {
  simdjson::dom::element v;
  if (o[key].get(v)) return true;  // absent: keep default
  if (v.is_null()) return true;
  bool b = false;
  if (!v.get(b)) {
    out = b;
    return true;
  }
  std::string_view s;
  if (!v.get(s)) {
    const std::string l = to_lower(s);
    if (l == "true" || l == "false") {
      out = l == "true";
      return true;
    }
  }
  error = fmt::format("'{}' must be true or false", key);
  return false;
}

// Optional string member; false (and `error`) when present but not a string.
bool read_string(simdjson::dom::object o, std::string_view key, std::optional<std::string>& out,
                 std::string& error) {
  simdjson::dom::element v;
  if (o[key].get(v) || v.is_null()) return true;
  std::string_view s;
  if (v.get(s)) {
    error = fmt::format("'{}' must be a string", key);
    return false;
  }
  out = std::string(s);
  return true;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "YYYY-MM-DD HH:MM:SS" in the tenant's time zone -> unix milliseconds.
bool parse_incremental_time(std::string_view s, std::int64_t& ms) {
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':')
    return false;
  auto num = [&s](std::size_t pos, std::size_t len, unsigned& out) {
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return ec == std::errc{} && p == s.data() + pos + len;
  };
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, se))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) return false;
  const std::int64_t local = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
  ms = (local - tenant_utc_offset_minutes * 60) * 1000;
  return true;
}

enum class range_result { ignore, ok, unsatisfiable };

// A single byte range: "bytes=a-b", "bytes=a-", "bytes=-n". Multiple ranges
// and other units are ignored (the whole file is sent, as RFC 9110 allows).
range_result parse_range(std::string_view rv, std::uint64_t size, std::uint64_t& first, std::uint64_t& last) {
  if (!starts_with(rv, "bytes=") || rv.find(',') != std::string_view::npos) return range_result::ignore;
  const std::string_view spec = rv.substr(6);
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return range_result::ignore;
  const auto num = [](std::string_view s, std::uint64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
  };
  std::uint64_t a = 0, b = 0;
  if (dash == 0) {  // suffix: the last b bytes
    if (!num(spec.substr(1), b)) return range_result::ignore;
    if (b == 0 || size == 0) return range_result::unsatisfiable;
    first = b >= size ? 0 : size - b;
    last = size - 1;
    return range_result::ok;
  }
  if (!num(spec.substr(0, dash), a)) return range_result::ignore;
  if (dash + 1 < spec.size()) {
    if (!num(spec.substr(dash + 1), b) || b < a) return range_result::ignore;
  } else {
    b = UINT64_MAX;
  }
  if (a >= size) return range_result::unsatisfiable;
  first = a;
  last = std::min<std::uint64_t>(b, size - 1);
  return range_result::ok;
}

bool terminal(std::string_view status) {
  return status == "completed" || status == "aborted" || status == "cancelled" || status == "failed";
}

}  // namespace

aqua_service::aqua_service(options opts)
    : opts_(std::move(opts)), tenant_(opts_.seed, opts_.scale), faults_(opts_.seed) {
  if (!opts_.faults_json.empty()) {
    std::string error;
    if (!faults_.add_json(opts_.faults_json, error)) throw std::invalid_argument("faults: " + error);
  }
  // Ids differ between runs of one process and between processes, so a client
  // cannot mistake one emulator's job for another's.
  id_counter_ = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

std::string aqua_service::new_id() {
  std::uint64_t s = id_counter_++;
  const std::uint64_t a = splitmix(s);
  const std::uint64_t b = splitmix(s);
  return fmt::format("{:016x}{:016x}", a, b);
}

std::string aqua_service::request_id() {
  const std::string h = new_id();
  return fmt::format("{}-{}-{}-{}-{}", h.substr(0, 8), h.substr(8, 4), h.substr(12, 4), h.substr(16, 4),
                     h.substr(20, 12));
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
  json_writer w;
  w.begin_object().member("success", false);
  w.key("reasons").begin_array().begin_object();
  w.member("code", status).member("message", message);
  w.end_object().end_array().end_object();
  http_response r = json(status, w.take());
  r.close = true;
  return r;
}

http_response aqua_service::handle(const http_request& req) {
  // Legacy base /apps/api/... is an alias of /v1/...
  std::string path = req.path;
  if (starts_with(path, "/apps/api/")) path = "/v1/" + path.substr(10);

  http_response resp;
  if (starts_with(path, "/_emulator/")) {
    resp = control(req, path);  // never subject to faults, never authenticated
  } else if (auto st = faults_.take(fault_kind::status, req.method, path)) {
    if (st->body) {
      resp = json(st->code, *st->body);
    } else {
      json_writer w;
      w.begin_object().member("success", false).key("reasons").begin_array().begin_object();
      w.member("code", st->code).member("message", fmt::format("emulated fault: HTTP {}", st->code));
      w.end_object().end_array().end_object();
      resp = json(st->code, w.take());
    }
    if (st->retry_after_s) resp.headers.emplace_back("Retry-After", std::to_string(*st->retry_after_s));
  } else if (faults_.take(fault_kind::token_expired, req.method, path)) {
    resp = auth_error();
    resp.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\", error_description=\"expired\"");
  } else if (path == "/oauth/token") {
    resp = oauth_token(req);
  } else if (!authorized(req)) {
    resp = auth_error();
  } else {
    resp = route(req, path);
  }

  if (!starts_with(path, "/_emulator/")) {
    if (auto f = faults_.take(fault_kind::truncate, req.method, path)) resp.faults.truncate_at = f->bytes;
    if (auto f = faults_.take(fault_kind::reset_after_bytes, req.method, path)) resp.faults.reset_at = f->bytes;
    if (auto f = faults_.take(fault_kind::stall, req.method, path)) {
      resp.faults.stall_after = f->after_bytes;
      resp.faults.stall_ms = std::chrono::milliseconds(f->ms);
    }
  }

  resp.headers.emplace_back("Zuora-Request-Id", request_id());
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

bool aqua_service::authorized(const http_request& req) const {
  if (const std::string* auth = req.header("Authorization")) {
    const std::string_view a = *auth;
    const auto sp = a.find(' ');
    const std::string scheme = to_lower(a.substr(0, sp));
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

http_response aqua_service::route(const http_request& req, const std::string& path) {
  const std::string& m = req.method;
  const bool get = m == "GET" || m == "HEAD";
  if (path == "/v1/batch-query" || path == "/v1/batch-query/") {
    if (m == "POST") return submit(req, path);
    return aqua_error(405, "90010", "Method not allowed; submit with POST");
  }
  constexpr std::string_view jobs_prefix = "/v1/batch-query/jobs/";
  if (starts_with(path, jobs_prefix)) {
    std::string_view rest = std::string_view{path}.substr(jobs_prefix.size());
    if (starts_with(rest, "partner/")) {
      rest.remove_prefix(8);
      const auto slash = rest.find("/project/");
      if (slash != std::string_view::npos && get)
        return last_completed(url_decode(rest.substr(0, slash)), url_decode(rest.substr(slash + 9)));
      return aqua_error(404, "90002", "Invalid Job Id");
    }
    const std::string id(rest);
    if (get) return get_job(id);
    if (m == "DELETE") return cancel_job(id);
    return aqua_error(405, "90010", "Method not allowed");
  }
  for (std::string_view prefix : {"/v1/file/", "/v1/files/", "/v1/batch-query/file/"}) {
    if (starts_with(path, prefix)) {
      if (!get) return aqua_error(405, "90010", "Method not allowed");
      return download(req, path, path.substr(prefix.size()));
    }
  }
  json_writer w;
  w.begin_object().member("success", false).key("reasons").begin_array().begin_object();
  w.member("code", 50000040).member("message", fmt::format("No route for {} {}", m, path));
  w.end_object().end_array().end_object();
  return json(404, w.take());
}

http_response aqua_service::oauth_token(const http_request& req) {
  if (req.method != "POST") return aqua_error(405, "90010", "Method not allowed; use POST");
  auto form = parse_form(req.body);
  // client_secret_basic: the client credentials may come in a Basic header instead.
  if (const std::string* auth = req.header("Authorization"); auth && !form.count("client_id")) {
    std::string decoded;
    if (to_lower(auth->substr(0, 6)) == "basic " && base64_decode(auth->substr(6), decoded)) {
      const auto colon = decoded.find(':');
      if (colon != std::string::npos) {
        form["client_id"] = url_decode(decoded.substr(0, colon));
        form["client_secret"] = url_decode(decoded.substr(colon + 1));
      }
    }
  }
  if (form["grant_type"] != "client_credentials") {
    return json(400, R"({"error":"unsupported_grant_type","error_description":"grant_type must be client_credentials"})");
  }
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

http_response aqua_service::submit(const http_request& req, const std::string& path) {
  simdjson::dom::element doc;
  simdjson::padded_string padded(req.body);
  if (auto ec = json_parser_.parse(padded).get(doc))
    return aqua_error(400, "90005", fmt::format("Malformed request: body is not JSON ({})", simdjson::error_message(ec)));
  simdjson::dom::object o;
  if (doc.get(o)) return aqua_error(400, "90005", "Malformed request: body must be a JSON object");

  const auto invalid = [](std::string_view code, std::string_view message) {
    return aqua_error(200, code, message);
  };
  std::string error;
  job j;

  std::optional<std::string> name, format, encrypted, partner, project, notify, null_repl, source, incremental;
  if (!read_string(o, "name", name, error) || !read_string(o, "format", format, error) ||
      !read_string(o, "encrypted", encrypted, error) || !read_string(o, "partner", partner, error) ||
      !read_string(o, "project", project, error) || !read_string(o, "notifyUrl", notify, error) ||
      !read_string(o, "nullReplacement", null_repl, error) || !read_string(o, "sourceData", source, error) ||
      !read_string(o, "incrementalTime", incremental, error))
    return invalid("90005", error);
  if (!read_bool(o, "useQueryLabels", j.use_query_labels, error) ||
      !read_bool(o, "dateTimeUtc", j.date_time_utc, error) ||
      !read_bool(o, "useLastCompletedJobQueries", j.use_last_completed, error))
    return invalid("90005", error);

  if (name && name->size() > 32)
    return invalid("90005", fmt::format("The job name must be at most 32 characters (got {})", name->size()));
  j.name = name.value_or("");

  const std::string fmt_l = to_lower(format.value_or("csv"));
  if (fmt_l == "zip")
    return invalid("90005", "format 'zip' is not supported by the emulator yet; use csv or gzip");
  if (fmt_l != "csv" && fmt_l != "gzip")
    return invalid("90005", fmt::format("Malformed request: invalid format '{}' (csv, zip or gzip)", *format));
  j.format = to_upper(fmt_l);

  j.version = "1.0";
  simdjson::dom::element ver;
  if (!o["version"].get(ver) && !ver.is_null()) {
    std::string v;
    std::string_view sv;
    double d = 0;
    if (!ver.get(sv)) v = std::string(sv);
    else if (!ver.get(d)) v = d == 1.0 ? "1.0" : d == 1.1 ? "1.1" : d == 1.2 ? "1.2" : "?";
    if (v == "1") v = "1.0";
    if (v != "1.0" && v != "1.1" && v != "1.2")
      return invalid("90005", "Malformed request: version must be 1.0, 1.1 or 1.2");
    j.version = v;
  }

  if (encrypted) {
    const std::string e = to_lower(*encrypted);
    if (e == "pgp") return invalid("90005", "PGP encryption requires a public key, and the tenant has none");
    if (e != "none") return invalid("90005", "Malformed request: encrypted must be none or pgp");
  }
  if (notify && notify->size() >= 5000) return invalid("90014", "The notifyUrl is too long (5000 characters or more)");
  j.notify_url = notify.value_or("");
  j.partner = partner.value_or("");
  j.project = project.value_or("");
  j.null_replacement = null_repl.value_or("");
  if (source) {
    const std::string s = to_upper(*source);
    if (s != "LIVE" && s != "WAREHOUSE") return invalid("90005", "Malformed request: sourceData must be LIVE or WAREHOUSE");
    j.source_data = s;
  }
  simdjson::dom::element off;
  if (!o["offset"].get(off) && !off.is_null()) {
    std::int64_t n = -1;
    if (off.get(n) || n < 0 || n > 3600) return invalid("90005", "offset must be an integer between 0 and 3600");
    j.offset = n;
  }
  if (incremental) {
    std::int64_t ms = 0;
    if (!parse_incremental_time(*incremental, ms))
      return invalid("90015", "Invalid incrementalTime; expected YYYY-MM-DD HH:MM:SS");
    j.incremental_time_ms = ms;
  }
  const bool stateful = j.version != "1.0" && !j.partner.empty() && !j.project.empty();

  simdjson::dom::array queries;
  simdjson::dom::element qel;
  if (!o["queries"].get(qel) && !qel.is_null() && qel.get(queries))
    return invalid("90005", "Malformed request: queries must be an array");
  const std::size_t nq = qel.is_array() ? queries.size() : 0;
  if (nq > 50) return invalid("90004", fmt::format("A job may have at most 50 queries; this one has {}", nq));
  if (nq == 0)
    return invalid("90016", "There are no queries in the request (the emulator needs queries in every job so far)");

  for (simdjson::dom::element qe : queries) {
    simdjson::dom::object q;
    if (qe.get(q)) return invalid("90005", "Malformed request: each query must be a JSON object");
    batch b;
    std::optional<std::string> qname, qtext, qtype, api;
    if (!read_string(q, "name", qname, error) || !read_string(q, "query", qtext, error) ||
        !read_string(q, "type", qtype, error) || !read_string(q, "apiVersion", api, error))
      return invalid("90005", error);
    b.name = qname.value_or("");
    if (!qtext) return invalid("90005", fmt::format("{}: query '{}' has no query text", syntax_error_message, b.name));
    b.query = *qtext;
    b.type = to_lower(qtype.value_or("zoqlexport"));
    if (b.type != "zoqlexport" && b.type != "zoql")
      return invalid("90005", fmt::format("{}: query '{}' has type '{}' (zoqlexport or zoql)", syntax_error_message,
                                          b.name, *qtype));
    b.api_version = api.value_or("91.0");
    if (b.type == "zoqlexport" && b.query.size() > 20000)
      return invalid("90005", fmt::format("{}: query '{}' is longer than 20000 characters", syntax_error_message, b.name));
    std::string zerr;
    if (!parse_zoql(b.query, b.type == "zoql" ? zoql_dialect::plain_zoql : zoql_dialect::export_zoql, b.parsed, zerr))
      return invalid("90005", fmt::format("{}: query '{}': {}", syntax_error_message, b.name, zerr));

    simdjson::dom::element del;
    if (!q["deleted"].get(del) && !del.is_null()) {
      simdjson::dom::object d;
      std::optional<std::string> column, dformat;
      bool force = false;
      if (del.get(d) || !read_string(d, "column", column, error) || !read_string(d, "format", dformat, error) ||
          !read_bool(d, "forceExport", force, error) || !column || column->empty())
        return invalid("90005", fmt::format("Malformed request: query '{}': deleted must be "
                                            "{{\"column\":..., \"format\":\"Boolean\"|\"Numeric\"}}",
                                            b.name));
      if (dformat && *dformat != "Boolean" && *dformat != "Numeric")
        return invalid("90005", fmt::format("Malformed request: query '{}': deleted format must be Boolean or Numeric",
                                            b.name));
      if (!stateful && !force)
        return invalid("90012", fmt::format("Stateless mode does not support deleted records for query '{}' "
                                            "unless forceExport is true",
                                            b.name));
      b.deleted_column = *column;
      b.deleted_numeric = dformat && *dformat == "Numeric";
      b.deleted_json = simdjson::minify(del);
    }
    b.batch_id = new_id();
    j.batches.push_back(std::move(b));
  }

  j.id = new_id();
  j.submitted_at = clock::now();
  j.start_unix_s = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  if (auto abort = faults_.take(fault_kind::job_abort, req.method, path)) j.abort_message = abort->message;
  const std::string id = j.id;
  job_order_.push_back(id);
  auto& stored = jobs_[id] = std::move(j);
  return json(200, job_json(stored));
}

void aqua_service::refresh(job& j) {
  if (terminal(j.status)) return;
  const auto elapsed = clock::now() - j.submitted_at;
  if (elapsed >= opts_.latency) {
    if (j.abort_message) {
      j.status = "aborted";
      for (batch& b : j.batches) {
        b.status = "aborted";
        b.message = *j.abort_message;
      }
    } else {
      complete(j);
    }
  } else if (elapsed * 2 >= opts_.latency) {
    j.status = "executing";
    for (batch& b : j.batches) b.status = "executing";
  }
}

void aqua_service::complete(job& j) {
  const bool gzip = j.format == "GZIP";
  for (batch& b : j.batches) {
    result_spec spec;
    spec.object = b.parsed.object;
    spec.fields = b.parsed.fields;
    spec.offset = b.parsed.offset;
    spec.limit = b.parsed.limit;
    spec.use_query_labels = j.use_query_labels;
    spec.tz = j.date_time_utc ? time_zone::utc : time_zone::tenant;
    spec.null_replacement = j.null_replacement;
    if (b.deleted_column) spec.deleted = deleted_column{*b.deleted_column, b.deleted_numeric};
    spec.segment_rows = opts_.segment_rows;
    spec.gzip = gzip;
    std::vector<result_file> files = write_result(tenant_, spec);
    b.record_count = 0;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const std::string fid = new_id();
      b.record_count += files[i].rows;
      std::string fname = files.size() > 1 ? fmt::format("{}_{}.csv", b.name, i + 1) : fmt::format("{}.csv", b.name);
      if (gzip) fname += ".gz";
      files_[fid] = stored_file{std::move(files[i].bytes), gzip, std::move(fname)};
      b.file_ids.push_back(fid);
    }
    b.status = "completed";
  }
  j.status = "completed";
}

std::string aqua_service::job_json(const job& j) const {
  json_writer w;
  w.begin_object();
  w.key("batches").begin_array();
  for (const batch& b : j.batches) {
    w.begin_object();
    w.member("batchId", b.batch_id).member("name", b.name).member("query", b.query);
    w.member("batchType", b.type).member("apiVersion", b.api_version);
    w.member("status", b.status).member("localizedStatus", b.status);
    w.member("full", true).member("recordCount", b.record_count).member("message", b.message);
    if (!b.deleted_json.empty()) w.key("deleted").raw(b.deleted_json);
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
  w.member("id", j.id).member("name", j.name).member("status", j.status);
  w.member("format", j.format).member("version", j.version).member("encrypted", j.encrypted);
  w.member("sourceData", j.source_data).member("useLastCompletedJobQueries", j.use_last_completed);
  if (!j.partner.empty()) w.member("partner", j.partner);
  if (!j.project.empty()) w.member("project", j.project);
  if (j.offset) w.member("offset", *j.offset);
  if (j.incremental_time_ms) w.member("incrementalTime", *j.incremental_time_ms);
  if (!j.notify_url.empty()) w.member("notifyUrl", j.notify_url);
  w.member("startTime", opts_.iso_start_time ? format_datetime(j.start_unix_s, time_zone::utc)
                                             : format_plain_datetime(j.start_unix_s, tenant_utc_offset_minutes));
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
  for (batch& b : j.batches) b.status = "cancelled";
  return json(200, job_json(j));
}

http_response aqua_service::last_completed(const std::string& partner, const std::string& project) {
  for (auto it = job_order_.rbegin(); it != job_order_.rend(); ++it) {
    auto jt = jobs_.find(*it);
    if (jt == jobs_.end()) continue;
    job& j = jt->second;
    if (j.partner != partner || j.project != project) continue;
    refresh(j);
    if (j.status == "completed") return json(200, job_json(j));
  }
  return aqua_error(404, "90002", "Invalid Job Id");
}

http_response aqua_service::download(const http_request& req, const std::string& path, const std::string& file_id) {
  auto it = files_.find(file_id);
  if (it == files_.end()) {
    json_writer w;
    w.begin_object().member("success", false).key("reasons").begin_array().begin_object();
    w.member("code", 50000040).member("message", "File not found");
    w.end_object().end_array().end_object();
    return json(404, w.take());
  }
  const stored_file& f = it->second;
  http_response r;
  r.content_type = f.gzip ? "application/gzip" : "text/csv";
  r.headers.emplace_back("Content-Disposition", fmt::format("attachment; filename=\"{}\"", f.name));
  r.headers.emplace_back("Accept-Ranges", "bytes");
  r.body = f.bytes;
  r.body_size = f.bytes->size();

  if (f.gzip && f.bytes->size() > 18) {
    if (faults_.take(fault_kind::corrupt_gzip, req.method, path)) {
      // Flip bytes inside the deflate stream (after the 10-byte header, before
      // the 8-byte trailer): inflate fails or the CRC check does.
      auto copy = std::make_shared<std::string>(*f.bytes);
      const std::size_t lo = 10, hi = copy->size() - 8;
      for (std::size_t k = 1; k <= 8; ++k) {
        const std::size_t pos = lo + (hi - lo) * k / 9;
        (*copy)[pos] = static_cast<char>(static_cast<unsigned char>((*copy)[pos]) ^ 0x5a);
      }
      r.body = std::move(copy);
    }
  }

  if (const std::string* range = req.header("Range")) {
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
  w.member("bytes_served", bytes_served_);
  w.member("faults_armed", static_cast<std::uint64_t>(faults_.size()));
  w.end_object();
  return json(200, w.take());
}

http_response aqua_service::control(const http_request& req, const std::string& path) {
  if (path == "/_emulator/faults") {
    if (req.method == "DELETE") {
      faults_.clear();
      return json(200, R"({"status":"ok","armed":0})");
    }
    if (req.method != "POST") return aqua_error(405, "90010", "Method not allowed; use POST or DELETE");
    std::string error;
    if (!faults_.add_json(req.body, error)) {
      json_writer w;
      w.begin_object().member("status", "error").member("message", error).end_object();
      return json(400, w.take());
    }
    return json(200, fmt::format(R"({{"status":"ok","armed":{}}})", faults_.size()));
  }
  if (path == "/_emulator/reset") {
    if (req.method != "POST") return aqua_error(405, "90010", "Method not allowed; use POST");
    jobs_.clear();
    job_order_.clear();
    files_.clear();
    faults_.clear();
    requests_.clear();
    bytes_served_ = 0;
    return json(200, R"({"status":"ok"})");
  }
  if (path == "/_emulator/stats") {
    if (req.method != "GET") return aqua_error(405, "90010", "Method not allowed; use GET");
    return stats();
  }
  return aqua_error(404, "90010", fmt::format("No emulator endpoint {}", path));
}

}  // namespace aquaduct::emulator

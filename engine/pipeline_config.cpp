// Loading and checking pipeline TOML (docs/config.md). Every problem is
// collected with its FILE:LINE:COL, so one run reports them all.
#include <aquaduct/config.hpp>
#include <aquaduct/error.hpp>

#include "engine/state_store.hpp"
#include "engine/windows.hpp"
#include "engine/zoql_text.hpp"
#include "sinks/registry.hpp"
#include "transport/redact.hpp"
#include "transport/url.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

namespace aquaduct {

namespace {

class loader {
 public:
  loader(std::string path, pipeline_needs needs) : path_(std::move(path)), needs_(needs) {}

  std::vector<std::string> problems;
  config_errc first = config_errc::bad_value;

  source_position where(const toml::source_region& r) const {
    return {path_, static_cast<std::uint32_t>(r.begin.line), static_cast<std::uint32_t>(r.begin.column)};
  }

  void problem(const toml::source_region& r, config_errc code, const std::string& message) {
    if (problems.empty()) first = code;
    problems.push_back(path_ + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column) + ": " +
                       message);
  }

  void problem(const source_position& at, config_errc code, const std::string& message) {
    if (problems.empty()) first = code;
    problems.push_back(at.to_string() + ": " + message);
  }

  // Unknown keys are errors: a typo must never be silently ignored.
  void only_keys(const toml::table& t, std::string_view section, std::initializer_list<std::string_view> known) {
    for (auto&& [key, value] : t) {
      bool ok = false;
      for (auto k : known) ok = ok || key.str() == k;
      if (!ok)
        problem(key.source(), config_errc::unknown_key,
                "unknown key '" + std::string(key.str()) + "' in " + std::string(section));
    }
  }

  // ${VAR} reads the environment; a missing VAR is an error. "$$" is a literal "$".
  std::string interpolate(const std::string& text, const toml::source_region& r) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '$') {
        out += '$';
        ++i;
      } else if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
        const auto close = text.find('}', i + 2);
        if (close == std::string::npos) {
          problem(r, config_errc::bad_value, "unterminated ${ in string");
          return out;
        }
        const std::string name = text.substr(i + 2, close - i - 2);
        const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
        if (!value) problem(r, config_errc::missing_env, "environment variable " + name + " is not set");
        else out += value;
        i = close;
      } else {
        out += text[i];
      }
    }
    return out;
  }

  void read(const toml::table& t, std::string_view key, std::string& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    if (auto s = n->as_string()) out = interpolate(s->get(), n->source());
    else problem(n->source(), config_errc::bad_value, std::string(key) + " must be a string");
  }

  void read(const toml::table& t, std::string_view key, bool& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    if (auto b = n->as_boolean()) out = b->get();
    else problem(n->source(), config_errc::bad_value, std::string(key) + " must be true or false");
  }

  void read(const toml::table& t, std::string_view key, std::uint32_t& out, std::int64_t min = 0,
            std::int64_t max = std::numeric_limits<std::uint32_t>::max()) {
    const toml::node* n = t.get(key);
    if (!n) return;
    auto i = n->as_integer();
    if (!i || i->get() < min || i->get() > max) {
      problem(n->source(), config_errc::bad_value,
              std::string(key) + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return;
    }
    out = static_cast<std::uint32_t>(i->get());
  }

  void read(const toml::table& t, std::string_view key, std::uint64_t& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    auto i = n->as_integer();
    if (!i || i->get() < 0) {
      problem(n->source(), config_errc::bad_value, std::string(key) + " must be a whole number of bytes, 0 or more");
      return;
    }
    out = static_cast<std::uint64_t>(i->get());
  }

  void read(const toml::table& t, std::string_view key, double& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    if (auto f = n->as_floating_point()) out = f->get();
    else if (auto i = n->as_integer()) out = static_cast<double>(i->get());
    else problem(n->source(), config_errc::bad_value, std::string(key) + " must be a number");
  }

  void one_of(const toml::table& t, std::string_view key, const std::string& value,
              std::initializer_list<std::string_view> allowed) {
    for (auto a : allowed)
      if (value == a) return;
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    const toml::node* n = t.get(key);
    problem(n ? n->source() : t.source(), config_errc::bad_value,
            std::string(key) + " = \"" + value + "\" is not one of: " + list);
  }

  const toml::table* table_at(const toml::table& t, std::string_view key) {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    if (auto tt = n->as_table()) return tt;
    problem(n->source(), config_errc::bad_value, std::string(key) + " must be a table");
    return nullptr;
  }

  void require(const toml::table& t, std::string_view key, std::string_view section) {
    if (!t.contains(key))
      problem(t.source(), config_errc::missing_key, std::string(section) + " needs '" + std::string(key) + "'");
  }

  // Where `key` is in `t`, or the table itself when it is absent (for messages).
  static const toml::source_region& at(const toml::table& t, std::string_view key) {
    const toml::node* n = t.get(key);
    return n ? n->source() : t.source();
  }

  void load_source(const toml::table& root, source_config& src) {
    const toml::table* t = table_at(root, "source");
    if (!t) return;
    only_keys(*t, "[source]", {"base_url", "environment", "max_active_jobs", "max_connections", "max_downloads",
                               "max_spool_bytes", "time_zone", "tenant_time_zone", "request_timeout_ms", "auth", "poll", "callout", "pgp", "connect_timeout_ms",
                               "handshake_timeout_ms", "write_timeout_ms", "idle_timeout_ms",
                               "pool_idle_timeout_ms", "proxy", "gzip_request_bodies", "describe", "tls", "headers", "retry"});
    read(*t, "base_url", src.base_url);
    if (!src.base_url.empty()) {
      std::error_code ec;
      transport::parse_base_url(src.base_url, ec);
      if (ec)  // the URL may carry a password: redacted
        problem(t->get("base_url")->source(), config_errc::bad_value,
                transport::redact("base_url \"" + src.base_url + "\" is not http(s)://host[:port][/prefix]"));
    }
    read(*t, "environment", src.environment);
    if (!src.environment.empty()) {
      const std::string url = transport::environment_base_url(src.environment);
      if (url.empty())
        problem(t->get("environment")->source(), config_errc::bad_value,
                "environment = \"" + src.environment + "\" is not one of: " + transport::environment_names());
      else if (!src.base_url.empty())
        problem(t->get("environment")->source(), config_errc::bad_value, "give environment or base_url, not both");
      else
        src.base_url = url;
    }
    read(*t, "max_active_jobs", src.max_active_jobs, 1, 50);
    read(*t, "max_downloads", src.max_downloads, 1, 20);
    read(*t, "max_spool_bytes", src.max_spool_bytes);
    std::string zone = "auto";
    read(*t, "time_zone", zone);
    one_of(*t, "time_zone", zone, {"auto", "pacific", "utc"});
    src.time_zone = zone == "pacific" ? data_center_zone::pacific
                    : zone == "utc"   ? data_center_zone::utc
                                      : data_center_zone::automatic;
    read(*t, "tenant_time_zone", src.tenant_time_zone);
    if (!src.tenant_time_zone.empty()) {
      std::string error;
      if (!engine_detail::wall_zone::named(src.tenant_time_zone, error))
        problem(t->get("tenant_time_zone")->source(), config_errc::bad_value, "tenant_time_zone: " + error);
    }
    read(*t, "max_connections", src.max_connections, 1, 1024);
    read(*t, "request_timeout_ms", src.request_timeout_ms, 1);
    read(*t, "connect_timeout_ms", src.connect_timeout_ms, 1);
    read(*t, "handshake_timeout_ms", src.handshake_timeout_ms, 1);
    read(*t, "write_timeout_ms", src.write_timeout_ms, 1);
    read(*t, "idle_timeout_ms", src.idle_timeout_ms, 1);
    read(*t, "pool_idle_timeout_ms", src.pool_idle_timeout_ms, 1);
    read(*t, "proxy", src.proxy);
    read(*t, "gzip_request_bodies", src.gzip_request_bodies);
    read(*t, "describe", src.describe);
    if (!src.proxy.empty() && src.proxy != "none") {
      std::error_code ec;
      transport::proxy_for(transport::origin{}, src.proxy, ec);
      if (ec)
        problem(t->get("proxy")->source(), config_errc::bad_value,
                "proxy must be \"none\" or http://[user:password@]host:port");
    }
    if (const toml::table* a = table_at(*t, "auth")) load_auth(*a, src.auth);
    if (const toml::table* p = table_at(*t, "poll")) load_poll(*p, src.poll);
    if (const toml::table* x = table_at(*t, "tls")) load_tls(*x, src.tls);
    if (const toml::table* h = table_at(*t, "headers")) load_headers(*h, src.headers);
    if (const toml::table* r = table_at(*t, "retry")) load_retry(*r, src.retry);
    if (const toml::table* c = table_at(*t, "callout")) load_callout(*c, src.callout);
    if (const toml::table* g = table_at(*t, "pgp")) load_pgp(*g, src.pgp);
  }

  void load_pgp(const toml::table& t, pgp_config& pgp) {
    only_keys(t, "[source.pgp]", {"private_key_file", "passphrase"});
    read(t, "private_key_file", pgp.private_key_file);
    read(t, "passphrase", pgp.passphrase);
    require(t, "private_key_file", "[source.pgp]");
    // Read and checked when a run starts (engine_detail::load_pgp_key), as
    // other files are: validate checks the config, not the machine.
    if (!pgp.private_key_file.empty()) pgp.private_key_file = from_pipeline_dir(pgp.private_key_file);
  }

  void load_callout(const toml::table& t, callout_config& c) {
    only_keys(t, "[source.callout]", {"listen", "public_url"});
    read(t, "listen", c.listen);
    read(t, "public_url", c.public_url);
    if (t.contains("listen") && !is_host_port(c.listen))
      problem(at(t, "listen"), config_errc::bad_value,
              "listen = \"" + c.listen + "\" must be HOST:PORT (port 0-65535, 0 = any free port; no HOST = every "
              "interface), e.g. \"127.0.0.1:0\"");
    if (t.contains("public_url")) {
      if (c.listen.empty())
        problem(at(t, "public_url"), config_errc::bad_value, "public_url needs listen: the local address it reaches");
      if (!is_http_url(c.public_url))
        problem(at(t, "public_url"), config_errc::bad_value,
                "public_url must be an http:// or https:// URL with a host, e.g. \"https://etl.example.com/callout\"");
    }
  }

  // "host:port", "[v6]:port", ":port" (every interface); port 0..65535.
  static bool is_host_port(std::string_view s) {
    std::string_view host, port;
    if (!s.empty() && s.front() == '[') {
      const auto close = s.find(']');
      if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
      host = s.substr(1, close - 1);
      port = s.substr(close + 2);
    } else {
      const auto colon = s.rfind(':');
      if (colon == std::string_view::npos) return false;
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
      if (host.find(':') != std::string_view::npos) return false;  // IPv6 needs brackets
    }
    if (port.empty() || port.size() > 5) return false;
    for (char ch : host)
      if (ch == ' ' || ch == '/' || ch == '@' || ch == '[' || ch == ']') return false;
    unsigned value = 0;
    for (char ch : port) {
      if (ch < '0' || ch > '9') return false;
      value = value * 10 + static_cast<unsigned>(ch - '0');
    }
    return value <= 65535;
  }

  static bool is_http_url(std::string_view s) {
    std::string_view rest;
    if (s.starts_with("http://")) rest = s.substr(7);
    else if (s.starts_with("https://")) rest = s.substr(8);
    else return false;
    const auto end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, end);
    if (authority.empty() || authority.front() == ':') return false;
    return std::none_of(s.begin(), s.end(), [](char ch) { return ch <= ' ' || ch == 0x7f; });
  }

  // A relative path in the file is relative to the file's directory, not to
  // the working directory (docs/config.md, "Paths"). Left as is: an absolute
  // path, "" and "-" (stdout), ":memory:" and "file:" URIs (SQLite's), and
  // every path of a pipeline parsed from text without a file's directory.
  std::string from_pipeline_dir(const std::string& p) const {
    if (p.empty() || p == "-" || p.front() == ':' || p.starts_with("file:")) return p;
    const std::filesystem::path given(p);
    if (given.is_absolute()) return p;
    const std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    if (dir.empty()) return p;
    return (dir / given).lexically_normal().string();
  }

  // A sink option that names a file or directory: `path`, `*_file`, `*_dir`.
  static bool path_option(std::string_view key) {
    return key == "path" || key.ends_with("_file") || key.ends_with("_dir");
  }

  void load_tls(const toml::table& t, tls_config& tls) {
    only_keys(t, "[source.tls]", {"ca_file", "insecure_skip_verify"});
    read(t, "ca_file", tls.ca_file);
    tls.ca_file = from_pipeline_dir(tls.ca_file);
    read(t, "insecure_skip_verify", tls.insecure_skip_verify);
  }

  void load_headers(const toml::table& t, headers_config& h) {
    only_keys(t, "[source.headers]", {"track_id", "entity_ids", "org_ids", "user_agent"});
    read(t, "track_id", h.track_id);
    read(t, "entity_ids", h.entity_ids);
    read(t, "org_ids", h.org_ids);
    read(t, "user_agent", h.user_agent);
    const auto bad = [](unsigned char c) { return c < 0x20 || c > 0x7e; };
    if (h.track_id.size() > 64 || h.track_id.find_first_of(":;\"'") != std::string::npos ||
        std::any_of(h.track_id.begin(), h.track_id.end(), bad))
      problem(t.get("track_id")->source(), config_errc::bad_value,
              "track_id must be at most 64 US-ASCII characters without : ; \" '");
    const auto printable = [&](std::string_view key, const std::string& v) {
      if (std::any_of(v.begin(), v.end(), bad))
        problem(t.get(key)->source(), config_errc::bad_value, std::string(key) + " must be printable US-ASCII");
    };
    printable("entity_ids", h.entity_ids);
    printable("org_ids", h.org_ids);
    printable("user_agent", h.user_agent);
  }

  void load_retry(const toml::table& t, retry_config& r) {
    only_keys(t, "[source.retry]", {"max_attempts", "initial_ms", "max_ms", "budget_s", "max_pause_s"});
    read(t, "max_attempts", r.max_attempts, 1, 100);
    read(t, "initial_ms", r.initial_ms, 1);
    read(t, "max_ms", r.max_ms, 1);
    read(t, "budget_s", r.budget_s, 1);
    read(t, "max_pause_s", r.max_pause_s, 1, 86400);
    if (r.max_ms < r.initial_ms) problem(t.source(), config_errc::bad_value, "max_ms must not be less than initial_ms");
  }

  void load_auth(const toml::table& t, auth_config& auth) {
    only_keys(t, "[source.auth]", {"type", "client_id", "client_secret", "access_key_id", "secret_access_key",
                                   "username", "password"});
    std::string type;
    read(t, "type", type);
    require(t, "type", "[source.auth]");
    read(t, "client_id", auth.client_id);
    read(t, "client_secret", auth.client_secret);
    read(t, "access_key_id", auth.access_key_id);
    read(t, "secret_access_key", auth.secret_access_key);
    read(t, "username", auth.username);
    read(t, "password", auth.password);
    if (type == "oauth") {
      auth.type = auth_type::oauth;
      require(t, "client_id", "[source.auth] type = \"oauth\"");
      require(t, "client_secret", "[source.auth] type = \"oauth\"");
    } else if (type == "api_key") {
      auth.type = auth_type::api_key;
      require(t, "access_key_id", "[source.auth] type = \"api_key\"");
      require(t, "secret_access_key", "[source.auth] type = \"api_key\"");
    } else if (type == "basic") {
      auth.type = auth_type::basic;
      require(t, "username", "[source.auth] type = \"basic\"");
      require(t, "password", "[source.auth] type = \"basic\"");
    } else if (!type.empty()) {
      one_of(t, "type", type, {"oauth", "api_key", "basic"});
    }
  }

  void load_poll(const toml::table& t, poll_config& poll) {
    only_keys(t, "[source.poll]", {"initial_ms", "max_ms", "multiplier", "jitter", "timeout_s"});
    read(t, "initial_ms", poll.initial_ms, 1);
    read(t, "max_ms", poll.max_ms, 1);
    read(t, "multiplier", poll.multiplier);
    read(t, "timeout_s", poll.timeout_s, 1);
    std::string jitter = "full";
    read(t, "jitter", jitter);
    one_of(t, "jitter", jitter, {"full", "none"});
    poll.full_jitter = jitter == "full";
    if (poll.multiplier < 1.0)
      problem(t.get("multiplier")->source(), config_errc::bad_value, "multiplier must be at least 1.0");
    if (poll.max_ms < poll.initial_ms)
      problem(t.source(), config_errc::bad_value, "max_ms must not be less than initial_ms");
  }

  // partition / incremental: an inline table read by `fill`, then checked as a
  // whole by `check` (its message goes at the table, unless a key of it was
  // already reported).
  template <class Config, class Fill, class Check>
  std::optional<Config> load_window(const toml::table& t, std::string_view key, std::string_view shape, Fill fill,
                                    Check check) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const toml::table* table = n->as_table();
    if (!table) {
      problem(n->source(), config_errc::bad_value, std::string(key) + " must be a table " + std::string(shape));
      return std::nullopt;
    }
    const std::size_t before = problems.size();
    Config c;
    fill(*table, c);
    if (std::string e = check(c); !e.empty() && problems.size() == before)
      problem(n->source(), config_errc::bad_value, e);
    return c;
  }

  // convert_to_currencies = "EUR,GBP" or ["EUR", "GBP"]: ISO 4217 codes, sent joined by commas.
  void load_currencies(const toml::table& t, std::string& out) {
    const toml::node* n = t.get("convert_to_currencies");
    if (!n) return;
    std::vector<std::string> codes;
    if (auto s = n->as_string()) {
      std::string text = interpolate(s->get(), n->source());
      for (std::size_t at = 0;;) {
        const std::size_t comma = text.find(',', at);
        std::string code = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        code.erase(0, code.find_first_not_of(' '));
        code.erase(code.find_last_not_of(' ') + 1);
        codes.push_back(code);
        if (comma == std::string::npos) break;
        at = comma + 1;
      }
    } else if (auto a = n->as_array()) {
      for (auto&& e : *a) {
        if (auto es = e.as_string()) codes.push_back(es->get());
        else codes.push_back("?");  // reported below
      }
    } else {
      codes.push_back("?");
    }
    for (const auto& c : codes)
      if (c.size() != 3 || !std::all_of(c.begin(), c.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
        problem(n->source(), config_errc::bad_value,
                "convert_to_currencies must be ISO 4217 codes (three capital letters), as \"EUR,GBP\" or "
                "[\"EUR\", \"GBP\"]");
        return;
      }
    for (const auto& c : codes) out += (out.empty() ? "" : ",") + c;
  }

  void load_query(const toml::table& t, query_config& q) {
    only_keys(t, "[[jobs.queries]]", {"name", "type", "query", "api_version", "deleted", "partition", "incremental",
                                      "convert_to_currencies", "table"});
    read(t, "name", q.name);
    read(t, "table", q.table);
    if (const toml::node* n = t.get("table"); n && q.table.empty())
      problem(n->source(), config_errc::bad_value, "table must not be empty (leave it out for <job>__<query>)");
    read(t, "type", q.type);
    read(t, "query", q.query);
    read(t, "api_version", q.api_version);
    require(t, "name", "[[jobs.queries]]");
    require(t, "query", "[[jobs.queries]]");
    one_of(t, "type", q.type, {"zoqlexport", "zoql"});
    q.where = where(t.source());
    q.partition = load_window<partition_config>(
        t, "partition", "{ by, from, to, step }",
        [&](const toml::table& pt, partition_config& p) {
          only_keys(pt, "partition", {"by", "from", "to", "step", "min_step", "catch_up_lag_s"});
          read(pt, "by", p.by);
          read(pt, "from", p.from);
          read(pt, "to", p.to);
          read(pt, "step", p.step);
          read(pt, "min_step", p.min_step);
          read(pt, "catch_up_lag_s", p.catch_up_lag_s);
        },
        engine_detail::check_partition);
    q.incremental = load_window<incremental_config>(
        t, "incremental", "{ by, lag_s }",
        [&](const toml::table& it, incremental_config& inc) {
          only_keys(it, "incremental", {"by", "lag_s", "start", "min_step"});
          read(it, "by", inc.by);
          read(it, "lag_s", inc.lag_s);
          read(it, "start", inc.start);
          read(it, "min_step", inc.min_step);
        },
        engine_detail::check_incremental);
    if (q.partition && q.incremental)
      problem(at(t, "incremental"), config_errc::bad_value,
              "a query takes partition or incremental, not both (query " + q.name + ")");
    load_currencies(t, q.convert_to_currencies);
    if (const toml::node* d = t.get("deleted")) {
      if (auto dt = d->as_table()) {
        only_keys(*dt, "deleted", {"column", "format", "force_export"});
        deleted_config del;
        read(*dt, "column", del.column);
        read(*dt, "format", del.format);
        read(*dt, "force_export", del.force_export);
        require(*dt, "column", "deleted");
        one_of(*dt, "format", del.format, {"Boolean", "Numeric"});
        q.deleted = del;
      } else {
        problem(d->source(), config_errc::bad_value, "deleted must be a table { column, format }");
      }
    }
  }

  // What a query may use depends on its job: a stateful session decides the
  // window itself, and JSON batch results have no sessions or deleted rows.
  void check_query_in_job(const toml::table& t, const query_config& q, const job_config& job) {
    if (job.kind == job_kind::batch_results) {
      for (std::string_view key : {"deleted", "partition", "incremental", "convert_to_currencies"})
        if (t.contains(key))
          problem(at(t, key), config_errc::bad_value,
                  std::string(key) + " does not apply to kind = \"batch_results\" (query " + q.name + ")");
      return;
    }
    if (!job.stateful()) {
      // Contract §1.3/§4.3: stateless deleted rows need forceExport, else the
      // service refuses the job (90012) at run time.
      if (q.deleted && !q.deleted->force_export)
        problem(at(t, "deleted"), config_errc::bad_value,
                "a stateless query with deleted needs force_export = true, or the service refuses it (90012): "
                "deleted = { column = \"" + q.deleted->column + "\", format = \"" + q.deleted->format +
                    "\", force_export = true } (query " + q.name + ")");
      return;
    }
    for (std::string_view key : {"partition", "incremental"})
      if (t.contains(key))
        problem(at(t, key), config_errc::bad_value,
                std::string(key) + " cannot be used in a stateful job (partner and project): the session decides " +
                    "each run's window (query " + q.name + ")");
  }

  // The AQuA request fields of a job beyond format, version and the session.
  void load_request_options(const toml::table& t, job_config& job) {
    read(t, "encrypted", job.encrypted);
    one_of(t, "encrypted", job.encrypted, {"none", "pgp"});
    if (job.encrypted == "pgp" && !has_pgp_key_)
      problem(at(t, "encrypted"), config_errc::bad_value,
              "encrypted = \"pgp\" needs [source.pgp] private_key_file (and passphrase = \"${VAR}\" when the key "
              "has one) to decrypt the result files");
    read(t, "source_data", job.source_data);
    if (t.contains("source_data")) one_of(t, "source_data", job.source_data, {"LIVE", "WAREHOUSE"});
    read(t, "use_last_completed_job_queries", job.use_last_completed_job_queries);
    if (job.use_last_completed_job_queries && !job.stateful())
      problem(at(t, "use_last_completed_job_queries"), config_errc::bad_value,
              "use_last_completed_job_queries applies to stateful jobs only (partner and project)");
    read(t, "notify_url", job.notify_url);
    if (t.contains("notify_url") && (!is_http_url(job.notify_url) || job.notify_url.size() >= 5000))
      problem(at(t, "notify_url"), config_errc::bad_value,
              "notify_url must be an http:// or https:// URL shorter than 5000 characters "
              "(write AQuA's placeholders as $${JOBID} and $${STATUS})");
    if (job.kind == job_kind::batch_results)
      for (std::string_view key : {"encrypted", "source_data", "use_last_completed_job_queries", "notify_url"})
        if (t.contains(key))
          problem(at(t, key), config_errc::bad_value,
                  std::string(key) + " does not apply to kind = \"batch_results\" (an AQuA job field)");
  }

  void load_job(const toml::table& t, job_config& job) {
    only_keys(t, "[[jobs]]", {"name", "kind", "format", "version", "partner", "project", "offset_s",
                              "use_query_labels", "date_time_utc", "null_replacement", "queries", "encrypted",
                              "source_data", "use_last_completed_job_queries", "notify_url"});
    read(t, "name", job.name);
    require(t, "name", "[[jobs]]");
    if (job.name.size() > 32)
      problem(t.get("name")->source(), config_errc::bad_value,
              "job name \"" + job.name + "\" (" + std::to_string(job.name.size()) +
                  " characters) is longer than AQuA's 32 characters");
    read(t, "format", job.format);
    one_of(t, "format", job.format, {"csv", "gzip", "zip"});
    if (const toml::node* v = t.get("version")) {
      if (auto f = v->as_floating_point()) {
        std::ostringstream s;
        s << f->get();
        job.version = s.str();
        if (job.version.find_first_of(".e") == std::string::npos) job.version += ".0";  // 1.0 prints as "1"
      } else {
        read(t, "version", job.version);
      }
    }
    one_of(t, "version", job.version, {"1.0", "1.1", "1.2"});
    std::string kind = "aqua";
    read(t, "kind", kind);
    one_of(t, "kind", kind, {"aqua", "batch_results"});
    job.kind = kind == "batch_results" ? job_kind::batch_results : job_kind::aqua;
    read(t, "partner", job.partner);
    read(t, "project", job.project);
    read(t, "offset_s", job.offset_s, 0, 3600);
    const bool batch = job.kind == job_kind::batch_results;
    if (batch) {
      for (std::string_view key : {"partner", "project"})
        if (t.contains(key))
          problem(at(t, key), config_errc::bad_value,
                  std::string(key) +
                      " does not apply to kind = \"batch_results\" (JSON batch results have no sessions)");
    } else if (t.contains("partner") != t.contains("project") || job.partner.empty() != job.project.empty()) {
      // At the one given (or the empty one when both are).
      const bool blame_partner = t.contains("partner") && (!t.contains("project") || job.partner.empty());
      const std::string blamed = blame_partner ? "partner" : "project";
      const std::string other = blame_partner ? "project" : "partner";
      const std::string why = t.contains(other) ? blamed + " is empty" : other + " is missing";
      problem(at(t, blamed), config_errc::bad_value,
              "partner and project go together (" + why +
                  "): set both for a stateful session, or neither for a stateless job");
    } else if (job.stateful() && job.version == "1.0") {
      problem(at(t, "version"), config_errc::bad_value,
              "a stateful job (partner and project) needs version 1.1 or 1.2; AQuA's 1.0 is stateless only");
    }
    if (t.contains("offset_s") && !job.stateful())
      problem(at(t, "offset_s"), config_errc::bad_value,
              "offset_s applies to stateful jobs only (partner and project); stateless windows use incremental.lag_s");
    read(t, "use_query_labels", job.use_query_labels);
    read(t, "date_time_utc", job.date_time_utc);
    read(t, "null_replacement", job.null_replacement);
    load_request_options(t, job);
    const toml::node* qs = t.get("queries");
    const toml::array* arr = qs ? qs->as_array() : nullptr;
    if (!arr || arr->empty()) {
      problem(qs ? qs->source() : t.source(), config_errc::missing_key, "[[jobs]] needs at least one [[jobs.queries]]");
      return;
    }
    if (arr->size() > 50) problem(qs->source(), config_errc::bad_value, "AQuA allows at most 50 queries per job");
    for (auto&& qn : *arr) {
      auto qt = qn.as_table();
      if (!qt) {
        problem(qn.source(), config_errc::bad_value, "[[jobs.queries]] entries must be tables");
        continue;
      }
      query_config q;
      load_query(*qt, q);
      check_query_in_job(*qt, q, job);
      for (const auto& other : job.queries)
        if (!q.name.empty() && other.name == q.name)
          problem(qt->source(), config_errc::bad_value, "query name '" + q.name + "' appears twice in job " + job.name);
      job.queries.push_back(std::move(q));
    }
  }

  void load_sink(const toml::table& t, sink_config& s) {
    s.where = where(t.source());
    read(t, "type", s.type);
    require(t, "type", "[[sinks]]");
    for (auto&& [key, value] : t) {
      if (key.str() == "type") continue;
      option_value v;
      v.where = where(key.source());
      if (auto str = value.as_string()) {
        v.text = interpolate(str->get(), value.source());
        if (path_option(key.str())) v.text = from_pipeline_dir(v.text);
      }
      else if (auto i = value.as_integer()) v.text = std::to_string(i->get());
      else if (auto b = value.as_boolean()) v.text = b->get() ? "true" : "false";
      else if (auto f = value.as_floating_point()) v.text = std::to_string(f->get());
      else {
        problem(value.source(), config_errc::bad_value, "sink option " + std::string(key.str()) + " must be a scalar");
        continue;
      }
      s.options.emplace(std::string(key.str()), std::move(v));
    }
    // Each sink checks its own options (its options struct is the schema).
    if (!s.type.empty())
      for (auto& p : sinks::check_sink_config(s)) {
        if (problems.empty()) first = config_errc::bad_value;
        problems.push_back(std::move(p));
      }
  }

  pipeline_config load(const toml::table& root) {
    pipeline_config cfg;
    cfg.path = path_;
    only_keys(root, "the pipeline", {"source", "jobs", "sinks", "state"});
    load_source(root, cfg.source);
    if (const toml::table* st = table_at(root, "state")) {  // where the cursors are shared (docs/fleet.md)
      only_keys(*st, "[state]", {"url"});
      read(*st, "url", cfg.state_url);
      if (!cfg.state_url.empty() && !engine_detail::is_state_url(cfg.state_url))
        problem(st->get("url")->source(), config_errc::bad_value,
                "[state] url must be a postgres:// or postgresql:// URL (a state directory is --state-dir's)");
    }
    has_pgp_key_ = !cfg.source.pgp.private_key_file.empty();
    const toml::node* jobs = root.get("jobs");
    const toml::array* jarr = jobs ? jobs->as_array() : nullptr;
    if (!jarr || jarr->empty()) {
      if (needs_ == pipeline_needs::jobs || jobs)
        problem(jobs ? jobs->source() : root.source(), config_errc::missing_key,
                "the pipeline needs at least one [[jobs]]");
    } else {
      for (auto&& jn : *jarr) {
        auto jt = jn.as_table();
        if (!jt) {
          problem(jn.source(), config_errc::bad_value, "[[jobs]] entries must be tables");
          continue;
        }
        job_config job;
        load_job(*jt, job);
        for (const auto& other : cfg.jobs)
          if (!job.name.empty() && other.name == job.name)
            problem(jt->source(), config_errc::bad_value, "job name '" + job.name + "' appears twice");
        cfg.jobs.push_back(std::move(job));
      }
    }
    if (const toml::node* sinks = root.get("sinks")) {
      const toml::array* sarr = sinks->as_array();
      if (!sarr) problem(sinks->source(), config_errc::bad_value, "sinks must be an array of tables [[sinks]]");
      else
        for (auto&& sn : *sarr) {
          if (auto st = sn.as_table()) {
            sink_config s;
            load_sink(*st, s);
            cfg.sinks.push_back(std::move(s));
          } else {
            problem(sn.source(), config_errc::bad_value, "[[sinks]] entries must be tables");
          }
        }
    }
    check_row_keys(cfg);
    return cfg;
  }

  // An incremental load into a sink that upserts (stateful sessions after
  // their first job, incremental windows) replaces rows by the base object's
  // Id: a query whose result header cannot be matched to that Id would
  // append or delete the wrong rows, so it is refused here.
  // A backfill's catch-up (engine/window_group.hpp) needs the same key, in
  // every sink.
  void check_row_keys(const pipeline_config& cfg) {
    std::string upserting;
    for (const auto& s : cfg.sinks)
      if (sinks::upserts(s.type)) upserting = s.type;
    for (const auto& job : cfg.jobs) {
      if (job.kind != job_kind::aqua) continue;
      for (const auto& q : job.queries) {
        if (std::string why = engine_detail::catch_up_key_problem(q, job.use_query_labels); !why.empty())
          problem(q.where, config_errc::bad_value, why);
        if (upserting.empty() || (!job.stateful() && !q.incremental)) continue;
        if (std::string why = engine_detail::base_id_problem(q.query, job.use_query_labels); !why.empty())
          problem(q.where, config_errc::bad_value,
                  "query " + q.name + " loads incrementally into the " + upserting +
                      " sink, which upserts and deletes rows by the base object's Id, but " + why);
      }
    }
  }

 private:
  std::string path_;
  pipeline_needs needs_;
  bool has_pgp_key_ = false;  // [source.pgp] private_key_file given: jobs may ask for encrypted = "pgp"
};

}  // namespace

pipeline_config parse_pipeline(const std::string& toml_text, const std::string& path, pipeline_needs needs) {
  toml::table root;
  try {
    root = toml::parse(toml_text, path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw config_error(config_errc::parse_error, {path + ":" + std::to_string(b.line) + ":" +
                                                  std::to_string(b.column) + ": " + std::string(e.description())});
  }
  loader l(path, needs);
  pipeline_config cfg = l.load(root);
  if (!l.problems.empty()) throw config_error(l.first, std::move(l.problems));
  return cfg;
}

pipeline_config load_pipeline(const std::string& path, pipeline_needs needs) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error(config_errc::parse_error, {path + ":0:0: cannot read the file"});
  std::ostringstream text;
  text << in.rdbuf();
  return parse_pipeline(text.str(), path, needs);
}

}  // namespace aquaduct

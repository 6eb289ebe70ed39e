#pragma once
// aquaduct's error currency: std::error_code with one enum and category per
// layer, classified through conditions. Compare codes or conditions, never
// message strings. (The pure decoders keep their own enum in decode/.)
#include <string>
#include <system_error>

namespace aquaduct {

// AQuA protocol and job outcomes.
enum class aqua_errc {
  submit_rejected = 1,    // submit answered status "error" with an errorCode (validation)
  job_aborted,            // the job ended `aborted`; the batch message says why
  job_cancelled,          // the job ended `cancelled` (by us or someone else)
  job_failed,             // the job ended `failed` or `error` after submission
  job_timeout,            // the job did not finish within [source.poll] timeout_s
  record_count_mismatch,  // rows parsed differ from the batch's recordCount
  header_mismatch,        // a segment's header differs from the first segment's
  bad_response,           // a response that is not the JSON the contract promises
  auth_refused,           // HTTP 401/403 from the service, or token refused
  http_error,             // an unexpected HTTP status
  unavailable,            // 429/502/503/504 (or the token endpoint unavailable): worth another try later
  file_too_large,         // a result file over the service's max-object-size (HTTP 403 XML): split the window
  file_gone,              // a result file is purged or unknown (HTTP 404): run the job again
  job_limit,              // the tenant's concurrent-job limit (errorCode 90028): submit again later
  interrupted,            // the run was interrupted (SIGINT/SIGTERM, engine::cancel)
  unknown_object,         // describe does not know an object a query names (HTTP 404, or absent from the list)
  query_refused,          // submit refused for good (a ZOQL syntax error, an unknown field: 90004/5, 90012,
                          // 90014-17, 90019-21): running it again cannot help
};

// Bytes over HTTP.
enum class transport_errc {
  bad_url = 1,        // base_url is not http://host[:port][/prefix]
  connect_failed,     // resolve or connect failed
  timeout,            // a deadline passed (connect, idle or total)
  connection_closed,  // the peer closed or reset before the response was complete
  bad_response,       // the response is not valid HTTP/1.1
  body_too_large,     // a buffered body exceeded its limit
  tls_failed,         // TLS handshake failed or the peer's certificate was refused
  cancelled,          // the caller cancelled the operation
  proxy_failed,       // the proxy refused or broke the CONNECT tunnel
  restart_needed,     // a broken download cannot be resumed (no Range support): fetch it again from byte 0
};

// Pipeline configuration.
enum class config_errc {
  parse_error = 1,  // not valid TOML
  unknown_key,      // a key the schema does not have
  bad_value,        // wrong type or out of range
  missing_key,      // a required key is absent
  missing_env,      // ${VAR} names an unset environment variable
  unsupported,      // a known key whose feature is not built yet
};

// Sinks.
enum class sink_errc {
  io_error = 1,     // writing, syncing or renaming failed
  bad_name,         // a job or query name that cannot be made a safe file or table name
  bad_options,      // sink options rejected
  bad_value,        // a field its column cannot hold (a NUL byte in SQL text, "abc" in a number column)
  failed,           // a sink threw an exception of its own (an embedder's sink or callback): its message is kept
  stale_fence,      // a fleet worker's commit carries a fencing token older than one the sink saw (docs/fleet.md)
};

// Classification used by the retry loop and the exit code.
enum class condition {
  retriable = 1,  // try again later
  auth,           // credentials refused: exit code 3
  data,           // the data is bad: retrying will not help
  fatal,          // anything else that ends the operation
  cancelled,      // the caller cancelled: not a failure of the remote side
};

// The categories. Defined inline so that every module, the sinks included
// (which depend on nothing but these headers), shares one instance of each.
namespace detail {

template <class Enum>
class category final : public std::error_category {
 public:
  using describe_fn = const char* (*)(Enum) noexcept;
  using classify_fn = condition (*)(Enum) noexcept;
  constexpr category(const char* name, describe_fn describe, classify_fn classify) noexcept
      : name_(name), describe_(describe), classify_(classify) {}
  const char* name() const noexcept override { return name_; }
  std::string message(int v) const override { return describe_(static_cast<Enum>(v)); }
  bool equivalent(int v, const std::error_condition& cond) const noexcept override;

 private:
  const char* name_;
  describe_fn describe_;
  classify_fn classify_;
};

inline const char* describe(aqua_errc e) noexcept {
  switch (e) {
    case aqua_errc::submit_rejected: return "the service rejected the job";
    case aqua_errc::job_aborted: return "the job was aborted by the service";
    case aqua_errc::job_cancelled: return "the job was cancelled";
    case aqua_errc::job_failed: return "the job failed";
    case aqua_errc::job_timeout: return "the job did not finish in time";
    case aqua_errc::record_count_mismatch: return "row count differs from the batch's recordCount";
    case aqua_errc::header_mismatch: return "a segment's header differs from the first segment's";
    case aqua_errc::bad_response: return "the service sent a response the AQuA contract does not allow";
    case aqua_errc::auth_refused: return "authentication refused";
    case aqua_errc::http_error: return "unexpected HTTP status";
    case aqua_errc::unavailable: return "the service is unavailable or rate limiting";
    case aqua_errc::file_too_large: return "the result file is over the service's maximum object size";
    case aqua_errc::file_gone: return "the result file is purged or unknown";
    case aqua_errc::job_limit: return "the tenant's concurrent AQuA job limit is reached";
    case aqua_errc::interrupted: return "interrupted";
    case aqua_errc::unknown_object: return "the tenant does not describe the object";
    case aqua_errc::query_refused: return "the service refused the query";
  }
  return "unknown AQuA error";
}
inline condition classify(aqua_errc e) noexcept {
  switch (e) {
    case aqua_errc::auth_refused: return condition::auth;
    case aqua_errc::unavailable:
    case aqua_errc::job_limit: return condition::retriable;
    case aqua_errc::interrupted: return condition::cancelled;
    case aqua_errc::record_count_mismatch:
    case aqua_errc::header_mismatch: return condition::data;
    default: return condition::fatal;
  }
}
inline const char* describe(transport_errc e) noexcept {
  switch (e) {
    case transport_errc::bad_url: return "bad URL";
    case transport_errc::connect_failed: return "could not connect";
    case transport_errc::timeout: return "timed out";
    case transport_errc::connection_closed: return "connection closed before the response was complete";
    case transport_errc::bad_response: return "malformed HTTP response";
    case transport_errc::body_too_large: return "response body too large";
    case transport_errc::tls_failed: return "TLS handshake or certificate verification failed";
    case transport_errc::cancelled: return "cancelled";
    case transport_errc::proxy_failed: return "proxy CONNECT failed";
    case transport_errc::restart_needed: return "download broken and not resumable: restart from byte 0";
  }
  return "unknown transport error";
}
inline condition classify(transport_errc e) noexcept {
  switch (e) {
    case transport_errc::connect_failed:
    case transport_errc::timeout:
    case transport_errc::connection_closed: return condition::retriable;
    case transport_errc::cancelled: return condition::cancelled;
    default: return condition::fatal;
  }
}
inline const char* describe(config_errc e) noexcept {
  switch (e) {
    case config_errc::parse_error: return "invalid TOML";
    case config_errc::unknown_key: return "unknown key";
    case config_errc::bad_value: return "bad value";
    case config_errc::missing_key: return "missing key";
    case config_errc::missing_env: return "environment variable not set";
    case config_errc::unsupported: return "not supported yet";
  }
  return "unknown config error";
}
inline condition classify(config_errc) noexcept { return condition::fatal; }
inline const char* describe(sink_errc e) noexcept {
  switch (e) {
    case sink_errc::io_error: return "sink I/O error";
    case sink_errc::bad_name: return "name cannot be made safe";
    case sink_errc::bad_options: return "bad sink options";
    case sink_errc::bad_value: return "a field its column cannot hold";
    case sink_errc::failed: return "sink failed";
    case sink_errc::stale_fence: return "stale fencing token: another worker holds the unit";
  }
  return "unknown sink error";
}
inline condition classify(sink_errc e) noexcept {
  return e == sink_errc::bad_value ? condition::data : condition::fatal;
}

class condition_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "aquaduct.condition"; }
  std::string message(int v) const override {
    switch (static_cast<condition>(v)) {
      case condition::retriable: return "retriable";
      case condition::auth: return "authentication";
      case condition::data: return "bad data";
      case condition::fatal: return "fatal";
      case condition::cancelled: return "cancelled";
    }
    return "unknown condition";
  }
};

}  // namespace detail

inline const std::error_category& condition_category() noexcept {
  static const detail::condition_category_impl c;
  return c;
}
inline const std::error_category& aqua_category() noexcept {
  static const detail::category<aqua_errc> c{"aquaduct.aqua", detail::describe, detail::classify};
  return c;
}
inline const std::error_category& transport_category() noexcept {
  static const detail::category<transport_errc> c{"aquaduct.transport", detail::describe, detail::classify};
  return c;
}
inline const std::error_category& config_category() noexcept {
  static const detail::category<config_errc> c{"aquaduct.config", detail::describe, detail::classify};
  return c;
}
inline const std::error_category& sink_category() noexcept {
  static const detail::category<sink_errc> c{"aquaduct.sink", detail::describe, detail::classify};
  return c;
}

template <class Enum>
bool detail::category<Enum>::equivalent(int v, const std::error_condition& cond) const noexcept {
  return cond.category() == condition_category() &&
         cond.value() == static_cast<int>(classify_(static_cast<Enum>(v)));
}

inline std::error_code make_error_code(aqua_errc e) noexcept { return {static_cast<int>(e), aqua_category()}; }
inline std::error_code make_error_code(transport_errc e) noexcept { return {static_cast<int>(e), transport_category()}; }
inline std::error_code make_error_code(config_errc e) noexcept { return {static_cast<int>(e), config_category()}; }
inline std::error_code make_error_code(sink_errc e) noexcept { return {static_cast<int>(e), sink_category()}; }
inline std::error_condition make_error_condition(condition e) noexcept {
  return {static_cast<int>(e), condition_category()};
}

}  // namespace aquaduct

template <> struct std::is_error_code_enum<aquaduct::aqua_errc> : std::true_type {};
template <> struct std::is_error_code_enum<aquaduct::transport_errc> : std::true_type {};
template <> struct std::is_error_code_enum<aquaduct::config_errc> : std::true_type {};
template <> struct std::is_error_code_enum<aquaduct::sink_errc> : std::true_type {};
template <> struct std::is_error_condition_enum<aquaduct::condition> : std::true_type {};

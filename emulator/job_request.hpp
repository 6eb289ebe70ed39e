#pragma once
// The submit body of an AQuA job (contract §1.3), parsed and validated on its
// own: every check that needs nothing but the body lives here, so the service
// only adds what depends on its state (sessions, limits). Booleans are
// accepted as JSON booleans or the strings "true"/"false" (§1.9).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "emulator/result_writer.hpp"
#include "emulator/zoql.hpp"

namespace aquaduct::emulator {

// Message of 90005 (client code matches on it: keep it stable, §1.9).
inline constexpr std::string_view syntax_error_message =
    "There is a syntax error in one of the queries in the AQuA input";

struct query_request {
  std::string name;
  std::string query;              // as sent
  std::string type = "zoqlexport";  // zoqlexport | zoql
  std::string api_version = "91.0";
  zoql_query parsed;
  std::optional<deleted_spec> deleted;
  std::string deleted_json;  // the request's "deleted" object, minified; empty if none
  bool force_export = false;  // deleted.forceExport: a stateless job exports deleted rows too (§1.3, §3.5)
  std::string convert_to_currencies;  // "EUR,GBP" as sent (echoed; no converted columns are produced)
};

struct job_request {
  std::string name;
  result_format format = result_format::csv;
  std::string version = "1.0";  // "1.0" | "1.1" | "1.2"
  std::string encrypted = "none";
  std::string partner, project;
  std::optional<std::int64_t> offset;                // seconds, 0..3600
  std::optional<std::int64_t> incremental_time_ms;   // unix ms (from the data-centre-zone text)
  std::string notify_url;
  std::string null_replacement;
  std::string source_data = "LIVE";
  bool use_last_completed = false;
  bool use_query_labels = false;
  bool date_time_utc = false;
  std::vector<query_request> queries;  // may be empty for a stateful follow-up

  // version 1.1/1.2 with partner and project (§4.1).
  bool stateful() const { return version != "1.0" && !partner.empty() && !project.empty(); }
};

// A rejected request: HTTP status (200 for validation errors, 400 for a body
// that is not a JSON object), AQuA errorCode and message.
struct request_error {
  int http_status = 200;
  std::string code;
  std::string message;
};

// Parses `body` (already inflated). On failure returns the error to answer.
// `parser` is reused between calls (one per service thread).
// `zone` reads incrementalTime: the data centre's zone (contract §1.3), not
// the tenant's.
std::optional<request_error> parse_job_request(std::string_view body, simdjson::dom::parser& parser, tenant_zone zone,
                                               job_request& out);

// Upper-case name of a format as the job JSON echoes it ("CSV", "GZIP", "ZIP").
std::string_view format_name(result_format f);

}  // namespace aquaduct::emulator

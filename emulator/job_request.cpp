#include "emulator/job_request.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "emulator/ascii.hpp"
#include "emulator/tenant.hpp"

namespace aquaduct::emulator {

namespace {

request_error invalid(std::string_view code, std::string message) {
  return request_error{200, std::string(code), std::move(message)};
}

// JSON boolean or the strings "true"/"false" (any case); absent or null keeps `out`.
bool read_bool(simdjson::dom::object o, std::string_view key, bool& out, std::string& error) {
  simdjson::dom::element v;
  if (o[key].get(v) || v.is_null()) return true;
  bool b = false;
  if (!v.get(b)) {
    out = b;
    return true;
  }
  std::string_view s;
  if (!v.get(s)) {
    const std::string l = ascii_lower(s);
    if (l == "true" || l == "false") {
      out = l == "true";
      return true;
    }
  }
  error = fmt::format("Malformed request: '{}' must be true or false", key);
  return false;
}

// Optional string member; false (and `error`) when present but not a string.
bool read_string(simdjson::dom::object o, std::string_view key, std::optional<std::string>& out,
                 std::string& error) {
  simdjson::dom::element v;
  if (o[key].get(v) || v.is_null()) return true;
  std::string_view s;
  if (v.get(s)) {
    error = fmt::format("Malformed request: '{}' must be a string", key);
    return false;
  }
  out = std::string(s);
  return true;
}

// "YYYY-MM-DD HH:MM:SS" in the data centre's time zone -> unix milliseconds.
bool parse_incremental_time(std::string_view s, tenant_zone zone, std::int64_t& ms) {
  const auto local = parse_wall_clock(s, ' ');
  if (!local) return false;
  ms = tenant_local_to_utc(zone, *local) * 1000;
  return true;
}

std::optional<request_error> parse_version(simdjson::dom::object o, std::string& version) {
  simdjson::dom::element ver;
  if (o["version"].get(ver) || ver.is_null()) return std::nullopt;
  std::string v = "?";
  std::string_view sv;
  double d = 0;
  std::int64_t i = 0;
  if (!ver.get(sv)) v = std::string(sv);
  else if (!ver.get(i)) v = i == 1 ? "1.0" : "?";
  else if (!ver.get(d)) v = d == 1.0 ? "1.0" : d == 1.1 ? "1.1" : d == 1.2 ? "1.2" : "?";
  if (v == "1") v = "1.0";
  if (v != "1.0" && v != "1.1" && v != "1.2")
    return invalid("90005", fmt::format("Malformed request: unknown version {} (1.0, 1.1 or 1.2)", simdjson::minify(ver)));
  version = v;
  return std::nullopt;
}

std::optional<request_error> parse_query(simdjson::dom::element qe, bool stateful, query_request& b) {
  std::string error;
  simdjson::dom::object q;
  if (qe.get(q)) return invalid("90005", "Malformed request: each query must be a JSON object");
  std::optional<std::string> qname, qtext, qtype, api, currencies;
  if (!read_string(q, "name", qname, error) || !read_string(q, "query", qtext, error) ||
      !read_string(q, "type", qtype, error) || !read_string(q, "apiVersion", api, error) ||
      !read_string(q, "convertToCurrencies", currencies, error))
    return invalid("90005", error);
  b.name = qname.value_or("");
  if (currencies) {
    // A comma-separated list of ISO 4217 codes; anything else is 90021.
    std::string_view rest = *currencies;
    for (;;) {
      const std::size_t comma = rest.find(',');
      const std::string_view code = rest.substr(0, comma);
      if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
        return invalid("90021", fmt::format("Invalid currency '{}' in convertToCurrencies of query '{}'", code, b.name));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    b.convert_to_currencies = *currencies;
  }
  if (!qtext || qtext->empty())
    return invalid("90005", fmt::format("{}: query '{}' has no query text", syntax_error_message, b.name));
  b.query = *qtext;
  b.type = ascii_lower(qtype.value_or("zoqlexport"));
  if (b.type != "zoqlexport" && b.type != "zoql")
    return invalid("90005", fmt::format("{}: query '{}' has type '{}' (zoqlexport or zoql)", syntax_error_message,
                                        b.name, *qtype));
  if (api) b.api_version = *api;
  if (b.type == "zoqlexport" && b.query.size() > 20000)
    return invalid("90005", fmt::format("{}: query '{}' is longer than 20000 characters", syntax_error_message, b.name));
  std::string zerr;
  if (!parse_zoql(b.query, b.type == "zoql" ? zoql_dialect::plain_zoql : zoql_dialect::export_zoql, b.parsed, zerr))
    return invalid("90005", fmt::format("{}: query '{}': {}", syntax_error_message, b.name, zerr));

  simdjson::dom::element del;
  if (q["deleted"].get(del) || del.is_null()) return std::nullopt;
  simdjson::dom::object d;
  std::optional<std::string> column, dformat;
  bool force = false;
  if (del.get(d) || !read_string(d, "column", column, error) || !read_string(d, "format", dformat, error) ||
      !read_bool(d, "forceExport", force, error) || !column || column->empty())
    return invalid("90005", fmt::format("Malformed request: query '{}': deleted must be "
                                        "{{\"column\":\"...\", \"format\":\"Boolean\"|\"Numeric\"}}",
                                        b.name));
  if (dformat && *dformat != "Boolean" && *dformat != "Numeric")
    return invalid("90005",
                   fmt::format("Malformed request: query '{}': deleted format must be Boolean or Numeric", b.name));
  if (!b.parsed.object->supports_deleted)
    return invalid("90017", fmt::format("The object {} of query '{}' does not support deleted records",
                                        b.parsed.object->name, b.name));
  if (!stateful && !force)
    return invalid("90012", fmt::format("Stateless mode does not support deleted records (query '{}'); "
                                        "set forceExport to true",
                                        b.name));
  b.deleted = deleted_spec{*column, dformat && *dformat == "Numeric"};
  b.force_export = force;
  b.deleted_json = simdjson::minify(del);
  return std::nullopt;
}

}  // namespace

std::string_view format_name(result_format f) {
  switch (f) {
    case result_format::csv: return "CSV";
    case result_format::gzip: return "GZIP";
    case result_format::zip: return "ZIP";
  }
  return "CSV";
}

std::optional<request_error> parse_job_request(std::string_view body, simdjson::dom::parser& parser, tenant_zone zone,
                                               job_request& j) {
  simdjson::dom::element doc;
  const simdjson::padded_string padded(body);
  if (auto ec = parser.parse(padded).get(doc))
    return request_error{400, "90005",
                         fmt::format("Malformed request: the body is not JSON ({})", simdjson::error_message(ec))};
  simdjson::dom::object o;
  if (doc.get(o)) return request_error{400, "90005", "Malformed request: the body must be a JSON object"};

  std::string error;
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
    return invalid("90005", fmt::format("Malformed request: the job name must be at most 32 characters (it has {})",
                                        name->size()));
  j.name = name.value_or("");

  const std::string fmt_l = ascii_lower(format.value_or("csv"));
  if (fmt_l == "csv") j.format = result_format::csv;
  else if (fmt_l == "gzip") j.format = result_format::gzip;
  else if (fmt_l == "zip") j.format = result_format::zip;
  else return invalid("90005", fmt::format("Malformed request: unknown format '{}' (csv, zip or gzip)", *format));

  if (auto e = parse_version(o, j.version)) return e;

  if (encrypted) {
    const std::string e = ascii_lower(*encrypted);
    if (e != "none" && e != "pgp") return invalid("90005", "Malformed request: encrypted must be none or pgp");
    j.encrypted = e;  // pgp: the service checks the tenant has a public key
  }
  if (notify && notify->size() >= 5000)
    return invalid("90014", fmt::format("The notifyUrl is too long ({} characters; the limit is 4999)", notify->size()));
  j.notify_url = notify.value_or("");
  j.partner = partner.value_or("");
  j.project = project.value_or("");
  j.null_replacement = null_repl.value_or("");
  if (source) {
    const std::string s = ascii_upper(*source);
    if (s != "LIVE" && s != "WAREHOUSE")
      return invalid("90005", "Malformed request: sourceData must be LIVE or WAREHOUSE");
    j.source_data = s;
  }
  simdjson::dom::element off;
  const bool has_offset = !o["offset"].get(off) && !off.is_null();
  if (has_offset) {
    std::int64_t n = -1;
    if (off.get(n) || n < 0 || n > 3600)
      return invalid("90005", fmt::format("Malformed request: offset must be an integer from 0 to 3600 (got {})",
                                          simdjson::minify(off)));
    j.offset = n;
  }
  if (incremental) {
    std::int64_t ms = 0;
    if (!parse_incremental_time(*incremental, zone, ms))
      return invalid("90015", fmt::format("Invalid incrementalTime '{}'; expected YYYY-MM-DD HH:MM:SS", *incremental));
    j.incremental_time_ms = ms;
  }
  // Stateless mode (version 1.0, or no partner+project) simply runs stateless
  // (§4.1 "1.0 always stateless"): partner and project are echoed, `offset`
  // is accepted and has nothing to shift (it moves the end of an incremental
  // window, and a stateless job has none, §1.3). The two fields that only
  // make sense with a session's memory stay refused.
  if (!j.stateful()) {
    const char* field = incremental ? "incrementalTime" : j.use_last_completed ? "useLastCompletedJobQueries" : nullptr;
    if (field != nullptr)
      return invalid("90005", fmt::format("Malformed request: {} needs stateful mode (version 1.1 or 1.2 with "
                                          "partner and project)",
                                          field));
  }

  simdjson::dom::array queries;
  simdjson::dom::element qel;
  const bool has_queries = !o["queries"].get(qel) && !qel.is_null();
  if (has_queries && qel.get(queries)) return invalid("90005", "Malformed request: queries must be an array");
  const std::size_t nq = has_queries ? queries.size() : 0;
  if (nq > 50) return invalid("90004", fmt::format("A job may have at most 50 queries; this one has {}", nq));
  if (nq == 0 && !j.stateful()) return invalid("90016", "There are no queries in the request");

  const bool stateful = j.stateful();
  if (has_queries) {
    for (simdjson::dom::element qe : queries) {
      query_request b;
      if (auto e = parse_query(qe, stateful, b)) return e;
      j.queries.push_back(std::move(b));
    }
  }
  return std::nullopt;
}

}  // namespace aquaduct::emulator

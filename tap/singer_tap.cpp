#include "tap/singer_tap.hpp"

#include "engine/discovery.hpp"
#include "engine/job_plan.hpp"
#include "engine/json_writer.hpp"
#include "engine/state_store.hpp"
#include "engine/windows.hpp"
#include "sinks/singer_sink.hpp"
#include "sinks/typed_values.hpp"

#include <aquaduct/error.hpp>

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace aquaduct::tap {

namespace {

using std::chrono::sys_seconds;

// tap-zuora's replication keys, best first (discover.py REPLICATION_KEYS);
// with Id they are its automatic properties.
constexpr std::string_view replication_keys[] = {"UpdatedDate", "TransactionDate", "UpdatedOn"};
// Related objects tap-zuora never joins (discover.py UNSUPPORTED_RELATED_OBJECTS).
constexpr std::string_view unjoinable[] = {"SubscriptionStatusHistory"};
// Streams tap-zuora never asks deleted rows of (apis.py DOES_NOT_SUPPORT_DELETED).
constexpr std::string_view no_deleted[] = {
    "AccountingPeriod", "ContactSnapshot", "DiscountAppliedMetrics", "PaymentGatewayReconciliationEventLog",
    "PaymentTransactionLog", "PaymentMethodTransactionLog", "PaymentReconciliationJob", "PaymentReconciliationLog",
    "ProcessedUsage", "RefundTransactionLog", "UpdaterBatch", "UpdaterDetail", "BookingTransaction",
    "CalloutHistory", "SmartPreventionAudit", "HpmCaptchaValidationResult", "EmailHistory"};
// describe type -> the JSON Schema type tap-zuora gives it (discover.py TYPE_MAP).
constexpr std::pair<std::string_view, std::string_view> type_map[] = {
    {"picklist", "string"}, {"text", "string"}, {"boolean", "boolean"}, {"integer", "integer"},
    {"decimal", "number"},  {"date", "date"},   {"datetime", "datetime"}};

template <std::size_t N>
bool among(const std::string_view (&list)[N], std::string_view v) {
  return std::find(std::begin(list), std::end(list), v) != std::end(list);
}

bool is_replication_key(std::string_view name) { return among(replication_keys, name); }

[[noreturn]] void refuse(config_errc code, std::vector<std::string> problems) {
  throw config_error(make_error_code(code), std::move(problems));
}

// A time as tap-zuora's configs and bookmarks hold them: any ISO 8601 form
// with a zone (Z, +hh:mm, +hhmm), with or without fractions, a date alone,
// or a date and time without a zone, read as UTC as pendulum reads it.
// Fractions of a second are dropped (the bookmark moves back, never on).
std::optional<sys_seconds> parse_bookmark_time(std::string_view text) {
  std::string t(text);
  if (t.size() >= 19 && t[10] == ' ') t[10] = 'T';
  if (t.size() == 19 || (t.size() > 20 && t[19] == '.' && t.find_first_of("Z+-", 19) == std::string::npos)) t += 'Z';
  char utc[sinks::utc_datetime_size];
  if (!sinks::utc_datetime(t, utc)) return std::nullopt;
  return engine_detail::parse_iso_utc(std::string(utc, 19) + "Z");
}

// singer-python's strftime: 2026-01-02T03:04:05.000000Z.
std::string bookmark_text(sys_seconds t) {
  std::string s = engine_detail::iso_utc(t);  // ...SSZ
  s.insert(s.size() - 1, ".000000");
  return s;
}

std::string minified(simdjson::dom::element e) { return simdjson::minify(e); }

// AQuA job names have 32 characters at most; some Zuora objects have longer
// names (RevenueEventItemInvoiceItemAdjustment). A longer stream's job is
// named by its first 23 characters, '~' and 8 hex digits of the whole name.
std::string aqua_job_name(const std::string& stream) {
  if (stream.size() <= 32) return stream;
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char ch : stream) h = (h ^ ch) * 16777619u;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", h);
  return stream.substr(0, 23) + "~" + hex;
}

// Pretty JSON (two spaces, as json.dump(indent=2) writes it) from compact JSON.
std::string indented(std::string_view compact) {
  std::string out;
  int depth = 0;
  bool in_string = false;
  const auto newline = [&] {
    out += '\n';
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
  };
  for (std::size_t i = 0; i < compact.size(); ++i) {
    const char c = compact[i];
    out += c;
    if (in_string) {
      if (c == '\\') out += compact[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '{':
      case '[':
        if (i + 1 < compact.size() && (compact[i + 1] == '}' || compact[i + 1] == ']')) {
          out += compact[++i];
          break;
        }
        ++depth;
        newline();
        break;
      case ',': newline(); break;
      case ':': out += ' '; break;
      default: break;
    }
    if (i + 1 < compact.size() && (compact[i + 1] == '}' || compact[i + 1] == ']') && !in_string) {
      --depth;
      newline();
    }
  }
  out += '\n';
  return out;
}

// --- the config ---------------------------------------------------------------

class config_reader {
 public:
  config_reader(std::string path, simdjson::dom::object o) : path_(std::move(path)), o_(o) {}

  // A string value; nullopt when absent or null. A value of another type is a problem.
  std::optional<std::string> text(std::string_view key, bool required = false) {
    simdjson::dom::element e;
    if (o_[key].get(e) || e.is_null()) {
      if (required) problem(std::string(key) + " is required (tap-zuora's config key)");
      return std::nullopt;
    }
    std::string_view v;
    if (e.get_string().get(v)) {
      problem(std::string(key) + " must be a string");
      return std::nullopt;
    }
    if (required && v.empty()) problem(std::string(key) + " must not be empty");
    return std::string(v);
  }
  // tap-zuora's flags are true only when they are the string "true".
  bool flag(std::string_view key) {
    simdjson::dom::element e;
    std::string_view v;
    return !o_[key].get(e) && !e.get_string().get(v) && v == "true";
  }
  std::optional<std::uint64_t> number(std::string_view key) {
    simdjson::dom::element e;
    if (o_[key].get(e) || e.is_null()) return std::nullopt;
    std::uint64_t n;
    std::string_view s;
    if (!e.get_uint64().get(n)) return n;
    if (!e.get_string().get(s)) {
      char* end = nullptr;
      const std::string copy(s);
      n = std::strtoull(copy.c_str(), &end, 10);
      if (!copy.empty() && end && *end == '\0') return n;
    }
    problem(std::string(key) + " must be a whole number of seconds");
    return std::nullopt;
  }
  void problem(std::string message) { problems_.push_back(path_ + ": " + std::move(message)); }
  std::vector<std::string>& problems() { return problems_; }

 private:
  std::string path_;
  simdjson::dom::object o_;
  std::vector<std::string> problems_;
};

// tap-zuora's URL for (sandbox, european): the first its client tries.
std::string default_base_url(bool sandbox, bool european) {
  if (european) return sandbox ? "https://rest.sandbox.eu.zuora.com" : "https://rest.eu.zuora.com";
  return sandbox ? "https://rest.sandbox.na.zuora.com" : "https://rest.na.zuora.com";
}

// --- the catalog --------------------------------------------------------------

struct property_meta {
  bool selected = false;
  std::string inclusion;
  std::string joined_object;
};

struct catalog_stream {
  std::string id;                         // tap_stream_id
  std::string replication_key;            // empty: FULL_TABLE
  std::vector<std::string> key_properties;
  std::vector<std::pair<std::string, std::string>> properties;  // name, its schema (compact JSON), in order
  std::map<std::string, property_meta> meta;                    // by property name
  std::string schema_head;                // the schema's members but properties, compact ("\"type\":\"object\",...")
  bool selected = false;
};

std::vector<catalog_stream> read_catalog(const std::string& path) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const auto bad = [&](const std::string& why) { refuse(config_errc::bad_value, {path + ": " + why}); };
  if (auto e = parser.load(path).get(doc)) bad(std::string("not a JSON catalog: ") + simdjson::error_message(e));
  simdjson::dom::array streams;
  if (doc["streams"].get_array().get(streams)) bad("a Singer catalog has a \"streams\" array");
  std::vector<catalog_stream> out;
  std::size_t index = 0;
  for (simdjson::dom::element s : streams) {
    const std::string where = "streams[" + std::to_string(index++) + "]";
    catalog_stream c;
    std::string_view v;
    if (s["tap_stream_id"].get_string().get(v) && s["stream"].get_string().get(v))
      bad(where + " has no tap_stream_id");
    c.id = std::string(v);
    if (!s["replication_key"].get_string().get(v)) c.replication_key = std::string(v);
    simdjson::dom::array keys;
    if (!s["key_properties"].get_array().get(keys))
      for (auto k : keys)
        if (!k.get_string().get(v)) c.key_properties.emplace_back(v);
    simdjson::dom::object schema, props;
    if (s["schema"].get_object().get(schema) || schema["properties"].get_object().get(props))
      bad(where + " (" + c.id + ") has no schema with properties");
    for (auto [key, value] : schema) {
      if (key == "properties") continue;
      if (key == "selected") {
        bool b = false;
        if (!value.get_bool().get(b)) c.selected = c.selected || b;
      }
      if (!c.schema_head.empty()) c.schema_head += ',';
      c.schema_head += engine_detail::json_quote(key) + ":" + minified(value);
    }
    for (auto [key, value] : props) c.properties.emplace_back(std::string(key), minified(value));
    simdjson::dom::array metadata;
    if (!s["metadata"].get_array().get(metadata))
      for (simdjson::dom::element m : metadata) {
        simdjson::dom::array crumb;
        simdjson::dom::object md;
        if (m["breadcrumb"].get_array().get(crumb) || m["metadata"].get_object().get(md)) continue;
        std::vector<std::string_view> crumbs;
        for (auto part : crumb)
          if (!part.get_string().get(v)) crumbs.push_back(v);
        bool selected = false;
        const bool has_selected = !md["selected"].get_bool().get(selected);
        if (crumbs.empty()) {
          if (has_selected) c.selected = c.selected || selected;
          if (c.replication_key.empty() && !md["replication-key"].get_string().get(v))
            c.replication_key = std::string(v);
          continue;
        }
        if (crumbs.size() != 2 || crumbs[0] != "properties") continue;
        property_meta& pm = c.meta[std::string(crumbs[1])];
        pm.selected = has_selected && selected;
        if (!md["inclusion"].get_string().get(v)) pm.inclusion = std::string(v);
        if (!md["tap-zuora.joined_object"].get_string().get(v)) pm.joined_object = std::string(v);
      }
    if (c.key_properties.empty()) c.key_properties.emplace_back("Id");
    out.push_back(std::move(c));
  }
  return out;
}

// apis.py selected_fields: selected, or automatic; never unsupported; not Deleted.
bool queried(const catalog_stream& c, const std::string& name) {
  if (name == "Deleted") return false;
  const auto it = c.meta.find(name);
  if (it == c.meta.end()) return false;
  return (it->second.selected || it->second.inclusion == "automatic") && it->second.inclusion != "unsupported";
}

bool wants_deleted(const catalog_stream& c) {
  const auto it = c.meta.find("Deleted");
  return !among(no_deleted, c.id) && it != c.meta.end() && it->second.selected &&
         std::any_of(c.properties.begin(), c.properties.end(), [](const auto& p) { return p.first == "Deleted"; });
}

// apis.py joined_fields: AccountId with joined object Account -> Account.Id.
std::string query_field(const catalog_stream& c, const std::string& name) {
  const auto it = c.meta.find(name);
  if (it == c.meta.end() || it->second.joined_object.empty()) return name;
  const std::string& obj = it->second.joined_object;
  std::string rest = name;
  for (auto at = rest.find(obj); at != std::string::npos; at = rest.find(obj, at)) rest.erase(at, obj.size());
  return obj + "." + rest;
}

// The type a property's schema gives its values (singer-python's transform
// tries the first type that is not null).
column_type type_of(std::string_view property_schema, simdjson::dom::parser& parser) {
  simdjson::dom::element e;
  if (parser.parse(property_schema).get(e)) return column_type::text;
  std::string_view format;
  if (!e["format"].get_string().get(format) && format == "date-time") return column_type::datetime;
  std::vector<std::string_view> types;
  std::string_view t;
  simdjson::dom::array list;
  if (!e["type"].get_string().get(t)) types.push_back(t);
  else if (!e["type"].get_array().get(list))
    for (auto x : list)
      if (!x.get_string().get(t)) types.push_back(t);
  for (auto type : types) {
    if (type == "null") continue;
    if (type == "integer") return column_type::integer;
    if (type == "number") return column_type::decimal;
    if (type == "boolean") return column_type::boolean;
    return column_type::text;
  }
  return column_type::text;
}

// --- the state ----------------------------------------------------------------

struct input_state {
  std::map<std::string, std::string> bookmarks;  // stream -> its bookmark object (compact JSON), as given
  std::map<std::string, std::int64_t> versions;
  std::map<std::string, std::string> positions;  // stream -> replication key's bookmark text
  std::set<std::string> unfinished;              // streams whose file_ids a tap-zuora sync left
};

input_state read_state(const std::string& path, const std::vector<catalog_stream>& catalog) {
  input_state in;
  if (path.empty()) return in;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object top;
  if (auto e = parser.load(path).get(doc))
    refuse(config_errc::bad_value, {path + ": not a JSON state: " + std::string(simdjson::error_message(e))});
  if (doc.get_object().get(top)) refuse(config_errc::bad_value, {path + ": a Singer state is a JSON object"});
  simdjson::dom::object marks;
  const bool legacy = top["bookmarks"].get(doc) != simdjson::SUCCESS;
  if (!legacy && doc.get_object().get(marks))
    refuse(config_errc::bad_value, {path + ": \"bookmarks\" must be an object"});
  // A legacy state (tap-zuora's convert_legacy_state): streams at the top level.
  const simdjson::dom::object& source = legacy ? top : marks;
  for (const auto& c : catalog) {
    simdjson::dom::element mark;
    if (source[c.id].get(mark) || mark.is_null()) continue;
    std::string_view text;
    if (legacy && !mark.get_string().get(text)) {  // the oldest tap-zuora kept the timestamp alone
      if (!c.replication_key.empty()) in.positions[c.id] = std::string(text);
      continue;
    }
    simdjson::dom::object o;
    if (mark.get_object().get(o))
      refuse(config_errc::bad_value, {path + ": the bookmark of " + c.id + " must be an object"});
    in.bookmarks[c.id] = minified(mark);
    std::int64_t version;
    if (!o["version"].get_int64().get(version)) in.versions[c.id] = version;
    if (!c.replication_key.empty() && !o[c.replication_key].get_string().get(text))
      in.positions[c.id] = std::string(text);
    simdjson::dom::array files;
    if (!o["file_ids"].get_array().get(files) && files.size() > 0) in.unfinished.insert(c.id);
  }
  if (!legacy)  // bookmarks of streams this sync leaves alone go on as they were
    for (auto [stream, mark] : marks)
      in.bookmarks.try_emplace(std::string(stream), minified(mark));
  return in;
}

// The STATE a sync emits: tap-zuora's layout, every stream's bookmark in
// it, the synced ones moved on as their streams commit.
class state_keeper {
 public:
  struct stream_mark {
    std::int64_t version = 0;
    std::string replication_key;  // empty: FULL_TABLE
    std::optional<sys_seconds> position;
  };

  state_keeper(std::map<std::string, std::string> others, std::map<std::string, stream_mark> synced)
      : others_(std::move(others)), synced_(std::move(synced)) {}

  std::string value_after(const stream_schema& schema, const file_token& token) {
    std::lock_guard lock(m_);
    if (auto it = synced_.find(schema.table); it != synced_.end() && token.cursor && !it->second.replication_key.empty())
      if (!it->second.position || *token.cursor > *it->second.position) it->second.position = token.cursor;
    std::string out = R"({"current_stream":null,"bookmarks":{)";
    bool first = true;
    std::set<std::string> names;
    for (const auto& [name, mark] : others_) names.insert(name);
    for (const auto& [name, mark] : synced_) names.insert(name);
    for (const auto& name : names) {
      if (!first) out += ',';
      first = false;
      out += engine_detail::json_quote(name) + ":";
      const auto it = synced_.find(name);
      if (it == synced_.end()) {
        out += others_.at(name);
        continue;
      }
      out += R"({"version":)" + std::to_string(it->second.version);
      if (!it->second.replication_key.empty() && it->second.position)
        out += "," + engine_detail::json_quote(it->second.replication_key) + ":" +
               engine_detail::json_quote(bookmark_text(*it->second.position));
      out += R"(,"file_ids":null})";
    }
    out += "}}";
    return out;
  }

 private:
  std::mutex m_;
  std::map<std::string, std::string> others_;
  std::map<std::string, stream_mark> synced_;
};

}  // namespace

// --- config -------------------------------------------------------------------

tap_config read_tap_config(const std::string& path) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto e = parser.load(path).get(doc))
    refuse(config_errc::parse_error, {path + ": not a JSON config: " + std::string(simdjson::error_message(e))});
  simdjson::dom::object o;
  if (doc.get_object().get(o)) refuse(config_errc::parse_error, {path + ": the config must be a JSON object"});
  config_reader r(path, o);
  tap_config cfg;
  cfg.path = path;
  const auto start = r.text("start_date", true);
  const auto username = r.text("username", true);
  const auto password = r.text("password", true);
  const auto api_type = r.text("api_type", true);
  if (api_type && *api_type == "REST")
    r.problem("api_type \"REST\" is not supported: aquaduct extracts through AQuA only; set api_type to \"AQUA\" "
              "(the same catalog and state work)");
  else if (api_type && *api_type != "AQUA")
    r.problem("api_type must be \"AQUA\" (or tap-zuora's \"REST\", which aquaduct does not support)");
  const auto partner = r.text("partner_id");
  if (api_type == "AQUA" && (!partner || partner->empty()))
    r.problem("partner_id is required when api_type is \"AQUA\" (the partner of every AQuA job)");
  cfg.partner_id = partner.value_or("");
  const std::string auth = r.text("auth_type").value_or("BASIC");
  if (auth != "BASIC" && auth != "OAUTH") r.problem("auth_type must be \"BASIC\" or \"OAUTH\"");
  if (start) {
    if (auto t = parse_bookmark_time(*start)) cfg.start = *t;
    else r.problem("start_date '" + *start + "' is not a time: use e.g. 2020-01-01T00:00:00Z");
  }
  const bool sandbox = r.flag("sandbox"), european = r.flag("european");
  cfg.source.base_url = r.text("base_url").value_or(default_base_url(sandbox, european));
  while (!cfg.source.base_url.empty() && cfg.source.base_url.back() == '/') cfg.source.base_url.pop_back();
  if (auth == "OAUTH") {
    cfg.source.auth.type = auth_type::oauth;
    cfg.source.auth.client_id = username.value_or("");
    cfg.source.auth.client_secret = password.value_or("");
  } else {  // tap-zuora's BASIC: the apiAccessKeyId and apiSecretAccessKey headers
    cfg.source.auth.type = auth_type::api_key;
    cfg.source.auth.access_key_id = username.value_or("");
    cfg.source.auth.secret_access_key = password.value_or("");
  }
  cfg.source.poll.timeout_s = 12 * 3600;  // tap-zuora waits 12 hours for a job
  const std::string mode = r.text("aquaduct_mode").value_or("stateful");
  if (mode == "stateless") cfg.mode = tap_mode::stateless;
  else if (mode != "stateful") r.problem("aquaduct_mode must be \"stateful\" (tap-zuora's sessions) or \"stateless\"");
  if (auto lag = r.number("aquaduct_lag_s")) cfg.lag_s = static_cast<std::uint32_t>(std::min<std::uint64_t>(*lag, 86400 * 30));
  cfg.source.tenant_time_zone = r.text("tenant_time_zone").value_or("");
  // The catalog decides the columns' types: no describe during a sync.
  cfg.source.describe = false;
  if (!r.problems().empty()) refuse(config_errc::bad_value, std::move(r.problems()));
  return cfg;
}

// --- discover -----------------------------------------------------------------

std::string discover_catalog(const tap_config& cfg, const std::function<void(const log_record&)>& log) {
  pipeline_config source_only;
  source_only.path = cfg.path;
  source_only.source = cfg.source;
  engine_detail::discovery_options opts;
  opts.log = log;
  const std::vector<engine_detail::discovered_object> objects = engine_detail::discover(source_only, opts);
  std::string out = R"({"streams":[)";
  bool first_stream = true;
  for (const auto& o : objects) {
    if (!o.refused_object.empty()) continue;
    const auto has = [&](std::string_view name) {
      return std::any_of(o.fields.begin(), o.fields.end(), [&](const auto& f) { return f.name == name; });
    };
    // A stream whose Id or replication key the export does not give is left out.
    const bool key_missing =
        !has("Id") || std::any_of(o.not_exportable.begin(), o.not_exportable.end(),
                                  [](const std::string& n) { return is_replication_key(n); });
    if (key_missing) continue;
    std::string replication_key;
    for (auto k : replication_keys)
      if (replication_key.empty() && has(k)) replication_key = std::string(k);
    // tap-zuora keys properties and metadata by name: a relation's "<R>Id"
    // that is also a field's name (Invoice.AccountId and Account.Id) is one
    // property, where the field stands, with the relation's schema and both
    // metadata merged (its dicts keep a key's first position).
    struct property {
      std::string name, schema;
      std::vector<std::pair<std::string, std::string>> meta;  // key, JSON value, in order
    };
    std::vector<property> properties;
    const auto at = [&](const std::string& name) -> property& {
      for (auto& p : properties)
        if (p.name == name) return p;
      return properties.emplace_back(property{name, {}, {}});
    };
    const auto set = [](property& p, std::string key, std::string value) {
      for (auto& [k, v] : p.meta)
        if (k == key) {
          v = std::move(value);
          return;
        }
      p.meta.emplace_back(std::move(key), std::move(value));
    };
    // Describe's order: the exportable fields (accepted or refused by the export), then the relations.
    std::set<std::string> refused;
    for (const auto& f : o.refused) refused.insert(f.name);
    for (const auto& [name, type] : o.exportable) {
      std::string_view json_type;
      for (const auto& [zuora, singer] : type_map)
        if (zuora == type) json_type = singer;
      // Beyond tap-zuora: a field the export refuses keeps its type and is unsupported.
      const bool supported = !json_type.empty() && !refused.count(name);
      property& p = at(name);
      if (json_type == "date" || json_type == "datetime") p.schema = R"({"type":["string","null"],"format":"date-time"})";
      else if (!json_type.empty()) p.schema = R"({"type":[")" + std::string(json_type) + R"(","null"]})";
      else p.schema = R"({"type":null})";  // as tap-zuora writes a type it does not map
      const bool automatic = name == "Id" || is_replication_key(name);
      set(p, "inclusion", automatic ? R"("automatic")" : supported ? R"("available")" : R"("unsupported")");
    }
    for (const auto& rel : o.related) {
      if (among(unjoinable, rel)) continue;
      property& p = at(rel + "Id");
      p.schema = R"({"type":["string","null"]})";
      set(p, "tap-zuora.joined_object", engine_detail::json_quote(rel));
      set(p, "inclusion", R"("available")");
    }
    if (o.deleted.value_or(false)) {
      property& p = at("Deleted");
      p.schema = R"({"type":"boolean"})";
      set(p, "inclusion", R"("available")");
    }
    std::string props, meta;
    for (const auto& p : properties) {
      if (!props.empty()) props += ',';
      props += engine_detail::json_quote(p.name) + ":" + p.schema;
      meta += R"(,{"breadcrumb":["properties",)" + engine_detail::json_quote(p.name) + R"(],"metadata":{)";
      for (std::size_t i = 0; i < p.meta.size(); ++i)
        meta += (i ? "," : "") + engine_detail::json_quote(p.meta[i].first) + ":" + p.meta[i].second;
      meta += "}}";
    }
    const std::string method = replication_key.empty() ? "FULL_TABLE" : "INCREMENTAL";
    std::string root = R"({"breadcrumb":[],"metadata":{"table-key-properties":["Id"],"forced-replication-method":")" +
                       method + "\"";
    if (!replication_key.empty()) root += R"(,"valid-replication-keys":[)" + engine_detail::json_quote(replication_key) + "]";
    root += R"(,"inclusion":"available"}})";
    if (!first_stream) out += ',';
    first_stream = false;
    out += R"({"tap_stream_id":)" + engine_detail::json_quote(o.name) + R"(,"stream":)" +
           engine_detail::json_quote(o.name) + R"(,"key_properties":["Id"],"schema":{"type":"object",)" +
           R"("additionalProperties":false,"properties":{)" + props + R"(}},"metadata":[)" + root + meta +
           R"(],"replication_key":)" + (replication_key.empty() ? "null" : engine_detail::json_quote(replication_key)) +
           R"(,"replication_method":")" + method + "\"}";
  }
  out += "]}";
  return indented(out);
}

// --- sync -----------------------------------------------------------------------

tap_sync::~tap_sync() {
  if (temp_dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(temp_dir_, ec);
}

tap_sync prepare_sync(const tap_config& cfg, const std::string& catalog_path, const std::string& state_path,
                      std::function<void(const log_record&)> log) {
  const std::vector<catalog_stream> catalog = read_catalog(catalog_path);
  const input_state in = read_state(state_path, catalog);
  const auto say = [&](log_level level, std::string message, const std::string& stream) {
    log_record r;
    r.level = level;
    r.message = std::move(message);
    r.job = stream;
    if (log) log(r);
  };

  tap_sync sync;
  sync.pipeline.path = cfg.path;
  sync.pipeline.source = cfg.source;
  const std::int64_t now_version =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  sinks::singer_tap_options tap;
  std::map<std::string, state_keeper::stream_mark> marks;
  std::vector<engine_detail::cursor> seeds;
  simdjson::dom::parser parser;
  std::set<std::string> seen;
  for (const auto& c : catalog) {
    if (!c.selected) continue;
    if (!seen.insert(c.id).second)
      refuse(config_errc::bad_value, {catalog_path + ": stream " + c.id + " is in the catalog twice"});
    std::vector<std::string> fields;
    std::string select;
    sinks::singer_tap_stream out;
    out.key_properties = c.key_properties;
    std::string schema_props;
    for (const auto& [name, schema] : c.properties) {
      const bool deleted = name == "Deleted" && wants_deleted(c);
      if (!queried(c, name) && !deleted) continue;
      if (!deleted) select += (select.empty() ? "" : ", ") + query_field(c, name);
      if (!schema_props.empty()) schema_props += ',';
      schema_props += engine_detail::json_quote(name) + ":" + schema;
      out.types[name] = type_of(schema, parser);
    }
    if (select.empty())
      refuse(config_errc::bad_value, {catalog_path + ": stream " + c.id + " is selected but none of its properties is"});
    out.schema = "{" + c.schema_head + (c.schema_head.empty() ? "" : ",") + R"("properties":{)" + schema_props + "}}";

    state_keeper::stream_mark mark;
    mark.version = in.versions.count(c.id) ? in.versions.at(c.id) : now_version;
    mark.replication_key = c.replication_key;
    if (!c.replication_key.empty()) {
      mark.position = cfg.start;
      if (auto it = in.positions.find(c.id); it != in.positions.end()) {
        const auto t = parse_bookmark_time(it->second);
        if (!t)
          refuse(config_errc::bad_value, {state_path + ": the bookmark " + c.replication_key + " of " + c.id + " ('" +
                                          it->second + "') is not a time"});
        mark.position = *t;
      }
    }
    if (in.unfinished.count(c.id))
      say(log_level::info,
          "the state names result files of an unfinished tap-zuora sync; a new job from the bookmark covers them", c.id);

    // Stateful, the job and its query are named after the session's project,
    // as tap-zuora names them (a session knows its queries by name).
    const std::string project = c.id + "_" + std::to_string(mark.version);
    const std::string name = cfg.mode == tap_mode::stateful ? project : c.id;
    job_config job;
    job.name = aqua_job_name(name);
    job.format = "gzip";
    job.version = "1.2";
    job.use_query_labels = true;
    job.date_time_utc = true;
    query_config q;
    q.name = name;
    q.table = c.id;
    q.query = "select " + select + " from " + c.id;
    if (wants_deleted(c)) q.deleted = deleted_config{"Deleted", "Boolean", cfg.mode == tap_mode::stateless};
    if (cfg.mode == tap_mode::stateful) {
      job.partner = cfg.partner_id;
      job.project = project;
      if (!c.replication_key.empty()) q.query += " order by " + c.replication_key + " asc";
    } else if (!c.replication_key.empty()) {
      incremental_config inc;
      inc.by = c.replication_key;
      inc.lag_s = cfg.lag_s;
      inc.start = engine_detail::iso_utc(*mark.position);
      q.incremental = inc;
    }
    if (cfg.mode == tap_mode::stateful && mark.position) {
      engine_detail::cursor seed;
      seed.job = job.name;
      seed.query = q.name;
      seed.mode = "stateful";
      seed.position = mark.position;
      seed.fingerprint = engine_detail::fingerprint_of(q);
      seed.source = engine_detail::source_identity(cfg.source);
      seeds.push_back(std::move(seed));
    }
    job.queries.push_back(std::move(q));
    sync.pipeline.jobs.push_back(std::move(job));
    tap.streams.emplace(c.id, std::move(out));
    marks.emplace(c.id, mark);
  }
  sync.streams = sync.pipeline.jobs.size();

  std::map<std::string, std::string> others;
  for (const auto& [name, mark] : in.bookmarks)
    if (!marks.count(name)) others.emplace(name, mark);
  auto keeper = std::make_shared<state_keeper>(std::move(others), std::move(marks));
  tap.state = [keeper](const stream_schema& schema, const file_token& token) {
    return keeper->value_after(schema, token);
  };
  sinks::singer_sink_options sink_opts;
  sink_opts.tap = std::move(tap);
  sync.output = sinks::make_singer_sink(std::move(sink_opts));

  // The engine keeps its cursors in a directory of its own for the sync,
  // seeded from the state file: the state file stays the only state.
  std::string tmpl = (std::filesystem::temp_directory_path() / "aquaduct-tap-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    throw std::system_error(errno, std::generic_category(), "aquaduct tap: cannot create a temporary directory");
  sync.temp_dir_ = tmpl;
  engine_detail::state_directory store(sync.temp_dir_);
  for (const auto& seed : seeds) store.save(seed);
  sync.options.state_dir = sync.temp_dir_.string();
  sync.options.log = std::move(log);
  return sync;
}

}  // namespace aquaduct::tap

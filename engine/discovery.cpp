#include "engine/discovery.hpp"

#include "engine/aqua_client.hpp"
#include "engine/json_writer.hpp"
#include "engine/tenant_schema.hpp"
#include "transport/redact.hpp"

#include <aquaduct/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>

namespace aquaduct::engine_detail {

namespace {

// The replication columns an incremental query may run on, best first.
constexpr std::string_view replication_columns[] = {"UpdatedDate", "TransactionDate", "UpdatedOn"};
// The deleted column every written query and deleted probe uses.
constexpr std::string_view deleted_column = "IsDeleted";
// A bound on the probe jobs of one object (a bisection of n fields takes
// about 2·k·log2(n) for k refused ones).
constexpr unsigned max_probes = 64;

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// `word` stands in `text` as a whole identifier ("Account.Nope:" names Nope).
bool names(std::string_view text, std::string_view word) {
  for (auto at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    const std::size_t end = at + word.size();
    if ((at == 0 || !ident_char(text[at - 1])) && (end == text.size() || !ident_char(text[end]))) return true;
  }
  return false;
}

struct probe_answer {
  bool accepted = false;
  std::string code;     // AQuA's errorCode when refused
  std::string message;  // "errorCode N: message", redacted
};

class prober {
 public:
  explicit prober(aqua_client& client) : client_(client) {}

  // One job of one query, `select <fields> from <object> limit 1`, cancelled
  // at once when the service accepts it.
  asio::awaitable<probe_answer> probe(discovered_object& o, std::vector<std::string> fields, bool deleted) {
    ++o.probes;
    std::string select;
    for (const auto& f : fields) select += (select.empty() ? "" : ", ") + f;
    std::string query = fmt::format(
        R"({{"name":{},"query":{},"type":"zoqlexport")", json_quote(o.name),
        json_quote("select " + select + " from " + o.name + " limit 1"));
    if (deleted)
      query += fmt::format(R"(,"deleted":{{"column":{},"format":"Boolean","forceExport":true}})",
                           json_quote(deleted_column));
    query += "}";
    const std::string body = R"({"format":"csv","version":"1.1","name":"aquaduct-discover","encrypted":"none",)"
                             R"("useQueryLabels":true,"dateTimeUtc":true,"queries":[)" +
                             query + "]}";
    const std::string reply =
        co_await client_.post_json(aqua_client::submit_request({}, {}).target, body);
    probe_answer a;
    const decode::error_reply err = json_.parse_error(reply);
    if (!err.code.empty() || err.status == "error") {
      a.code = err.code;
      a.message = transport::redact("errorCode " + err.code + (err.message.empty() ? "" : ": " + err.message));
      co_return a;
    }
    decode::aqua_job job;
    std::error_code ec;
    std::string what;
    json_.parse_job(reply, job, ec, what);
    if (ec || job.id.empty()) {
      a.message = "the service's answer to a probe job is not a job: " + transport::redact(what);
      co_return a;
    }
    a.accepted = true;
    // Cancelled at once; a job already completed answers 90003, which is fine.
    try {
      co_await client_.delete_json(aqua_client::job_target(job.id));
    } catch (const std::system_error&) {
    }
    co_return a;
  }

  // The fields of `fields` the export refuses on their own, by halves.
  asio::awaitable<void> bisect(discovered_object& o, std::vector<std::string> fields,
                               std::vector<refused_field>& refused) {
    if (fields.empty() || o.probes >= max_probes) co_return;
    probe_answer a = co_await probe(o, fields, false);
    if (a.accepted) co_return;
    if (fields.size() == 1) {
      refused.push_back({fields[0], a.message});
      co_return;
    }
    const auto half = fields.begin() + static_cast<std::ptrdiff_t>(fields.size() / 2);
    co_await bisect(o, std::vector<std::string>(fields.begin(), half), refused);
    co_await bisect(o, std::vector<std::string>(half, fields.end()), refused);
  }

  asio::awaitable<void> examine(discovered_object& o) {
    std::vector<std::string> fields;
    for (const auto& f : o.fields) fields.push_back(f.name);
    if (fields.empty()) co_return;
    probe_answer a = co_await probe(o, fields, true);
    if (a.accepted) {
      o.deleted = true;
      co_return;
    }
    if (a.code == "90017") {
      o.deleted = false;
      a = co_await probe(o, fields, false);
    }
    // A refusal that names a field drops it; the rest are probed again.
    while (!a.accepted && o.probes < max_probes) {
      auto named = std::find_if(fields.begin(), fields.end(), [&](const std::string& f) { return names(a.message, f); });
      if (named == fields.end() || fields.size() == 1) break;
      o.refused.push_back({*named, a.message});
      fields.erase(named);
      a = co_await probe(o, fields, false);
    }
    if (!a.accepted) {
      // Is the object itself refused? Else find the fields by halves.
      const bool has_id = std::find(fields.begin(), fields.end(), "Id") != fields.end();
      std::vector<std::string> one;  // (g++ 12: no braced list as a coroutine's argument)
      one.push_back(has_id ? std::string("Id") : fields.front());
      probe_answer base = co_await probe(o, one, false);
      if (!base.accepted && fields.size() > 1) {
        o.refused_object = base.message;
      } else {
        std::vector<refused_field> found;
        co_await bisect(o, fields, found);
        for (auto& f : found) {
          fields.erase(std::find(fields.begin(), fields.end(), f.name));
          o.refused.push_back(std::move(f));
        }
        if (fields.empty()) o.refused_object = a.message;
      }
    }
    if (!o.deleted && o.refused_object.empty()) {
      std::vector<std::string> one;
      one.push_back(fields.front());
      const probe_answer d = co_await probe(o, one, true);
      if (d.accepted) o.deleted = true;
      else if (d.code == "90017") o.deleted = false;
    }
    // Only the accepted fields stay.
    std::erase_if(o.fields, [&](const discovered_field& f) {
      return !o.refused_object.empty() || std::find(fields.begin(), fields.end(), f.name) == fields.end();
    });
  }

 private:
  aqua_client& client_;
  decode::json_reader json_;
};

discovered_object from_describe(const decode::describe_object& d) {
  discovered_object o;
  o.name = d.name;
  o.label = d.label;
  for (const auto& f : d.fields) {
    if (f.exportable()) o.fields.push_back({f.name, f.type});
    else o.not_exportable.push_back(f.name);
  }
  for (const auto& r : d.related) o.related.push_back(r.name);
  o.exportable = o.fields;
  return o;
}

void choose_replication_column(discovered_object& o) {
  for (auto column : replication_columns)
    for (const auto& f : o.fields)
      if (f.name == column) {
        const column_type t = column_type_of(f.type);
        if (t == column_type::datetime || t == column_type::date) {
          o.replication_column = f.name;
          return;
        }
      }
}

asio::awaitable<std::vector<discovered_object>> discover_in(aqua_client& client, std::vector<std::string> wanted) {
  tenant_schema schema(client);
  const std::vector<decode::describe_object_ref>& list = *co_await schema.objects();
  std::vector<std::string> names;
  if (wanted.empty()) {
    for (const auto& r : list) names.push_back(r.name);
  } else {
    for (const auto& w : wanted) {
      auto it = std::find_if(list.begin(), list.end(), [&](const auto& r) { return iequal(r.name, w); });
      if (it == list.end()) {
        std::vector<std::string> all;
        for (const auto& r : list) all.push_back(r.name);
        const std::string near = nearest(w, all);
        throw std::system_error(make_error_code(aqua_errc::http_error),
                                "object " + transport::redact(w) + " is not described by the tenant" +
                                    (near.empty() ? std::string() : " (did you mean " + near + "?)"));
      }
      if (std::find(names.begin(), names.end(), it->name) == names.end()) names.push_back(it->name);
    }
  }
  std::vector<discovered_object> out;
  prober p(client);
  for (const auto& n : names) {
    discovered_object o = from_describe(*co_await schema.object(n));
    if (o.name.empty()) o.name = n;
    co_await p.examine(o);
    choose_replication_column(o);
    out.push_back(std::move(o));
  }
  co_return out;
}

// --- the written pipeline ---------------------------------------------------

std::string toml_quote(std::string_view s) { return json_quote(s); }  // a TOML basic string is a JSON string

// A sink or TLS path written relative to the config's directory, rewritten
// for the new file's directory (an absolute one, or one with ${VAR}, stays).
void rebase_paths(toml::table& t, const std::filesystem::path& from_dir, const std::filesystem::path& to_dir) {
  for (auto&& [key, value] : t) {
    const std::string_view k = key.str();
    if (k != "path" && !k.ends_with("_file") && !k.ends_with("_dir")) continue;
    auto* s = value.as_string();
    if (!s) continue;
    const std::string& v = s->get();
    if (v.empty() || v == "-" || v.front() == ':' || v.starts_with("file:") || v.find('$') != std::string::npos ||
        std::filesystem::path(v).is_absolute())
      continue;
    const std::filesystem::path target = (from_dir / v).lexically_normal();
    s->get() = target.lexically_proximate(to_dir.lexically_normal()).string();
  }
}

std::string formatted(const toml::table& t) {
  std::ostringstream out;
  out << toml::toml_formatter(t, toml::toml_formatter::default_flags & ~toml::format_flags::indentation);
  return out.str();
}

std::string job_name(std::size_t index) { return index == 0 ? "zuora" : fmt::format("zuora-{}", index + 1); }

}  // namespace

std::vector<discovered_object> discover(const pipeline_config& cfg, const discovery_options& opts) {
  if (cfg.source.base_url.empty())
    throw config_error(config_errc::missing_key,
                       {(cfg.path.empty() ? std::string("the pipeline") : cfg.path) +
                        ": [source] has no base_url or environment: there is no tenant to describe"});
  asio::io_context io;
  aqua_session session = make_aqua_session(io.get_executor(), cfg.source, cfg.path, run_log(opts.log));
  session.log.hide(secrets_of(cfg.source));
  std::future<std::vector<discovered_object>> result = asio::co_spawn(
      io,
      [](aqua_session s, std::vector<std::string> wanted) -> asio::awaitable<std::vector<discovered_object>> {
        aqua_client client(std::move(s), "discover");
        co_return co_await discover_in(client, std::move(wanted));
      }(std::move(session), opts.objects),
      asio::use_future);
  io.run();
  return result.get();
}

std::string to_text(const std::vector<discovered_object>& objects) {
  std::string out;
  for (const auto& o : objects) {
    if (!out.empty()) out += '\n';
    out += o.name;
    if (!o.label.empty() && o.label != o.name) out += " (" + o.label + ")";
    if (!o.refused_object.empty()) {
      out += ": refused by the export: " + o.refused_object + "\n";
      continue;
    }
    out += fmt::format(": {} exportable field{}; deleted rows: {}; {}\n", o.fields.size(),
                       o.fields.size() == 1 ? "" : "s", !o.deleted ? "unknown" : *o.deleted ? "yes" : "no",
                       o.replication_column.empty() ? "no replication column (full loads)"
                                                    : "incremental on " + o.replication_column);
    std::size_t w = 5;
    for (const auto& f : o.fields) w = std::max(w, f.name.size());
    out += fmt::format("  {:<{}}  {:<10}  {}\n", "FIELD", w, "TYPE", "COLUMN");
    for (const auto& f : o.fields)
      out += fmt::format("  {:<{}}  {:<10}  {}\n", f.name, w, f.type.empty() ? "text" : f.type,
                         to_string(column_type_of(f.type)));
    for (const auto& f : o.refused) out += fmt::format("  refused by the export: {} ({})\n", f.name, f.reason);
    if (!o.not_exportable.empty()) {
      std::string list;
      for (const auto& n : o.not_exportable) list += (list.empty() ? "" : ", ") + n;
      out += "  not exportable (describe): " + list + "\n";
    }
  }
  return out;
}

std::string to_json(const std::vector<discovered_object>& objects) {
  std::string out = "{\"objects\":[";
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const auto& o = objects[i];
    out += fmt::format(R"({}{{"name":{},"label":{},"fields":[)", i ? "," : "", json_quote(o.name), json_quote(o.label));
    for (std::size_t k = 0; k < o.fields.size(); ++k)
      out += fmt::format(R"({}{{"name":{},"type":{},"column_type":{}}})", k ? "," : "", json_quote(o.fields[k].name),
                         json_quote(o.fields[k].type), json_quote(to_string(column_type_of(o.fields[k].type))));
    out += "],\"not_exportable\":[";
    for (std::size_t k = 0; k < o.not_exportable.size(); ++k) {
      if (k) out += ',';
      out += json_quote(o.not_exportable[k]);
    }
    out += "],\"refused\":[";
    for (std::size_t k = 0; k < o.refused.size(); ++k)
      out += fmt::format(R"({}{{"name":{},"reason":{}}})", k ? "," : "", json_quote(o.refused[k].name),
                         json_quote(o.refused[k].reason));
    out += fmt::format(R"(],"replication_column":{},"deleted":{},"refused_object":{}}})",
                       o.replication_column.empty() ? "null" : json_quote(o.replication_column),
                       !o.deleted ? "null" : *o.deleted ? "true" : "false",
                       o.refused_object.empty() ? "null" : json_quote(o.refused_object));
  }
  out += "]}\n";
  return out;
}

std::string pipeline_toml(const std::vector<discovered_object>& objects, const std::string& config_path,
                          const std::string& out_path) {
  std::string out =
      "# Written by `aquaduct discover --write`: one query per object of the tenant, with every field\n"
      "# describe marks exportable and the export accepts; incremental on the object's replication\n"
      "# column (UpdatedDate, TransactionDate or UpdatedOn; none: a full load every run), the deleted\n"
      "# column where the object supports deleted rows. Fields the export refused are left out, each\n"
      "# with a comment. Check it with `aquaduct validate`; every key: docs/config.md.\n\n";
  toml::table source, sinks;
  if (!config_path.empty()) {
    // As written in the config: ${VAR} references stay references.
    toml::table raw = toml::parse_file(config_path);
    const auto from_dir = std::filesystem::absolute(config_path).parent_path();
    const auto to_dir = std::filesystem::absolute(out_path).parent_path();
    if (auto* s = raw["source"].as_table()) {
      if (auto* tls = (*s)["tls"].as_table()) rebase_paths(*tls, from_dir, to_dir);
      source.insert("source", *s);
    }
    if (auto* arr = raw["sinks"].as_array()) {
      for (auto&& sink : *arr)
        if (auto* t = sink.as_table()) rebase_paths(*t, from_dir, to_dir);
      if (!arr->empty()) sinks.insert("sinks", *arr);
    }
  }
  if (source.empty())
    out += "# No base_url: `aquaduct run` serves this pipeline from its embedded emulator. For a tenant,\n"
           "# set base_url (or environment) and [source.auth], secrets through ${VAR}, e.g.\n"
           "#   [source.auth]\n#   type = \"oauth\"\n#   client_id = \"${ZUORA_CLIENT_ID}\"\n"
           "#   client_secret = \"${ZUORA_CLIENT_SECRET}\"\n[source]\n";
  else
    out += formatted(source) + "\n";

  // AQuA takes at most 50 queries a job.
  std::vector<const discovered_object*> written;
  std::string left_out;
  for (const auto& o : objects) {
    if (o.fields.empty() || !o.refused_object.empty())
      left_out += "# " + o.name + " is left out: " +
                  (o.refused_object.empty() ? std::string("describe marks none of its fields exportable")
                                            : "the export refused it: " + o.refused_object) +
                  "\n";
    else
      written.push_back(&o);
  }
  if (!left_out.empty()) out += "\n" + left_out;
  for (std::size_t i = 0; i < written.size(); ++i) {
    if (i % 50 == 0) out += fmt::format("\n[[jobs]]\nname = {}\n", toml_quote(job_name(i / 50)));
    const discovered_object& o = *written[i];
    out += "\n[[jobs.queries]]\n";
    out += "name = " + toml_quote(o.name) + "\n";
    std::string select;
    for (const auto& f : o.fields) select += (select.empty() ? "" : ", ") + f.name;
    out += "query = " + toml_quote("select " + select + " from " + o.name) + "\n";
    for (const auto& f : o.refused)
      out += "# left out: " + f.name + ", which describe lists as exportable but the export refused: " + f.reason +
             "\n";
    if (o.replication_column.empty()) {
      out += "# no replication column (UpdatedDate, TransactionDate, UpdatedOn): a full load every run\n";
      continue;
    }
    out += "incremental = { by = " + toml_quote(o.replication_column) + " }\n";
    if (o.deleted.value_or(false))
      out += "deleted = { column = " + toml_quote(deleted_column) + ", format = \"Boolean\", force_export = true }\n";
    else
      out += "# no deleted column: the object does not support deleted rows (errorCode 90017)\n";
  }
  out += "\n";
  if (sinks.empty())
    out += "# No sinks in the config: CSV files under out/ beside this file. docs/sinks.md lists the others.\n"
           "[[sinks]]\ntype = \"csv\"\npath = \"out\"\n";
  else
    out += formatted(sinks);
  if (!out.ends_with('\n')) out += '\n';
  return out;
}

}  // namespace aquaduct::engine_detail

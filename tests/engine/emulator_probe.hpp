#pragma once
// What the engine tests use to check the engine from outside: the emulator's
// admin endpoints (/_emulator/stats, /mutate, /faults), an independent full
// export (a plain stateless AQuA job submitted, polled and downloaded here,
// not by the engine), a reader of the sqlite sink's tables, and the TOML
// snippets the tests build pipelines from.
#include "support/csv_table.hpp"
#include "support/run_sync.hpp"
#include "transport/http_client.hpp"

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <doctest/doctest.h>
#include <simdjson.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace aquaduct::test {

inline rows sorted(rows r) {
  std::sort(r.begin(), r.end());
  return r;
}

struct emulator_stats {
  std::uint64_t active_stateless = 0;
  std::uint64_t active_stateful = 0;
  std::uint64_t faults_armed = 0;
  std::map<std::string, std::uint64_t> jobs;                                    // by status
  std::map<std::string, std::map<std::string, std::uint64_t>> requests;         // path -> status -> count

  std::uint64_t job_count(const std::string& status) const {
    const auto it = jobs.find(status);
    return it == jobs.end() ? 0 : it->second;
  }
  std::uint64_t request_count(const std::string& path, const std::string& status) const {
    const auto p = requests.find(path);
    if (p == requests.end()) return 0;
    const auto s = p->second.find(status);
    return s == p->second.end() ? 0 : s->second;
  }
  // Answers of any path with this HTTP status.
  std::uint64_t status_count(const std::string& status) const {
    std::uint64_t n = 0;
    for (const auto& [path, by_status] : requests)
      if (const auto s = by_status.find(status); s != by_status.end()) n += s->second;
    return n;
  }
};

struct mutation {
  std::vector<std::string> created, updated, deleted;
};

// The emulator's truth for one object (docs/emulator.md, "The truth oracle").
struct truth {
  std::string at, now;                         // YYYY-MM-DDTHH:MM:SSZ
  std::map<std::string, std::string> live;     // Id -> its UpdatedDate at `at`
  std::map<std::string, std::string> deleted;  // Id -> when it was deleted (any time)
};

// What a sink holds of one object: each record's Id and UpdatedDate, and
// whether it is flagged deleted.
struct held_row {
  std::string id, updated;
  bool flagged = false;
};

// The promise of a run that started at `start` and ended at `end` on a live
// tenant (docs/architecture.md, "Delivery guarantee"), for a sink content that
// is one table or one file: every row alive at the start and not deleted
// before the end is held; none is held twice; none deleted before the start
// is held unless flagged; every row's version is at least its version at the
// start. Empty when kept, else one line per broken promise (ids abridged).
// A typed sink's RFC 3339 datetime (`...+00:00`) in the export's and the
// truth's form (`...+0000`); other text unchanged.
inline std::string export_time(std::string t) {
  if (t.size() >= 6 && t[t.size() - 3] == ':' && (t[t.size() - 6] == '+' || t[t.size() - 6] == '-'))
    t.erase(t.size() - 3, 1);
  return t;
}

inline std::string judge_live(const truth& at_start, const std::string& end, const std::vector<held_row>& held) {
  const auto as_version = [](const std::string& t) { return t.substr(0, 19) + "+0000"; };  // ...Z -> result form
  const std::string s = as_version(at_start.at), e = as_version(end);
  const auto deleted_before = [&](const std::string& id, const std::string& t) {
    const auto d = at_start.deleted.find(id);
    return d != at_start.deleted.end() && d->second < t;
  };
  std::map<std::string, std::vector<std::string>> broken;
  std::map<std::string, const held_row*> by_id;
  for (const held_row& r : held) {
    if (!by_id.emplace(r.id, &r).second) broken["held twice"].push_back(r.id);
    if (deleted_before(r.id, s) && !r.flagged) broken["deleted before the start, held"].push_back(r.id);
    if (const auto l = at_start.live.find(r.id);
        l != at_start.live.end() && !r.flagged && export_time(r.updated) < l->second)
      broken["older than at the start"].push_back(r.id + " " + r.updated + " < " + l->second);
  }
  for (const auto& [id, version] : at_start.live) {
    if (deleted_before(id, e)) continue;
    const auto h = by_id.find(id);
    if (h == by_id.end() || h->second->flagged) broken["alive at the start, missing"].push_back(id);
  }
  std::string out;
  for (const auto& [what, ids] : broken) {
    out += std::to_string(ids.size()) + " " + what + ":";
    for (std::size_t i = 0; i < ids.size() && i < 5; ++i) out += " " + ids[i];
    out += ids.size() > 5 ? " ...\n" : "\n";
  }
  return out;
}

// One probe per thread: it owns its io_context and HTTP client.
class emulator_probe {
 public:
  explicit emulator_probe(const std::string& base_url) {
    std::error_code ec;
    const transport::origin where = transport::parse_base_url(base_url, ec);
    if (ec) throw std::runtime_error("bad base url " + base_url);
    http_ = std::make_unique<transport::http_client>(io_.get_executor(), where);
  }

  // The body of a 200 answer; anything else throws with the status and body.
  std::string call(const std::string& method, const std::string& target, const std::string& body = "",
                   bool authenticated = false) {
    transport::http_request r;
    r.method = method;
    r.target = target;
    r.body = body;
    if (!body.empty()) r.headers.push_back({"Content-Type", "application/json"});
    if (authenticated) r.headers.push_back({"Authorization", "Basic YXF1YWR1Y3Q6YXF1YWR1Y3Q="});  // aquaduct:aquaduct
    const transport::http_response resp = run_sync(io_, http_->request(std::move(r)));
    if (resp.status != 200)
      throw std::runtime_error(method + " " + target + ": HTTP " + std::to_string(resp.status) + ": " + resp.body);
    return resp.body;
  }

  emulator_stats stats() {
    const std::string body = call("GET", "/_emulator/stats");
    simdjson::dom::element doc = parser_.parse(body);
    emulator_stats s;
    s.active_stateless = std::uint64_t(doc["active_stateless"]);
    s.active_stateful = std::uint64_t(doc["active_stateful"]);
    s.faults_armed = std::uint64_t(doc["faults_armed"]);
    for (auto [status, n] : simdjson::dom::object(doc["jobs"])) s.jobs[std::string(status)] = std::uint64_t(n);
    for (auto [path, by_status] : simdjson::dom::object(doc["requests"]))
      for (auto [status, n] : simdjson::dom::object(by_status))
        s.requests[std::string(path)][std::string(status)] = std::uint64_t(n);
    return s;
  }

  // GET /_emulator/truth for `object` at `at` (YYYY-MM-DDTHH:MM:SSZ; empty: now).
  truth truth_at(const std::string& object, const std::string& at = "") {
    const std::string body = call("GET", "/_emulator/truth?object=" + object + (at.empty() ? "" : "&at=" + at));
    simdjson::dom::element doc = parser_.parse(body);
    truth t;
    t.at = std::string(std::string_view(doc["at"]));
    t.now = std::string(std::string_view(doc["now"]));
    for (auto [id, version] : simdjson::dom::object(doc["live"])) t.live[std::string(id)] = std::string(std::string_view(version));
    for (auto [id, when] : simdjson::dom::object(doc["deleted"])) t.deleted[std::string(id)] = std::string(std::string_view(when));
    return t;
  }

  void arm_faults(const std::string& rules_json) { call("POST", "/_emulator/faults", rules_json); }
  void disarm_faults() { call("DELETE", "/_emulator/faults"); }

  mutation mutate(const std::string& request_json) {
    const std::string body = call("POST", "/_emulator/mutate", request_json);
    simdjson::dom::element doc = parser_.parse(body);
    mutation m;
    const auto ids = [&](const char* key, std::vector<std::string>& out) {
      for (auto id : simdjson::dom::array(doc[key])) out.emplace_back(std::string_view(id));
    };
    ids("created", m.created);
    ids("updated", m.updated);
    ids("deleted", m.deleted);
    return m;
  }

  // Polls `pred` on the stats until it holds or `deadline` passes (then
  // returns the last stats it saw, for the caller's message).
  template <class Pred>
  std::pair<bool, emulator_stats> wait_for(Pred pred, std::chrono::seconds deadline = std::chrono::seconds(120)) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      emulator_stats s = stats();
      if (pred(s)) return {true, s};
      if (std::chrono::steady_clock::now() >= until) return {false, s};
      pause(std::chrono::milliseconds(20));
    }
  }

  // Every row of `zoql` as the service exports it now, header first: a
  // stateless csv job submitted, polled and downloaded by this probe.
  rows export_rows(const std::string& zoql, std::chrono::seconds deadline = std::chrono::seconds(120)) {
    const std::string submit =
        R"({"format":"csv","version":"1.1","name":"probe","encrypted":"none","useQueryLabels":true,"dateTimeUtc":true,)"
        R"("queries":[{"name":"probe","type":"zoqlexport","query":")" +
        zoql + R"("}]})";
    std::string job_id;
    {
      simdjson::dom::element doc = parser_.parse(call("POST", "/v1/batch-query/", submit, true));
      std::string_view id;
      if (doc["id"].get(id)) throw std::runtime_error("probe export refused: " + simdjson::to_string(doc));
      job_id = std::string(id);
    }
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      simdjson::dom::element doc = parser_.parse(call("GET", "/v1/batch-query/jobs/" + job_id, "", true));
      const std::string status{std::string_view(doc["status"])};
      if (status == "completed") {
        simdjson::dom::element batch = doc["batches"].at(0);
        std::vector<std::string> files;
        std::string_view file;
        if (!batch["fileId"].get(file)) files.emplace_back(file);
        simdjson::dom::array segments;
        if (!batch["segments"].get(segments))
          for (auto s : segments) files.emplace_back(std::string_view(s));
        rows out;
        for (std::size_t i = 0; i < files.size(); ++i) {
          rows part = parse_csv_text(call("GET", "/v1/file/" + files[i], "", true));
          out.insert(out.end(), part.begin() + (i == 0 || out.empty() ? 0 : 1), part.end());  // one header
        }
        return out;
      }
      if (status != "submitted" && status != "executing" && status != "pending")
        throw std::runtime_error("probe export ended " + status);
      if (std::chrono::steady_clock::now() >= until) throw std::runtime_error("probe export still " + status);
      pause(std::chrono::milliseconds(20));
    }
  }

  // A poll or sampling interval (never a wait for an outcome: callers
  // re-check a condition).
  void pause(std::chrono::milliseconds d) {
    asio::steady_timer t(io_, d);
    t.wait();
  }

 private:

  asio::io_context io_;
  std::unique_ptr<transport::http_client> http_;
  simdjson::dom::parser parser_;
};

// A table of the sqlite sink: its column names and rows (NULL as ""), or
// nullopt when the table does not exist.
struct sqlite_table {
  std::vector<std::string> columns;
  rows data;
};

inline std::optional<sqlite_table> read_sqlite_table(const std::string& db_path, const std::string& table) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return std::nullopt;  // no database: no table
  }
  std::string quoted = "\"";
  for (char c : table) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  quoted += '"';
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, ("SELECT * FROM " + quoted).c_str(), -1, &st, nullptr) != SQLITE_OK) {
    const std::string why = sqlite3_errmsg(db);
    sqlite3_close(db);
    if (why.find("no such table") != std::string::npos) return std::nullopt;
    throw std::runtime_error(db_path + ": " + why);
  }
  sqlite_table out;
  for (int j = 0; j < sqlite3_column_count(st); ++j) out.columns.emplace_back(sqlite3_column_name(st, j));
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int j = 0; j < sqlite3_column_count(st); ++j) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, j));
      row.emplace_back(p ? p : "", p ? static_cast<std::size_t>(sqlite3_column_bytes(st, j)) : 0);
    }
    out.data.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// The columns `keep` (by name) of `t`, rows sorted.
inline rows project(const sqlite_table& t, const std::vector<std::string>& keep) {
  std::vector<std::size_t> at;
  for (const auto& k : keep) {
    const auto it = std::find(t.columns.begin(), t.columns.end(), k);
    if (it == t.columns.end()) throw std::runtime_error("the table has no column " + k);
    at.push_back(static_cast<std::size_t>(it - t.columns.begin()));
  }
  rows out;
  for (const auto& r : t.data) {
    std::vector<std::string> row;
    for (std::size_t i : at) row.push_back(r[i]);
    out.push_back(std::move(row));
  }
  return sorted(std::move(out));
}

// Splits an export (header first) into the header and its sorted rows.
inline std::pair<std::vector<std::string>, rows> header_and_rows(rows export_rows) {
  if (export_rows.empty()) throw std::runtime_error("an export without a header");
  std::vector<std::string> header = export_rows.front();
  export_rows.erase(export_rows.begin());
  return {header, sorted(std::move(export_rows))};
}

// TOML pieces.
inline std::string toml_source(const std::string& base_url, const std::string& extra = "",
                               const std::string& auth = "type = \"basic\"\nusername = \"aquaduct\"\npassword = \"aquaduct\"\n") {
  return "[source]\nbase_url = \"" + base_url + "\"\n" + extra + "[source.auth]\n" + auth +
         "[source.poll]\ninitial_ms = 20\nmax_ms = 250\ntimeout_s = 600\n";
}

struct toml_query {
  std::string name;
  std::string zoql;
};

inline std::string toml_job(const std::string& name, const std::vector<toml_query>& queries,
                            const std::string& extra = "format = \"gzip\"\n") {
  std::string t = "[[jobs]]\nname = \"" + name + "\"\n" + extra;
  for (const auto& q : queries) t += "[[jobs.queries]]\nname = \"" + q.name + "\"\nquery = \"" + q.zoql + "\"\n";
  return t;
}

inline std::string toml_sink(const std::string& type, const std::string& path) {
  return "[[sinks]]\ntype = \"" + type + "\"\npath = \"" + path + "\"\n";
}

}  // namespace aquaduct::test

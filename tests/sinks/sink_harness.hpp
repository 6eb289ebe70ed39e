#pragma once
// One harness per sink type for the shared contract test: builds the sink
// over a private destination and reads back what that destination holds
// (committed rows only, header excluded) for a (job, query).
#include "sinks/basic_sinks.hpp"
#include "sinks/csv_sink.hpp"
#include "sinks/ndjson_sink.hpp"
#include "sinks/postgres_sink.hpp"
#include "sinks/singer_sink.hpp"
#include "sinks/sink_names.hpp"
#include "sinks/sqlite_sink.hpp"
#include "support/csv_table.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

#include <aquaduct/sink.hpp>

#include <libpq-fe.h>
#include <simdjson.h>
#include <sqlite3.h>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <system_error>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace aquaduct::test {

// Builds a row_batch over `rows` the way the decoder lays one out.
struct batch_builder {
  std::string data;
  std::vector<std::size_t> fields{0};
  std::vector<std::size_t> records{0};
  explicit batch_builder(const rows& rs) {
    for (const auto& r : rs) {
      for (const auto& f : r) {
        data += f;
        fields.push_back(data.size());
      }
      records.push_back(fields.size() - 1);
    }
  }
  row_batch batch(const stream_schema& s) const { return row_batch(s, data, fields, records); }
};

inline rows sorted(rows r) {
  std::sort(r.begin(), r.end());
  return r;
}

// The one PostgreSQL server of the test binary, started on first use.
inline postgres_server& shared_postgres() {
  static postgres_server server;
  return server;
}

// Runs `sql` on the shared server; every value as text, NULL as "".
inline rows pg_query(const std::string& sql) {
  PGconn* c = PQconnectdb(shared_postgres().dsn().c_str());
  rows out;
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  const std::string why = PQresultErrorMessage(r);
  if (ok)
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j), PQgetlength(r, i, j));
      out.push_back(std::move(row));
    }
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error("pg_query: " + why);
  return out;
}

inline rows sqlite_query(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  rows out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    const std::string why = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw std::runtime_error("sqlite_query: " + why);
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int j = 0; j < sqlite3_column_count(st); ++j) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, j));
      row.emplace_back(p ? p : "", p ? static_cast<std::size_t>(sqlite3_column_bytes(st, j)) : 0);
    }
    out.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// Runs statements on a sqlite database, read-write; throws std::runtime_error with SQLite's words.
inline void sqlite_exec(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(db_path.c_str(), &db);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string why = err ? err : (db ? sqlite3_errmsg(db) : "out of memory");
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("sqlite_exec: " + why);
}

// What `f` threw as std::system_error (its code in *code), or "" when it threw nothing.
inline std::string what_of(const std::function<void()>& f, std::error_code* code = nullptr) {
  try {
    f();
  } catch (const std::system_error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return {};
}

// A JSON value as the text a CSV field would hold: strings unquoted, null as "".
inline std::string json_text(simdjson::dom::element v) {
  switch (v.type()) {
    case simdjson::dom::element_type::STRING: return std::string(std::string_view(v));
    case simdjson::dom::element_type::NULL_VALUE: return "";
    default: return simdjson::minify(v);
  }
}

inline std::vector<std::string> json_object_values(simdjson::dom::object o) {
  std::vector<std::string> row;
  for (auto field : o) row.push_back(json_text(field.value));
  return row;
}

// One commit of a singer sink's output: its stream's SCHEMA and RECORDs
// (none for a stream with no columns), then the STATE that ends it.
struct singer_commit {
  std::string stream;  // empty: a STATE alone
  std::string schema;  // the SCHEMA message as written
  rows records;
  std::string state;  // the STATE message as written
};

// A singer sink's output read as its commits: every line a JSON object,
// each RECORD after its own stream's SCHEMA in the same commit, every commit
// ended by a STATE, nothing after the last STATE. Throws std::runtime_error
// naming the line of anything else.
inline std::vector<singer_commit> singer_commits(const std::string& text) {
  std::vector<singer_commit> out;
  singer_commit open;
  bool in_commit = false;
  simdjson::dom::parser p;
  std::size_t at = 0;
  for (std::size_t n = 1; at < text.size(); ++n) {
    const std::size_t nl = text.find('\n', at);
    const auto bad = [&](const std::string& why) {
      return std::runtime_error("singer output, line " + std::to_string(n) + ": " + why);
    };
    if (nl == std::string::npos) throw bad("no line end (a torn message)");
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    simdjson::dom::object msg;
    if (p.parse(line).get_object().get(msg)) throw bad("not a JSON object: " + line.substr(0, 80));
    std::string_view type, stream;
    if (msg["type"].get_string().get(type)) throw bad("no type");
    if (type == "STATE") {
      open.state = line;
      out.push_back(std::move(open));
      open = {};
      in_commit = false;
      continue;
    }
    if (msg["stream"].get_string().get(stream)) throw bad("no stream");
    if (type == "SCHEMA") {
      if (in_commit) throw bad("a SCHEMA inside another stream's commit");
      open.stream = stream;
      open.schema = line;
      in_commit = true;
    } else if (type == "RECORD") {
      if (!in_commit || stream != open.stream) throw bad("a RECORD without its stream's SCHEMA");
      open.records.push_back(json_object_values(msg["record"].get_object()));
    } else {
      throw bad("unknown type " + std::string(type));
    }
  }
  if (in_commit) throw std::runtime_error("singer output: messages after the last STATE");
  return out;
}

class sink_harness {
 public:
  virtual ~sink_harness() = default;
  virtual std::string name() const = 0;
  // A new sink over the same destination (as a new run would build it).
  virtual std::unique_ptr<sink> make() = 0;
  // The committed rows of (job, query), without a header.
  virtual rows read(const std::string& job, const std::string& query) = 0;
  // False for sinks that keep no rows (null): only the count is compared.
  virtual bool keeps_rows() const { return true; }
  // False for sinks with no destination outside the process (null, callback):
  // crash and replay are the embedder's business there.
  virtual bool has_destination() const { return true; }
  // False where a replay is recognised only within one sink object.
  virtual bool ledger_survives_restart() const { return true; }
  // False where a full load adds to a log of messages instead of replacing
  // what the destination holds (singer: the target does the replacing).
  virtual bool replaces() const { return true; }
  // What the destination stores for field text `v` (docs/sinks.md, "NUL").
  virtual std::string stored(std::string v) const { return v; }
  // Whether holds() follows the destination (false: a sink that answers true always).
  virtual bool holds_tracks_target() const { return has_destination(); }
  // Whether this process writes the destination's files itself, so a write
  // past RLIMIT_FSIZE fails inside a commit (csv, ndjson, singer).
  virtual bool writes_own_files() const { return false; }
  // Every file the destination consists of, for the file-size limit (none: not applicable).
  virtual std::vector<std::filesystem::path> own_files() const { return {}; }
  // How far past its largest file a commit may write before the limit
  // stops it: 1 for a file sink, whose commit flushes what it still holds
  // onto the temporary; more for singer, so the cut falls inside a RECORD.
  virtual std::uintmax_t torn_slack() const { return 1; }
};

class file_harness : public sink_harness {
 public:
  file_harness(std::string type, std::string ext) : type_(std::move(type)), ext_(std::move(ext)) {}
  std::string name() const override { return type_; }
  std::unique_ptr<sink> make() override {
    if (type_ == "csv") return sinks::make_csv_sink({dir_.path().string()});
    return sinks::make_ndjson_sink({dir_.path().string()});
  }
  std::string file(const std::string& job, const std::string& query) const {
    return (dir_.path() / sinks::safe_file_name(job) / (sinks::safe_file_name(query) + "." + ext_)).string();
  }
  rows read(const std::string& job, const std::string& query) override {
    const std::string path = file(job, query);
    if (!std::filesystem::exists(path)) return {};
    const std::string text = read_file(path);
    if (type_ == "csv") {
      rows r = parse_csv_text(text);
      if (!r.empty()) r.erase(r.begin());
      return r;
    }
    rows r;
    simdjson::dom::parser p;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) r.push_back(json_object_values(p.parse(line).get_object()));
    return r;
  }
  const temp_dir& dir() const { return dir_; }
  bool writes_own_files() const override { return true; }
  std::vector<std::filesystem::path> own_files() const override {
    std::vector<std::filesystem::path> out;
    for (const auto& f : dir_.files()) out.push_back(dir_.path() / f);
    return out;
  }

 private:
  std::string type_;
  std::string ext_;
  temp_dir dir_;
};

class singer_harness : public sink_harness {
 public:
  std::string name() const override { return "singer"; }
  std::unique_ptr<sink> make() override { return sinks::make_singer_sink({path()}); }
  bool replaces() const override { return false; }
  bool holds_tracks_target() const override { return false; }
  bool writes_own_files() const override { return true; }
  std::vector<std::filesystem::path> own_files() const override { return {path()}; }
  std::uintmax_t torn_slack() const override { return 16384; }
  std::string path() const { return (dir_.path() / "out.singer").string(); }
  // Every message, parsed, in order.
  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    if (!std::filesystem::exists(path())) return out;
    std::istringstream lines(read_file(path()));
    for (std::string line; std::getline(lines, line);) out.push_back(line);
    return out;
  }
  rows read(const std::string& job, const std::string& query) override {
    rows r;
    simdjson::dom::parser p;
    const std::string stream = sinks::table_name(job, query);
    for (const auto& line : messages()) {
      auto msg = p.parse(line).get_object().value();
      if (std::string_view(msg["type"]) == "RECORD" && std::string_view(msg["stream"]) == stream)
        r.push_back(json_object_values(msg["record"].get_object()));
    }
    return r;
  }

 private:
  temp_dir dir_;
};

class sqlite_harness : public sink_harness {
 public:
  std::string name() const override { return "sqlite"; }
  std::string db() const { return (dir_.path() / "out.db").string(); }
  std::unique_ptr<sink> make() override {
    sinks::sqlite_sink_options o;
    o.path = db();
    return sinks::make_sqlite_sink(o);
  }
  rows read(const std::string& job, const std::string& query) override {
    const std::string table = sinks::table_name(job, query);
    std::string literal = "'";
    for (char c : table) literal += c == '\'' ? std::string("''") : std::string(1, c);
    if (!std::filesystem::exists(db()) ||
        sqlite_query(db(), "SELECT 1 FROM sqlite_master WHERE name = " + literal + "'").empty())
      return {};
    return sqlite_query(db(), "SELECT * FROM " + sinks::quote_ident(table));
  }

 private:
  temp_dir dir_;
};

class postgres_harness : public sink_harness {
 public:
  postgres_harness() {
    static std::atomic<int> n{0};
    schema_ = "contract" + std::to_string(n++) + "_" + std::to_string(::getpid());
  }
  std::string name() const override { return "postgres"; }
  std::unique_ptr<sink> make() override {
    sinks::postgres_sink_options o;
    o.dsn = shared_postgres().dsn();
    o.schema = schema_;
    return sinks::make_postgres_sink(o);
  }
  std::string qualified(const std::string& job, const std::string& query) const {
    return sinks::quote_ident(schema_) + "." + sinks::quote_ident(sinks::table_name(job, query));
  }
  rows read(const std::string& job, const std::string& query) override {
    std::string literal = "'";
    for (char c : qualified(job, query)) literal += c == '\'' ? std::string("''") : std::string(1, c);
    if (pg_query("SELECT to_regclass(" + literal + "') IS NOT NULL")[0][0] != "t") return {};
    return pg_query("SELECT * FROM " + qualified(job, query));
  }
  const std::string& schema() const { return schema_; }
  // The default nul_bytes = "strip".
  std::string stored(std::string v) const override {
    std::erase(v, '\0');
    return v;
  }

 private:
  std::string schema_;
};

class null_harness : public sink_harness {
 public:
  std::string name() const override { return "null"; }
  std::unique_ptr<sink> make() override { return sinks::make_null_sink(&counters_); }
  rows read(const std::string&, const std::string&) override { return rows(counters_.rows.load()); }
  bool keeps_rows() const override { return false; }
  bool has_destination() const override { return false; }

 private:
  sinks::null_sink_counters counters_;
};

// Collects rows per stream, keeping only what was committed.
class callback_harness : public sink_harness {
 public:
  std::string name() const override { return "callback"; }
  std::unique_ptr<sink> make() override {
    return make_callback_sink(callback_handlers{
        [this](const row_batch& b) {
          std::lock_guard lock(m_);
          auto& p = pending_[key(b.schema())];
          for (std::size_t r = 0; r < b.size(); ++r) {
            std::vector<std::string> row;
            for (std::size_t c = 0; c < b.field_count(r); ++c) row.emplace_back(b.field(r, c));
            p.push_back(std::move(row));
          }
        },
        [this](const stream_schema& s, const file_token&) {
          std::lock_guard lock(m_);
          committed_[key(s)] = std::move(pending_[key(s)]);
          pending_.erase(key(s));
        },
        [this](const stream_schema& s) {
          std::lock_guard lock(m_);
          pending_.erase(key(s));
        }});
  }
  rows read(const std::string& job, const std::string& query) override {
    std::lock_guard lock(m_);
    return committed_[job + "\n" + query];
  }
  bool has_destination() const override { return false; }

 private:
  static std::string key(const stream_schema& s) { return s.job + "\n" + s.query; }
  std::mutex m_;
  std::map<std::string, rows> pending_;
  std::map<std::string, rows> committed_;
};

inline std::vector<std::unique_ptr<sink_harness>> every_sink() {
  std::vector<std::unique_ptr<sink_harness>> all;
  all.push_back(std::make_unique<file_harness>("csv", "csv"));
  all.push_back(std::make_unique<file_harness>("ndjson", "ndjson"));
  all.push_back(std::make_unique<singer_harness>());
  all.push_back(std::make_unique<sqlite_harness>());
  all.push_back(std::make_unique<postgres_harness>());
  all.push_back(std::make_unique<null_harness>());
  all.push_back(std::make_unique<callback_harness>());
  return all;
}

}  // namespace aquaduct::test

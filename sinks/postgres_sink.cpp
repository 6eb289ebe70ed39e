#include "sinks/postgres_sink.hpp"

#include "sinks/sink_common.hpp"
#include "sinks/sink_names.hpp"
#include "sinks/sql_table.hpp"

#include <aquaduct/error.hpp>

#include <libpq-fe.h>

#include <array>
#include <cstring>
#include <mutex>
#include <system_error>

namespace aquaduct::sinks {

namespace {

// Types for text, integer, decimal, boolean, date, datetime, as created and
// as `atttypid::regtype` names them; the row id.
constexpr sql_dialect pg_dialect = {{"TEXT", "BIGINT", "NUMERIC", "BOOLEAN", "DATE", "TIMESTAMPTZ"},
                                    {"text", "bigint", "numeric", "boolean", "date", "timestamp with time zone"},
                                    "ctid",
                                    false,
                                    true,
                                    "TRUE"};

[[noreturn]] void fail(const std::string& what) { throw std::system_error(sink_errc::io_error, what); }

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A statement the server refused, with its SQLSTATE.
class pg_error : public std::system_error {
 public:
  pg_error(std::string sqlstate, const std::string& what)
      : std::system_error(sink_errc::io_error, what), sqlstate_(std::move(sqlstate)) {}
  // 55P03 lock_not_available: lock_timeout passed.
  bool lock_timeout() const noexcept { return sqlstate_ == "55P03"; }

 private:
  std::string sqlstate_;
};

[[noreturn]] void refused(PGresult* r, PGconn* c) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  std::string why = trimmed(PQresultErrorMessage(r));
  if (why.empty()) why = trimmed(PQerrorMessage(c));
  std::string code = state ? state : "";
  PQclear(r);
  throw pg_error(std::move(code), why);
}

// One libpq connection. Messages carry the server's words, never the DSN.
class pg_conn {
 public:
  pg_conn(const std::string& dsn, std::uint32_t lock_timeout_ms) : c_(PQconnectdb(dsn.c_str())) {
    if (!c_ || PQstatus(c_) != CONNECTION_OK) {
      const std::string why = c_ ? trimmed(PQerrorMessage(c_)) : "out of memory";
      if (c_) PQfinish(c_);
      fail("postgres: cannot connect: " + why);
    }
    PQsetNoticeProcessor(c_, [](void*, const char*) {}, nullptr);
    try {
      // A lock another session holds is waited for lock_timeout_ms, never
      // forever. No statement_timeout: a COPY runs as long as its download,
      // and a role's or database's default would cut every long load.
      // UTC: what a typed column turned to text reads as does not hang on the server's zone.
      exec("SET lock_timeout = " + std::to_string(lock_timeout_ms) +
           "; SET statement_timeout = 0; SET TimeZone = 'UTC'; SET DateStyle = 'ISO'");
    } catch (...) {
      PQfinish(c_);
      throw;
    }
  }
  ~pg_conn() { PQfinish(c_); }
  pg_conn(const pg_conn&) = delete;
  pg_conn& operator=(const pg_conn&) = delete;

  bool ok() const noexcept { return PQstatus(c_) == CONNECTION_OK && PQtransactionStatus(c_) == PQTRANS_IDLE; }

  // Runs `sql` with text parameters; returns the affected row count.
  std::uint64_t exec(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* r = params.empty() ? PQexec(c_, sql.c_str())
                                 : PQexecParams(c_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                                values.data(), nullptr, nullptr, 0);
    const auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) refused(r, c_);
    const char* n = PQcmdTuples(r);
    const std::uint64_t rows = (n && *n) ? std::strtoull(n, nullptr, 10) : 0;
    PQclear(r);
    return rows;
  }

  // Every row of a query, each column as text.
  std::vector<std::vector<std::string>> rows(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* r = PQexecParams(c_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                               nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) refused(r, c_);
    std::vector<std::vector<std::string>> out(static_cast<std::size_t>(PQntuples(r)));
    for (int i = 0; i < PQntuples(r); ++i)
      for (int j = 0; j < PQnfields(r); ++j) out[static_cast<std::size_t>(i)].emplace_back(PQgetvalue(r, i, j));
    PQclear(r);
    return out;
  }

  // The columns of `table` (quoted, qualified) with their types; empty when it does not exist.
  std::vector<table_column> columns_of(const std::string& table) {
    std::vector<table_column> out;
    for (auto& row : rows("SELECT attname, atttypid::regtype::text FROM pg_attribute WHERE attrelid = to_regclass($1) "
                          "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                          {table}))
      out.push_back({std::move(row[0]), std::move(row[1])});
    return out;
  }

  void put(const std::string& data) {
    if (PQputCopyData(c_, data.data(), static_cast<int>(data.size())) != 1) fail(trimmed(PQerrorMessage(c_)));
  }

  // Ends a COPY: with `error` the server discards it.
  void end_copy(const char* error) {
    if (PQputCopyEnd(c_, error) != 1) fail(trimmed(PQerrorMessage(c_)));
    std::string why;
    while (PGresult* r = PQgetResult(c_)) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK && why.empty()) why = trimmed(PQresultErrorMessage(r));
      PQclear(r);
    }
    if (!why.empty() && !error) fail(why);
  }

 private:
  PGconn* c_;
};

// Connections not in use, so consecutive streams skip the connect.
class pg_pool {
 public:
  pg_pool(std::string dsn, std::uint32_t lock_timeout_ms) : dsn_(std::move(dsn)), lock_timeout_ms_(lock_timeout_ms) {}
  std::unique_ptr<pg_conn> acquire() {
    {
      std::lock_guard lock(m_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return std::make_unique<pg_conn>(dsn_, lock_timeout_ms_);
  }
  void release(std::unique_ptr<pg_conn> c) {
    if (!c || !c->ok()) return;
    std::lock_guard lock(m_);
    idle_.push_back(std::move(c));
  }
  void clear() {
    std::lock_guard lock(m_);
    idle_.clear();
  }

 private:
  std::string dsn_;
  std::uint32_t lock_timeout_ms_;
  std::mutex m_;
  std::vector<std::unique_ptr<pg_conn>> idle_;
};

// COPY text format: \N is NULL; backslash, tab, newline and CR are escaped.
constexpr std::array<bool, 256> make_copy_special() {
  std::array<bool, 256> t{};
  for (unsigned char c : {'\\', '\t', '\n', '\r', '\0'}) t[c] = true;
  return t;
}
constexpr auto copy_special = make_copy_special();

class postgres_stream final : public sink_stream {
 public:
  postgres_stream(pg_pool& pool, const postgres_sink_options& opts, const std::string& schema_prefix,
                  const stream_schema& schema)
      : pool_(pool), opts_(opts), schema_(schema), table_(schema, schema_prefix, pg_dialect, opts.deletes),
        ledger_(schema_prefix + "\"_aquaduct_commits\""), conn_(pool.acquire()) {
    try {
      conn_->exec("BEGIN");
      locking_ = &table_.name();
      const auto existing = conn_->columns_of(table_.name());
      for (const auto& sql : table_.fit(existing)) {
        try {
          conn_->exec(sql);
        } catch (const pg_error& e) {
          if (e.lock_timeout()) throw;
          throw std::system_error(e.code(), "changing " + table_.name() + " to fit the stream (" + sql + "): " + e.what());
        }
      }
      std::string target = table_.name();
      if (schema.load == load_kind::full) {
        // A stream with no columns empties a table that exists, and creates none.
        if (!existing.empty()) conn_->exec("TRUNCATE " + target);
      } else if (!schema.columns.empty()) {
        target = "\"_aquaduct_stage\"";
        conn_->exec(table_.create_staging(target, " ON COMMIT DROP"));
      }
      if (!schema.columns.empty()) {
        conn_->exec("COPY " + target + " (" + table_.column_list() + ") FROM STDIN");
        copying_ = true;
      }
    } catch (const std::system_error& e) {
      abort();
      refail(e, "");
    }
    buffer_.reserve(flush_at + 64 * 1024);
  }
  ~postgres_stream() override { abort(); }

  void write(const row_batch& rows) override {
    if (rows.empty()) return;
    if (!copying_) fail("postgres: " + where(schema_) + ": rows for a stream that has no columns");
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const std::size_t n = rows.field_count(r);
      for (std::size_t c = 0; c < n; ++c) {
        if (c) buffer_ += '\t';
        append(rows.field(r, c), c);
      }
      buffer_ += '\n';
      ++rows_;
      if (buffer_.size() >= flush_at) flush();
    }
  }

  void commit(const file_token& token) override {
    try {
      if (copying_) {
        flush();
        copying_ = false;
        conn_->end_copy(nullptr);
      }
      if (token.fence)  // a fleet worker's commit: refused once a newer holder of its unit committed
        check_fence(token, conn_->exec(table_.record_fence(), {token.fence->unit, std::to_string(token.fence->token)}));
      const commit_key key = make_commit_key(schema_, token);
      locking_ = &ledger_;  // another run may be committing the same files right now
      const auto recorded = conn_->exec(table_.record_commit(), {key.job, key.query, key.file_ids, token.job_id,
                                                                 std::to_string(rows_)});
      locking_ = &table_.name();
      if (recorded == 0) {  // a replay: this stream's files are in already
        conn_->exec("ROLLBACK");
      } else {
        if (schema_.load == load_kind::incremental && !schema_.columns.empty())
          for (const auto& sql : table_.merge("\"_aquaduct_stage\"", deleted_at())) conn_->exec(sql);
        conn_->exec("COMMIT");
      }
    } catch (const std::system_error& e) {
      abort();
      refail(e, "commit failed: ");
    }
    pool_.release(std::move(conn_));
  }

  void abort() noexcept override {
    if (!conn_) return;
    try {
      if (copying_) {
        copying_ = false;
        conn_->end_copy("aborted by aquaduct");
      }
      conn_->exec("ROLLBACK");
      pool_.release(std::move(conn_));
    } catch (...) {
      conn_.reset();  // a broken connection: dropping it rolls back on the server
    }
    conn_.reset();
  }

 private:
  // Rethrows `e` with the stream's job and query, keeping its code; a lock
  // that was not granted in time names what was locked and what to do.
  [[noreturn]] void refail(const std::system_error& e, const char* step) const {
    const std::string head = "postgres: " + where(schema_) + ": " + step;
    const auto* pg = dynamic_cast<const pg_error*>(&e);
    if (pg && pg->lock_timeout())
      fail(head + (locking_ ? *locking_ : table_.name()) + " is locked by another session: no lock within " +
           "lock_timeout_ms (" + std::to_string(opts_.lock_timeout_ms) +
           " ms); an open transaction that read or locked it holds it (see pg_locks and pg_stat_activity): " +
           e.what());
    throw std::system_error(e.code(), head + e.what());
  }

  // The deletion time of soft deletes: the job's start, else the commit's.
  std::string deleted_at() const {
    if (schema_.started_at == std::chrono::sys_seconds{}) return "CURRENT_TIMESTAMP";
    return "CAST('" + iso_utc(schema_.started_at) + "' AS TIMESTAMPTZ)";  // digits, '-', ':', T, Z only
  }

  void append(std::string_view v, std::size_t col) {
    if (table_.is_null(col, v)) {
      buffer_ += "\\N";
      return;
    }
    if (const value_kind k = table_.kind(col); k != value_kind::text) return append_typed(v, col, k);
    const std::size_t mark = buffer_.size();
    std::size_t start = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const unsigned char ch = static_cast<unsigned char>(v[i]);
      if (!copy_special[ch]) continue;
      buffer_.append(v.data() + start, i - start);
      start = i + 1;
      switch (ch) {
        case '\\': buffer_ += "\\\\"; break;
        case '\t': buffer_ += "\\t"; break;
        case '\n': buffer_ += "\\n"; break;
        case '\r': buffer_ += "\\r"; break;
        default: return append_without_nul(v, col, mark);
      }
    }
    buffer_.append(v.data() + start, v.size() - start);
  }

  // A typed field, checked by hand before the server sees it (so the
  // message names record and column): a checked value holds no byte COPY
  // escapes. A column kept text stores the field as it came.
  void append_typed(std::string_view v, std::size_t col, value_kind k) {
    bool flag = false;
    if (k == value_kind::datetime && table_.store(col) == column_type::datetime && v.size() <= datetime_max) {
      const std::size_t at = buffer_.size();
      buffer_.resize(at + datetime_max);
      std::size_t n = 0;
      const bool ok = normal_datetime(v, buffer_.data() + at, n);
      buffer_.resize(at + n);
      if (ok) return;
    }
    if (!fits(k, v, flag)) {
      if (opts_.nul_bytes == "strip" && v.find('\0') != std::string_view::npos) {
        std::string kept(v);
        std::erase(kept, '\0');
        return append(kept, col);
      }
      refuse_value("postgres", schema_, rows_ + 1, col, v, k);
    }
    switch (table_.store(col)) {
      case column_type::boolean: buffer_ += flag ? 't' : 'f'; return;
      case column_type::datetime: {
        const std::size_t at = buffer_.size();
        buffer_.resize(at + datetime_max);
        std::size_t n = 0;
        normal_datetime(v, buffer_.data() + at, n);
        buffer_.resize(at + n);
        return;
      }
      default: buffer_.append(v); return;
    }
  }

  // PostgreSQL text cannot hold NUL: the field again from its start without
  // its NUL bytes (NULL when that leaves what is_null() calls NULL), or the refusal.
  void append_without_nul(std::string_view v, std::size_t col, std::size_t mark) {
    if (opts_.nul_bytes == "fail")
      throw std::system_error(sink_errc::bad_value,
                              "postgres: " + where(schema_) + ", row " + std::to_string(rows_ + 1) + ", column " +
                                  schema_.columns[col] +
                                  ": PostgreSQL text cannot hold a NUL byte (nul_bytes = \"fail\"; \"strip\" drops them)");
    buffer_.resize(mark);
    std::string kept(v);
    std::erase(kept, '\0');
    append(kept, col);
  }

  void flush() {
    if (buffer_.empty()) return;
    try {
      conn_->put(buffer_);
    } catch (const std::system_error& e) {
      fail("postgres: " + where(schema_) + ", before row " + std::to_string(rows_ + 1) + ": " + e.what());
    }
    buffer_.clear();
  }

  static constexpr std::size_t flush_at = 1u << 20;
  pg_pool& pool_;
  const postgres_sink_options& opts_;
  stream_schema schema_;
  sql_table table_;
  std::string ledger_;  // quoted, qualified
  std::unique_ptr<pg_conn> conn_;
  const std::string* locking_ = nullptr;  // the relation the statement under way locks (table_ or ledger_)
  bool copying_ = false;
  std::uint64_t rows_ = 0;
  std::string buffer_;
};

class postgres_sink final : public sink {
 public:
  explicit postgres_sink(postgres_sink_options opts)
      : opts_(std::move(opts)), prefix_(quote_ident(safe_sql_name(opts_.schema)) + "."),
        pool_(opts_.dsn, opts_.lock_timeout_ms) {}
  std::string_view type() const noexcept override { return "postgres"; }

  std::unique_ptr<sink_stream> open(const stream_schema& schema) override {
    const stream_schema named = with_column_names(schema, opts_.columns, "postgres");
    require_row_key(named, "postgres");
    prepare();
    return std::make_unique<postgres_stream>(pool_, opts_, prefix_, named);
  }

  void close() override { pool_.clear(); }

  std::string health_check() override {
    try {
      auto c = pool_.acquire();
      // May this user create the tables (in the schema, or the schema itself)? Nothing is created here.
      const auto ok = c->rows(
          "SELECT CASE WHEN to_regnamespace($1) IS NULL "
          "THEN has_database_privilege(current_database(), 'CREATE') "
          "ELSE has_schema_privilege($2, 'CREATE') END",
          {prefix_.substr(0, prefix_.size() - 1), safe_sql_name(opts_.schema)});
      pool_.release(std::move(c));
      if (ok.empty() || ok[0][0] != "t")
        return "postgres: the user may not create tables in schema " + safe_sql_name(opts_.schema);
      return {};
    } catch (const std::exception& e) {
      return e.what();
    }
  }

  // host, port and dbname as the DSN (or libpq's environment defaults)
  // gives them, and the schema: never the password or any other setting.
  std::string destination() const override {
    char* err = nullptr;
    PQconninfoOption* given = PQconninfoParse(opts_.dsn.c_str(), &err);
    if (err) PQfreemem(err);
    if (!given) return "postgres: a DSN libpq cannot parse, schema=" + opts_.schema;
    PQconninfoOption* defaults = PQconndefaults();
    const auto value = [&](const char* key) -> std::string {
      for (auto* list : {given, defaults})
        for (auto* o = list; o && o->keyword; ++o)
          if (std::strcmp(o->keyword, key) == 0 && o->val && *o->val) return o->val;
      return {};
    };
    std::string host = value("host");
    if (host.empty()) host = value("hostaddr");
    std::string dbname = value("dbname");
    if (dbname.empty()) dbname = value("user");  // libpq's default database
    std::string port = value("port");
    PQconninfoFree(given);
    if (defaults) PQconninfoFree(defaults);
    return "host=" + (host.empty() ? std::string("(libpq default)") : host) +
           " port=" + (port.empty() ? std::string("5432") : port) + " dbname=" + dbname + " schema=" + opts_.schema;
  }

  bool holds(const stream_schema& schema) override {
    try {
      auto c = pool_.acquire();
      const auto found = c->rows("SELECT to_regclass($1) IS NOT NULL",
                                 {prefix_ + quote_ident(table_name(schema))});
      pool_.release(std::move(c));
      return !found.empty() && found[0][0] == "t";
    } catch (const std::system_error& e) {
      throw std::system_error(e.code(), "postgres: " + where(schema) + ": cannot tell whether its table exists: " +
                                            e.what());
    }
  }

 private:
  // Once per sink: the schema and the commit ledger.
  void prepare() {
    std::lock_guard lock(m_);
    if (prepared_) return;
    auto c = pool_.acquire();
    try {
      if (opts_.schema != "public") c->exec("CREATE SCHEMA IF NOT EXISTS " + prefix_.substr(0, prefix_.size() - 1));
      c->exec(sql_table(stream_schema{}, prefix_, pg_dialect).create_commits());
      c->exec(sql_table(stream_schema{}, prefix_, pg_dialect).create_fences());
    } catch (const std::system_error& e) {
      fail(std::string("postgres: preparing schema ") + opts_.schema + ": " + e.what());
    }
    pool_.release(std::move(c));
    prepared_ = true;
  }

  postgres_sink_options opts_;
  std::string prefix_;
  pg_pool pool_;
  std::mutex m_;
  bool prepared_ = false;
};

}  // namespace

postgres_sink_options postgres_sink_options::from(const sink_config& cfg, std::vector<std::string>& problems) {
  postgres_sink_options o;
  option_reader r(cfg, problems);
  r.text("dsn", o.dsn, option_reader::need::required);
  r.text("schema", o.schema);
  r.integer("lock_timeout_ms", o.lock_timeout_ms, 1, 3600000);
  r.choice("nul_bytes", o.nul_bytes, {"strip", "fail"});
  read_deletes(r, o.deletes);
  read_column_names(r, o.columns);
  r.finish();
  return o;
}

std::unique_ptr<sink> make_postgres_sink(postgres_sink_options opts) {
  return std::make_unique<postgres_sink>(std::move(opts));
}

}  // namespace aquaduct::sinks

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

// Types for text, integer, decimal, boolean, date, datetime; the row id.
constexpr sql_dialect pg_dialect = {{"TEXT", "BIGINT", "NUMERIC", "BOOLEAN", "DATE", "TIMESTAMPTZ"}, "ctid"};

[[noreturn]] void fail(const std::string& what) { throw std::system_error(sink_errc::io_error, what); }

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// One libpq connection. Messages carry the server's words, never the DSN.
class pg_conn {
 public:
  explicit pg_conn(const std::string& dsn) : c_(PQconnectdb(dsn.c_str())) {
    if (!c_ || PQstatus(c_) != CONNECTION_OK) {
      const std::string why = c_ ? trimmed(PQerrorMessage(c_)) : "out of memory";
      if (c_) PQfinish(c_);
      fail("postgres: cannot connect: " + why);
    }
    PQsetNoticeProcessor(c_, [](void*, const char*) {}, nullptr);
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
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) {
      const std::string why = trimmed(PQresultErrorMessage(r));
      PQclear(r);
      fail(why.empty() ? trimmed(PQerrorMessage(c_)) : why);
    }
    const char* n = PQcmdTuples(r);
    const std::uint64_t rows = (n && *n) ? std::strtoull(n, nullptr, 10) : 0;
    PQclear(r);
    return rows;
  }

  // The first column of every row of a query.
  std::vector<std::string> column(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* r = PQexecParams(c_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                               nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      const std::string why = trimmed(PQresultErrorMessage(r));
      PQclear(r);
      fail(why);
    }
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetvalue(r, i, 0));
    PQclear(r);
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
  explicit pg_pool(std::string dsn) : dsn_(std::move(dsn)) {}
  std::unique_ptr<pg_conn> acquire() {
    {
      std::lock_guard lock(m_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return std::make_unique<pg_conn>(dsn_);
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
  const std::string& dsn() const noexcept { return dsn_; }

 private:
  std::string dsn_;
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
  postgres_stream(pg_pool& pool, const std::string& schema_prefix, const stream_schema& schema)
      : pool_(pool), schema_(schema), table_(schema, schema_prefix, pg_dialect), conn_(pool.acquire()) {
    const bool full = schema.load == load_kind::full;
    try {
      conn_->exec("BEGIN");
      const auto existing = conn_->column(
          "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped "
          "ORDER BY attnum",
          {table_.name()});
      for (const auto& sql : table_.fit(existing, schema.load)) conn_->exec(sql);
      std::string target = table_.name();
      if (full) {
        conn_->exec("TRUNCATE " + target);
      } else {
        target = "\"_aquaduct_stage\"";
        conn_->exec(table_.create_staging(target, " ON COMMIT DROP"));
      }
      conn_->exec("COPY " + target + " (" + table_.column_list() + ") FROM STDIN");
      copying_ = true;
    } catch (const std::system_error& e) {
      abort();
      fail("postgres: " + where(schema_) + ": " + e.what());
    }
    buffer_.reserve(flush_at + 64 * 1024);
  }
  ~postgres_stream() override { abort(); }

  void write(const row_batch& rows) override {
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
      flush();
      copying_ = false;
      conn_->end_copy(nullptr);
      const commit_key key = make_commit_key(schema_, token);
      const auto recorded = conn_->exec(table_.record_commit(), {key.job, key.query, key.file_ids, token.job_id,
                                                                 std::to_string(rows_)});
      if (recorded == 0) {  // a replay: this stream's files are in already
        conn_->exec("ROLLBACK");
      } else {
        if (schema_.load == load_kind::incremental)
          for (const auto& sql : table_.merge("\"_aquaduct_stage\"")) {
            if (table_.merge_has_flag() && sql.find("$1") != std::string::npos)
              conn_->exec(sql, {table_.deleted_true()});
            else
              conn_->exec(sql);
          }
        conn_->exec("COMMIT");
      }
    } catch (const std::system_error& e) {
      abort();
      fail("postgres: " + where(schema_) + ": commit failed: " + e.what());
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
  void append(std::string_view v, std::size_t col) {
    if (table_.is_null(col, v)) {
      buffer_ += "\\N";
      return;
    }
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
        default:
          throw std::system_error(sink_errc::bad_value, "postgres: " + where(schema_) + ", row " + std::to_string(rows_ + 1) + ", column " +
               schema_.columns[col] + ": PostgreSQL text cannot hold a NUL byte");
      }
    }
    buffer_.append(v.data() + start, v.size() - start);
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
  stream_schema schema_;
  sql_table table_;
  std::unique_ptr<pg_conn> conn_;
  bool copying_ = false;
  std::uint64_t rows_ = 0;
  std::string buffer_;
};

class postgres_sink final : public sink {
 public:
  explicit postgres_sink(postgres_sink_options opts)
      : opts_(std::move(opts)), prefix_(quote_ident(safe_sql_name(opts_.schema)) + "."), pool_(opts_.dsn) {}
  std::string_view type() const noexcept override { return "postgres"; }

  std::unique_ptr<sink_stream> open(const stream_schema& schema) override {
    prepare();
    return std::make_unique<postgres_stream>(pool_, prefix_, schema);
  }

  void close() override { pool_.clear(); }

  std::string health_check() override {
    try {
      auto c = pool_.acquire();
      // May this user create the tables (in the schema, or the schema itself)? Nothing is created here.
      const auto ok = c->column(
          "SELECT CASE WHEN to_regnamespace($1) IS NULL "
          "THEN has_database_privilege(current_database(), 'CREATE') "
          "ELSE has_schema_privilege($2, 'CREATE') END",
          {prefix_.substr(0, prefix_.size() - 1), safe_sql_name(opts_.schema)});
      pool_.release(std::move(c));
      if (ok.empty() || ok[0] != "t")
        return "postgres: the user may not create tables in schema " + safe_sql_name(opts_.schema);
      return {};
    } catch (const std::exception& e) {
      return e.what();
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
  r.finish();
  return o;
}

std::unique_ptr<sink> make_postgres_sink(postgres_sink_options opts) {
  return std::make_unique<postgres_sink>(std::move(opts));
}

}  // namespace aquaduct::sinks

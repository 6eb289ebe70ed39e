#include "sinks/sqlite_sink.hpp"

#include "sinks/sink_common.hpp"
#include "sinks/sink_names.hpp"
#include "sinks/sql_table.hpp"

#include <aquaduct/error.hpp>

#include <sqlite3.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <thread>
#include <system_error>

namespace aquaduct::sinks {

namespace {

// Types for text, integer, decimal, boolean, date, datetime; the row id.
// DECIMAL_TEXT has TEXT affinity ("TEXT" in the name): SQLite keeps a
// decimal's digits exactly, where NUMERIC affinity would turn
// 12345678901234567.123456789 into a REAL of 15 digits. DATE and DATETIME
// have NUMERIC affinity, which leaves their ISO text as text; BOOLEAN holds
// the integers 0 and 1.
constexpr sql_dialect sqlite_dialect = {{"TEXT", "INTEGER", "DECIMAL_TEXT", "BOOLEAN", "DATE", "DATETIME"},
                                        {"TEXT", "INTEGER", "DECIMAL_TEXT", "BOOLEAN", "DATE", "DATETIME"},
                                        "rowid",
                                        true,
                                        false,
                                        "1"};

[[noreturn]] void fail(const std::string& what) { throw std::system_error(sink_errc::io_error, what); }
// The same error, its message led by `what` (a bad_value stays a bad_value).
[[noreturn]] void fail(const std::string& what, const std::system_error& e) {
  throw std::system_error(e.code(), what + e.what());
}

class statement {
 public:
  statement(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &s_, nullptr) != SQLITE_OK)
      fail(sqlite3_errmsg(db));
  }
  ~statement() { sqlite3_finalize(s_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  sqlite3_stmt* get() const noexcept { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// One connection; every stream has its own.
class sqlite_db {
 public:
  explicit sqlite_db(const sqlite_sink_options& o) {
    const auto dir = std::filesystem::path(o.path).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);  // a failure shows in the open below
    if (sqlite3_open_v2(o.path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      fail("sqlite: cannot open " + o.path + ": " + why);
    }
    try {
      sqlite3_busy_timeout(db_, static_cast<int>(o.busy_timeout_ms));
      use_wal(std::chrono::milliseconds(o.busy_timeout_ms));
      exec("PRAGMA synchronous=" + o.synchronous);
      exec("PRAGMA cache_size=-65536");
      exec("PRAGMA temp_store=FILE");
    } catch (...) {
      sqlite3_close(db_);  // no destructor runs for a constructor that throws
      throw;
    }
  }
  ~sqlite_db() { sqlite3_close(db_); }
  sqlite_db(const sqlite_db&) = delete;
  sqlite_db& operator=(const sqlite_db&) = delete;

  // Switching a new database file to WAL needs an exclusive lock, and SQLite
  // answers SQLITE_BUSY at once, without its busy handler, when another
  // connection (another stream of the run, opened on another sink thread)
  // holds the file at that moment. Wait for it as the busy timeout would.
  void use_wal(std::chrono::milliseconds patience) {
    const auto give_up = std::chrono::steady_clock::now() + patience;
    for (;;) {
      const int rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) return;
      if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || std::chrono::steady_clock::now() >= give_up)
        fail(sqlite3_errmsg(db_));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string why = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      fail(why);
    }
  }
  // Runs a statement with text parameters; returns the rows it changed.
  int run(const std::string& sql, const std::vector<std::string>& params) {
    statement st(db_, sql);
    for (std::size_t i = 0; i < params.size(); ++i)
      sqlite3_bind_text(st.get(), static_cast<int>(i + 1), params[i].data(), static_cast<int>(params[i].size()),
                        SQLITE_STATIC);
    if (sqlite3_step(st.get()) != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    return sqlite3_changes(db_);
  }
  // The columns of a table in the main database; empty when it does not exist.
  std::vector<table_column> columns_of(const std::string& table) {
    statement st(db_, "SELECT name, type FROM pragma_table_info(?1, 'main') ORDER BY cid");
    sqlite3_bind_text(st.get(), 1, table.data(), static_cast<int>(table.size()), SQLITE_STATIC);
    std::vector<table_column> out;
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
      const auto text = [&](int i) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), i));
        return std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st.get(), i)));
      };
      out.push_back({text(0), text(1)});
    }
    if (rc != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    return out;
  }
  sqlite3* get() const noexcept { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

class sqlite_stream final : public sink_stream {
 public:
  sqlite_stream(const sqlite_sink_options& o, const stream_schema& schema)
      : schema_(schema), table_(schema, "main.", sqlite_dialect, o.deletes), db_(o),
        scratch_(schema.columns.size()) {
    try {
      // Refused now rather than after the download: a column whose type the
      // table does not have (commit checks again, under the write lock).
      (void)table_.fit(db_.columns_of(table_name(schema_)));
      planned_ = table_.stores();
      open_ = true;
      if (schema.columns.empty()) return;  // no rows can come: nothing to stage
      db_.exec(table_.create_staging(staging, ""));
      db_.exec("BEGIN");
      std::string sql = "INSERT INTO " + std::string(staging) + " VALUES (";
      for (std::size_t i = 0; i < schema.columns.size(); ++i) sql += i ? ",?" : "?";
      insert_ = std::make_unique<statement>(db_.get(), sql + ")");
    } catch (const std::system_error& e) {
      abort();
      fail("sqlite: " + where(schema_) + ": ", e);
    }
  }
  ~sqlite_stream() override { abort(); }

  void write(const row_batch& rows) override {
    if (rows.empty()) return;
    if (!insert_) fail("sqlite: " + where(schema_) + ": rows for a stream that has no columns");
    sqlite3_stmt* st = insert_->get();
    const std::size_t width = schema_.columns.size();
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const std::size_t n = std::min(rows.field_count(r), width);
      for (std::size_t c = 0; c < n; ++c) {
        const std::string_view v = rows.field(r, c);
        const int i = static_cast<int>(c + 1);
        // The view outlives the step below, so SQLite need not copy it. The
        // length is explicit: NUL bytes and invalid UTF-8 are stored as they came.
        if (table_.is_null(c, v)) sqlite3_bind_null(st, i);
        else if (table_.kind(c) == value_kind::text)
          sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        else
          bind_typed(st, i, c, v, rows_ + 1);
      }
      for (std::size_t c = n; c < width; ++c) sqlite3_bind_null(st, static_cast<int>(c + 1));
      ++rows_;
      if (sqlite3_step(st) != SQLITE_DONE)
        fail("sqlite: " + where(schema_) + ", row " + std::to_string(rows_) + ": " + sqlite3_errmsg(db_.get()));
      sqlite3_reset(st);
    }
  }

  void commit(const file_token& token) override {
    try {
      const bool staged = static_cast<bool>(insert_);
      insert_.reset();
      if (staged) db_.exec("COMMIT");  // the staged rows (temporary: no fsync, no lock on the database file)
      db_.exec("BEGIN IMMEDIATE");
      db_.exec(table_.create_commits());
      const auto existing = db_.columns_of(table_name(schema_));
      const auto fit = table_.fit(existing);
      if (table_.stores() != planned_)
        throw std::system_error(sink_errc::io_error, "table " + table_.name() +
                                                         " changed its column types while the stream loaded: run again");
      for (const auto& sql : fit) {
        try {
          db_.exec(sql);
        } catch (const std::system_error& e) {
          throw std::system_error(e.code(), "changing " + table_.name() + " to fit the stream (" + sql + "): " + e.what());
        }
      }
      if (token.fence) {  // a fleet worker's commit: refused once a newer holder of its unit committed
        db_.exec(table_.create_fences());
        check_fence(token, db_.run(table_.record_fence(), {token.fence->unit, std::to_string(token.fence->token)}));
      }
      const commit_key key = make_commit_key(schema_, token);
      if (db_.run(table_.record_commit(), {key.job, key.query, key.file_ids, token.job_id, std::to_string(rows_)}) ==
          0) {
        db_.exec("ROLLBACK");  // a replay: this stream's files are in already
      } else {
        if (schema_.load == load_kind::full) {
          // A stream with no columns empties a table that exists, and creates none.
          if (staged || !existing.empty()) db_.exec("DELETE FROM " + table_.name());
          if (staged)
            db_.exec("INSERT INTO " + table_.name() + " (" + table_.column_list() + ") SELECT * FROM " + staging);
        } else if (staged) {
          const std::string at = schema_.started_at == std::chrono::sys_seconds{}
                                     ? std::string("strftime('%Y-%m-%dT%H:%M:%SZ', 'now')")
                                     : "'" + iso_utc(schema_.started_at) + "'";  // digits, '-', ':', T, Z only
          for (const auto& sql : table_.merge(staging, at)) db_.exec(sql);
        }
        db_.exec("COMMIT");
      }
      open_ = false;
      // Committed: a failure to drop the staging table must not report otherwise (closing drops it anyway).
      if (staged) sqlite3_exec(db_.get(), (std::string("DROP TABLE ") + staging).c_str(), nullptr, nullptr, nullptr);
    } catch (const std::system_error& e) {
      abort();
      fail("sqlite: " + where(schema_) + ": commit failed: ", e);
    }
  }

  void abort() noexcept override {
    if (!open_) return;
    open_ = false;
    insert_.reset();
    // Closing the connection rolls back and drops the staging table.
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  // Binds a typed field as its column stores it (sql_table.hpp), after
  // checking it by hand: SQLite itself would take anything.
  void bind_typed(sqlite3_stmt* st, int i, std::size_t c, std::string_view v, std::uint64_t record) {
    const value_kind k = table_.kind(c);
    bool flag = false;
    const column_type store = table_.store(c);
    if (k == value_kind::datetime && store == column_type::datetime) {
      std::size_t n = 0;
      if (v.size() > datetime_max || !normal_datetime(v, scratch_[c].data(), n))
        refuse_value("sqlite", schema_, record, c, v, k);
      sqlite3_bind_text(st, i, scratch_[c].data(), static_cast<int>(n), SQLITE_STATIC);
      return;
    }
    if (k == value_kind::integer && store == column_type::integer) {
      std::int64_t x = 0;
      if (!parse_integer(v, x)) refuse_value("sqlite", schema_, record, c, v, k);
      sqlite3_bind_int64(st, i, x);
      return;
    }
    if (!fits(k, v, flag)) refuse_value("sqlite", schema_, record, c, v, k);
    if (store == column_type::boolean) sqlite3_bind_int(st, i, flag ? 1 : 0);
    else sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }

  static constexpr const char* staging = "temp.\"_aquaduct_stage\"";
  stream_schema schema_;
  sql_table table_;
  sqlite_db db_;
  std::unique_ptr<statement> insert_;
  std::vector<column_type> planned_;  // what each column stores, as open() found the table
  std::vector<std::array<char, datetime_max>> scratch_;  // a datetime's normal form, bound until the step
  bool open_ = false;
  std::uint64_t rows_ = 0;
};

class sqlite_sink final : public sink {
 public:
  explicit sqlite_sink(sqlite_sink_options opts) : opts_(std::move(opts)) {}
  std::string_view type() const noexcept override { return "sqlite"; }
  std::unique_ptr<sink_stream> open(const stream_schema& schema) override {
    const stream_schema named = with_column_names(schema, opts_.columns, "sqlite");
    require_row_key(named, "sqlite");
    return std::make_unique<sqlite_stream>(opts_, named);
  }
  void close() override {}
  std::string health_check() override {
    try {
      sqlite_db db(opts_);
      db.exec("BEGIN IMMEDIATE");
      db.exec("ROLLBACK");
      return {};
    } catch (const std::exception& e) {
      return e.what();
    }
  }

  std::string destination() const override { return absolute_path(opts_.path); }

  // Read only: a database file that is not there yet is not created.
  bool holds(const stream_schema& schema) override {
    std::error_code ec;
    if (!std::filesystem::exists(opts_.path, ec)) return false;
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(opts_.path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    std::string why;
    bool found = false;
    if (rc == SQLITE_OK) {
      sqlite3_busy_timeout(db, static_cast<int>(opts_.busy_timeout_ms));
      const std::string table = table_name(schema);
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &st,
                             nullptr) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table.data(), static_cast<int>(table.size()), SQLITE_STATIC);
        const int step = sqlite3_step(st);
        found = step == SQLITE_ROW;
        if (step != SQLITE_ROW && step != SQLITE_DONE) why = sqlite3_errmsg(db);
      } else {
        why = sqlite3_errmsg(db);
      }
      sqlite3_finalize(st);
    } else {
      why = db ? sqlite3_errmsg(db) : "out of memory";
    }
    sqlite3_close(db);
    if (!why.empty()) fail("sqlite: " + where(schema) + ": cannot read " + opts_.path + ": " + why);
    return found;
  }

 private:
  sqlite_sink_options opts_;
};

}  // namespace

sqlite_sink_options sqlite_sink_options::from(const sink_config& cfg, std::vector<std::string>& problems) {
  sqlite_sink_options o;
  option_reader r(cfg, problems);
  r.text("path", o.path, option_reader::need::required);
  r.choice("synchronous", o.synchronous, {"full", "normal"});
  r.integer("busy_timeout_ms", o.busy_timeout_ms, 0, 3600000);
  read_deletes(r, o.deletes);
  read_column_names(r, o.columns);
  r.finish();
  return o;
}

std::unique_ptr<sink> make_sqlite_sink(sqlite_sink_options opts) { return std::make_unique<sqlite_sink>(std::move(opts)); }

}  // namespace aquaduct::sinks

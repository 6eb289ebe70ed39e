#pragma once
// The SQL the two transactional sinks (sqlite, postgres) share: a query's
// table, its staging twin for incremental loads, the merge from one to the
// other, and the _aquaduct_commits ledger. Every identifier is made safe and
// quoted here (sink_names.hpp); values always travel as bound parameters or
// COPY data, never in SQL text.
//
// Column types (docs/sinks.md "Typed columns"): a column gets the SQL type of
// its describe type (stream_schema::types) when the table is created or the
// column added. An existing table's column keeps its type unless the stream
// widens it:
//   table integer, stream decimal  -> the column becomes decimal (ALTER)
//   table typed, stream text       -> the column becomes text (ALTER)
//   table text, stream typed       -> the column stays text: values are still
//                                     checked by their type, stored as their text
//   table decimal, stream integer  -> stays decimal
//   anything else (date -> boolean, ...) is refused, naming table and column.
// A table is NEVER dropped, so views, grants and indexes on it survive; an
// ALTER the database refuses (a view uses the column) is an error naming
// table and column, and the commit's transaction leaves everything as it was.
#include "sinks/sink_common.hpp"
#include "sinks/typed_values.hpp"

#include <aquaduct/sink.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::sinks {

// What differs between the SQL dialects the sinks speak.
struct sql_dialect {
  std::array<const char*, 6> types;          // the column type for each column_type, in the enum's order
  std::array<const char*, 6> catalog_types;  // the same types as the catalog names them (compared ignoring case)
  const char* row_id;                        // a row's physical position, rising in insertion order
  bool names_ignore_case;                    // whether "a" and "A" name the same column (SQLite: ASCII case)
  bool alter_type;                           // ALTER COLUMN ... TYPE (PostgreSQL); else add, copy, drop, rename (SQLite)
  const char* true_literal;                  // a stored boolean true: TRUE, 1
};

// A column a table has now, as its catalog tells.
struct table_column {
  std::string name;
  std::string type;  // as sql_dialect::catalog_types spells it, for the types this sink creates
};

// Sink option `deletes`: "hard" removes a row flagged deleted; "soft" keeps
// it with the flag set and _aquaduct_deleted_at.
enum class delete_mode { hard, soft };
inline constexpr const char* deleted_at_column = "_aquaduct_deleted_at";

class sql_table {
 public:
  // `schema_prefix` is "" or a quoted schema followed by '.'.
  sql_table(const stream_schema& schema, std::string schema_prefix, const sql_dialect& dialect,
            delete_mode deletes = delete_mode::hard);

  const std::string& name() const noexcept { return name_; }  // quoted, schema-qualified
  const std::string& column_list() const noexcept { return columns_; }  // "a","b"
  // Whether field `v` of column `col` is stored as NULL: an empty field of a
  // column typed by describe, or the job's null_value.
  bool is_null(std::size_t col, std::string_view v) const noexcept {
    return (v.empty() && col < kinds_.size() && kinds_[col] != value_kind::text) || (null_value_ && v == *null_value_);
  }
  // What field `col` is checked as, and what its table column stores (after fit()).
  value_kind kind(std::size_t col) const noexcept { return kinds_[col]; }
  column_type store(std::size_t col) const noexcept { return store_[col]; }
  const std::vector<column_type>& stores() const noexcept { return store_; }
  // Whether the stream names the column that identifies a row (key_column).
  bool has_key() const noexcept { return !id_.empty(); }

  // What makes the table fit this stream, given the columns it has now
  // (none: it does not exist), and what each column stores from now on
  // (stores()). Run inside the commit's transaction. A missing table is
  // CREATEd; a column the table lacks is ADDed (rows already there get
  // NULL); a column the stream no longer has is KEPT (new rows get NULL
  // there); a type is widened or kept as the header says. A change that is
  // neither throws std::system_error (sink_errc::bad_value) naming table,
  // column, both types. A stream with no columns changes nothing (an empty list).
  std::vector<std::string> fit(const std::vector<table_column>& existing);
  // CREATE TEMP TABLE `staging` with the stored types; `suffix` ends it (e.g. " ON COMMIT DROP").
  std::string create_staging(const std::string& staging, const char* suffix) const;
  // Moves an incremental load from `staging` into the table: keeps only the
  // last staged row of each key, deletes the table's rows whose key is
  // staged, then inserts the staged rows: those not flagged deleted (hard),
  // or all of them, the flagged ones with _aquaduct_deleted_at set to
  // `deleted_at` (soft; an SQL expression). NEEDS has_key().
  std::vector<std::string> merge(const std::string& staging, const std::string& deleted_at) const;

  // The ledger: CREATE, and an INSERT of ($1 job, $2 query, $3 file ids,
  // $4 job id, $5 rows) that inserts nothing when the key is present.
  std::string create_commits() const;
  std::string record_commit() const;
  // The fleet's fences (file_token::fence, docs/fleet.md): the highest token
  // committed per unit. record_fence() ($1 unit, $2 token) changes one row
  // unless the table holds a higher token for the unit: then none, and the
  // commit is refused (check_fence).
  std::string create_fences() const;
  std::string record_fence() const;

 private:
  std::vector<std::string> widen(const std::string& col, std::size_t i, column_type to) const;
  std::string def(std::size_t i, column_type t) const;

  const sql_dialect* dialect_;
  std::string prefix_;
  std::string name_;
  std::string columns_;
  std::vector<std::string> names_;  // safe, unquoted
  std::vector<column_type> types_;  // the stream's
  std::vector<column_type> store_;  // the table's, after fit()
  std::vector<value_kind> kinds_;
  std::string id_;  // quoted key column, or empty
  int deleted_ = -1;
  std::string deleted_name_;  // quoted
  std::string deleted_true_;  // the flag's text for a deleted row: true, 1
  delete_mode deletes_;
  std::optional<std::string> null_value_;
};

// Refuses (std::system_error, sink_errc::bad_options) an incremental stream
// with columns but no usable key_column: an upserting sink would append its
// rows beside the old versions, and apply no deletion. `sink` opens the message.
// Throws sink_errc::stale_fence naming the unit when record_fence() changed
// no row (`changed` == 0): a newer holder of the unit committed already.
void check_fence(const file_token& token, long long changed);

void require_row_key(const stream_schema& schema, std::string_view sink);

// The sink option `deletes` ("hard" | "soft"), read into `out`.
void read_deletes(option_reader& r, delete_mode& out);

}  // namespace aquaduct::sinks

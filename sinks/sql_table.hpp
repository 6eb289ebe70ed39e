#pragma once
// The SQL the two transactional sinks (sqlite, postgres) share: a query's
// table, its staging twin for incremental loads, the merge from one to the
// other, and the _aquaduct_commits ledger. Every identifier is made safe and
// quoted here (sink_names.hpp); values always travel as bound parameters.
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
};

// A column a table has now, as its catalog tells.
struct table_column {
  std::string name;
  std::string type;  // as sql_dialect::catalog_types spells it, for the types this sink creates
};

class sql_table {
 public:
  // `schema_prefix` is "" or a quoted schema followed by '.'.
  sql_table(const stream_schema& schema, std::string schema_prefix, const sql_dialect& dialect);

  const std::string& name() const noexcept { return name_; }  // quoted, schema-qualified
  const std::string& column_list() const noexcept { return columns_; }  // "a","b"
  // Whether field `v` of column `col` is stored as NULL: an empty field of a
  // column typed by describe, or the job's null_value.
  bool is_null(std::size_t col, std::string_view v) const noexcept {
    return (v.empty() && col < typed_.size() && typed_[col]) || (null_value_ && v == *null_value_);
  }
  // Whether the stream names the column that identifies a row (key_column).
  bool has_key() const noexcept { return !id_.empty(); }

  // What makes the table fit this stream, given the columns it has now
  // (none: it does not exist). Run inside the commit's transaction. A
  // missing table is CREATEd; a column the table lacks is ADDed (rows
  // already there get NULL); a column the stream no longer has is KEPT
  // (new rows get NULL there). NEVER drops the table, so views, grants,
  // indexes and triggers on it survive any change of the query. A column
  // whose type differs from the stream's is refused: throws
  // std::system_error (sink_errc::bad_value) naming table, column, both
  // types. A stream with no columns changes nothing (an empty list).
  std::vector<std::string> fit(const std::vector<table_column>& existing) const;
  // CREATE TEMP TABLE `staging` with the same columns; `suffix` ends it (e.g. " ON COMMIT DROP").
  std::string create_staging(const std::string& staging, const char* suffix) const;
  // Moves an incremental load from `staging` into the table: keeps only the
  // last staged row of each key, deletes the table's rows whose key is
  // staged, then inserts the staged rows not flagged deleted. $1 is the
  // deleted flag's "true" text when the schema has a deleted column (see
  // merge_has_flag()). NEEDS has_key().
  std::vector<std::string> merge(const std::string& staging) const;
  bool merge_has_flag() const noexcept { return deleted_ >= 0; }
  const char* deleted_true() const noexcept;

  // The ledger: CREATE, and an INSERT of ($1 job, $2 query, $3 file ids,
  // $4 job id, $5 rows) that inserts nothing when the key is present.
  std::string create_commits() const;
  std::string record_commit() const;

 private:
  const sql_dialect* dialect_;
  std::string prefix_;
  std::string name_;
  std::string columns_;
  std::string column_defs_;
  std::vector<std::string> names_;  // safe, unquoted
  std::vector<std::string> defs_;   // quoted name and type, one per column
  std::vector<column_type> types_;
  std::string id_;  // quoted key column, or empty
  int deleted_ = -1;
  std::string deleted_name_;  // quoted
  std::string deleted_format_;
  std::vector<bool> typed_;
  std::optional<std::string> null_value_;
};

// Refuses (std::system_error, sink_errc::bad_options) an incremental stream
// with columns but no usable key_column: an upserting sink would append its
// rows beside the old versions, and apply no deletion. `sink` opens the message.
void require_row_key(const stream_schema& schema, std::string_view sink);

}  // namespace aquaduct::sinks

#include "sinks/sql_table.hpp"

#include "sinks/sink_common.hpp"
#include "sinks/sink_names.hpp"

#include <aquaduct/error.hpp>

#include <algorithm>
#include <system_error>

namespace aquaduct::sinks {

namespace {

bool same_ignoring_case(std::string_view a, std::string_view b) noexcept {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace

sql_table::sql_table(const stream_schema& schema, std::string schema_prefix, const sql_dialect& dialect,
                     delete_mode deletes)
    : dialect_(&dialect), prefix_(std::move(schema_prefix)), name_(prefix_ + quote_ident(table_name(schema))),
      deletes_(deletes), null_value_(schema.null_value) {
  const auto deleted = deleted_column_index(schema);
  for (std::size_t i = 0; i < schema.columns.size(); ++i) {
    names_.push_back(safe_sql_name(schema.columns[i]));
    if (i) columns_ += ", ";
    columns_ += quote_ident(names_.back());
    column_type t = i < schema.types.size() ? schema.types[i] : column_type::text;
    // Soft deletes keep flagged rows: their flag is a real boolean.
    if (deleted == i && deletes == delete_mode::soft) t = column_type::boolean;
    types_.push_back(t);
    value_kind k = kind_of(t);
    if (k == value_kind::boolean && deleted == i && schema.deleted->format == "Numeric") k = value_kind::numeric_flag;
    kinds_.push_back(k);
  }
  store_ = types_;
  if (schema.key_column && *schema.key_column < schema.columns.size())
    id_ = quote_ident(safe_sql_name(schema.columns[*schema.key_column]));
  if (deleted) {
    deleted_ = static_cast<int>(*deleted);
    deleted_name_ = quote_ident(names_[*deleted]);
    deleted_true_ = schema.deleted->format == "Numeric" ? "1" : "true";
  }
}

std::string sql_table::def(std::size_t i, column_type t) const {
  return quote_ident(names_[i]) + " " + dialect_->types[static_cast<std::size_t>(t)];
}

std::vector<std::string> sql_table::widen(const std::string& col, std::size_t i, column_type to) const {
  const std::string type = dialect_->types[static_cast<std::size_t>(to)];
  const std::string q = quote_ident(col);
  if (dialect_->alter_type)
    return {"ALTER TABLE " + name_ + " ALTER COLUMN " + q + " TYPE " + type + " USING " + q + "::" + type};
  // SQLite cannot change a column's type: a new column takes the values as
  // text, the old one goes (refused while a view, index or trigger uses it),
  // the new one takes its name. The column moves to the end of the table.
  const std::string tmp = quote_ident("_aquaduct_widen");
  const std::string value = store_[i] == column_type::boolean
                                ? "CASE " + q + " WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"
                                : "CAST(" + q + " AS TEXT)";
  return {"ALTER TABLE " + name_ + " ADD COLUMN " + tmp + " " + type, "UPDATE " + name_ + " SET " + tmp + " = " + value,
          "ALTER TABLE " + name_ + " DROP COLUMN " + q, "ALTER TABLE " + name_ + " RENAME COLUMN " + tmp + " TO " + q};
}

std::vector<std::string> sql_table::fit(const std::vector<table_column>& existing) {
  store_ = types_;
  if (names_.empty()) return {};
  const bool soft = deletes_ == delete_mode::soft && deleted_ >= 0;
  if (existing.empty()) {
    std::string defs;
    for (std::size_t i = 0; i < names_.size(); ++i) defs += (i ? ", " : "") + def(i, types_[i]);
    if (soft)
      defs += ", " + quote_ident(deleted_at_column) + " " + dialect_->types[static_cast<std::size_t>(column_type::datetime)];
    return {"CREATE TABLE " + name_ + " (" + defs + ")"};
  }
  const auto find = [&](std::string_view name) {
    return std::find_if(existing.begin(), existing.end(), [&](const table_column& c) {
      return dialect_->names_ignore_case ? same_ignoring_case(c.name, name) : c.name == name;
    });
  };
  const auto type_of = [&](const std::string& catalog) -> std::optional<column_type> {
    for (std::size_t t = 0; t < dialect_->catalog_types.size(); ++t)
      if (same_ignoring_case(catalog, dialect_->catalog_types[t])) return static_cast<column_type>(t);
    return std::nullopt;
  };
  std::vector<std::string> out;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    const auto has = find(names_[i]);
    if (has == existing.end()) {
      out.push_back("ALTER TABLE " + name_ + " ADD COLUMN " + def(i, types_[i]));
      continue;
    }
    const column_type want = types_[i];
    const auto now = type_of(has->type);
    if (now == want) continue;
    if (now == column_type::text || (now == column_type::decimal && want == column_type::integer)) {
      store_[i] = *now;  // the wider column stays; values are checked by the stream's type
      continue;
    }
    if (now && (want == column_type::text || (*now == column_type::integer && want == column_type::decimal))) {
      store_[i] = *now;  // what widen() converts from
      for (auto& sql : widen(has->name, i, want)) out.push_back(std::move(sql));
      store_[i] = want;
      continue;
    }
    const auto t = static_cast<std::size_t>(want);
    throw std::system_error(
        sink_errc::bad_value,
        "table " + name_ + ": column " + quote_ident(has->name) + " is " +
            (has->type.empty() ? std::string("untyped") : has->type) + " there, but this stream's column is " +
            dialect_->types[t] + " (describe type " + std::string(to_string(want)) +
            "), and that is no widening (integer to decimal, anything to text); a load never narrows a column, "
            "converts it between unrelated types or drops a table: change the column yourself (ALTER TABLE " +
            name_ + " ALTER COLUMN ... TYPE ...), or drop the table to have it created again");
  }
  if (soft) {
    const auto has = find(deleted_at_column);
    const char* dt = dialect_->types[static_cast<std::size_t>(column_type::datetime)];
    if (has == existing.end())
      out.push_back("ALTER TABLE " + name_ + " ADD COLUMN " + quote_ident(deleted_at_column) + " " + dt);
    else if (type_of(has->type) != column_type::datetime)
      throw std::system_error(sink_errc::bad_value, "table " + name_ + ": column " + quote_ident(deleted_at_column) +
                                                        " is " + has->type + " there, but deletes = \"soft\" keeps " +
                                                        dt + " in it: drop or alter that column");
  }
  return out;
}

std::string sql_table::create_staging(const std::string& staging, const char* suffix) const {
  std::string defs;
  for (std::size_t i = 0; i < names_.size(); ++i) defs += (i ? ", " : "") + def(i, store_[i]);
  return "CREATE TEMP TABLE " + staging + " (" + defs + ")" + suffix;
}

std::vector<std::string> sql_table::merge(const std::string& staging, const std::string& deleted_at) const {
  const std::string rid(dialect_->row_id);
  std::vector<std::string> out;
  out.push_back("DELETE FROM " + staging + " WHERE " + rid + " NOT IN (SELECT MAX(" + rid + ") FROM " + staging +
                " GROUP BY " + id_ + ")");
  out.push_back("DELETE FROM " + name_ + " WHERE " + id_ + " IN (SELECT " + id_ + " FROM " + staging + ")");
  std::string flagged;
  if (deleted_ >= 0) {
    const auto d = static_cast<std::size_t>(deleted_);
    if (store_[d] == column_type::boolean)
      flagged = "COALESCE(" + deleted_name_ + " = " + dialect_->true_literal + ", FALSE)";
    else  // a text column: the flag's text as it came
      flagged = "COALESCE(" + deleted_name_ + " = '" + deleted_true_ + "', FALSE)";
  }
  if (deleted_ >= 0 && deletes_ == delete_mode::soft) {
    out.push_back("INSERT INTO " + name_ + " (" + columns_ + ", " + quote_ident(deleted_at_column) + ") SELECT " +
                  columns_ + ", CASE WHEN " + flagged + " THEN " + deleted_at + " END FROM " + staging);
    return out;
  }
  std::string insert = "INSERT INTO " + name_ + " (" + columns_ + ") SELECT " + columns_ + " FROM " + staging;
  if (deleted_ >= 0) insert += " WHERE NOT " + flagged;
  out.push_back(std::move(insert));
  return out;
}

std::string sql_table::create_commits() const {
  return "CREATE TABLE IF NOT EXISTS " + prefix_ +
         "\"_aquaduct_commits\" (job TEXT NOT NULL, query TEXT NOT NULL, file_ids TEXT NOT NULL, job_id TEXT, "
         "rows BIGINT, committed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (job, query, file_ids))";
}

std::string sql_table::record_commit() const {
  return "INSERT INTO " + prefix_ +
         "\"_aquaduct_commits\" (job, query, file_ids, job_id, rows) VALUES ($1, $2, $3, $4, $5) "
         "ON CONFLICT DO NOTHING";
}

std::string sql_table::create_fences() const {
  return "CREATE TABLE IF NOT EXISTS " + prefix_ +
         "\"_aquaduct_fences\" (unit TEXT PRIMARY KEY, token BIGINT NOT NULL, "
         "committed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)";
}

std::string sql_table::record_fence() const {
  return "INSERT INTO " + prefix_ +
         "\"_aquaduct_fences\" AS f (unit, token) VALUES ($1, $2) ON CONFLICT (unit) DO UPDATE SET "
         "token = excluded.token, committed_at = CURRENT_TIMESTAMP WHERE f.token <= excluded.token";
}

void check_fence(const file_token& token, long long changed) {
  if (changed != 0 || !token.fence) return;
  throw std::system_error(sink_errc::stale_fence,
                          "unit " + token.fence->unit + ": fencing token " + std::to_string(token.fence->token) +
                              " is older than one this sink committed (_aquaduct_fences): another worker holds "
                              "the unit now, so this commit is refused");
}

void require_row_key(const stream_schema& schema, std::string_view sink) {
  if (schema.load != load_kind::incremental || schema.columns.empty()) return;
  if (schema.key_column && *schema.key_column < schema.columns.size()) return;
  throw std::system_error(sink_errc::bad_options,
                          std::string(sink) + ": " + where(schema) +
                              ": an incremental load needs the row key to upsert and delete by, the base object's Id "
                              "(the Id of the object after FROM) in the query's select list, and this stream has "
                              "none: select it (with use_query_labels on when the query selects '*'), or load the "
                              "query in full");
}

void read_deletes(option_reader& r, delete_mode& out) {
  std::string v = out == delete_mode::soft ? "soft" : "hard";
  r.choice("deletes", v, {"hard", "soft"});
  out = v == "soft" ? delete_mode::soft : delete_mode::hard;
}

}  // namespace aquaduct::sinks

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

const char* describe_name(column_type t) noexcept {
  switch (t) {
    case column_type::text: return "text";
    case column_type::integer: return "integer";
    case column_type::decimal: return "decimal";
    case column_type::boolean: return "boolean";
    case column_type::date: return "date";
    case column_type::datetime: return "datetime";
  }
  return "text";
}

}  // namespace

sql_table::sql_table(const stream_schema& schema, std::string schema_prefix, const sql_dialect& dialect)
    : dialect_(&dialect), prefix_(std::move(schema_prefix)),
      name_(prefix_ + quote_ident(table_name(schema.job, schema.query))), null_value_(schema.null_value) {
  for (std::size_t i = 0; i < schema.columns.size(); ++i) {
    names_.push_back(safe_sql_name(schema.columns[i]));
    const std::string col = quote_ident(names_.back());
    const column_type t = i < schema.types.size() ? schema.types[i] : column_type::text;
    if (i) {
      columns_ += ", ";
      column_defs_ += ", ";
    }
    columns_ += col;
    types_.push_back(t);
    typed_.push_back(t != column_type::text);
    defs_.push_back(col + " " + dialect.types[static_cast<std::size_t>(t)]);
    column_defs_ += defs_.back();
  }
  if (schema.key_column && *schema.key_column < schema.columns.size())
    id_ = quote_ident(safe_sql_name(schema.columns[*schema.key_column]));
  if (const auto d = deleted_column_index(schema)) {
    deleted_ = static_cast<int>(*d);
    deleted_name_ = quote_ident(safe_sql_name(schema.columns[*d]));
    deleted_format_ = schema.deleted->format;
  }
}

std::vector<std::string> sql_table::fit(const std::vector<table_column>& existing) const {
  if (names_.empty()) return {};
  if (existing.empty()) return {"CREATE TABLE " + name_ + " (" + column_defs_ + ")"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    const auto has = std::find_if(existing.begin(), existing.end(), [&](const table_column& c) {
      return dialect_->names_ignore_case ? same_ignoring_case(c.name, names_[i]) : c.name == names_[i];
    });
    if (has == existing.end()) {
      out.push_back("ALTER TABLE " + name_ + " ADD COLUMN " + defs_[i]);
      continue;
    }
    const auto t = static_cast<std::size_t>(types_[i]);
    if (!same_ignoring_case(has->type, dialect_->catalog_types[t]))
      throw std::system_error(
          sink_errc::bad_value,
          "table " + name_ + ": column " + quote_ident(has->name) + " is " +
              (has->type.empty() ? std::string("untyped") : has->type) + " there, but this stream's column is " +
              dialect_->types[t] + " (describe type " + describe_name(types_[i]) +
              "); a load never changes a column's type or drops a table: change the column yourself (ALTER TABLE " +
              name_ + " ALTER COLUMN ... TYPE ...), or drop the table to have it created again");
  }
  return out;
}

std::string sql_table::create_staging(const std::string& staging, const char* suffix) const {
  return "CREATE TEMP TABLE " + staging + " (" + column_defs_ + ")" + suffix;
}

const char* sql_table::deleted_true() const noexcept { return deleted_format_ == "Numeric" ? "1" : "true"; }

std::vector<std::string> sql_table::merge(const std::string& staging) const {
  const std::string rid(dialect_->row_id);
  std::vector<std::string> out;
  out.push_back("DELETE FROM " + staging + " WHERE " + rid + " NOT IN (SELECT MAX(" + rid + ") FROM " + staging +
                " GROUP BY " + id_ + ")");
  out.push_back("DELETE FROM " + name_ + " WHERE " + id_ + " IN (SELECT " + id_ + " FROM " + staging + ")");
  std::string insert = "INSERT INTO " + name_ + " (" + columns_ + ") SELECT " + columns_ + " FROM " + staging;
  // CAST so a boolean or integer flag column compares as its text.
  if (deleted_ >= 0) insert += " WHERE COALESCE(CAST(" + deleted_name_ + " AS TEXT), '') <> $1";
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

}  // namespace aquaduct::sinks

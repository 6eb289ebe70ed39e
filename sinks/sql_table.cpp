#include "sinks/sql_table.hpp"

#include "sinks/sink_common.hpp"
#include "sinks/sink_names.hpp"

#include <algorithm>

namespace aquaduct::sinks {

sql_table::sql_table(const stream_schema& schema, std::string schema_prefix, const sql_dialect& dialect)
    : row_id_(dialect.row_id), prefix_(std::move(schema_prefix)), name_(prefix_ + quote_ident(table_name(schema.job, schema.query))),
      null_value_(schema.null_value) {
  for (std::size_t i = 0; i < schema.columns.size(); ++i) {
    names_.push_back(safe_sql_name(schema.columns[i]));
    const std::string col = quote_ident(names_.back());
    const column_type t = i < schema.types.size() ? schema.types[i] : column_type::text;
    if (i) {
      columns_ += ", ";
      column_defs_ += ", ";
    }
    columns_ += col;
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

std::vector<std::string> sql_table::fit(const std::vector<std::string>& existing, load_kind load) const {
  const std::string create = "CREATE TABLE " + name_ + " (" + column_defs_ + ")";
  if (existing.empty()) return {create};
  const auto has = [&](const std::string& n) { return std::find(existing.begin(), existing.end(), n) != existing.end(); };
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (!has(names_[i])) missing.push_back("ALTER TABLE " + name_ + " ADD COLUMN " + defs_[i]);
  if (load == load_kind::incremental) return missing;
  if (missing.empty() && existing.size() == names_.size()) return {};
  return {"DROP TABLE " + name_, create};
}

std::string sql_table::create_staging(const std::string& staging, const char* suffix) const {
  return "CREATE TEMP TABLE " + staging + " (" + column_defs_ + ")" + suffix;
}

const char* sql_table::deleted_true() const noexcept { return deleted_format_ == "Numeric" ? "1" : "true"; }

std::vector<std::string> sql_table::merge(const std::string& staging) const {
  std::vector<std::string> out;
  if (!id_.empty()) {
    const std::string rid(row_id_);
    out.push_back("DELETE FROM " + staging + " WHERE " + rid + " NOT IN (SELECT MAX(" + rid + ") FROM " + staging +
                  " GROUP BY " + id_ + ")");
    out.push_back("DELETE FROM " + name_ + " WHERE " + id_ + " IN (SELECT " + id_ + " FROM " + staging + ")");
  }
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

}  // namespace aquaduct::sinks

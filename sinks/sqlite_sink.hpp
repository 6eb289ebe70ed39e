#pragma once
// The sqlite sink: one database file, WAL mode, a table per query (the
// query's `table = ...` or "<job>__<query>", made safe) created when
// missing, TEXT columns unless describe typed them (INTEGER, DECIMAL_TEXT
// holding a decimal's exact digits, BOOLEAN 0/1, DATE and DATETIME as ISO
// text; sql_table.hpp), each typed field checked by hand first; a text value
// stored with its bytes as they came (NUL and invalid UTF-8 included). A stream stages its rows in a temporary table
// of its own connection, so concurrent streams never wait for each other's
// downloads; commit() moves them into the table in one IMMEDIATE
// transaction (full load: the table's rows replaced; incremental: rows with
// the same key_column replaced, rows flagged deleted removed; open() refuses
// an incremental stream without key_column) together with the (job, query,
// file ids) record in "_aquaduct_commits" that makes a replay a no-op. The
// table never loses columns, views or grants (sql_table::fit).
#include "sinks/sql_table.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace aquaduct::sinks {

struct sqlite_sink_options {
  std::string path;                      // required: the database file; created (with its directory) when missing
  std::string synchronous = "full";      // "full": a commit survives power loss; "normal": faster, WAL may lose the last commits on power loss
  std::uint32_t busy_timeout_ms = 60000;  // how long a commit waits for another writer of the same file
  delete_mode deletes = delete_mode::hard;  // "hard": a row flagged deleted goes; "soft": it stays, flag set, _aquaduct_deleted_at
  column_names columns = column_names::labels;  // "labels": AQuA's header names; "fields": see field_names()

  static sqlite_sink_options from(const sink_config& cfg, std::vector<std::string>& problems);
};

std::unique_ptr<sink> make_sqlite_sink(sqlite_sink_options opts);

}  // namespace aquaduct::sinks

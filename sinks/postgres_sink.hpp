#pragma once
// The postgres sink: one table per query, the query's `table = ...` or
// "<job>__<query>", made safe, in `schema`; columns typed by describe
// (text, bigint, numeric, boolean, date, timestamptz; sql_table.hpp), each
// typed field checked by hand before it is sent; rows arrive through COPY ... FROM STDIN, one transaction per
// committed stream. A full load truncates the table in that transaction
// (readers of the table wait until it commits); an incremental load stages
// the rows in a temporary table, then deletes the rows with the same key
// (stream_schema::key_column, REQUIRED: open() refuses an incremental stream
// without it) and inserts the staged rows whose deleted column is not set.
// The transaction also records (job, query, file ids) in
// "_aquaduct_commits", so a replayed commit changes nothing.
//
// Nothing waits without bound on another session: every lock the sink needs
// (the table for TRUNCATE, ALTER, COPY, DELETE; a ledger row another run is
// inserting) is given up after lock_timeout_ms with an error naming what was
// locked. statement_timeout is off for the sink's sessions: a COPY lasts as
// long as its download. A table never loses its columns, views or grants: a
// column the stream lacks is kept, a new one is added, a changed type is an
// error (sql_table::fit).
#include "sinks/sql_table.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace aquaduct::sinks {

struct postgres_sink_options {
  std::string dsn;                // required: a libpq connection string or URI; put the password in ${ENV}
  std::string schema = "public";  // the schema holding the tables; created when missing
  std::uint32_t lock_timeout_ms = 60000;  // how long a statement waits for a lock another session holds (1-3600000)
  delete_mode deletes = delete_mode::hard;  // "hard": a row flagged deleted goes; "soft": it stays, flag set, _aquaduct_deleted_at
  column_names columns = column_names::labels;  // "labels": AQuA's header names; "fields": see field_names()
  std::string nul_bytes = "strip";  // a NUL byte in a field (PostgreSQL text cannot hold one): "strip" it, or "fail" the stream

  static postgres_sink_options from(const sink_config& cfg, std::vector<std::string>& problems);
};

std::unique_ptr<sink> make_postgres_sink(postgres_sink_options opts);

}  // namespace aquaduct::sinks

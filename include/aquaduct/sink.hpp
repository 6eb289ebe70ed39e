#pragma once
// The sink contract (docs/sinks.md).
//
// A sink receives the rows of every (job, query) stream of a run. For each
// stream the engine calls open(schema), which returns a sink_stream; the
// stream gets write(batch) any number of times, then exactly one of commit()
// or abort(). Only after commit() returns may the engine record the stream as
// delivered. abort() discards everything written since open(): nothing of an
// aborted stream may ever be visible under a final name or in a committed
// transaction. close() ends the sink after all its streams are finished.
//
// Several streams of one sink may be open at once (one per query in flight);
// each stream is used by one thread at a time. docs/sinks.md maps this onto
// the flat open/write/commit/abort/close list of the design. open, write
// and commit MAY BLOCK on disk or a database (sqlite, postgres): keep them
// off an I/O thread (STYLE §3.7).
//
// A commit is idempotent: committing a stream whose file_token a sink has
// already committed (a replay after a crash) leaves the destination as it
// was. Transactional sinks record (job, query, file ids) in
// _aquaduct_commits in the same transaction as the rows; file sinks get it
// from the atomic rename onto the same final name.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct {

// How a stream's rows relate to what the destination already holds.
enum class load_kind {
  full,         // the stream is the whole object: replaces the file or table content
  incremental,  // changes since the last run: a new file beside the full one, or an upsert by Id
};

// A column's type, from describe. Sinks that have no types store text.
// Append new types at the end: sinks index tables by this order.
enum class column_type { text, integer, decimal, boolean, date, datetime };
// "text", "integer", ...: the names messages, dry runs and discover print.
constexpr std::string_view to_string(column_type t) noexcept {
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

// The deleted-flag column of an incremental load (interfaces.md §3 `deleted`).
struct deleted_column {
  std::string column;              // its name in the header
  std::string format = "Boolean";  // "Boolean": true/false; "Numeric": 1/0
};

struct stream_schema {
  std::string job;                   // job name from the config
  std::string job_id;                // the service's job id
  std::string query;                 // query (batch) name
  std::vector<std::string> columns;  // header of the result file, exactly as written
  // Filled by the engine where it knows them; the defaults give a full load
  // of text columns, which is what a stateless job produces.
  load_kind load = load_kind::full;
  std::chrono::sys_seconds started_at{};   // the job's start; names incremental files: SET IT for those
  std::optional<deleted_column> deleted{};  // present: rows flagged true are deletions
  std::vector<column_type> types{};        // empty: every column is text; else one per column
  std::optional<std::string> null_value{};  // the job's null_replacement, when set
  // The column that identifies a row: the base object's Id (the object after
  // FROM), found by the engine from the query, never guessed from the header.
  // Incremental loads upsert and delete by it. The engine sets it for every
  // incremental load into a sink that upserts (it refuses such a config
  // without one), and wherever the query selects the base Id.
  std::optional<std::size_t> key_column{};
  // The query's own name for its table or file (config `table = ...`);
  // empty: the sink's default (<job>__<query>, <job>/<query>.<ext>).
  std::string table{};
  // The base object, the object after FROM (`Account`), as the engine finds
  // it in the query; empty when unknown. Sink option columns = "fields"
  // strips its prefix from column names (sinks/sink_names.hpp field_names).
  std::string object{};
};

// A stream whose `columns` is EMPTY carries no rows and no header: the service
// completed the batch with no result file at all (recordCount 0). A full load
// of it still replaces what the destination holds: a table keeps its columns
// and loses its rows (a missing table stays missing), a file sink's full file
// is emptied (keeping the existing file's header line when there is one).

// A batch of rows: views into the decoder's buffers.
//   field i   = data[field_offsets[i], field_offsets[i+1])
//   row r     = fields [row_offsets[r], row_offsets[r+1])
// THE VIEWS ARE VALID ONLY DURING the call that receives the batch
// (sink_stream::write or a callback). Copy what must outlive it.
class row_batch {
 public:
  row_batch(const stream_schema& schema, std::string_view data, std::span<const std::size_t> field_offsets,
            std::span<const std::size_t> row_offsets) noexcept
      : schema_(&schema), data_(data), field_offsets_(field_offsets), row_offsets_(row_offsets) {}

  const stream_schema& schema() const noexcept { return *schema_; }
  std::size_t size() const noexcept { return row_offsets_.empty() ? 0 : row_offsets_.size() - 1; }
  bool empty() const noexcept { return size() == 0; }
  std::size_t field_count(std::size_t row) const noexcept { return row_offsets_[row + 1] - row_offsets_[row]; }
  std::string_view field(std::size_t row, std::size_t col) const noexcept {
    const std::size_t i = row_offsets_[row] + col;
    return data_.substr(field_offsets_[i], field_offsets_[i + 1] - field_offsets_[i]);
  }
  // Bytes of field text in the batch (unescaped).
  std::size_t data_bytes() const noexcept { return data_.size(); }

 private:
  const stream_schema* schema_;
  std::string_view data_;
  std::span<const std::size_t> field_offsets_;
  std::span<const std::size_t> row_offsets_;
};

// A fleet worker's claim on the unit of work a commit belongs to
// (docs/fleet.md): the unit's name and its fencing token, which rises every
// time the unit changes hands. A transactional sink keeps the highest token
// it committed per unit (_aquaduct_fences) in the commit's own transaction and
// refuses a lower one (sink_errc::stale_fence): a worker that lost its lease
// while paused cannot overwrite what the unit's new holder committed.
struct fencing_token {
  std::string unit;
  std::uint64_t token = 0;
};

// What a commit covers: the service's files that made up the stream.
struct file_token {
  std::string job_id;
  std::string query;
  std::vector<std::string> file_ids;
  std::uint64_t rows = 0;
  // Where the query's cursor moves once every sink has committed this: a
  // stateful job's startTime, an incremental window's end (UTC). Empty: the
  // query keeps no cursor. Sinks that report progress (`aquaduct tap`'s
  // STATE) read it; none needs it to commit.
  std::optional<std::chrono::sys_seconds> cursor{};
  // Set when a fleet worker commits (`aquaduct worker`); empty otherwise.
  std::optional<fencing_token> fence{};
};

class sink_stream {
 public:
  virtual ~sink_stream() = default;
  virtual void write(const row_batch& rows) = 0;
  virtual void commit(const file_token& token) = 0;  // durable when it returns
  virtual void abort() noexcept = 0;
};

class sink {
 public:
  virtual ~sink() = default;
  virtual std::string_view type() const noexcept = 0;
  virtual std::unique_ptr<sink_stream> open(const stream_schema& schema) = 0;
  virtual void close() = 0;
  // Checks that the destination is reachable and writable without writing
  // any rows (`aquaduct validate --connect`). Empty when healthy, else why
  // not. NEVER includes secrets (passwords in a DSN).
  virtual std::string health_check() { return {}; }

  // Where this sink writes, as text that names the destination (an absolute
  // directory or database path; a DSN's host, port, database and schema,
  // NEVER its password). Cursors remember it: a cursor committed to another
  // destination is not trusted. Empty: a sink that keeps nothing (null,
  // callback, singer on stdout).
  virtual std::string destination() const { return {}; }
  // Whether the destination still holds the target of (schema.job,
  // schema.query) that an earlier run committed: the table exists, or the
  // full load's file does. Called before a run plans an incremental load; a
  // false answer makes it a full load. MAY BLOCK (the engine calls it on a
  // sink thread). A sink that keeps nothing answers true.
  virtual bool holds(const stream_schema& schema) { (void)schema; return true; }
};

// For embedders: calls `on_rows` for every batch of every stream. The
// callbacks run on the engine's sink threads, one call at a time per sink
// (never two at once), so they need no locking; see row_batch for view lifetimes.
// Rows arrive before their stream commits; an embedder that needs the
// commit semantics passes callback_handlers instead.
std::unique_ptr<sink> make_callback_sink(std::function<void(const row_batch&)> on_rows);

struct callback_handlers {
  std::function<void(const row_batch&)> on_rows;                             // required
  std::function<void(const stream_schema&, const file_token&)> on_commit;  // optional
  std::function<void(const stream_schema&)> on_abort;                      // optional
};
std::unique_ptr<sink> make_callback_sink(callback_handlers handlers);

}  // namespace aquaduct

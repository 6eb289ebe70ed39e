#pragma once
// What more than one sink needs, and nothing else: reading a sink's options
// strictly, an atomically renamed output file, the file names of full and
// incremental loads, JSON string escaping, and the key of an idempotent
// commit. Sinks depend only on include/aquaduct/ and this.
#include "fileio/atomic_file.hpp"
#include "sinks/sink_names.hpp"
#include "sinks/typed_values.hpp"
#include "text/json_text.hpp"
#include "text/utc_time.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::sinks {

// Reads the options of one [[sinks]] entry. Every key must be read by one of
// the typed getters; finish() reports the others as unknown, naming the keys
// the type knows. Problems are "FILE:LINE:COL: message".
class option_reader {
 public:
  option_reader(const sink_config& cfg, std::vector<std::string>& problems) : cfg_(cfg), problems_(problems) {}
  enum class need { optional, required };
  void text(std::string_view key, std::string& out, need n = need::optional);
  void integer(std::string_view key, std::uint32_t& out, std::uint32_t min, std::uint32_t max);
  // One of `allowed`.
  void choice(std::string_view key, std::string& out, std::initializer_list<std::string_view> allowed);
  void finish();

 private:
  const option_value* find(std::string_view key);
  void bad(const option_value& v, std::string_view key, const std::string& why);
  const sink_config& cfg_;
  std::vector<std::string>& problems_;
  std::vector<std::string> known_;
};

using fileio::atomic_file;  // fileio/atomic_file.hpp

// The sink option `columns` ("labels" | "fields"), read into `out`.
void read_column_names(option_reader& r, column_names& out);
// `schema` as a sink that names columns by `mode` sees it: with "fields",
// its columns (and deleted column) renamed by field_names(). Throws
// std::system_error (sink_errc::bad_options) naming `sink`, job, query and
// the columns when the renaming collides or meets a display label.
stream_schema with_column_names(const stream_schema& schema, column_names mode, std::string_view sink);

// "<name>.<ext>" for a full load, "<name>.<YYYYmmddTHHMMSSZ>.<ext>" for an
// incremental one; <name> is file_base_name(): the query's `table = ...`,
// else the query, made safe by safe_file_name().
std::string stream_file_name(const stream_schema& schema, std::string_view ext);
// After a full load: removes the query's incremental files in `dir` that
// started no later than this load (all of them when started_at is unset).
void remove_incremental_files(const std::filesystem::path& dir, const stream_schema& schema, std::string_view ext);
// UTC instants as text (text/utc_time.hpp).
using text::compact_utc;
using text::iso_utc;

// JSON escaping (text/json_text.hpp): invalid UTF-8 becomes U+FFFD (docs/sinks.md).
using text::append_json_escaped;
using text::json_escaped_max;
using text::write_json_escaped;

// Turns rows into JSON objects: keys = column names in file order, values =
// field text as JSON strings, null for the job's null_value. With
// `typed`, columns typed by describe become JSON numbers (their exact
// digits, never through a double) or booleans, dates stay strings and
// datetimes become RFC 3339 strings (typed_values.hpp); an empty typed field
// is null; a field that is not what its type says is a data error naming
// `sink`, the record and the column (refuse_value).
// With `tap_zuora`, typed as with `typed` except where the Singer tap for
// Zuora (singer-python's transform) reads values otherwise: a datetime or
// date becomes UTC YYYY-MM-DDThh:mm:ss.ffffffZ (utc_datetime), and a boolean
// is Python's bool() of its text (python_truth: empty is false, not null).
class json_row_encoder {
 public:
  enum class values { strings, typed, tap_zuora };
  json_row_encoder(const stream_schema& schema, values v, std::string_view sink);
  // Appends row r of `rows` as one object (no newline). `row_number` names it in errors.
  void append(std::string& out, const row_batch& rows, std::size_t r, std::uint64_t row_number) const;
  // The same at p, which has room for max_bytes(rows, r); returns the end.
  char* write(char* p, const row_batch& rows, std::size_t r, std::uint64_t row_number) const;
  std::size_t max_bytes(const row_batch& rows, std::size_t r) const noexcept;
  // Throws the data error append() would throw for row r, appending nothing.
  void check(const row_batch& rows, std::size_t r, std::uint64_t row_number) const;

 private:
  std::vector<std::string> keys_;  // "{\"Id\":" then ",\"Name\":" ...
  std::vector<value_kind> kinds_;
  std::vector<std::size_t> checked_;  // the typed columns
  bool tap_ = false;  // values::tap_zuora
  std::optional<std::string> null_value_;
  stream_schema schema_;  // for messages
  std::string sink_;
};

// What makes a commit unique: the stream's job and query (control
// characters written \xNN, as in messages), and the service's file ids
// joined with ','. Recorded by transactional sinks.
struct commit_key {
  std::string job;
  std::string query;
  std::string file_ids;
};
commit_key make_commit_key(const stream_schema& schema, const file_token& token);

// `path` made absolute (against the working directory) and lexically
// normal, without a trailing '/': what destination() reports. Touches no file.
std::string absolute_path(const std::string& path);

// "job J, query Q" for messages.
std::string where(const stream_schema& schema);

// The index of the deleted column, when the schema names one present in the header.
std::optional<std::size_t> deleted_column_index(const stream_schema& schema);
// Whether `value` of the deleted column says the row was deleted.
bool is_deleted_flag(const deleted_column& d, std::string_view value) noexcept;

}  // namespace aquaduct::sinks

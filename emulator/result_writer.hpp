#pragma once
// Result files of a batch (contract §3.4, §5.5, §7): the rows of one query
// streamed to files on disk, one per segment, as csv, gzip (one gzip member)
// or zip (one entry "<query name>.csv", written by libarchive, Zip64 size
// fields always: its size is unknown when its header is written). CSV dialect: `\n` line ends (CRLF
// optional), no BOM (optional), RFC-4180 quoting only where a field needs it,
// useQueryLabels headers, the deleted column first, nullReplacement, datetimes
// in the tenant zone or UTC. Results never live whole in memory.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/tenant.hpp"
#include "emulator/tenant_state.hpp"
#include "emulator/zoql.hpp"

namespace aquaduct::emulator {

enum class result_format { csv, gzip, zip };

// A query's `deleted` spec: first column "<Base>.<column>", Boolean
// (true/false) or Numeric (1/0).
struct deleted_spec {
  std::string column;
  bool numeric = false;
};

// The incremental window of a stateful batch: rows whose base UpdatedDate is
// in [from, to), plus tombstones deleted in it (only with a deleted spec),
// except rows created and deleted inside it. No `from` = everything up to `to`.
struct time_window {
  std::optional<std::int64_t> from_unix_s;
  std::int64_t to_unix_s = 0;
};

struct export_spec {
  zoql_query query;
  std::string name;  // the query's name: zip entry "<name>.csv", download names
  result_format format = result_format::csv;
  bool use_query_labels = false;
  time_zone tz = time_zone::tenant;               // dateTimeUtc => utc
  tenant_zone zone = tenant_zone::pacific;        // the tenant's zone (--tz)
  std::string null_replacement;
  std::optional<deleted_spec> deleted;
  std::optional<time_window> incremental;  // nullopt = full load (no deleted rows)
  // Stateless with `deleted.forceExport`: deleted rows of the last 30 days
  // come back too (flagged, filtered by `where`), so a client's own
  // UpdatedDate high-water mark sees deletions (contract §3.5).
  bool force_export = false;
  std::int64_t now_unix_s = tenant_epoch_unix_s;  // resolves 'now'/'today' literals
  std::uint64_t segment_rows = 500'000;           // 0 = never split
  bool crlf = false;                              // --crlf (§7)
  bool bom = false;                               // --bom (§7)
  bool zip_stream = false;  // --zip-stream (§7): zip entry sizes in a data descriptor
  // Zip64 end records even for a small archive (libarchive's zip:zip64), so
  // tests reach the records an archive over 4 GiB has without writing one.
  bool zip64_end_records = false;
  int gzip_level = 1;                             // zlib level for gzip and zip
  // order by: rows sorted in memory at a time; more spill to sorted run files
  // in the output directory, merged at the end (deleted afterwards).
  std::uint64_t sort_run_rows = 250'000;
  const std::atomic<bool>* cancel = nullptr;  // set => stop, throw export_cancelled
  // More rows than this => stop, throw export_too_long (--max-job-rows); 0 = no limit.
  std::uint64_t max_rows = 0;
};

struct written_file {
  std::filesystem::path path;  // on disk, final name
  std::string name;            // download name: "<name>.csv[.gz|.zip]", "<name>_<n>..." when segmented
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;
};

struct export_cancelled : std::runtime_error {
  export_cancelled() : std::runtime_error("export cancelled") {}
};

// The batch would export more than export_spec::max_rows rows: the job runs
// out of processing time (90027).
struct export_too_long : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Writes the result of `spec` over `snapshot` into `dir` as
// "<stem>-<n>.<ext>", one file per segment (at least one: an empty result is a
// header-only file). Blocking; run it on a worker thread. Files are written
// under a ".part" name and renamed when complete. Throws std::runtime_error
// naming the file on I/O errors (nothing is left behind), export_cancelled
// when spec.cancel is set, export_too_long past spec.max_rows.
std::vector<written_file> write_result_files(const tenant_snapshot& snapshot, const export_spec& spec,
                                             const std::filesystem::path& dir, std::string_view stem);

// Header names for `spec`, in column order.
std::vector<std::string> result_header(const export_spec& spec);

// One row of a result, in output order.
struct result_row {
  row_slots slots;  // [0] base record, [k] joined records (nullptr: none)
  bool deleted = false;
};
// Calls `fn` for every row of the result (where, incremental window and
// tombstones, order by, offset/limit), in output order. Sort runs go to
// `scratch_dir`. Used by the CSV writer and the JSON batch results.
void for_each_result_row(const tenant_snapshot& snapshot, const export_spec& spec,
                         const std::filesystem::path& scratch_dir, const std::function<void(const result_row&)>& fn);

// Appends `field` to `out`, quoted only if it contains a comma, quote, CR or LF.
void append_csv_field(std::string& out, std::string_view field);

// Compresses `data` as one gzip member (deflateInit2 windowBits 31).
std::string gzip_compress(std::string_view data);

}  // namespace aquaduct::emulator

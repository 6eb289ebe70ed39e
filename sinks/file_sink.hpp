#pragma once
// The shape shared by the file sinks (csv, ndjson): PATH/<job>/<file name>
// (the file name from the query's `table = ...`, else its name),
// written through an atomic_file so a final name only ever holds a complete
// file, a full load removing the query's older incremental files. Each
// format supplies only a row_encoder.
//
// A stream with no columns (a batch the service completed with no file):
// a full load still replaces the full file, with one holding only the old
// file's header (row_encoder::kept_header) or nothing; an incremental load
// writes no file at all, since it has no changes to carry.
#include "sinks/sink_common.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace aquaduct::sinks {

// Turns one stream's rows into bytes. One per stream.
class row_encoder {
 public:
  virtual ~row_encoder() = default;
  // Whatever precedes the rows (the CSV header); may append nothing.
  virtual void begin(std::string& out) = 0;
  // For a full load with no columns: what of the existing full file `file`
  // the empty one keeps (the CSV header line); empty when nothing, or no file.
  virtual std::string kept_header(const std::filesystem::path& file) { (void)file; return {}; }
  // Appends every row of `rows` to out.buffer(), calling out.maybe_flush() between rows.
  virtual void rows(atomic_file& out, const row_batch& rows) = 0;
};

// The options of csv and ndjson.
struct file_sink_options {
  std::string path;  // required: the output root; relative to the working directory; created when missing
  column_names columns = column_names::labels;  // "labels": AQuA's header names; "fields": see field_names()

  // Reads and checks the options; appends "FILE:LINE:COL: message" problems.
  static file_sink_options from(const sink_config& cfg, std::vector<std::string>& problems);
};

struct file_sink_spec {
  std::string type;  // "csv", "ndjson": also the file extension
  std::string root;  // the output root (the `path` option)
  std::function<std::unique_ptr<row_encoder>(const stream_schema&)> make_encoder;
  column_names columns = column_names::labels;
};

std::unique_ptr<sink> make_file_sink(file_sink_spec spec);

}  // namespace aquaduct::sinks

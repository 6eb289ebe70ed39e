#pragma once
// The singer sink: Singer spec messages (https://hub.meltano.com/singer/spec)
// on stdout or appended to `path`. Per committed stream, in one piece:
//   SCHEMA  {"type":"SCHEMA","stream":S,"schema":{...},"key_properties":[K]}
//   RECORD  {"type":"RECORD","stream":S,"record":{...}}   one per row
//   STATE   {"type":"STATE","value":{"bookmarks":{S:{...}, ...}}}
// S is the query's `table = ...`, else "<job>__<query>"; K is the row key
// (stream_schema::key_column), and key_properties is [] without one.
// Property types come from describe: ["null","integer"], ["null","number"]
// (written with the field's exact digits, never through a double),
// ["null","boolean"], strings of format date and date-time (RFC 3339:
// -0800 written -08:00), else ["null","string"]; an empty typed field is null. A stream with no columns (a batch with no file)
// emits its STATE alone: Singer has no message that empties a stream.
//
// A stream's rows are held back (their text, compactly, in memory then a
// temporary file: sinks/held_rows.hpp) until commit(), which encodes its
// messages straight into the output (sinks/write_behind.hpp), so an aborted
// stream emits nothing and concurrent streams never interleave; a field its
// type does not allow is refused at write(). STATE follows only a commit,
// and carries the bookmarks of every stream committed so far.
//
// TORN OUTPUT. With `path`, a commit that returns has appended its whole
// SCHEMA, RECORDs and STATE (fsynced); one that does not leaves nothing
// that a later commit writes after:
//   - a commit that fails to write (disk full, an I/O error) cuts the file
//     back to where that commit began before it throws;
//   - a process killed in the middle of a commit leaves a torn tail, which
//     the next commit to the file cuts off (everything after the last STATE
//     line) before it writes. It also takes the bookmarks of that STATE, so
//     STATE stays cumulative across runs and a replay of the last commit of
//     a stream (same stream, file ids) emits nothing.
// Writers of one file (two sinks, two runs) take turns a commit at a time
// (flock). A reader that follows the file as it grows may see a commit that
// is cut off later: read up to the last STATE line.
// On stdout the consumer owns the pipe and nothing can be taken back: after
// a failed or killed commit it may have received part of a stream with no
// STATE after it, which the next run sends again (at least once; a target
// that upserts by key_properties ends with each row once). A commit that
// failed on stdout makes the sink refuse every later one.
//
// A commit whose (stream, file ids) this sink already emitted, or that the
// last STATE of `path` names, emits nothing.
#include "sinks/sink_names.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aquaduct::sinks {

// `aquaduct tap` (docs/singer.md): the messages of the Singer tap for Zuora,
// as its catalog and state decide them. Columns are named as fields
// (field_names), values read as json_row_encoder::values::tap_zuora by the
// catalog's types, and
//   SCHEMA  {"type":"SCHEMA","stream":S,"schema":<schema>,"key_properties":<keys>}
//   RECORD  {"type":"RECORD","stream":S,"record":{...},"time_extracted":"...Z"}
//   STATE   {"type":"STATE","value":<state(schema, token)>}
struct singer_tap_stream {
  std::string schema;                         // the SCHEMA message's schema object (JSON text)
  std::vector<std::string> key_properties;
  std::map<std::string, column_type> types;   // by property name; a column not here is text
};
struct singer_tap_options {
  std::map<std::string, singer_tap_stream> streams;  // by stream name (the query's table)
  // The STATE value (JSON text) once the stream has committed: called with
  // the sink's lock held, after the stream's messages were written.
  std::function<std::string(const stream_schema&, const file_token&)> state;
};

struct singer_sink_options {
  std::string path;  // optional: append the messages to this file; empty (the default): stdout
  column_names columns = column_names::labels;  // "labels": AQuA's header names; "fields": see field_names()
  std::optional<singer_tap_options> tap{};      // set by `aquaduct tap` only, never from a config

  static singer_sink_options from(const sink_config& cfg, std::vector<std::string>& problems);
};

std::unique_ptr<sink> make_singer_sink(singer_sink_options opts);

}  // namespace aquaduct::sinks

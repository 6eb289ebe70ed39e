#pragma once
// The singer sink: Singer spec messages (https://hub.meltano.com/singer/spec)
// on stdout or appended to `path`. Per committed stream, in one piece:
//   SCHEMA  {"type":"SCHEMA","stream":S,"schema":{...},"key_properties":["Id"]}
//   RECORD  {"type":"RECORD","stream":S,"record":{...}}   one per row
//   STATE   {"type":"STATE","value":{"bookmarks":{S:{...}, ...}}}
// S is "<job>__<query>". Property types come from describe (integer, number,
// boolean, date, date-time strings), else strings; every property is
// nullable. A stream's rows are held back (their text, compactly, in memory
// then a temporary file: sinks/held_rows.hpp) until commit(), which encodes
// its messages straight into the output (sinks/write_behind.hpp), so an
// aborted or crashed stream emits nothing and concurrent streams never
// interleave; a field its type does not allow is refused at write(). STATE
// follows only a commit, and carries the bookmarks of every stream committed
// so far. A commit whose
// (job, query, file ids) this sink already emitted emits nothing.
#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <memory>
#include <string>
#include <vector>

namespace aquaduct::sinks {

struct singer_sink_options {
  std::string path;  // optional: append the messages to this file; empty (the default): stdout

  static singer_sink_options from(const sink_config& cfg, std::vector<std::string>& problems);
};

std::unique_ptr<sink> make_singer_sink(singer_sink_options opts);

}  // namespace aquaduct::sinks

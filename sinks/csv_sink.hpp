#pragma once
// The csv sink: PATH/<job>/<query>.csv (full load) or
// PATH/<job>/<query>.<start>.csv (incremental), RFC 4180 with \n line ends,
// the header exactly as in the result file, a field quoted only when it must
// be, every other byte (invalid UTF-8 included) passed through unchanged.
#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <memory>
#include <string>
#include <vector>

namespace aquaduct::sinks {

struct csv_sink_options {
  std::string path;  // required: the output root; relative to the working directory

  // Reads and checks the options; appends "FILE:LINE:COL: message" problems.
  static csv_sink_options from(const sink_config& cfg, std::vector<std::string>& problems);
};

std::unique_ptr<sink> make_csv_sink(csv_sink_options opts);

}  // namespace aquaduct::sinks

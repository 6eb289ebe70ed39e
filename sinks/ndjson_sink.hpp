#pragma once
// The ndjson sink: PATH/<job>/<query>.ndjson (full load) or
// PATH/<job>/<query>.<start>.ndjson (incremental). One JSON object per line,
// keys = column names in file order, values = the field text as a JSON
// string; an empty field is "", a field equal to the job's null_replacement
// is null. Invalid UTF-8 becomes U+FFFD (one per broken sequence), so every
// line is valid JSON; control characters are escaped.
#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <memory>
#include <string>
#include <vector>

namespace aquaduct::sinks {

struct ndjson_sink_options {
  std::string path;  // required: the output root; relative to the working directory

  static ndjson_sink_options from(const sink_config& cfg, std::vector<std::string>& problems);
};

std::unique_ptr<sink> make_ndjson_sink(ndjson_sink_options opts);

}  // namespace aquaduct::sinks

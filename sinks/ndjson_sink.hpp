#pragma once
// The ndjson sink: PATH/<job>/<query>.ndjson (full load) or
// PATH/<job>/<query>.<start>.ndjson (incremental). One JSON object per line,
// keys = column names in file order, values = the field text as a JSON
// string; an empty field is "", a field equal to the job's null_replacement
// is null. Invalid UTF-8 becomes U+FFFD (one per broken sequence), so every
// line is valid JSON; control characters are escaped.
#include "sinks/file_sink.hpp"

#include <memory>

namespace aquaduct::sinks {

using ndjson_sink_options = file_sink_options;

std::unique_ptr<sink> make_ndjson_sink(ndjson_sink_options opts);

}  // namespace aquaduct::sinks

#pragma once
// The ndjson sink: PATH/<job>/<query>.ndjson (full load) or
// PATH/<job>/<query>.<start>.ndjson (incremental); <query> is the query's
// `table = ...` when set. One JSON object per line, keys = column names in
// file order. Values by describe type (docs/sinks.md): text is a JSON string
// (an empty field ""), integers and decimals JSON numbers with their exact
// digits, booleans true/false, dates strings, datetimes RFC 3339 strings; an
// empty typed field is null, so is a field equal to the job's
// null_replacement; a typed field that is not what its type says fails the
// stream. Invalid UTF-8 becomes U+FFFD (one per broken sequence), so every
// line is valid JSON; control characters are escaped.
#include "sinks/file_sink.hpp"

#include <memory>

namespace aquaduct::sinks {

using ndjson_sink_options = file_sink_options;

std::unique_ptr<sink> make_ndjson_sink(ndjson_sink_options opts);

}  // namespace aquaduct::sinks

#pragma once
// The csv sink: PATH/<job>/<query>.csv (full load) or
// PATH/<job>/<query>.<start>.csv (incremental), RFC 4180 with \n line ends,
// the header exactly as in the result file, a field quoted only when it must
// be, every other byte (invalid UTF-8 and NUL included) passed through
// unchanged. A full load with no columns keeps the old full file's header.
#include "sinks/file_sink.hpp"

#include <memory>

namespace aquaduct::sinks {

using csv_sink_options = file_sink_options;

std::unique_ptr<sink> make_csv_sink(csv_sink_options opts);

}  // namespace aquaduct::sinks

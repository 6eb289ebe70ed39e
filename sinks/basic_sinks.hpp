#pragma once
// callback (declared in <aquaduct/sink.hpp>) and null.
#include <aquaduct/sink.hpp>

#include <atomic>
#include <cstdint>
#include <memory>

namespace aquaduct::sinks {

struct null_sink_counters {
  std::atomic<std::uint64_t> rows{0};   // committed rows
  std::atomic<std::uint64_t> bytes{0};  // committed field bytes
};

// Discards rows; counts what was committed into `counters` when given (it
// must outlive the sink), else into counters of its own.
std::unique_ptr<sink> make_null_sink(null_sink_counters* counters = nullptr);

}  // namespace aquaduct::sinks

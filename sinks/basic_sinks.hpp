#pragma once
// callback (declared in <aquaduct/sink.hpp>) and null.
#include <aquaduct/sink.hpp>

#include <cstdint>
#include <memory>

namespace aquaduct::sinks {

struct null_sink_counters {
  std::uint64_t rows = 0;   // committed rows
  std::uint64_t bytes = 0;  // committed field bytes
};

// Discards rows; counts what was committed.
std::unique_ptr<sink> make_null_sink();

}  // namespace aquaduct::sinks

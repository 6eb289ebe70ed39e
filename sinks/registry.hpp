#pragma once
// The one place that knows every sink type: maps a [[sinks]] `type` to its
// options check and its factory.
#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <memory>
#include <string>
#include <vector>

namespace aquaduct::sinks {

// Every problem with a [[sinks]] entry, as "FILE:LINE:COL: message".
std::vector<std::string> check_sink_config(const sink_config& cfg);

// Builds the sink. Throws config_error when check_sink_config() finds problems.
std::unique_ptr<sink> make_sink(const sink_config& cfg);

// Builds the sink and runs its health check (`aquaduct validate --connect`).
// Empty when healthy, else "FILE:LINE:COL: sink type "T": why". Writes no rows.
std::string check_sink_health(const sink_config& cfg);

}  // namespace aquaduct::sinks

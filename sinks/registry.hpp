#pragma once
// The one place that knows every sink type: maps a [[sinks]] `type` to its
// options check and its factory.
#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::sinks {

// Whether a sink of this type upserts incremental loads into what it holds
// (sqlite, postgres): such a load needs the row key, stream_schema::key_column.
bool upserts(std::string_view type);

// Every problem with a [[sinks]] entry, as "FILE:LINE:COL: message".
std::vector<std::string> check_sink_config(const sink_config& cfg);

// Builds the sink. Throws config_error when check_sink_config() finds problems.
std::unique_ptr<sink> make_sink(const sink_config& cfg);

// Builds the sink and runs its health check (`aquaduct validate --connect`).
// Empty when healthy, else "FILE:LINE:COL: sink type "T": why". Writes no rows.
std::string check_sink_health(const sink_config& cfg);

// Whether this sink can name a query's columns as it would: with columns =
// "fields", Account.Name and Name both become Name and collide. Empty when it
// can, else why (which columns); `header` is the query's result header.
std::string check_sink_columns(const sink_config& cfg, const std::vector<std::string>& header, std::string_view object);

}  // namespace aquaduct::sinks

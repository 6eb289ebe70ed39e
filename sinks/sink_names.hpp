#pragma once
// Turning job, query and column names into safe file and table names
// (../shared/docs/interfaces.md §4): no path separators, no "..", no control
// characters, nothing that escapes the sink's root; SQL names always quoted.
#include <string>
#include <string_view>

namespace aquaduct::sinks {

// A single path component made from `name`: '/', '\\', control characters
// and NUL become '_', so does a '.' that starts or ends the name or follows
// another '.', and the result is cut to 200 bytes. Never empty, never
// contains "..", never hidden.
std::string safe_file_name(std::string_view name);

// A SQL identifier's text (unquoted) made from `name`: NUL and control
// characters become '_', and a name longer than 63 bytes (PostgreSQL's
// limit) is cut to 54 bytes plus '_' and 8 hex digits of a hash of the whole
// name, so long names stay distinct. Never empty.
std::string safe_sql_name(std::string_view name);

// "<job>__<query>" made safe by safe_sql_name().
std::string table_name(std::string_view job, std::string_view query);

// `name` (already safe) as a quoted SQL identifier: "na""me". Quoting makes
// any text an identifier, so no name can inject SQL.
std::string quote_ident(std::string_view name);

}  // namespace aquaduct::sinks

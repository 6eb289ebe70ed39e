#pragma once
// Turning job and query names into safe file and table names
// (../shared/docs/interfaces.md §4): no path separators, no "..", no control
// characters, nothing that escapes the sink's root.
#include <string>
#include <string_view>

namespace aquaduct::sinks {

// A single path component made from `name`: '/', '\\', control characters
// and NUL become '_', so does a '.' that starts or ends the name or follows
// another '.', and the result is cut to 200 bytes. Never empty, never
// contains "..", never hidden.
std::string safe_file_name(std::string_view name);

}  // namespace aquaduct::sinks

#pragma once
// Turning job, query and column names into safe file and table names
// (../shared/docs/interfaces.md §4): no path separators, no "..", no control
// characters, nothing that escapes the sink's root; SQL names always quoted.
#include <aquaduct/sink.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// The stream's table: its query's own `table = ...` made safe by
// safe_sql_name(), else "<job>__<query>" (table_name above).
std::string table_name(const stream_schema& schema);
// The stream's file name without extension: `table = ...` or the query,
// made safe by safe_file_name().
std::string file_base_name(const stream_schema& schema);

// Sink option `columns` (interfaces.md §8): "labels" keeps AQuA's header
// names (`Account.Id`); "fields" strips the base object's prefix and joins
// the rest, as the Singer tap for Zuora names them: `Account.Id` -> `Id`,
// `BillToContact.WorkEmail` -> `BillToContactWorkEmail`, the deleted column
// `Account.IsDeleted` -> `IsDeleted`; a name without '.' (an alias) is kept.
enum class column_names { labels, fields };

// The column names after renaming to fields, or why there are none: two
// columns whose new names are equal (ignoring ASCII case, as SQLite and
// case-folding warehouses do), or a display label (`Account: Account
// Number`, a header of use_query_labels = false), which names no field.
struct renamed_columns {
  std::vector<std::string> names;                                 // one per column when ok()
  std::optional<std::pair<std::size_t, std::size_t>> collision;  // indexes of two columns named alike
  std::optional<std::size_t> label;                               // index of a display label
  bool ok() const noexcept { return !collision && !label; }
  // Why not ok(), naming the columns of `columns` (the header) involved.
  std::string message(const std::vector<std::string>& columns) const;
};
// Pure: no I/O. `object` is the base object (the object after FROM); empty:
// the prefix of `key_column`'s name when given, else the most common prefix.
renamed_columns field_names(const std::vector<std::string>& columns, std::string_view object,
                            std::optional<std::size_t> key_column = std::nullopt);

// `name` (already safe) as a quoted SQL identifier: "na""me". Quoting makes
// any text an identifier, so no name can inject SQL.
std::string quote_ident(std::string_view name);

}  // namespace aquaduct::sinks

#pragma once
// The ZOQL subset the emulator understands so far:
//   select <field list | * | Account.*> from <Object> [limit N | limit OFFSET, COUNT] [;]
// Keywords and names are case-insensitive; fields may carry the base-object
// prefix ("Account.Name"). Everything else (where, order by, group by, joins,
// functions) is rejected with a message that says so.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/tenant.hpp"

namespace aquaduct::emulator {

struct zoql_query {
  const object_def* object = nullptr;
  std::vector<std::size_t> fields;  // indexes into object->fields, in select order
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> limit;
};

enum class zoql_dialect { export_zoql, plain_zoql };

// Parses `text`. On failure returns false and sets `error` to a message for
// the submit response; an unknown field's message contains
// "Error.zoql.noSuchFieldId".
bool parse_zoql(std::string_view text, zoql_dialect dialect, zoql_query& out, std::string& error);

}  // namespace aquaduct::emulator

#pragma once
// The emulator's own ZOQL / Export ZOQL subset (contract §5.1, §5.2):
//   select <item>[, <item>]* from <Object>
//     [where <cond>] [order by <col> [asc|desc][, ...]]
//     [limit <n> | limit <offset>, <count>] [;]
//   item := * | <Obj>.* | [<Obj>.]<Field> [as "alias"]
//   cond := cond and cond | cond or cond | not cond | ( cond )
//         | col op literal | col op col | col is [not] null | col like 'pat'
//   op   := = | != | <> | < | <= | > | >=
// <Obj> is the base object or one of its relationships (§5.3, tenant.hpp).
// Keywords and names are case-insensitive. group by / having / functions are
// rejected with a message that says so. Plain ZOQL (type zoql) also rejects
// joins, `*`, order by, field-to-field comparison, parentheses and more than
// 200 WHERE conditions.
#include <utility>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/tenant.hpp"

namespace aquaduct::emulator {

// A column of the base object (slot 0) or of a joined relationship (slot k =
// query.joins[k-1]).
struct column_ref {
  std::size_t slot = 0;
  const object_def* object = nullptr;
  std::size_t field = 0;  // index into object->fields
};

struct select_column {
  column_ref column;
  std::string alias;  // `as "alias"`; empty when none
};

// A literal as written. Dates are interpreted per the compared field's type
// when the row is evaluated (whole-day semantics for a date against a datetime).
struct zoql_literal {
  enum class kind : std::uint8_t {
    null,
    string,    // text: 'abc' (unescaped)
    number,    // i in hundredths, rounded toward zero beyond 2 places
    boolean,   // i 0/1
    date,      // i = days since epoch (also set from 'today ...', resolved at evaluation)
    datetime,  // i = unix seconds (also from 'now ...')
    ignored,   // 'YYYY-MM-DD hh:mm:ss': Zuora silently drops such a predicate (§5.1)
    unmatched, // fractional seconds: Zuora returned zero rows for such a bound (§5.1): never true
  };
  kind k = kind::null;
  std::int64_t i = 0;
  std::string text;
  // 'now' / 'today' based literals: seconds (or days for today) relative to
  // the evaluation's `now`; i is then the offset.
  bool relative = false;
  // A datetime literal without explicit zone is in the tenant zone: kept as
  // wall-clock seconds; the evaluation subtracts the tenant offset. false once
  // Z or ±hh:mm was given.
  bool tenant_zone = false;
};

enum class compare_op : std::uint8_t { eq, ne, lt, le, gt, ge, like, is_null, is_not_null };

struct condition {
  enum class kind : std::uint8_t { and_, or_, not_, predicate };
  kind k = kind::predicate;
  std::vector<condition> children;  // and_/or_: 2+, not_: 1
  column_ref lhs;
  compare_op op = compare_op::eq;
  std::optional<column_ref> rhs_column;  // field-to-field comparison
  zoql_literal rhs;
  std::size_t position = 0;  // 1-based character position of the predicate
};

struct order_key {
  column_ref column;
  bool descending = false;
};

struct zoql_query {
  const object_def* object = nullptr;
  std::vector<const relation_def*> joins;  // slot k is joins[k-1]
  std::vector<select_column> columns;      // in select order
  std::optional<condition> where;
  std::vector<order_key> order_by;
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> limit;
};

enum class zoql_dialect { export_zoql, plain_zoql };

// Parses `text`. On failure returns false and sets `error` to a message that
// names the 1-based character position ("at position 17: ..."); the service
// prefixes the query name. An unknown field's message contains
// "Error.zoql.noSuchFieldId".
bool parse_zoql(std::string_view text, zoql_dialect dialect, zoql_query& out, std::string& error);

// The records of one result row by slot: [0] the base row, [k] joins[k-1]'s
// row or nullptr when the relationship leads nowhere (its fields are null).
using row_slots = std::span<const record* const>;

// Evaluates `where` on one row. `now_unix_s` resolves 'now'/'today' literals;
// dates and zone-less datetimes are wall-clock times in `zone`.
bool zoql_matches(const zoql_query& q, row_slots rows, std::int64_t now_unix_s,
                  tenant_zone zone = tenant_zone::pacific);

// The closed range [first, last] of unix seconds that base datetime field
// `field` (UpdatedDate) must lie in for a row to match: the `and`ed
// predicates of the WHERE comparing it with a datetime literal. Lets the
// exporter skip rows by UpdatedDate before it builds them, as the service's
// index does; the WHERE is still evaluated on every row it keeps.
std::pair<std::int64_t, std::int64_t> base_time_range(const zoql_query& q, std::size_t field, std::int64_t now_unix_s,
                                                      tenant_zone zone);

// The lower bounds the `and`ed predicates of the WHERE put on base text field
// `field` (Id): each `field > 'x'` (strict) or `field >= 'x'`. Lets the
// exporter start a keyset page at its first row instead of the object's.
struct text_floor {
  std::string value;
  bool strict = false;
};
std::vector<text_floor> base_text_floors(const zoql_query& q, std::size_t field);

// The value of `c` in `rows` (a null value when the slot is empty).
const field_value& column_value(const column_ref& c, row_slots rows);

}  // namespace aquaduct::emulator

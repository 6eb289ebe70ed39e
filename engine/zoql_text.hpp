#pragma once
// What the engine reads in a ZOQL text without understanding ZOQL: words,
// strings and brackets (zoql_scan), and the shape of the select list with
// the object after FROM (read_select). The service parses the query for real;
// the engine only needs to know where the base object's Id lands in the
// result header (the row key of upserts and of a backfill's catch-up) and
// where a window's WHERE goes (windows.hpp). Pure functions, no I/O.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::engine_detail {

struct zoql_token {
  enum class kind { word, string, quoted, lparen, rparen, comma, semicolon, other } k;
  std::size_t begin, end;  // byte offsets into the query
  int depth;               // parentheses open before the token
};

// Words are letters, digits, '_' and '.', plus a trailing ".*"; strings are
// '...' ('' inside), quoted names "..."; false + `error` on an unterminated
// string or unbalanced parentheses.
bool zoql_scan(std::string_view q, std::vector<zoql_token>& out, std::string& error);

// ASCII case-insensitive equality (ZOQL keywords and field names).
bool zoql_iequals(std::string_view a, std::string_view b);
// A field name as ZOQL writes it: Name or Object.Name (letters, digits, _).
bool is_field_name(std::string_view s);

struct select_item {
  std::string expression;  // as written: "Id", "Account.Id", "*", "Account.*", "count(Id)"
  std::string alias;       // after AS (quotes removed), else empty
  bool star() const noexcept { return expression == "*" || expression.ends_with(".*"); }
};

struct select_shape {
  std::string object;  // the base object: the word after FROM
  std::vector<select_item> items;
  bool has_star() const noexcept;
  // The item that is the base object's own Id ("Id" or "<object>.Id", any
  // case, not a parent's "Account.Id" in a query from Invoice); nullopt when
  // the list has none.
  std::optional<std::size_t> base_id_item() const;
};

// The select list and FROM object of `zoql`; nullopt + `error` when there is
// no select ... from <object>.
std::optional<select_shape> read_select(std::string_view zoql, std::string& error);

// Where the base object's Id is in a result `header`. The service writes one
// column per select item in order, after the deleted column when the query has
// one (`deleted_first`), and extra currency columns at the end. A list with a
// `*` is found by name, "<object>.Id", which only labels mode writes. nullopt
// when the header cannot be matched to the list.
std::optional<std::size_t> locate_base_id(const select_shape& shape, const std::vector<std::string>& header,
                                          bool deleted_first);

// Why the base Id of `zoql` cannot be located in its result header ("" when it
// can): no Id of the base object in the select list, or a `*` list while
// use_query_labels is off (its header holds display labels, not API names).
std::string base_id_problem(std::string_view zoql, bool use_query_labels);

// Why `zoql` cannot be cut into keyset pages by Id ("" when it can): a page
// adds `and Id > '<last>' order by Id limit n` to its WHERE, which an
// `order by`, `group by`, `limit` or a top-level `or` of its own forbids.
std::string keyset_page_problem(std::string_view zoql);

}  // namespace aquaduct::engine_detail

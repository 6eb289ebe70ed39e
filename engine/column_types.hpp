#pragma once
// The Zuora type of every column a query's result will have, from describe
// (engine/tenant_schema.hpp), resolved at plan time and matched against the
// result's header when it arrives:
//   - the deleted column (first; boolean, or integer for format "Numeric");
//   - each select item in order: a field of the base object ("Name",
//     "Invoice.Name"), a field of a joined object ("Account.Name",
//     "BillToContact.WorkEmail": the relation maps to its object through
//     the base object's related objects), "*" (the base object's exportable
//     fields) and "Rel.*" (the joined object's), an alias naming the column;
//   - headers as the service writes them: API names ("Invoice.Amount",
//     "BillToContact.WorkEmail") with use_query_labels, else display labels
//     ("Invoice: Amount", "Bill To: Work Email").
// What describe does not know (an expression, a count) is text. At the
// header the header wins: a column describe did not predict is text, with a
// warning.
#include "engine/tenant_schema.hpp"

#include <aquaduct/config.hpp>

#include <asio/awaitable.hpp>

#include <string>
#include <vector>

namespace aquaduct::engine_detail {

struct predicted_column {
  std::string header;  // as the service writes it
  column_type type = column_type::text;
  std::string field;   // "Invoice.Amount" (object.field), empty when describe does not know it
  std::string zuora_type;  // describe's type ("decimal", "picklist"), empty when unknown
  bool from_star = false;  // a '*' column: the service may leave it out (foreign keys)
};

struct query_columns {
  std::string job, query;
  std::string object;                     // the FROM object, as the tenant spells it
  std::vector<std::string> objects;       // every object described for it, base first
  std::vector<predicted_column> columns;  // in header order
  std::size_t unnamed_expressions = 0;    // items describe cannot name (an expression without an alias)
  // Fields or relations describe does not know, each with "did you mean"
  // when there is a near miss: validate reports them; a run warns (the
  // service refuses the query).
  std::vector<std::string> problems;
};

// Describes what `q` of `job` uses and predicts its columns. Throws
// std::system_error naming the query and object when describe fails or
// does not know the FROM object.
asio::awaitable<query_columns> describe_query(tenant_schema& schema, const job_config& job, const query_config& q);

// The type of each column of `header`, matched by name against `cols`; a
// column it does not predict is text and gets a line in `warnings` (an
// expression's column is text without one).
std::vector<column_type> types_for(const query_columns& cols, const std::vector<std::string>& header,
                                   std::vector<std::string>& warnings);

}  // namespace aquaduct::engine_detail

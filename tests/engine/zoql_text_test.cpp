// What the engine reads in ZOQL (engine/zoql_text.hpp): the select list, the
// FROM object, and where the base object's Id lands in a result header. The
// headers come from the emulator's own result writer (its own ZOQL parser),
// in labels mode and display-label mode, with and without a deleted column.
#include "engine/zoql_text.hpp"

#include "emulator/result_writer.hpp"
#include "emulator/zoql.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace aquaduct::engine_detail;
namespace emu = aquaduct::emulator;

namespace {

std::vector<std::string> emulator_header(const std::string& zoql, bool labels, bool deleted) {
  emu::export_spec spec;
  std::string err;
  REQUIRE_MESSAGE(emu::parse_zoql(zoql, emu::zoql_dialect::export_zoql, spec.query, err), err);
  spec.use_query_labels = labels;
  if (deleted) spec.deleted = emu::deleted_spec{"IsDeleted", false};
  return emu::result_header(spec);
}

select_shape shape_of(std::string_view zoql) {
  std::string err;
  auto s = read_select(zoql, err);
  REQUIRE_MESSAGE(s.has_value(), err);
  return *s;
}

}  // namespace

TEST_CASE("read_select: items, aliases and the FROM object") {
  const select_shape s =
      shape_of("select Account.AccountNumber, Account.Id, Id, count(Id) as n, InvoiceNumber as \"Number\" from Invoice "
               "where Amount > 0");
  CHECK(s.object == "Invoice");
  REQUIRE(s.items.size() == 5);
  CHECK(s.items[0].expression == "Account.AccountNumber");
  CHECK(s.items[3].expression == "count(Id)");
  CHECK(s.items[3].alias == "n");
  CHECK(s.items[4].alias == "Number");
  CHECK(s.base_id_item() == 2);  // not Account.Id, the parent's
  CHECK(shape_of("SELECT invoice.id FROM Invoice").base_id_item() == 0);
  CHECK_FALSE(shape_of("select Account.Id, InvoiceNumber from Invoice").base_id_item());
  CHECK(shape_of("select * from Account").has_star());
  CHECK(shape_of("select Id, BillToContact.* from Account").has_star());

  std::string err;
  CHECK_FALSE(read_select("selec Id from Account", err));
  CHECK(err.find("select") != std::string::npos);
  CHECK_FALSE(read_select("select Id, from Account", err));
  CHECK_FALSE(read_select("select Id Account", err));
  CHECK_FALSE(read_select("select 'unterminated from Account", err));
}

TEST_CASE("locate_base_id finds the base Id in the header the service writes, in every mode") {
  const std::vector<std::string> queries = {
      "select Account.AccountNumber, Account.Id, Id, InvoiceNumber, Amount, UpdatedDate from Invoice",
      "select Id, InvoiceNumber from Invoice",
      "select InvoiceNumber, Account.Id, Invoice.Id from Invoice",
      "select Account.Id as Parent, Id as InvoiceKey, Amount from Invoice",
      "select * from Invoice",
      "select Account.*, Id from Invoice",
  };
  for (const auto& q : queries)
    for (bool labels : {true, false})
      for (bool deleted : {false, true}) {
        CAPTURE(q);
        CAPTURE(labels);
        CAPTURE(deleted);
        const std::vector<std::string> header = emulator_header(q, labels, deleted);
        const select_shape shape = shape_of(q);
        const auto at = locate_base_id(shape, header, deleted);
        if (shape.has_star() && !labels) {
          CHECK_FALSE(at);  // display labels: the Id cannot be told by name
          CHECK_FALSE(base_id_problem(q, labels).empty());
          continue;
        }
        CHECK(base_id_problem(q, labels).empty());
        REQUIRE(at);
        const std::string& col = header[*at];
        const auto& item = shape.items[shape.base_id_item().value_or(0)];
        if (!item.alias.empty() && !shape.has_star()) CHECK(col == item.alias);
        else if (labels) CHECK(col == "Invoice.Id");
        else CHECK(col == "Invoice: ID");
      }
}

TEST_CASE("base_id_problem names what is missing") {
  const std::string no_id = base_id_problem("select Account.Id, InvoiceNumber from Invoice", true);
  CHECK(no_id.find("no Id of Invoice") != std::string::npos);
  CHECK(no_id.find("Account.Id is the Id of a related object") != std::string::npos);
  CHECK(base_id_problem("select Name from Account", true).find("(") == std::string::npos);
  CHECK(base_id_problem("select * from Account", false).find("use_query_labels") != std::string::npos);
  CHECK(base_id_problem("select * from Account", true).empty());
  // A header shorter than the select list cannot be matched.
  CHECK_FALSE(locate_base_id(shape_of("select Name, Id from Account"), {"Account.Name"}, false));
}

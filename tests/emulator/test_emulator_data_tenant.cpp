// The generated tenant (contract §8), describe XML (§5.6) and the JSON batch
// results (§6).
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include <simdjson.h>

#include "emulator/batch_results.hpp"
#include "emulator/describe.hpp"
#include "emulator/result_writer.hpp"
#include "emulator/tenant_state.hpp"
#include "emulator/zoql.hpp"
#include "emulator/test_emulator_data_support.hpp"
#include "support/temp_dir.hpp"

using namespace aquaduct::emulator;
using namespace emu_data_test;
using aquaduct::test::temp_dir;

namespace {

bool is_hex_id(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool xml_well_formed(const std::string& xml) {
  temp_dir d;
  const auto p = d.path() / "x.xml";
  {
    std::ofstream(p) << xml;
  }
  return run("xmllint --noout '" + p.string() + "' 2>&1") == 0;
}

}  // namespace

TEST_CASE("tenant: sizes follow the scale; rows deterministic; ids ordered and reversible") {
  const tenant_generator g(7, 1000), same(7, 1000), other(8, 1000);
  const object_def& item = *find_object("InvoiceItem");
  CHECK(g.base_count(*find_object("Account")) == 1000);
  CHECK(g.base_count(*find_object("Invoice")) == 10'000);
  CHECK(g.base_count(item) == 50'000);
  CHECK(tenant_generator(1, 200'000).base_count(item) == 10'000'000);  // the 10M-row scale
  CHECK(all_objects().size() >= 15);
  record a, b;
  for (const object_def* o : all_objects()) {
    INFO(o->name);
    REQUIRE(g.base_count(*o) > 0);
    std::string prev;
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(g.base_count(*o), 200); ++i) {
      g.generate(*o, i, a);
      same.generate(*o, i, b);
      REQUIRE(a.size() == o->fields.size());
      CHECK(a[0].s == b[0].s);
      for (std::size_t f = 0; f < a.size(); ++f) {
        CHECK(a[f].k == b[f].k);
        if (a[f].k == field_value::kind::text) CHECK(a[f].s == b[f].s);
        else if (!a[f].is_null()) CHECK(a[f].i == b[f].i);
        if (o->fields[f].type == field_type::id && !a[f].is_null()) CHECK(is_hex_id(a[f].s));
        if (o->fields[f].type == field_type::picklist && !a[f].is_null()) {
          INFO(o->fields[f].name << " = " << a[f].s);
          CHECK(std::find(o->fields[f].options.begin(), o->fields[f].options.end(), a[f].s) !=
                o->fields[f].options.end());
        }
      }
      CHECK(a[0].s > prev);
      prev = a[0].s;
      CHECK(tenant_generator::index_of_id(*o, a[0].s) == i);
      other.generate(*o, i, b);
      CHECK(b[0].s != a[0].s);
      const auto cre = a[*find_field(*o, "CreatedDate")].i, upd = a[*find_field(*o, "UpdatedDate")].i;
      CHECK(cre <= upd);
      CHECK(upd < tenant_epoch_unix_s);
    }
  }
  CHECK_FALSE(tenant_generator::index_of_id(*find_object("Account"), g.make_id(*find_object("Contact"), 3)));
  CHECK_FALSE(tenant_generator::index_of_id(item, "not an id"));
}

TEST_CASE("tenant: dates spread over years; realistic text") {
  const tenant_snapshot t = make_tenant(12, 2000);
  std::int64_t lo = INT64_MAX, hi = INT64_MIN;
  bool comma = false, quote = false, non_ascii = false, newline = false;
  record r;
  for (const char* name : {"Account", "Contact", "Product", "Usage", "InvoiceAdjustment"}) {
    const object_def& o = *find_object(name);
    for (std::uint64_t i = 0; i < t->row_count(o); ++i) {
      t->row(o, i, r);
      const auto c = r[*find_field(o, "CreatedDate")].i;
      if (o.name == "Account") {
        lo = std::min(lo, c);
        hi = std::max(hi, c);
      }
      for (std::size_t f = 0; f < r.size(); ++f) {
        if (o.fields[f].type != field_type::text) continue;
        const std::string& s = r[f].s;
        comma |= s.find(',') != std::string::npos;
        quote |= s.find('"') != std::string::npos;
        newline |= s.find('\n') != std::string::npos;
        non_ascii |= std::any_of(s.begin(), s.end(), [](char ch) { return static_cast<unsigned char>(ch) >= 0x80; });
      }
    }
  }
  CHECK(hi - lo > 3 * 365 * 86400);
  CHECK(comma);
  CHECK(quote);
  CHECK(non_ascii);
  CHECK(newline);
}

TEST_CASE("tenant: every relationship leads to a row created no later than its child") {
  const tenant_snapshot t = make_tenant(4, 30);
  for (const object_def* o : all_objects()) {
    for (const relation_def& rel : o->relations) {
      INFO(o->name << "." << rel.name);
      export_spec spec = spec_for(std::string("select Id, CreatedDate, ") + std::string(rel.name) + ".Id, " +
                                  std::string(rel.name) + ".CreatedDate from " + std::string(o->name));
      std::uint64_t rows = 0, joined = 0;
      for_each_result_row(t, spec, std::filesystem::temp_directory_path(), [&](const result_row& r) {
        ++rows;
        const field_value& jid = column_value(spec.query.columns[2].column, r.slots);
        if (jid.is_null()) return;
        ++joined;
        CHECK(tenant_generator::index_of_id(*find_object(rel.target), jid.s));
        // A parent is created first (contacts and payment methods come with
        // their account; the parent-account link points anywhere).
        if (rel.target != "Contact" && rel.target != "PaymentMethod" && rel.name != "ParentAccount")
          CHECK(column_value(spec.query.columns[3].column, r.slots).i <=
                column_value(spec.query.columns[1].column, r.slots).i);
      });
      CHECK(rows == t->row_count(*o));
      if (rel.name == "ParentAccount") CHECK(joined < rows);
      else if (o->name != "Usage" || rel.name != "Subscription") CHECK(joined == rows);
    }
  }
}

TEST_CASE("describe: object list and one object, well-formed, with fields and related objects") {
  const std::string list = describe_list_xml("http://127.0.0.1:9");
  CHECK(xml_well_formed(list));
  for (const object_def* o : all_objects())
    CHECK(list.find("<object href=\"http://127.0.0.1:9/v1/describe/" + std::string(o->name) + "\"><name>" +
                    std::string(o->name) + "</name>") != std::string::npos);
  for (const object_def* o : all_objects()) {
    const auto xml = describe_object_xml(o->name, "https://rest.zuora.com");
    REQUIRE(xml);
    INFO(o->name);
    CHECK(xml_well_formed(*xml));
    CHECK(xml->find("<fields>") != std::string::npos);
    CHECK(xml->find("<related-objects>") != std::string::npos);
    std::size_t exports = 0;
    for (std::size_t p = 0; (p = xml->find("<context>export</context>", p)) != std::string::npos; ++p) ++exports;
    // Every field but the soap-only ones lists the export context.
    CHECK(exports == static_cast<std::size_t>(std::count_if(o->fields.begin(), o->fields.end(), [](const field_def& f) {
            return f.access != field_access::soap_only;
          })));
    for (const field_def& f : o->fields) CHECK(xml->find("<name>" + std::string(f.name) + "</name>") != std::string::npos);
    for (const relation_def& r : o->relations)
      CHECK(xml->find("/v1/describe/" + std::string(r.name) + "\"><name>" + std::string(r.name)) != std::string::npos);
  }
  CHECK(describe_object_xml("product", "")->find("<related-objects></related-objects>") != std::string::npos);
  CHECK(describe_object_xml("Account", "")->find(
            "<name>Status</name><label>Status</label><type>picklist</type><selectable>true</selectable>"
            "<required>false</required><contexts><context>export</context><context>soap</context></contexts>"
            "<options><option>Draft</option><option>Active</option><option>Canceled</option></options></field>") !=
        std::string::npos);
  CHECK(describe_object_xml("invoiceitem", "")->find("<type>datetime</type>") != std::string::npos);
  CHECK_FALSE(describe_object_xml("Nothing", ""));
}

TEST_CASE("batch results: records grouped by char type id, relationships, codes") {
  const tenant_snapshot t0 = make_tenant(6, 10);
  temp_dir dir;
  const object_def& inv = *find_object("Invoice");
  const object_def& acct = *find_object("Account");
  export_spec spec = spec_for("select Id, InvoiceNumber, Amount, Account.Name, Account.AutoPay from Invoice limit 25");
  const auto path = dir.path() / "b.json";
  const auto info = write_batch_results_json(t0, spec, 4711, "Complete", path);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.load(path.string());
  CHECK(int64_t(doc["batchId"]) == 4711);
  CHECK(std::string_view(doc["batchStatus"]) == "Complete");
  simdjson::dom::object records = doc["batchResults"]["records"];
  simdjson::dom::array invoices = records[std::to_string(inv.char_type_id)];
  simdjson::dom::array accounts = records[std::to_string(acct.char_type_id)];
  CHECK(invoices.size() == 25);
  CHECK(accounts.size() == 3);  // 10 invoices per account
  CHECK(info.records == 28);
  CHECK(info.relationships == 25);
  std::set<std::int64_t> account_ids;
  for (simdjson::dom::element a : accounts) {
    account_ids.insert(int64_t(a["id"]));
    CHECK(a["record"]["characteristics"]["AutoPay"].is_bool());
    CHECK(int64_t(a["record"]["template"]["templateId"]) == acct.char_type_id);
  }
  std::int64_t n = 0;
  for (simdjson::dom::element e : invoices) {
    ++n;
    CHECK(int64_t(e["code"]) == 200);
    CHECK(std::string_view(e["message"]) == "Found.");
    CHECK(int64_t(e["id"]) == n);  // row index + 1
    CHECK(std::string_view(e["record"]["title"]) == std::string_view(e["record"]["characteristics"]["InvoiceNumber"]));
    CHECK(e["record"]["characteristics"]["Amount"].is_number());
  }
  simdjson::dom::array rels = doc["batchResults"]["relationships"];
  CHECK(rels.size() == 25);
  for (simdjson::dom::element r : rels) {
    CHECK(int64_t(r["relationship"]["parentCharTypeId"]) == acct.char_type_id);
    CHECK(account_ids.contains(int64_t(r["relationship"]["parentRecordId"])));
    CHECK(int64_t(r["relationship"]["childCharTypeId"]) == inv.char_type_id);
  }

  // Incremental after mutations: 201 Created, 200 Updated, 404 for deleted rows.
  mutation_outcome m;
  std::string err;
  REQUIRE(apply_mutation(t0, {"Invoice", 1, 1, 1, {}, {}}, tenant_epoch_unix_s + 10, m, err));
  export_spec inc = spec_for("select Id, Status from Invoice");
  inc.incremental = time_window{tenant_epoch_unix_s, tenant_epoch_unix_s + 20};
  inc.deleted = deleted_spec{"IsDeleted", false};
  inc.now_unix_s = tenant_epoch_unix_s + 20;
  write_batch_results_json(m.state, inc, 1, "Complete", path);
  simdjson::dom::element doc2 = parser.load(path.string());
  std::multiset<std::int64_t> codes;
  for (simdjson::dom::element e : doc2["batchResults"]["records"][std::to_string(inv.char_type_id)].get_array()) {
    codes.insert(int64_t(e["code"]));
    if (int64_t(e["code"]) == 404) {
      CHECK(std::string_view(e["message"]) == "Record Not Found.");
      CHECK(e["record"]["characteristics"].get_object().size() == 0);
    }
  }
  CHECK(codes == std::multiset<std::int64_t>{200, 201, 404});

  // Not complete: no records.
  write_batch_results_json(t0, spec, 2, "InProgress", path);
  simdjson::dom::element doc3 = parser.load(path.string());
  CHECK(doc3["batchResults"]["records"].get_object().size() == 0);
  CHECK(dir.files() == std::vector<std::string>{"b.json"});
}

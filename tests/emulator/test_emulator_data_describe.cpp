// Describe realism (docs/emulator.md "Describe: types, exportable fields,
// deleted support"): the types describe gives, the fields export refuses
// (soap-only ones and listed-but-refused ones, with the unknown-field error),
// `select *` holding only exportable fields, a null in every type, and the
// exact decimal Account.LedgerBalance, rendered, compared and sorted exactly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
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

// The <field> element of `field` in an object's describe XML.
std::string field_xml(std::string_view object, std::string_view field) {
  const std::string xml = *describe_object_xml(object, "");
  const std::size_t at = xml.find("<field><name>" + std::string(field) + "</name>");
  REQUIRE_MESSAGE(at != std::string::npos, object << "." << field);
  return xml.substr(at, xml.find("</field>", at) + 8 - at);
}

std::string parse_error(std::string_view query, zoql_dialect d = zoql_dialect::export_zoql) {
  zoql_query q;
  std::string err;
  CHECK_FALSE(parse_zoql(query, d, q, err));
  return err;
}

std::vector<std::string> column_names(const zoql_query& q) {
  std::vector<std::string> names;
  for (const select_column& c : q.columns) names.emplace_back(c.column.object->fields[c.column.field].name);
  return names;
}

// The CSV rows (header dropped) of `query` over `t`, datetimes in `tz`.
csv_rows export_rows(const tenant_snapshot& t, std::string_view query, time_zone tz = time_zone::tenant) {
  temp_dir dir;
  export_spec spec = spec_for(query);
  spec.tz = tz;
  csv_rows all;
  for (const written_file& w : write_result_files(t, spec, dir.path(), "x")) {
    csv_rows rows = read_csv(slurp(w.path.string()));
    REQUIRE(!rows.empty());
    all.insert(all.end(), rows.begin() + 1, rows.end());
  }
  return all;
}

}  // namespace

TEST_CASE("describe: realistic types, longtext and timestamp among them") {
  CHECK(field_xml("Account", "Notes").find("<type>longtext</type>") != std::string::npos);
  CHECK(field_xml("Invoice", "LastEmailSentDate").find("<type>timestamp</type>") != std::string::npos);
  CHECK(field_xml("Account", "LedgerBalance").find("<type>decimal</type>") != std::string::npos);
  CHECK(field_xml("Subscription", "RenewalTerm").find("<type>integer</type>") != std::string::npos);
  CHECK(field_xml("Account", "Id").find("<type>text</type><selectable>true</selectable><required>true</required>") !=
        std::string::npos);
  // Every describe type occurs somewhere in the tenant.
  std::set<std::string> types;
  for (const object_def* o : all_objects()) {
    const std::string xml = *describe_object_xml(o->name, "");
    for (std::size_t p = 0; (p = xml.find("<type>", p)) != std::string::npos; ++p)
      types.insert(xml.substr(p + 6, xml.find("</type>", p) - p - 6));
  }
  CHECK(types == std::set<std::string>{"boolean", "date", "datetime", "decimal", "integer", "longtext", "picklist",
                                       "text", "timestamp"});
}

TEST_CASE("describe: soap-only fields lack the export context; refused fields list it") {
  for (const auto& [object, field] : {std::pair{"Invoice", "Body"}, std::pair{"Usage", "ImportId"}}) {
    INFO(object << "." << field);
    CHECK(field_xml(object, field).find("<contexts><context>soap</context></contexts>") != std::string::npos);
    CHECK(field_xml(object, field).find("<context>export</context>") == std::string::npos);
  }
  for (const auto& [object, field] : {std::pair{"Account", "SequenceSetId"}, std::pair{"Subscription", "CpqBundleJsonId__QT"}})
    CHECK(field_xml(object, field).find("<contexts><context>export</context><context>soap</context></contexts>") !=
          std::string::npos);
  // Exactly these four are not exported, tenant-wide (docs/emulator.md lists them).
  std::set<std::string> not_exported;
  for (const object_def* o : all_objects())
    for (const field_def& f : o->fields)
      if (!f.exportable()) not_exported.insert(std::string(o->name) + "." + std::string(f.name));
  CHECK(not_exported == std::set<std::string>{"Account.SequenceSetId", "Invoice.Body", "Subscription.CpqBundleJsonId__QT",
                                              "Usage.ImportId"});
}

TEST_CASE("zoql: export refuses unexported fields with the unknown-field error; plain ZOQL selects them") {
  // An unknown field, for comparison: the same words.
  CHECK(parse_error("select Nope from Account") ==
        "at position 8: Error.zoql.noSuchFieldId: Account.Nope");
  CHECK(parse_error("select SequenceSetId from Account limit 1") ==
        "at position 8: Error.zoql.noSuchFieldId: Account.SequenceSetId");
  CHECK(parse_error("select Id, Body from Invoice limit 1") ==
        "at position 12: Error.zoql.noSuchFieldId: Invoice.Body");
  CHECK(parse_error("select Id from Subscription where CpqBundleJsonId__QT is null") ==
        "at position 35: Error.zoql.noSuchFieldId: Subscription.CpqBundleJsonId__QT");
  // Through a relationship: named by its object.
  CHECK(parse_error("select Id, Account.SequenceSetId from Invoice") ==
        "at position 12: Error.zoql.noSuchFieldId: Account.SequenceSetId");
  zoql_query q;
  std::string err;
  CHECK(parse_zoql("select Id, Body from Invoice", zoql_dialect::plain_zoql, q, err));
  CHECK(parse_zoql("select Id, SequenceSetId from Account", zoql_dialect::plain_zoql, q, err));
  CHECK(column_names(q) == std::vector<std::string>{"Id", "SequenceSetId"});
}

TEST_CASE("zoql: select * and Rel.* hold only the exported fields") {
  for (const object_def* o : all_objects()) {
    INFO(o->name);
    const export_spec spec = spec_for("select * from " + std::string(o->name));
    for (const select_column& c : spec.query.columns) CHECK(c.column.object->fields[c.column.field].exportable());
  }
  const export_spec acct = spec_for("select * from Account");
  const auto names = column_names(acct.query);
  CHECK(std::find(names.begin(), names.end(), "Notes") != names.end());
  CHECK(std::find(names.begin(), names.end(), "LedgerBalance") != names.end());
  CHECK(std::find(names.begin(), names.end(), "SequenceSetId") == names.end());
  const auto inv = column_names(spec_for("select Account.* from Invoice").query);
  CHECK(std::find(inv.begin(), inv.end(), "SequenceSetId") == inv.end());
  CHECK(std::find(inv.begin(), inv.end(), "LedgerBalance") != inv.end());
  const auto invoice = column_names(spec_for("select * from Invoice").query);
  CHECK(std::find(invoice.begin(), invoice.end(), "Body") == invoice.end());
  CHECK(std::find(invoice.begin(), invoice.end(), "LastEmailSentDate") != invoice.end());
}

TEST_CASE("tenant: deleted rows unsupported by AccountingPeriod and ProcessedUsage only") {
  std::set<std::string> without;
  for (const object_def* o : all_objects())
    if (!o->supports_deleted) without.insert(std::string(o->name));
  CHECK(without == std::set<std::string>{"AccountingPeriod", "ProcessedUsage"});
  // ProcessedUsage follows its usage and its invoice item.
  const tenant_snapshot t = make_tenant(3, 10);
  const csv_rows rows =
      export_rows(t, "select Id, Usage.Id, UsageId, InvoiceItem.Id, Invoice.Id, Account.Id from ProcessedUsage");
  CHECK(rows.size() == 30);
  for (const auto& r : rows) {
    CHECK(r[1] == r[2]);
    CHECK(!r[3].empty());
    CHECK(!r[4].empty());
    CHECK(!r[5].empty());
  }
}

TEST_CASE("tenant: every describe type has nulls somewhere, and non-null values") {
  const tenant_snapshot t = make_tenant(5, 300);
  std::map<std::string, std::pair<std::size_t, std::size_t>> by_type;  // type -> (nulls, values)
  record r;
  for (const object_def* o : all_objects()) {
    for (std::size_t f = 0; f < o->fields.size(); ++f) {
      const std::string fx = field_xml(o->name, o->fields[f].name);
      const std::size_t p = fx.find("<type>") + 6;
      const std::string type = fx.substr(p, fx.find("</type>") - p);
      auto& [nulls, values] = by_type[type];
      for (std::uint64_t i = 0; i < std::min<std::uint64_t>(t->row_count(*o), 300); ++i) {
        t->row(*o, i, r);
        ++(r[f].is_null() ? nulls : values);
      }
    }
  }
  CHECK(by_type.size() == 9);
  for (const auto& [type, counts] : by_type) {
    INFO(type);
    CHECK(counts.first > 0);
    CHECK(counts.second > 0);
  }
}

TEST_CASE("tenant: the exact decimal renders every digit, in CSV and JSON") {
  const tenant_snapshot t = make_tenant(11, 400);
  const csv_rows rows = export_rows(t, "select Id, LedgerBalance from Account");
  REQUIRE(rows.size() == 400);
  // Rows 0-3 are fixed (docs/emulator.md).
  CHECK(rows[0][1] == "12345678901234567.123456789");
  CHECK(rows[1][1] == "-98765432109876543.5");
  CHECK(rows[2][1] == "10000000000000001");
  CHECK(rows[3][1].empty());
  // The rest: canonical decimal text, some beyond double precision, some
  // negative, some integer-valued, some null, some with 9 places.
  std::size_t beyond_double = 0, negative = 0, integral = 0, nulls = 0, nine_places = 0;
  for (std::size_t i = 4; i < rows.size(); ++i) {
    const std::string& v = rows[i][1];
    INFO(i << ": " << v);
    if (v.empty()) {
      ++nulls;
      continue;
    }
    const std::size_t sign = v[0] == '-' ? 1 : 0;
    negative += sign;
    const std::size_t dot = v.find('.');
    const std::string whole = v.substr(sign, dot == std::string::npos ? std::string::npos : dot - sign);
    CHECK(!whole.empty());
    CHECK(whole.size() <= 17);
    CHECK((whole == "0" || whole[0] != '0'));
    CHECK(std::all_of(whole.begin(), whole.end(), [](char c) { return c >= '0' && c <= '9'; }));
    if (dot == std::string::npos) {
      ++integral;
    } else {
      const std::string frac = v.substr(dot + 1);
      CHECK(!frac.empty());
      CHECK(frac.size() <= 9);
      CHECK(frac.back() != '0');
      nine_places += frac.size() == 9;
    }
    CHECK(v != "-0");
    // A double cannot carry it: printing the parsed double loses digits.
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", std::strtod(v.c_str(), nullptr));
    beyond_double += std::string_view(buf) != v;
  }
  CHECK(beyond_double > 100);
  CHECK(negative > 0);
  CHECK(integral > 0);
  CHECK(nulls > 0);
  CHECK(nine_places > 0);

  // The JSON batch results carry it as a number, every digit kept.
  temp_dir dir;
  const export_spec spec = spec_for("select Id, LedgerBalance from Account limit 3");
  write_batch_results_json(t, spec, 1, "Complete", dir.path() / "b.json");
  const std::string json = slurp((dir.path() / "b.json").string());
  CHECK(json.find("\"LedgerBalance\":12345678901234567.123456789") != std::string::npos);
  CHECK(json.find("\"LedgerBalance\":-98765432109876543.5") != std::string::npos);
  CHECK(json.find("\"LedgerBalance\":10000000000000001") != std::string::npos);
}

TEST_CASE("zoql: the exact decimal compares and sorts by value, exactly") {
  const tenant_snapshot t = make_tenant(11, 400);
  CHECK(export_rows(t, "select Id from Account where LedgerBalance = 12345678901234567.123456789").size() == 1);
  CHECK(export_rows(t, "select Id from Account where LedgerBalance = 12345678901234567.12345679").empty());
  CHECK(export_rows(t, "select Id from Account where LedgerBalance = 10000000000000001.000").size() == 1);
  // Counts judged by our own comparison of the exported texts.
  const csv_rows all = export_rows(t, "select LedgerBalance from Account");
  const auto count = [&all](const char* bound, int sign) {
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const auto& r) {
      return !r[0].empty() && compare_decimal_text(r[0], bound) == sign;
    }));
  };
  CHECK(count("-98765432109876543.49", -1) >= 1);
  CHECK(export_rows(t, "select Id from Account where LedgerBalance < -98765432109876543.49").size() ==
        count("-98765432109876543.49", -1));
  CHECK(export_rows(t, "select Id from Account where LedgerBalance > 0").size() == count("0", 1));
  CHECK(export_rows(t, "select Id from Account where LedgerBalance > 99999999.123").size() ==
        count("99999999.123", 1));
  // order by: ascending numeric order, nulls first; descending reversed.
  const csv_rows asc = export_rows(t, "select LedgerBalance from Account order by LedgerBalance asc");
  REQUIRE(asc.size() == 400);
  std::size_t i = 0;
  while (i < asc.size() && asc[i][0].empty()) ++i;
  CHECK(i > 0);
  for (std::size_t k = i + 1; k < asc.size(); ++k) {
    INFO(asc[k - 1][0] << " <= " << asc[k][0]);
    CHECK(compare_decimal_text(asc[k - 1][0], asc[k][0]) <= 0);
  }
  std::multiset<std::string> a, b;
  for (const auto& r : asc) a.insert(r[0]);
  for (const auto& r : all) b.insert(r[0]);
  CHECK(a == b);
  const csv_rows desc = export_rows(t, "select LedgerBalance from Account order by LedgerBalance desc");
  CHECK(desc.front()[0] == asc.back()[0]);
  CHECK(desc.back()[0].empty());
}

TEST_CASE("decimal text: comparison and order keys agree with the numeric order") {
  const std::vector<std::string> sorted{"-98765432109876543.5", "-1.55", "-1.5", "-1", "-0.000000001", "0",
                                        "0.000000001",          "0.1",   "1",    "1.5", "1.55",        "9",
                                        "10",                   "10000000000000001", "12345678901234567.123456789"};
  for (std::size_t a = 0; a < sorted.size(); ++a) {
    for (std::size_t b = 0; b < sorted.size(); ++b) {
      INFO(sorted[a] << " vs " << sorted[b]);
      const int want = a < b ? -1 : (a > b ? 1 : 0);
      CHECK(compare_decimal_text(sorted[a], sorted[b]) == want);
      std::string ka, kb;
      append_decimal_key(sorted[a], ka);
      append_decimal_key(sorted[b], kb);
      CHECK((ka < kb ? -1 : (ka > kb ? 1 : 0)) == want);
    }
  }
  CHECK(compare_decimal_text("1.50", "1.5") == 0);
  CHECK(compare_decimal_text("-0", "0.00") == 0);
  CHECK(compare_decimal_text("007", "7") == 0);
}

TEST_CASE("results: the timestamp field renders as a datetime, in the tenant's offset unless UTC") {
  const tenant_snapshot t = make_tenant(2, 60);
  const csv_rows local = export_rows(t, "select LastEmailSentDate from Invoice");
  const csv_rows utc = export_rows(t, "select LastEmailSentDate from Invoice", time_zone::utc);
  REQUIRE(local.size() == utc.size());
  bool winter = false, summer = false, empty = false;
  for (std::size_t i = 0; i < local.size(); ++i) {
    const std::string& v = local[i][0];
    if (v.empty()) {
      empty = true;
      CHECK(utc[i][0].empty());
      continue;
    }
    CHECK(v.size() == 24);
    CHECK(v[10] == 'T');
    winter |= v.ends_with("-0800");
    summer |= v.ends_with("-0700");
    CHECK(utc[i][0].ends_with("+0000"));
  }
  CHECK(winter);
  CHECK(summer);
  CHECK(empty);
}

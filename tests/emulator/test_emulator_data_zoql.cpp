// The emulator's ZOQL parser and evaluator, checked against the generated
// tenant: each where/order by result is compared with the same predicate
// computed directly from the rows in the test.
#include <doctest/doctest.h>

#include <algorithm>

#include "emulator/result_writer.hpp"
#include "emulator/tenant_state.hpp"
#include "emulator/wildcard.hpp"
#include "emulator/zoql.hpp"

using namespace aquaduct::emulator;

namespace {

zoql_query parse_ok(std::string_view text, zoql_dialect d = zoql_dialect::export_zoql) {
  zoql_query q;
  std::string err;
  INFO(text);
  REQUIRE_MESSAGE(parse_zoql(text, d, q, err), err);
  return q;
}

std::string parse_err(std::string_view text, zoql_dialect d = zoql_dialect::export_zoql) {
  zoql_query q;
  std::string err;
  INFO(text);
  REQUIRE_FALSE(parse_zoql(text, d, q, err));
  CHECK(q.object == nullptr);
  return err;
}

// "at position N" must point at `bad` inside `text`.
void check_position(std::string_view text, std::string_view bad, std::string_view expect_in_message = {}) {
  const std::string err = parse_err(text);
  INFO(err);
  const auto at = text.rfind(bad);  // "" = the end of the query
  REQUIRE(at != std::string_view::npos);
  CHECK(err.starts_with("at position " + std::to_string(at + 1) + ":"));
  if (!expect_in_message.empty()) CHECK(err.find(expect_in_message) != std::string::npos);
}

// Base-row indexes a query selects, in output order.
std::vector<std::string> ids_of(const tenant_snapshot& t, const zoql_query& q, std::int64_t now = tenant_epoch_unix_s) {
  export_spec spec;
  spec.query = q;
  spec.now_unix_s = now;
  std::vector<std::string> out;
  for_each_result_row(t, spec, std::filesystem::temp_directory_path(),
                      [&](const result_row& r) { out.push_back((*r.slots[0])[0].s); });
  return out;
}

// Ids of every row of `obj` for which `pred(record)` holds, in id order.
template <class Pred>
std::vector<std::string> brute(const tenant_snapshot& t, const object_def& obj, Pred pred) {
  std::vector<std::string> out;
  record r;
  for (std::uint64_t i = 0; i < t->row_count(obj); ++i) {
    t->row(obj, i, r);
    if (pred(r)) out.push_back(r[0].s);
  }
  return out;
}

std::size_t fi(const object_def& o, std::string_view f) { return *find_field(o, f); }

// Local midnight of `days` in the Pacific tenant zone, as unix seconds.
std::int64_t midnight(std::int64_t days) { return tenant_local_to_utc(tenant_zone::pacific, days * 86400); }

}  // namespace

TEST_CASE("zoql: select lists, *, Obj.*, joins, aliases, limit") {
  const object_def& acct = *find_object("Account");
  zoql_query q = parse_ok("SELECT id, Account.Name FROM account LIMIT 3");
  CHECK(q.object == &acct);
  REQUIRE(q.columns.size() == 2);
  CHECK(q.columns[0].column.field == fi(acct, "Id"));
  CHECK(q.columns[1].column.field == fi(acct, "Name"));
  CHECK(q.limit == 3u);

  q = parse_ok("select * from Account limit 2, 5;");
  CHECK(q.offset == 2);
  CHECK(q.limit == 5u);
  // `*` = own exported fields without foreign keys (contract §5.1; Account's
  // SequenceSetId is not exported, docs/emulator.md "Describe").
  for (const auto& c : q.columns) {
    const std::string_view n = acct.fields[c.column.field].name;
    CHECK(n != "ParentId");
    CHECK(n != "BillToId");
    CHECK(n != "SequenceSetId");
  }
  CHECK(q.columns.size() == acct.fields.size() - acct.relations.size() - 1);
  CHECK(parse_ok("select Account.* from Account").columns.size() == q.columns.size());

  q = parse_ok("select Id, BillToContact.WorkEmail, SoldToContact.WorkEmail, BillToContact.City as \"Bill City\" "
               "from Account");
  REQUIRE(q.joins.size() == 2);
  CHECK(q.joins[0]->name == "BillToContact");
  CHECK(q.columns[1].column.slot == 1);
  CHECK(q.columns[2].column.slot == 2);
  CHECK(q.columns[3].column.slot == 1);
  CHECK(q.columns[3].alias == "Bill City");

  q = parse_ok("select BillToContact.* from Account");
  CHECK(q.columns.size() == find_object("Contact")->fields.size());

  q = parse_ok("select Id, Invoice.InvoiceNumber, Account.Name, Product.Name from InvoiceItem");
  CHECK(q.joins.size() == 3);
}

TEST_CASE("zoql: errors name the position") {
  check_position("select Id from Account where", "", "expected a field name");
  check_position("select Nope from Account", "Nope", "Error.zoql.noSuchFieldId");
  check_position("select Id from Account where Nope = 1", "Nope = 1", "Error.zoql.noSuchFieldId");
  check_position("select Id, Invoice.Id from Account", "Invoice.Id", "not a relationship");
  check_position("select Id from Nothing", "Nothing", "noSuchObject");
  check_position("select Id from Account where Name = 'abc", "'abc", "unterminated");
  check_position("select Id from Account where Balance > 'x'", "'x'", "not a number");
  check_position("select Id from Account where AutoPay > true", "> true", "boolean");
  check_position("select Id from Account where UpdatedDate > 'yesterday'", "'yesterday'", "date");
  check_position("select Id from Account where (Name = 'a'", "", "expected ')'");
  check_position("select Id from Account order Id", "Id", "'by'");
  check_position("select Id from Account limit x", "x", "number");
  check_position("select count(Id) from Account", "count(", "not supported");
  check_position("select Id from Account group by Name", "group", "not supported");
  check_position("select Id as \"A\", Name as \"A\" from Account", "Name", "Duplicate column aliases A");
  check_position("select Id from Account extra", "extra", "unexpected");
  check_position("update Account", "update", "You must specify a select");
  check_position("select from Account", "from", "expected a field name");
  CHECK(parse_err("").starts_with("at position 1:"));
}

TEST_CASE("zoql: plain ZOQL refuses Export ZOQL features") {
  const auto plain = zoql_dialect::plain_zoql;
  parse_ok("select Id, Name from Account where Balance > 0 and Status = 'Active'", plain);
  CHECK(parse_err("select * from Account", plain).find("'*'") != std::string::npos);
  CHECK(parse_err("select BillToContact.WorkEmail from Account", plain).find("joined") != std::string::npos);
  CHECK(parse_err("select Id from Account order by Id", plain).find("order by") != std::string::npos);
  CHECK(parse_err("select Id from Account where (Balance > 0)", plain).find("parentheses") != std::string::npos);
  CHECK(parse_err("select Id from Account where Balance > CreditBalance", plain).find("field-to-field") !=
        std::string::npos);
  std::string many = "select Id from Account where Balance = 0";
  for (int i = 1; i < 200; ++i) many += " or Balance = " + std::to_string(i);
  parse_ok(many, plain);  // 200 conditions
  parse_ok(many + " or Balance = 200");  // Export ZOQL has no such limit
  CHECK(parse_err(many + " or Balance = 200", plain).find("at most 200 conditions in WHERE (201 given)") !=
        std::string::npos);
}

TEST_CASE("zoql: where over generated rows equals the predicate computed directly") {
  const tenant_snapshot t = make_tenant(11, 300);
  const object_def& a = *find_object("Account");
  const auto bal = fi(a, "Balance"), st = fi(a, "Status"), ap = fi(a, "AutoPay"), rep = fi(a, "SalesRepName"),
             name = fi(a, "Name"), cb = fi(a, "CreditBalance");

  auto q = parse_ok("select Id from Account where Balance > 1000.5 and (Status = 'Active' or AutoPay = true)");
  auto expect = brute(t, a, [&](const record& r) {
    return r[bal].i > 100050 && (r[st].s == "Active" || r[ap].i == 1);
  });
  CHECK(!expect.empty());
  CHECK(ids_of(t, q) == expect);

  q = parse_ok("select Id from Account where not (Status = 'Active') or SalesRepName is null");
  expect = brute(t, a, [&](const record& r) { return r[st].s != "Active" || r[rep].is_null(); });
  CHECK(ids_of(t, q) == expect);

  q = parse_ok("select Id from Account where SalesRepName is not null and SalesRepName != 'Tom Baker'");
  expect = brute(t, a, [&](const record& r) { return !r[rep].is_null() && r[rep].s != "Tom Baker"; });
  CHECK(ids_of(t, q) == expect);

  q = parse_ok("select Id from Account where Name like 'Acme%' or Name like '%#1_'");
  expect = brute(t, a, [&](const record& r) {
    const std::string& n = r[name].s;
    return n.starts_with("Acme") || (n.size() >= 3 && n[n.size() - 3] == '#' && n[n.size() - 2] == '1');
  });
  CHECK(!expect.empty());
  CHECK(ids_of(t, q) == expect);

  q = parse_ok("select Id from Account where CreditBalance >= Balance");  // field to field
  expect = brute(t, a, [&](const record& r) { return r[cb].i >= r[bal].i; });
  CHECK(ids_of(t, q) == expect);

  q = parse_ok("select Id from Account where Balance <= -0.01 or Balance = 0");
  expect = brute(t, a, [&](const record& r) { return r[bal].i <= -1 || r[bal].i == 0; });
  CHECK(ids_of(t, q) == expect);
}

TEST_CASE("zoql: date and datetime literals") {
  const tenant_snapshot t = make_tenant(5, 400);
  const object_def& a = *find_object("Account");
  const auto upd = fi(a, "UpdatedDate");
  const std::int64_t day = days_from_civil(2024, 3, 1);
  const std::int64_t local_start = midnight(day);  // 2024-03-01T00:00:00-0800
  CHECK(local_start == day * 86400 + 8 * 3600);

  // Whole-day semantics in the tenant zone.
  auto expect_ge = brute(t, a, [&](const record& r) { return r[upd].i >= local_start; });
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate >= '2024-03-01'")) == expect_ge);
  auto expect_gt = brute(t, a, [&](const record& r) { return r[upd].i >= midnight(day + 1); });
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate > '2024-03-01'")) == expect_gt);
  // Explicit zones.
  const std::int64_t utc = day * 86400 + 12 * 3600;
  auto expect_utc = brute(t, a, [&](const record& r) { return r[upd].i < utc; });
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate < '2024-03-01T12:00:00Z'")) == expect_utc);
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate < '2024-03-01T14:00:00+02:00'")) == expect_utc);
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate < '2024-03-01T04:00-08:00'")) == expect_utc);
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate < '2024-03-01T04:00:00'")) == expect_utc);
  // 'YYYY-MM-DD hh:mm:ss' is silently dropped by Zuora: every row comes back.
  const auto all = brute(t, a, [](const record&) { return true; });
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate > '2030-01-01 00:00:00'")) == all);
  CHECK(ids_of(t, parse_ok("select Id from Account where not UpdatedDate > '2030-01-01 00:00:00'")) == all);
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate > '2030-01-01 00:00:00' and Status = 'Draft'")) ==
        brute(t, a, [&](const record& r) { return r[fi(a, "Status")].s == "Draft"; }));
  // Fractional seconds: accepted, but such a bound matches nothing (as observed).
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate < '2030-01-01T00:00:00.000Z'")).empty());
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate < '2030-01-01T00:00:00.5Z' or Status = 'Draft'")) ==
        brute(t, a, [&](const record& r) { return r[fi(a, "Status")].s == "Draft"; }));
  check_position("select Id from Account where UpdatedDate < '2030-01-01T00:00:00.Z'", "'2030", "date");
  // Relative literals resolve against the evaluation's now.
  const std::int64_t now = tenant_epoch_unix_s - 100 * 86400;
  auto expect_rel = brute(t, a, [&](const record& r) { return r[upd].i >= now - 30 * 86400; });
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate >= 'now - 30 days'"), now) == expect_rel);
  const std::int64_t today = (now + tenant_offset_minutes(tenant_zone::pacific, now) * 60) / 86400;  // local day
  auto expect_today = brute(t, a, [&](const record& r) { return r[upd].i >= midnight(today - 7); });
  CHECK(ids_of(t, parse_ok("select Id from Account where UpdatedDate >= 'today - 1 week'"), now) == expect_today);
  // A date field against a date literal.
  const object_def& inv = *find_object("Invoice");
  const auto idate = fi(inv, "InvoiceDate");
  auto expect_date = brute(t, inv, [&](const record& r) { return r[idate].i == day; });
  CHECK(ids_of(t, parse_ok("select Id from Invoice where InvoiceDate = '2024-03-01'")) == expect_date);
}

TEST_CASE("zoql: where and order by on joined fields") {
  const tenant_snapshot t = make_tenant(2, 40);
  const object_def& item = *find_object("InvoiceItem");
  const object_def& inv = *find_object("Invoice");
  zoql_query q = parse_ok("select Id, InvoiceId, Invoice.Id, Invoice.Status from InvoiceItem "
                          "where Invoice.Status = 'Posted' order by Invoice.InvoiceNumber desc, Id asc");
  export_spec spec;
  spec.query = q;
  std::vector<std::pair<std::string, std::string>> got;  // (invoice number, item id)
  record ir;
  for_each_result_row(t, spec, std::filesystem::temp_directory_path(), [&](const result_row& r) {
    REQUIRE(r.slots[1] != nullptr);
    CHECK((*r.slots[0])[fi(item, "InvoiceId")].s == (*r.slots[1])[0].s);
    CHECK((*r.slots[1])[fi(inv, "Status")].s == "Posted");
    got.emplace_back((*r.slots[1])[fi(inv, "InvoiceNumber")].s, (*r.slots[0])[0].s);
  });
  // Expected: every item whose invoice (looked up by id) is Posted.
  std::vector<std::pair<std::string, std::string>> expect;
  record r;
  for (std::uint64_t i = 0; i < t->row_count(item); ++i) {
    t->row(item, i, r);
    const auto idx = t->find(inv, r[fi(item, "InvoiceId")].s);
    REQUIRE(idx);
    t->row(inv, *idx, ir);
    if (ir[fi(inv, "Status")].s == "Posted") expect.emplace_back(ir[fi(inv, "InvoiceNumber")].s, r[0].s);
  }
  std::sort(expect.begin(), expect.end(), [](const auto& x, const auto& y) {
    return x.first != y.first ? x.first > y.first : x.second < y.second;
  });
  CHECK(!expect.empty());
  CHECK(got == expect);
}

TEST_CASE("zoql: every prefix and single-byte corruption of valid queries parses or fails with an in-range position") {
  const std::vector<std::string> queries{
      "select Id, Name as \"N\", BillToContact.WorkEmail from Account where (Balance >= 10.5 or not AutoPay = true) "
      "and Name like 'A%' and UpdatedDate > '2024-01-01T00:00:00+01:00' order by Name desc, Id limit 3, 4;",
      "select * from InvoiceItem where Invoice.Status != 'Posted' and ChargeDate <= 'today - 3 days' and SKU is not null",
  };
  const std::string noise = "'\"(),;=<>!*. aZ9-\n\x80";
  std::uint64_t n = 0;
  for (const std::string& base : queries) {
    for (std::size_t cut = 0; cut <= base.size(); ++cut) {
      for (std::size_t k = 0; k <= noise.size(); ++k) {
        std::string text = base.substr(0, cut);
        if (k < noise.size()) text += noise[k];
        text += base.substr(std::min(cut + 1, base.size()));
        zoql_query q;
        std::string err;
        ++n;
        if (parse_zoql(text, zoql_dialect::export_zoql, q, err)) {
          CHECK(q.object != nullptr);
          CHECK(!q.columns.empty());
        } else {
          INFO(text);
          REQUIRE(err.starts_with("at position "));
          const std::size_t pos = std::stoul(err.substr(12));
          CHECK(pos >= 1);
          CHECK(pos <= text.size() + 1);
        }
      }
    }
  }
  CHECK(n > 5000);
}

TEST_CASE("zoql: the Pacific zone keeps daylight saving time; a UTC tenant has none") {
  const auto p = tenant_zone::pacific;
  const std::int64_t mar10 = days_from_civil(2024, 3, 10) * 86400, nov3 = days_from_civil(2024, 11, 3) * 86400;
  CHECK(tenant_offset_minutes(p, mar10 + 10 * 3600 - 1) == -480);  // 01:59:59 PST
  CHECK(tenant_offset_minutes(p, mar10 + 10 * 3600) == -420);      // 03:00:00 PDT
  CHECK(tenant_offset_minutes(p, nov3 + 9 * 3600 - 1) == -420);    // 01:59:59 PDT
  CHECK(tenant_offset_minutes(p, nov3 + 9 * 3600) == -480);        // 01:00:00 PST
  CHECK(tenant_offset_minutes(tenant_zone::utc, mar10 + 20 * 3600) == 0);
  CHECK(format_datetime(days_from_civil(2024, 7, 4) * 86400, time_zone::tenant) == "2024-07-03T17:00:00-0700");
  CHECK(format_datetime(days_from_civil(2024, 1, 4) * 86400, time_zone::tenant) == "2024-01-03T16:00:00-0800");
  CHECK(format_datetime(days_from_civil(2024, 1, 4) * 86400, time_zone::tenant, tenant_zone::utc) ==
        "2024-01-04T00:00:00+0000");
  CHECK(tenant_local_to_utc(p, nov3 + 3600 + 1800) == nov3 + 8 * 3600 + 1800);  // 01:30 twice: the first (PDT)
  CHECK(tenant_local_to_utc(p, mar10 + 2 * 3600 + 1800) == mar10 + 10 * 3600 + 1800);  // 02:30 skipped: as PST
  CHECK(tenant_local_to_utc(p, days_from_civil(2024, 7, 4) * 86400) == days_from_civil(2024, 7, 4) * 86400 + 7 * 3600);

  // A date literal against a datetime covers the local day, 23 hours long on 2024-03-10.
  export_spec spec;
  std::string err;
  REQUIRE(parse_zoql("select Id from Account where UpdatedDate = '2024-03-10'", zoql_dialect::export_zoql, spec.query, err));
  record r;
  const object_def& a = *find_object("Account");
  r.resize(a.fields.size());
  std::vector<const record*> slots{&r};
  const std::size_t upd = fi(a, "UpdatedDate");
  r[upd] = field_value{field_value::kind::datetime, mar10 + 8 * 3600, {}};  // 00:00 PST
  CHECK(zoql_matches(spec.query, slots, 0));
  r[upd].i = mar10 + 24 * 3600 + 7 * 3600 - 1;  // 23:59:59 PDT
  CHECK(zoql_matches(spec.query, slots, 0));
  r[upd].i += 1;
  CHECK_FALSE(zoql_matches(spec.query, slots, 0));
  r[upd].i = mar10 + 2 * 3600;  // 2024-03-10T02:00Z: the 10th in UTC, the 9th in Pacific time
  CHECK_FALSE(zoql_matches(spec.query, slots, 0));
  CHECK(zoql_matches(spec.query, slots, 0, tenant_zone::utc));
}

TEST_CASE("wildcard_match: like and glob flavours") {
  CHECK(wildcard_match("a%c", "abbbc", '%', '_'));
  CHECK(wildcard_match("a_c", "abc", '%', '_'));
  CHECK_FALSE(wildcard_match("a_c", "abbc", '%', '_'));
  CHECK(wildcard_match("%", "", '%', '_'));
  CHECK(wildcard_match("%b%b%", "abcbd", '%', '_'));
  CHECK_FALSE(wildcard_match("%b%b%", "abcd", '%', '_'));
  CHECK(wildcard_match("/v1/file/*", "/v1/file/abc", '*', '?'));
  CHECK_FALSE(wildcard_match("/v1/file/*", "/v1/files/abc", '*', '?'));
  CHECK(wildcard_match("/v1/?ile/*", "/v1/file/x", '*', '?'));
  CHECK(wildcard_match("100%", "100%", '*', '?'));  // '%' is literal in a glob
  CHECK_FALSE(wildcard_match("a*", "ab", '%', '_'));  // '*' is literal in like
}

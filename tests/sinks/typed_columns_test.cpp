// Typed columns (issue 17): the hand-written value checks, SQL types and
// exact values in sqlite and postgres, bad values refused with nothing
// committed, soft deletes, schema evolution across runs, columns = "fields",
// and `table = ...` in every sink.
#include "sinks/registry.hpp"
#include "sinks/sink_harness.hpp"
#include "sinks/sink_names.hpp"
#include "sinks/typed_values.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <sqlite3.h>

using namespace aquaduct;
using namespace aquaduct::test;
using ct = column_type;

namespace {

stream_schema typed_schema(std::vector<std::string> columns, std::vector<column_type> types,
                           load_kind load = load_kind::full) {
  stream_schema s;
  s.job = "billing";
  s.job_id = "j1";
  s.query = "Account";
  s.columns = std::move(columns);
  s.types = std::move(types);
  s.load = load;
  if (load == load_kind::incremental) s.key_column = 0;
  return s;
}

void commit_rows(sink& s, const stream_schema& schema, const rows& data, std::string file_id) {
  auto stream = s.open(schema);
  stream->write(batch_builder(data).batch(schema));
  stream->commit(file_token{"j1", schema.query, {std::move(file_id)}, data.size()});
}


struct sql_target {
  std::unique_ptr<sink_harness> h;
  std::function<rows(const std::string&)> query;  // in the sink's schema (postgres) or database (sqlite)
  std::function<void(const std::string&)> exec;
  bool pg;
};


// A sqlite or postgres harness whose sink has extra options.
class sqlite_opts_harness : public sqlite_harness {
 public:
  explicit sqlite_opts_harness(sinks::delete_mode d = sinks::delete_mode::hard,
                               sinks::column_names c = sinks::column_names::labels)
      : d_(d), c_(c) {}
  std::unique_ptr<sink> make() override {
    sinks::sqlite_sink_options o;
    o.path = db();
    o.deletes = d_;
    o.columns = c_;
    return sinks::make_sqlite_sink(o);
  }

 private:
  sinks::delete_mode d_;
  sinks::column_names c_;
};

class postgres_opts_harness : public postgres_harness {
 public:
  explicit postgres_opts_harness(sinks::delete_mode d = sinks::delete_mode::hard,
                                 sinks::column_names c = sinks::column_names::labels)
      : d_(d), c_(c) {}
  std::unique_ptr<sink> make() override {
    sinks::postgres_sink_options o;
    o.dsn = shared_postgres().dsn();
    o.schema = schema();
    o.deletes = d_;
    o.columns = c_;
    return sinks::make_postgres_sink(o);
  }

 private:
  sinks::delete_mode d_;
  sinks::column_names c_;
};

std::vector<sql_target> sql_targets(sinks::delete_mode d = sinks::delete_mode::hard,
                                    sinks::column_names c = sinks::column_names::labels) {
  std::vector<sql_target> out;
  auto lite = std::make_unique<sqlite_opts_harness>(d, c);
  const std::string db = lite->db();
  out.push_back({std::move(lite), [db](const std::string& sql) { return sqlite_query(db, sql); },
                 [db](const std::string& sql) { sqlite_exec(db, sql); }, false});
  auto pg = std::make_unique<postgres_opts_harness>(d, c);
  const std::string sp = "SET search_path TO " + sinks::quote_ident(pg->schema()) + "; ";
  out.push_back({std::move(pg), [sp](const std::string& sql) { return pg_query(sp + sql); },
                 [sp](const std::string& sql) { pg_query(sp + sql + "; SELECT 1"); }, true});
  return out;
}

rows column_types(const sql_target& t, const std::string& table) {
  return t.query(t.pg ? "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '" + table +
                            "' AND table_schema = current_schema() ORDER BY ordinal_position"
                      : "SELECT name, type FROM pragma_table_info('" + table + "') ORDER BY cid");
}

const std::string big = "12345678901234567.123456789";

}  // namespace

TEST_CASE("typed values: integers, decimals, booleans, dates and datetimes are checked by hand") {
  using namespace aquaduct::sinks;
  std::int64_t x = 0;
  CHECK((parse_integer("-11095", x) && x == -11095));
  CHECK((parse_integer("9223372036854775807", x) && x == INT64_MAX));
  for (const char* bad : {"", "-", "+1", "01", "1.0", "1e3", "9223372036854775808", " 1", "1 ", "abc"})
    CHECK_MESSAGE(!parse_integer(bad, x), bad);
  for (const char* good : {"0", "77.86", "-0.5", "12.50", "1.5e2", "1E-7", big.c_str()}) CHECK_MESSAGE(is_decimal(good), good);
  for (const char* bad : {"", "abc", "1,000.00", ".5", "5.", "+1", "01.2", "NaN", "Infinity", "1e", "--1", "1.2.3"})
    CHECK_MESSAGE(!is_decimal(bad), bad);
  CHECK(is_date("2024-02-29"));
  for (const char* bad : {"2023-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "0000-01-01", "11/22/2026",
                          "2026-1-01", "2026-01-01T00:00:00Z"})
    CHECK_MESSAGE(!is_date(bad), bad);
  const auto norm = [](std::string_view v) {
    char buf[datetime_max];
    std::size_t n = 0;
    return normal_datetime(v, buf, n) ? std::string(buf, n) : std::string("BAD");
  };
  CHECK(norm("2026-11-22T03:00:00-0800") == "2026-11-22T03:00:00-08:00");
  CHECK(norm("2026-11-22T03:00:00+0530") == "2026-11-22T03:00:00+05:30");
  CHECK(norm("2026-11-22T03:00:00+05:30") == "2026-11-22T03:00:00+05:30");
  CHECK(norm("2026-11-22T03:00:00.123Z") == "2026-11-22T03:00:00.123Z");
  CHECK(norm("2026-11-22") == "2026-11-22T00:00:00Z");  // a midnight value printed date-only
  for (const char* bad : {"2026-11-22T03:00:00", "2026-11-22 03:00:00-0800", "2026-11-22T24:00:00Z",
                          "2026-11-22T03:00:00-08", "2026-11-22T03:00:00-1600", "2026-11-22T3:00:00Z",
                          "not a date", "2026-02-30T00:00:00Z", "2026-11-22T03:00:00.Z"})
    CHECK_MESSAGE(norm(bad) == "BAD", bad);
  bool flag = false;
  CHECK((fits(value_kind::boolean, "true", flag) && flag));
  CHECK((fits(value_kind::boolean, "false", flag) && !flag));
  CHECK_FALSE(fits(value_kind::boolean, "1", flag));
  CHECK((fits(value_kind::numeric_flag, "1", flag) && flag));
  CHECK_FALSE(fits(value_kind::numeric_flag, "true", flag));
}

TEST_CASE("typed columns: SQL types, exact values, -0800 as the right instant, empty and null_value as NULL") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    auto schema = typed_schema({"Id", "Count", "Amount", "Active", "Day", "At", "Note"},
                               {ct::text, ct::integer, ct::decimal, ct::boolean, ct::date, ct::datetime, ct::text});
    schema.null_value = "NULL!";
    commit_rows(*s, schema,
                {{"1", "-9223372036854775807", big, "true", "2024-02-29", "2026-11-22T03:00:00-0800", "x"},
                 {"2", "", "", "", "", "", ""},
                 {"3", "NULL!", "NULL!", "false", "NULL!", "2026-11-22", "NULL!"},
                 {"4", "0", "-0.10", "false", "2026-01-01", "2026-11-22T03:00:00+0000", ""}},
                "f1");
    const rows types = column_types(t, "billing__Account");
    if (t.pg)
      CHECK(types == rows{{"Id", "text"},     {"Count", "bigint"},
                          {"Amount", "numeric"}, {"Active", "boolean"},
                          {"Day", "date"},    {"At", "timestamp with time zone"},
                          {"Note", "text"}});
    else
      CHECK(types == rows{{"Id", "TEXT"}, {"Count", "INTEGER"}, {"Amount", "DECIMAL_TEXT"}, {"Active", "BOOLEAN"},
                          {"Day", "DATE"}, {"At", "DATETIME"}, {"Note", "TEXT"}});
    // The big decimal, exactly; arithmetic on it in PostgreSQL is exact too.
    CHECK(t.query("SELECT CAST(\"Amount\" AS TEXT), \"Count\" FROM \"billing__Account\" WHERE \"Id\" = '1'") ==
          rows{{big, "-9223372036854775807"}});
    CHECK(t.query("SELECT CAST(\"Amount\" AS TEXT) FROM \"billing__Account\" WHERE \"Id\" = '4'") == rows{{"-0.10"}});
    if (t.pg) {
      CHECK(t.query("SELECT (\"Amount\" * 10)::text FROM \"billing__Account\" WHERE \"Id\" = '1'") ==
            rows{{"123456789012345671.234567890"}});
      // -0800 is 11:00 UTC; a date-only datetime is midnight UTC.
      CHECK(t.query("SELECT \"At\" = '2026-11-22T11:00:00Z'::timestamptz, \"Active\", \"Day\"::text FROM "
                    "\"billing__Account\" WHERE \"Id\" = '1'") == rows{{"t", "t", "2024-02-29"}});
      CHECK(t.query("SELECT \"At\" = '2026-11-22T00:00:00Z'::timestamptz FROM \"billing__Account\" WHERE \"Id\" = '3'") ==
            rows{{"t"}});
    } else {
      CHECK(t.query("SELECT \"At\", datetime(\"At\"), \"Active\", typeof(\"Active\"), typeof(\"Count\"), typeof(\"Amount\") "
                    "FROM \"billing__Account\" WHERE \"Id\" = '1'") ==
            rows{{"2026-11-22T03:00:00-08:00", "2026-11-22 11:00:00", "1", "integer", "integer", "text"}});
      CHECK(t.query("SELECT \"At\" FROM \"billing__Account\" WHERE \"Id\" = '3'") == rows{{"2026-11-22T00:00:00Z"}});
    }
    // Row 2: every typed empty is NULL, the text empty stays ''; row 3: null_value is NULL everywhere.
    CHECK(t.query("SELECT \"Id\" FROM \"billing__Account\" WHERE \"Count\" IS NULL AND \"Amount\" IS NULL AND "
                  "\"Active\" IS NULL AND \"Day\" IS NULL AND \"At\" IS NULL AND \"Note\" = ''") == rows{{"2"}});
    CHECK(t.query("SELECT \"Id\" FROM \"billing__Account\" WHERE \"Count\" IS NULL AND \"Note\" IS NULL") ==
          rows{{"3"}});
  }
}

TEST_CASE("a non-numeric decimal or a bad datetime fails the stream, naming record and column; nothing is committed") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    const auto schema = typed_schema({"Id", "Amount", "At"}, {ct::text, ct::decimal, ct::datetime});
    commit_rows(*s, schema, {{"1", "1.00", "2026-01-01T00:00:00+0000"}}, "f1");
    struct bad_case {
      rows data;
      std::string message;
    };
    const bad_case cases[] = {
        {{{"2", "2.00", "2026-01-01T00:00:00+0000"}, {"3", "12,50", "2026-01-01T00:00:00+0000"}},
         ": job billing, query Account, record 2 of the stream, column Amount: '12,50' is not a decimal"},
        {{{"2", "2.00", "2026-01-01T00:00:00+0000"}, {"3", "3", "2026-13-01T00:00:00+0000"}},
         ": job billing, query Account, record 2 of the stream, column At: '2026-13-01T00:00:00+0000' is not a "
         "datetime"},
    };
    for (const auto& c : cases) {
      std::error_code code;
      auto stream = s->open(schema);
      const std::string why = what_of([&] { stream->write(batch_builder(c.data).batch(schema)); }, &code);
      stream->abort();
      CHECK(code == sink_errc::bad_value);
      CHECK(code == condition::data);
      CHECK(why.rfind(t.h->name() + c.message, 0) == 0);
      CHECK(why.find("nothing of this stream is committed") != std::string::npos);
      CHECK(t.query("SELECT \"Id\", CAST(\"Amount\" AS TEXT) FROM \"billing__Account\"") == rows{{"1", "1.00"}});
    }
    CHECK(t.query("SELECT COUNT(*) FROM \"_aquaduct_commits\"") == rows{{"1"}});
  }
}

TEST_CASE("deletes = \"soft\": a flagged row stays with its flag a real boolean and a deletion time") {
  for (auto& t : sql_targets(sinks::delete_mode::soft)) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    const std::vector<std::string> cols = {"Account.Id", "Account.Name", "Account.IsDeleted"};
    auto full = typed_schema(cols, {});
    full.deleted = deleted_column{"Account.IsDeleted", "Boolean"};
    commit_rows(*s, full, {{"1", "one", "false"}, {"2", "two", "false"}, {"3", "three", "false"}}, "full-1");
    auto inc = typed_schema(cols, {}, load_kind::incremental);
    inc.deleted = deleted_column{"Account.IsDeleted", "Numeric"};
    inc.started_at = std::chrono::sys_days{std::chrono::year{2026} / 11 / 22} + std::chrono::hours{3};
    commit_rows(*s, inc, {{"2", "two", "1"}, {"3", "three v2", "0"}, {"4", "four", "1"}}, "inc-1");
    const rows types = column_types(t, "billing__Account");
    CHECK(types[2] == (t.pg ? std::vector<std::string>{"Account.IsDeleted", "boolean"}
                            : std::vector<std::string>{"Account.IsDeleted", "BOOLEAN"}));
    CHECK(types[3][0] == "_aquaduct_deleted_at");
    const std::string at = t.pg ? "to_char(\"_aquaduct_deleted_at\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
                                : "\"_aquaduct_deleted_at\"";
    const rows got = t.query("SELECT \"Account.Id\", \"Account.Name\", CAST(\"Account.IsDeleted\" AS TEXT), " + at +
                             " FROM \"billing__Account\" ORDER BY 1");
    const std::string yes = t.pg ? "true" : "1", no = t.pg ? "false" : "0";
    const std::string when = t.pg ? "2026-11-22T03:00:00" : "2026-11-22T03:00:00Z";
    CHECK(got == rows{{"1", "one", no, ""}, {"2", "two", yes, when}, {"3", "three v2", no, ""}, {"4", "four", yes, when}});
  }
}

TEST_CASE("deletes = \"hard\" with a describe-typed Numeric flag removes the flagged rows") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    const std::vector<std::string> cols = {"Account.Id", "Account.IsDeleted"};
    commit_rows(*s, typed_schema(cols, {ct::text, ct::boolean}), {{"1", "false"}, {"2", "false"}}, "full-1");
    auto inc = typed_schema(cols, {ct::text, ct::boolean}, load_kind::incremental);
    inc.deleted = deleted_column{"Account.IsDeleted", "Numeric"};
    commit_rows(*s, inc, {{"1", "1"}, {"3", "0"}}, "inc-1");
    CHECK(t.query("SELECT \"Account.Id\" FROM \"billing__Account\" ORDER BY 1") == rows{{"2"}, {"3"}});
  }
}

TEST_CASE("schema evolution: a new field adds a column, integer widens to decimal, typed widens to text") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    commit_rows(*s, typed_schema({"Id", "Qty", "Flag", "Name"}, {ct::text, ct::integer, ct::boolean, ct::text}),
                {{"1", "5", "true", "one"}}, "f1");
    // A view on the columns that do not change: it survives every load below.
    t.exec("CREATE VIEW names AS SELECT \"Id\", \"Name\" FROM \"billing__Account\"");
    auto next = typed_schema({"Id", "Qty", "Flag", "Name", "Amount"},
                             {ct::text, ct::decimal, ct::text, ct::text, ct::decimal}, load_kind::incremental);
    commit_rows(*s, next, {{"2", big, "maybe", "two", "1.5"}}, "f2");
    rows types = column_types(t, "billing__Account");
    std::sort(types.begin(), types.end());
    if (t.pg)
      CHECK(types == rows{{"Amount", "numeric"}, {"Flag", "text"}, {"Id", "text"}, {"Name", "text"}, {"Qty", "numeric"}});
    else
      CHECK(types ==
            rows{{"Amount", "DECIMAL_TEXT"}, {"Flag", "TEXT"}, {"Id", "TEXT"}, {"Name", "TEXT"}, {"Qty", "DECIMAL_TEXT"}});
    CHECK(t.query("SELECT \"Id\", CAST(\"Qty\" AS TEXT), \"Flag\", CAST(\"Amount\" AS TEXT) FROM \"billing__Account\" "
                  "ORDER BY 1") == rows{{"1", "5", "true", ""}, {"2", big, "maybe", "1.5"}});
    CHECK(t.query("SELECT * FROM names ORDER BY 1") == rows{{"1", "one"}, {"2", "two"}});
    // A full load keeps the table (and the view): rows replaced, not the table.
    auto full = next;
    full.load = load_kind::full;
    commit_rows(*s, full, {{"3", "7", "no", "three", "2"}}, "f3");
    CHECK(t.query("SELECT * FROM names") == rows{{"3", "three"}});
  }
}

TEST_CASE("schema evolution: a text column of an older table stays text; an incompatible type is refused, naming "
          "table and column") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    // What an older aquaduct made: every column text.
    commit_rows(*s, typed_schema({"Id", "Day", "Amount"}, {}), {{"1", "2026-01-01", "1.50"}}, "f1");
    const auto typed = typed_schema({"Id", "Day", "Amount"}, {ct::text, ct::date, ct::decimal});
    commit_rows(*s, typed, {{"2", "2026-01-02", "2.50"}, {"3", "", ""}}, "f2");
    rows types = column_types(t, "billing__Account");
    CHECK(types[1][1] == (t.pg ? "text" : "TEXT"));
    CHECK(t.query("SELECT \"Id\", \"Day\", \"Amount\" FROM \"billing__Account\" WHERE \"Day\" IS NOT NULL") ==
          rows{{"2", "2026-01-02", "2.50"}});
    // Values are still checked by their describe type.
    auto stream = s->open(typed);
    CHECK(what_of([&] { stream->write(batch_builder({{"4", "tomorrow", "1"}}).batch(typed)); })
              .find("column Day: 'tomorrow' is not a date") != std::string::npos);
    stream->abort();

    // date -> boolean: refused at open, the table as it was.
    commit_rows(*s, typed_schema({"Id", "When"}, {ct::text, ct::date}), {{"5", "2026-01-05"}}, "f3");
    std::error_code code;
    const std::string why = what_of(
        [&] { commit_rows(*s, typed_schema({"Id", "When"}, {ct::text, ct::boolean}), {{"6", "true"}}, "f4"); }, &code);
    CHECK(code == sink_errc::bad_value);
    CHECK(why.find("billing__Account\": column \"When\" is " + std::string(t.pg ? "date" : "DATE") +
                   " there, but this stream's column is BOOLEAN (describe type boolean), and that is no widening") !=
          std::string::npos);
    CHECK(t.query("SELECT \"Id\", CAST(\"When\" AS TEXT) FROM \"billing__Account\" WHERE \"When\" IS NOT NULL") ==
          rows{{"5", "2026-01-05"}});
  }
}

TEST_CASE("postgres: a widening that a view's column blocks fails naming table and column; nothing changes") {
  postgres_harness h;
  auto s = h.make();
  const std::string table = h.qualified("billing", "Account");
  commit_rows(*s, typed_schema({"Id", "Qty"}, {ct::text, ct::integer}), {{"1", "5"}}, "f1");
  pg_query("CREATE VIEW " + sinks::quote_ident(h.schema()) + ".qty AS SELECT \"Qty\" FROM " + table + "; SELECT 1");
  const std::string why =
      what_of([&] { commit_rows(*s, typed_schema({"Id", "Qty"}, {ct::text, ct::decimal}), {{"2", "1.5"}}, "f2"); });
  CHECK(why.find("changing " + table + " to fit the stream (ALTER TABLE " + table +
                 " ALTER COLUMN \"Qty\" TYPE NUMERIC") != std::string::npos);
  CHECK(why.find("view") != std::string::npos);
  CHECK(pg_query("SELECT * FROM " + sinks::quote_ident(h.schema()) + ".qty") == rows{{"5"}});
}

TEST_CASE("columns = \"fields\": the base object's prefix goes, joins are joined; collisions and labels are named") {
  using sinks::field_names;
  const std::vector<std::string> header = {"Account.IsDeleted", "Account.Id", "Account.Name", "BillToContact.WorkEmail",
                                           "Total"};
  auto r = field_names(header, "Account");
  REQUIRE(r.ok());
  CHECK(r.names == std::vector<std::string>{"IsDeleted", "Id", "Name", "BillToContactWorkEmail", "Total"});
  CHECK(field_names(header, "", 1).names == r.names);  // no object: the key column's prefix
  CHECK(field_names(header, "").names == r.names);     // nor a key: the most common prefix
  r = field_names({"Account.Name", "Bill.ToContactId", "Account.BillToContactId"}, "Account");
  REQUIRE(r.collision);
  CHECK(*r.collision == std::pair<std::size_t, std::size_t>{1, 2});
  CHECK(r.message({"Account.Name", "Bill.ToContactId", "Account.BillToContactId"}) ==
        "columns = \"fields\" gives columns 'Bill.ToContactId' and 'Account.BillToContactId' the same name "
        "'BillToContactId': alias one of them in the query (select ... as Name), or keep columns = \"labels\"");
  r = field_names({"Account: Account Number", "Account: Name"}, "Account");
  REQUIRE(r.label);
  CHECK(r.message({"Account: Account Number"}).find("is a display label: set use_query_labels = true") !=
        std::string::npos);

  // In the sinks: sqlite and postgres columns, the key and deleted column renamed with them.
  for (auto& t : sql_targets(sinks::delete_mode::hard, sinks::column_names::fields)) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    auto schema = typed_schema({"Account.IsDeleted", "Account.Id", "BillToContact.WorkEmail"}, {}, load_kind::incremental);
    schema.object = "Account";
    schema.key_column = 1;
    schema.deleted = deleted_column{"Account.IsDeleted", "Boolean"};
    commit_rows(*s, schema, {{"false", "a1", "x@y"}, {"true", "a2", "z@y"}}, "f1");
    CHECK(column_types(t, "billing__Account").size() == 3);
    CHECK(t.query("SELECT \"IsDeleted\", \"Id\", \"BillToContactWorkEmail\" FROM \"billing__Account\"") ==
          rows{{"false", "a1", "x@y"}});
    auto clash = typed_schema({"Account.Id", "Account.BillToId", "Bill.ToId"}, {});
    clash.object = "Account";
    std::error_code code;
    CHECK(what_of([&] { s->open(clash); }, &code)
              .rfind(t.h->name() + ": job billing, query Account: columns = \"fields\" gives columns 'Account.BillToId' "
                                   "and 'Bill.ToId' the same name 'BillToId': alias one of them in the query (select ... "
                                   "as Name), or keep columns = \"labels\"",
                     0) == 0);
    CHECK(code == sink_errc::bad_options);
  }
  // Singer: properties and key_properties.
  temp_dir dir;
  auto singer = sinks::make_singer_sink({(dir.path() / "out.singer").string(), sinks::column_names::fields});
  auto schema = typed_schema({"Account.Id", "BillToContact.WorkEmail"}, {});
  schema.object = "Account";
  schema.key_column = 0;
  commit_rows(*singer, schema, {{"a1", "x@y"}}, "f1");
  const auto commits = singer_commits(read_file(dir.path() / "out.singer"));
  REQUIRE(commits.size() == 1);
  CHECK(commits[0].schema.find(R"("properties":{"Id":{"type":["null","string"]},"BillToContactWorkEmail":)") !=
        std::string::npos);
  CHECK(commits[0].schema.find(R"("key_properties":["Id"])") != std::string::npos);
}

TEST_CASE("table = ...: every sink names its table, file or stream after it") {
  auto schema = typed_schema({"Id", "Amount"}, {ct::text, ct::decimal});
  schema.table = "accounts";
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    commit_rows(*t.h->make(), schema, {{"1", big}}, "f1");
    CHECK(t.query("SELECT \"Id\", CAST(\"Amount\" AS TEXT) FROM \"accounts\"") == rows{{"1", big}});
    CHECK(t.h->make()->holds(schema));
    CHECK_FALSE(t.h->make()->holds(typed_schema({"Id"}, {})));  // billing__Account was never made
  }
  for (const std::string type : {"csv", "ndjson"}) {
    CAPTURE(type);
    file_harness h(type, type);
    commit_rows(*h.make(), schema, {{"1", big}}, "f1");
    const auto path = h.dir().path() / "billing" / ("accounts." + type);
    REQUIRE(std::filesystem::exists(path));
    CHECK(read_file(path) == (type == "csv" ? "Id,Amount\n1," + big + "\n"
                                            : "{\"Id\":\"1\",\"Amount\":" + big + "}\n"));
    CHECK(h.make()->holds(schema));
  }
  temp_dir dir;
  auto singer = sinks::make_singer_sink({(dir.path() / "out.singer").string()});
  commit_rows(*singer, schema, {{"1", big}}, "f1");
  const auto commits = singer_commits(read_file(dir.path() / "out.singer"));
  REQUIRE(commits.size() == 1);
  CHECK(commits[0].stream == "accounts");
  // The exact digits, as a JSON number.
  CHECK(read_file(dir.path() / "out.singer").find("\"record\":{\"Id\":\"1\",\"Amount\":" + big + "}}") !=
        std::string::npos);
}

TEST_CASE("ndjson and singer write typed JSON values: exact numbers, booleans, RFC 3339 datetimes, null") {
  auto schema = typed_schema({"Id", "N", "D", "B", "Day", "At"},
                             {ct::text, ct::integer, ct::decimal, ct::boolean, ct::date, ct::datetime});
  file_harness h("ndjson", "ndjson");
  commit_rows(*h.make(), schema,
              {{"1", "-11095", big, "true", "2026-11-22", "2026-11-22T03:00:00-0800"}, {"2", "", "", "", "", "2026-11-22"}},
              "f1");
  CHECK(read_file(h.file("billing", "Account")) ==
        "{\"Id\":\"1\",\"N\":-11095,\"D\":" + big +
            ",\"B\":true,\"Day\":\"2026-11-22\",\"At\":\"2026-11-22T03:00:00-08:00\"}\n"
            "{\"Id\":\"2\",\"N\":null,\"D\":null,\"B\":null,\"Day\":null,\"At\":\"2026-11-22T00:00:00Z\"}\n");
  auto stream = h.make()->open(schema);
  std::error_code code;
  CHECK(what_of([&] { stream->write(batch_builder({{"3", "1", "1", "true", "2026-11-22", "yesterday"}}).batch(schema)); },
                &code)
            .rfind("ndjson: job billing, query Account, record 1 of the stream, column At: 'yesterday' is not a datetime",
                   0) == 0);
  CHECK(code == sink_errc::bad_value);
  stream->abort();
}

TEST_CASE("the registry reads deletes and columns, and names a bad value at its position") {
  sink_config c;
  c.type = "postgres";
  c.where = {"p.toml", 10, 1};
  c.options["dsn"] = {"x", {"p.toml", 11, 1}};
  c.options["deletes"] = {"soft", {"p.toml", 12, 1}};
  c.options["columns"] = {"fields", {"p.toml", 13, 1}};
  CHECK(sinks::check_sink_config(c).empty());
  c.options["deletes"] = {"maybe", {"p.toml", 12, 3}};
  c.options["columns"] = {"names", {"p.toml", 13, 3}};
  CHECK(sinks::check_sink_config(c) ==
        std::vector<std::string>{"p.toml:12:3: sink type \"postgres\": 'deletes' must be one of hard | soft",
                                 "p.toml:13:3: sink type \"postgres\": 'columns' must be one of labels | fields"});
  for (const std::string type : {"csv", "ndjson", "singer", "sqlite"}) {
    CAPTURE(type);
    sink_config f;
    f.type = type;
    f.where = {"p.toml", 1, 1};
    f.options["path"] = {"x", {"p.toml", 2, 1}};
    f.options["columns"] = {"fields", {"p.toml", 3, 1}};
    CHECK(sinks::check_sink_config(f).empty());
    f.options["deletes"] = {"soft", {"p.toml", 4, 1}};
    CHECK(sinks::check_sink_config(f).empty() == (type == "sqlite"));
  }
}

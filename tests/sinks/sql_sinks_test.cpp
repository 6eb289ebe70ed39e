// sqlite and postgres: incremental upserts and deletes, describe types, the
// commit ledger, hostile names, health checks and per-sink errors.
#include "sinks/sqlite_sink.hpp"

#include "sinks/postgres_sink.hpp"
#include "sinks/registry.hpp"
#include "sinks/sink_harness.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <sqlite3.h>

#include <thread>

using namespace aquaduct;
using namespace aquaduct::test;

namespace {

// An incremental load is keyed by its first column, as the engine would key
// a query that selects the base object's Id first.
stream_schema schema_of(std::string job, std::string query, std::vector<std::string> columns,
                        load_kind load = load_kind::full) {
  stream_schema s;
  s.job = std::move(job);
  s.job_id = "j1";
  s.query = std::move(query);
  s.columns = std::move(columns);
  s.load = load;
  if (load == load_kind::incremental && !s.columns.empty()) s.key_column = 0;
  return s;
}

void commit_rows(sink& s, const stream_schema& schema, const rows& data, std::string file_id) {
  auto stream = s.open(schema);
  stream->write(batch_builder(data).batch(schema));
  stream->commit(file_token{"j1", schema.query, {std::move(file_id)}, data.size()});
}

// Both transactional sinks, each over a fresh destination, and a way to run SQL on it.
struct sql_target {
  std::unique_ptr<sink_harness> h;
  std::function<rows(const std::string&)> query;  // sql with {T} for the table of (job, query) "billing"/"Account"
};

std::vector<sql_target> sql_targets() {
  std::vector<sql_target> out;
  auto lite = std::make_unique<sqlite_harness>();
  const std::string db = lite->db();
  out.push_back({std::move(lite), [db](const std::string& sql) { return sqlite_query(db, sql); }});
  auto pg = std::make_unique<postgres_harness>();
  const std::string schema = pg->schema();
  out.push_back({std::move(pg), [schema](const std::string& sql) {
                   return pg_query("SET search_path TO " + sinks::quote_ident(schema) + "; " + sql);
                 }});
  return out;
}

}  // namespace

TEST_CASE("an incremental load upserts by Id and applies the deleted column") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    const std::vector<std::string> cols = {"Account.Id", "Account.Name", "Account.IsDeleted"};
    commit_rows(*s, schema_of("billing", "Account", cols),
                {{"1", "one", "false"}, {"2", "two", "false"}, {"3", "three", "false"}, {"4", "four", "false"}},
                "full-1");
    auto inc = schema_of("billing", "Account", cols, load_kind::incremental);
    inc.deleted = deleted_column{"Account.IsDeleted", "Boolean"};
    commit_rows(*s, inc, {{"2", "two v2", "false"}, {"3", "three", "true"}, {"5", "five", "false"}}, "inc-1");
    CHECK(sorted(t.h->read("billing", "Account")) ==
          rows{{"1", "one", "false"}, {"2", "two v2", "false"}, {"4", "four", "false"}, {"5", "five", "false"}});

    // Numeric flags; a replay of that file changes nothing even with other rows.
    inc.deleted = deleted_column{"Account.IsDeleted", "Numeric"};
    commit_rows(*s, inc, {{"1", "", "1"}, {"4", "four v2", "0"}}, "inc-2");
    commit_rows(*s, inc, {{"5", "", "1"}}, "inc-2");
    CHECK(sorted(t.h->read("billing", "Account")) ==
          rows{{"2", "two v2", "false"}, {"4", "four v2", "0"}, {"5", "five", "false"}});

    // A file that names one Id twice: its last row wins.
    inc.deleted.reset();
    commit_rows(*s, inc, {{"7", "seven", "0"}, {"2", "two v3", "0"}, {"7", "seven v2", "0"}}, "inc-3");
    CHECK(sorted(t.h->read("billing", "Account")) == rows{{"2", "two v3", "0"},
                                                          {"4", "four v2", "0"},
                                                          {"5", "five", "false"},
                                                          {"7", "seven v2", "0"}});

    // A full load replaces everything.
    commit_rows(*s, schema_of("billing", "Account", cols), {{"9", "nine", "false"}}, "full-2");
    CHECK(t.h->read("billing", "Account") == rows{{"9", "nine", "false"}});
    CHECK(t.query("SELECT job, query, file_ids, rows FROM \"_aquaduct_commits\" ORDER BY file_ids") ==
          rows{{"billing", "Account", "full-1", "4"},
               {"billing", "Account", "full-2", "1"},
               {"billing", "Account", "inc-1", "3"},
               {"billing", "Account", "inc-2", "2"},
               {"billing", "Account", "inc-3", "3"}});
  }
}

TEST_CASE("a replayed commit leaves the table as the first commit left it") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    commit_rows(*t.h->make(), schema_of("billing", "Account", {"Id", "V"}), {{"1", "first"}}, "f1");
    commit_rows(*t.h->make(), schema_of("billing", "Account", {"Id", "V"}), {{"1", "replayed"}, {"2", "x"}}, "f1");
    CHECK(t.h->read("billing", "Account") == rows{{"1", "first"}});
  }
}

TEST_CASE("a fleet's commit with a fencing token older than the unit's newest is refused, and leaves nothing") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    const auto schema = schema_of("billing", "Account", {"Id", "V"});
    const auto commit_fenced = [&](const rows& data, const std::string& file, std::uint64_t token) {
      auto stream = s->open(schema);
      stream->write(batch_builder(data).batch(schema));
      file_token ft{"j1", schema.query, {file}, data.size()};
      ft.fence = fencing_token{"billing", token};
      stream->commit(ft);
    };
    commit_fenced({{"1", "token 7"}}, "f7", 7);  // the unit's holder after a takeover
    // The worker that held the unit before (token 5), resumed after its lease expired.
    try {
      commit_fenced({{"1", "stale"}, {"2", "stale"}}, "f5", 5);
      FAIL("a stale fencing token was committed");
    } catch (const std::system_error& e) {
      CHECK(e.code() == sink_errc::stale_fence);
      CHECK(std::string(e.what()).find("unit billing: fencing token 5 is older") != std::string::npos);
    }
    CHECK(t.h->read("billing", "Account") == rows{{"1", "token 7"}});
    CHECK(t.query("SELECT unit, token FROM \"_aquaduct_fences\"") == rows{{"billing", "7"}});
    CHECK(t.query("SELECT file_ids FROM \"_aquaduct_commits\"") == rows{{"f7"}});
    // The same holder commits again, and a later one after it.
    commit_fenced({{"1", "token 7 again"}}, "f7b", 7);
    commit_fenced({{"3", "token 9"}}, "f9", 9);
    CHECK(t.h->read("billing", "Account") == rows{{"3", "token 9"}});
    CHECK(t.query("SELECT unit, token FROM \"_aquaduct_fences\"") == rows{{"billing", "9"}});
    // A commit without a token (aquaduct run) is not fenced.
    commit_rows(*s, schema, {{"4", "run"}}, "r1");
    CHECK(t.h->read("billing", "Account") == rows{{"4", "run"}});
  }
}

TEST_CASE("columns typed by describe get SQL types; empty typed fields are NULL") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    auto schema = schema_of("billing", "Account", {"Id", "Count", "Amount", "Active", "Day", "At", "Note"});
    schema.types = {column_type::text,    column_type::integer, column_type::decimal, column_type::boolean,
                    column_type::date,    column_type::datetime, column_type::text};
    commit_rows(*s, schema, {{"1", "42", "12.50", "true", "2026-11-22", "2026-11-22T03:00:00Z", ""},
                             {"2", "", "", "", "", "", ""}},
                "f1");
    const bool pg = t.h->name() == "postgres";
    const rows types = t.query(pg ? "SELECT data_type FROM information_schema.columns WHERE table_name = "
                                    "'billing__Account' AND table_schema = current_schema() ORDER BY ordinal_position"
                                  : "SELECT type FROM pragma_table_info('billing__Account') ORDER BY cid");
    const rows expected = pg ? rows{{"text"}, {"bigint"}, {"numeric"}, {"boolean"}, {"date"},
                                    {"timestamp with time zone"}, {"text"}}
                             : rows{{"TEXT"}, {"INTEGER"}, {"DECIMAL_TEXT"}, {"BOOLEAN"}, {"DATE"}, {"DATETIME"}, {"TEXT"}};
    CHECK(types == expected);
    const rows nulls = t.query(
        "SELECT COUNT(*) FROM \"billing__Account\" WHERE \"Count\" IS NULL AND \"Amount\" IS NULL AND \"Note\" = ''");
    CHECK(nulls == rows{{"1"}});  // the typed empties of row 2 are NULL; an empty text stays ''
    const rows sums = t.query("SELECT SUM(\"Count\") * 2, SUM(\"Amount\") * 2 FROM \"billing__Account\"");
    CHECK(sums[0][0] == "84");
  }
}

TEST_CASE("hostile job and query names become quoted, distinct tables and inject nothing") {
  const std::vector<std::string> names = {"../escape", "quote\"double", "quote'single",
                                          "x\"; DROP TABLE \"_aquaduct_commits\"; --", std::string("nul\0byte", 8),
                                          std::string(300, 'q'), std::string(299, 'q') + "r", "\x01\x1f\x7f", ""};
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    std::size_t n = 0;
    for (const auto& name : names) {
      std::string file_id = "f";
      file_id += std::to_string(n++);
      // PostgreSQL text cannot hold NUL, so the value (not the names) goes without it.
      std::string value = name;
      std::erase(value, '\0');
      commit_rows(*s, schema_of(name, name, {"Id", name}), {{"1", value}}, file_id);
      const rows got = t.h->read(name, name);
      REQUIRE(got.size() == 1);
      CHECK(got[0][1] == value);
    }
    // Every stream got its own table (the two 300-byte names differ only at the end) and the ledger survived.
    CHECK(t.query("SELECT COUNT(*) FROM \"_aquaduct_commits\"") == rows{{std::to_string(names.size())}});
    for (std::size_t i = 0; i < names.size(); ++i)
      for (std::size_t j = i + 1; j < names.size(); ++j)
        CHECK(sinks::table_name(names[i], names[i]) != sinks::table_name(names[j], names[j]));
    for (const auto& name : names) CHECK(sinks::table_name(name, name).size() <= 63);
  }
}

TEST_CASE("postgres strips NUL bytes by default; with nul_bytes = \"fail\" it names the field and leaves nothing") {
  postgres_harness h;
  auto schema = schema_of("billing", "Account", {"Id", "Text", "Count"});
  schema.types = {column_type::text, column_type::text, column_type::integer};
  // A typed field that is nothing but NUL is empty once stripped: NULL.
  commit_rows(*h.make(), schema, {{"1", std::string("a\0b\0", 4), std::string("4\0" "2", 3)}, {"2", "", std::string("\0", 1)}},
              "f0");
  CHECK(pg_query("SELECT \"Id\", \"Text\", \"Count\", \"Count\" IS NULL FROM " + h.qualified("billing", "Account") +
                 " ORDER BY 1") == rows{{"1", "ab", "42", "f"}, {"2", "", "", "t"}});

  sinks::postgres_sink_options o;
  o.dsn = shared_postgres().dsn();
  o.schema = h.schema();
  o.nul_bytes = "fail";
  auto s = sinks::make_postgres_sink(o);
  auto stream = s->open(schema);
  try {
    stream->write(batch_builder({{"3", "ok", "1"}, {"4", std::string("a\0b", 3), "1"}}).batch(schema));
    FAIL("a NUL byte was accepted");
  } catch (const std::system_error& e) {
    CHECK(e.code() == sink_errc::bad_value);
    CHECK(e.code() == condition::data);
    CHECK(std::string(e.what()).find("job billing, query Account, row 2, column Text") != std::string::npos);
  }
  stream->abort();
  CHECK(sorted(h.read("billing", "Account")) == rows{{"1", "ab", "42"}, {"2", "", ""}});

  // Invalid UTF-8: the server refuses it at commit, naming the COPY line.
  auto bad = s->open(schema);
  bad->write(batch_builder({{"3", "ok", "1"}, {"4", "\xC3\x28", "1"}}).batch(schema));
  try {
    bad->commit(file_token{"j1", "Account", {"f1"}, 2});
    FAIL("invalid UTF-8 was accepted");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("job billing, query Account: commit failed") != std::string::npos);
    CHECK(std::string(e.what()).find("UTF8") != std::string::npos);
  }
  CHECK(sorted(h.read("billing", "Account")) == rows{{"1", "ab", "42"}, {"2", "", ""}});
}

TEST_CASE("sqlite keeps bytes as they came, NUL included, runs in WAL mode") {
  sqlite_harness h;
  auto s = h.make();
  const rows data = {{"1", "\xC3\x28 bad"}, {"2", "tab\t\"q\"\n"}, {"3", std::string("nul\0in\0side", 12)}};
  commit_rows(*s, schema_of("billing", "Account", {"Id", "Text"}), data, "f1");
  CHECK(h.read("billing", "Account") == data);
  CHECK(sqlite_query(h.db(), "SELECT length(CAST(\"Text\" AS BLOB)) FROM \"billing__Account\" WHERE \"Id\" = '3'") ==
        rows{{"12"}});
  CHECK(sqlite_query(h.db(), "PRAGMA journal_mode") == rows{{"wal"}});
}

TEST_CASE("sqlite: streams opened at once on a new database file from many threads all commit") {
  // The engine opens the streams of a job's batches at once on its sink
  // threads; the first connections race to switch the new file to WAL.
  constexpr int streams = 8;
  std::vector<std::string> ids, queries, texts;
  for (int i = 0; i < streams; ++i) {
    ids.push_back(std::to_string(i));
    queries.push_back("Q");
    queries.back() += ids.back();
    texts.push_back("row of stream ");
    texts.back() += ids.back();
  }
  for (int round = 0; round < 5; ++round) {
    sqlite_harness h;
    auto s = h.make();
    std::vector<std::string> errors(streams);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < streams; ++i)
      threads.emplace_back([&, i] {
        try {
          commit_rows(*s, schema_of("billing", queries[i], {"Id", "Text"}), rows{{ids[i], texts[i]}}, ids[i]);
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    for (auto& t : threads) t.join();
    for (std::size_t i = 0; i < streams; ++i) {
      CAPTURE(i);
      CHECK(errors[i] == "");
      CHECK(h.read("billing", queries[i]) == rows{{ids[i], texts[i]}});
    }
  }
}

TEST_CASE("sqlite: a new database file locked by another writer is waited for up to busy_timeout_ms, then named") {
  sqlite_harness h;
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(h.db().c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "CREATE TABLE t(x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1)", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
  sinks::sqlite_sink_options o;
  o.path = h.db();
  o.busy_timeout_ms = 50;
  auto impatient = sinks::make_sqlite_sink(o);
  const stream_schema schema = schema_of("billing", "Account", {"Id"});
  std::string error;
  try {
    impatient->open(schema);
  } catch (const std::system_error& e) {
    error = e.what();
  }
  CHECK(error.find("database is locked") != std::string::npos);
  REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(other);
  commit_rows(*impatient, schema, rows{{"1"}}, "f1");
  CHECK(h.read("billing", "Account") == rows{{"1"}});
}

TEST_CASE("health checks: reachable destinations pass, unreachable ones say why without secrets") {
  CHECK(postgres_harness().make()->health_check().empty());
  CHECK(sqlite_harness().make()->health_check().empty());

  sinks::postgres_sink_options o;
  o.dsn = "host=" + shared_postgres().dir() + "/missing user=aquaduct password=s3cret-value dbname=postgres";
  const std::string why = sinks::make_postgres_sink(o)->health_check();
  CHECK(why.find("cannot connect") != std::string::npos);
  CHECK(why.find("s3cret-value") == std::string::npos);

  temp_dir dir;
  std::ofstream(dir.path() / "a-file") << "x";
  sinks::sqlite_sink_options lo;
  lo.path = (dir.path() / "a-file" / "x.db").string();  // under a regular file: cannot exist
  CHECK(sinks::make_sqlite_sink(lo)->health_check().find("cannot open") != std::string::npos);
}

TEST_CASE("validate --connect: the registry runs a configured sink's health check") {
  sink_config c;
  c.type = "postgres";
  c.where = {"p.toml", 7, 1};
  c.options["dsn"] = {shared_postgres().dsn(), {"p.toml", 8, 1}};
  CHECK(sinks::check_sink_health(c).empty());
  c.options["dsn"] = {"host=/nonexistent-socket-dir user=x password=hunter2", {"p.toml", 8, 1}};
  const std::string why = sinks::check_sink_health(c);
  CHECK(why.rfind("p.toml:7:1: sink type \"postgres\": postgres: cannot connect", 0) == 0);
  CHECK(why.find("hunter2") == std::string::npos);
  c.options["colour"] = {"blue", {"p.toml", 9, 1}};
  CHECK(sinks::check_sink_health(c).rfind("p.toml:9:1: unknown key 'colour'", 0) == 0);
}

TEST_CASE("postgres health check: a user without CREATE is told so, and nothing is created") {
  pg_query("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') THEN CREATE ROLE reader LOGIN; "
           "END IF; END $$; REVOKE CREATE ON SCHEMA public FROM PUBLIC; SELECT 1");
  sinks::postgres_sink_options o;
  o.dsn = "host=" + shared_postgres().dir() + " user=reader dbname=postgres";
  o.schema = "public";
  CHECK(sinks::make_postgres_sink(o)->health_check() ==
        "postgres: the user may not create tables in schema public");
  o.schema = "not_there_yet";
  CHECK(sinks::make_postgres_sink(o)->health_check().find("may not create") != std::string::npos);
  CHECK(pg_query("SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'not_there_yet'") == rows{{"0"}});
  o.dsn = "host=" + shared_postgres().dir() + " user=aquaduct dbname=postgres";
  CHECK(sinks::make_postgres_sink(o)->health_check().empty());
  CHECK(pg_query("SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'not_there_yet'") == rows{{"0"}});
}

namespace {


// Runs DDL or DML on the shared server, in `schema` when given.
void pg_exec(const std::string& sql) { pg_query(sql + "; SELECT 1"); }


}  // namespace

TEST_CASE("an incremental load without the row key is refused at open, naming job and query") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    auto inc = schema_of("billing", "Account", {"Account.Name", "Account.Id"}, load_kind::incremental);
    for (const std::optional<std::size_t> key : {std::optional<std::size_t>{}, std::optional<std::size_t>{2}}) {
      inc.key_column = key;  // none, or past the header
      std::error_code code;
      const std::string why = what_of([&] { s->open(inc); }, &code);
      CHECK(code == sink_errc::bad_options);
      CHECK(code == condition::fatal);
      CHECK(why.find(t.h->name() + ": job billing, query Account: an incremental load needs the row key") !=
            std::string::npos);
      CHECK(why.find("the base object's Id") != std::string::npos);
    }
    CHECK(t.h->read("billing", "Account").empty());  // nothing was created
    // A full load needs no key, and neither does an incremental stream with no columns.
    auto full = schema_of("billing", "Account", {"Account.Name", "Account.Id"});
    commit_rows(*s, full, {{"one", "a1"}}, "f1");
    inc.columns.clear();
    inc.key_column.reset();
    s->open(inc)->commit(file_token{"j2", "Account", {}, 0});
    CHECK(t.h->read("billing", "Account") == rows{{"one", "a1"}});
  }
}

TEST_CASE("an incremental load upserts by key_column, not by the first column that looks like an Id") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    auto s = t.h->make();
    const std::vector<std::string> cols = {"BillTo.Id", "Account.Id", "Account.Name"};
    commit_rows(*s, schema_of("billing", "Account", cols), {{"b1", "a1", "one"}, {"b1", "a2", "two"}}, "f1");
    auto inc = schema_of("billing", "Account", cols, load_kind::incremental);
    inc.key_column = 1;
    commit_rows(*s, inc, {{"b1", "a2", "two v2"}, {"b2", "a3", "three"}}, "i1");
    CHECK(sorted(t.h->read("billing", "Account")) ==
          rows{{"b1", "a1", "one"}, {"b1", "a2", "two v2"}, {"b2", "a3", "three"}});
  }
}

TEST_CASE("a changed column set never drops the table: columns are added and kept, a text column stays text") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    const bool pg = t.h->name() == "postgres";
    auto s = t.h->make();
    commit_rows(*s, schema_of("billing", "Account", {"Id", "Name"}), {{"1", "one"}}, "f1");
    // What a user builds on the table: a view, and (postgres) a grant.
    std::string table = "\"billing__Account\"";
    if (pg) {
      table = static_cast<postgres_harness&>(*t.h).qualified("billing", "Account");
      pg_exec("CREATE VIEW " + static_cast<postgres_harness&>(*t.h).schema() + "_names AS SELECT \"Id\", \"Name\" FROM " +
              table);
      pg_exec("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analyst') THEN CREATE ROLE analyst; "
              "END IF; END $$; GRANT SELECT ON " + table + " TO analyst");
    } else {
      sqlite_exec(static_cast<sqlite_harness&>(*t.h).db(), "CREATE VIEW names AS SELECT \"Id\", \"Name\" FROM " + table);
    }
    const std::string view = pg ? static_cast<postgres_harness&>(*t.h).schema() + "_names" : "names";
    const auto query = [&](const std::string& sql) { return pg ? pg_query(sql) : t.query(sql); };

    // An incremental load adds the column the table lacks; older rows get NULL there.
    commit_rows(*s, schema_of("billing", "Account", {"Id", "Name", "Balance"}, load_kind::incremental),
                {{"2", "two", "20"}}, "f2");
    CHECK(sorted(t.h->read("billing", "Account")) == rows{{"1", "one", ""}, {"2", "two", "20"}});
    // A full load with another set adds what is new and keeps what it lacks (NULL in its rows).
    commit_rows(*s, schema_of("billing", "Account", {"Id", "Status"}), {{"3", "Active"}}, "f3");
    CHECK(t.h->read("billing", "Account") == rows{{"3", "", "", "Active"}});
    CHECK(query("SELECT COUNT(*) FROM " + table + " WHERE \"Name\" IS NULL AND \"Balance\" IS NULL") == rows{{"1"}});
    CHECK(query("SELECT * FROM " + view) == rows{{"3", ""}});  // the view still works
    if (pg) CHECK(pg_query("SELECT has_table_privilege('analyst', '" + table + "', 'SELECT')") == rows{{"t"}});

    // A column typed by describe that is text in the table (an older aquaduct made it): it stays text,
    // and the stream loads (typed_columns_test.cpp has the types that are refused).
    auto typed = schema_of("billing", "Account", {"Id", "Status"});
    typed.types = {column_type::text, column_type::integer};
    commit_rows(*s, typed, {{"4", "7"}}, "f4");
    CHECK(t.h->read("billing", "Account") == rows{{"4", "", "", "7"}});
    CHECK(t.query("SELECT COUNT(*) FROM \"_aquaduct_commits\"") == rows{{"4"}});
  }
}

TEST_CASE("sqlite matches column names as SQLite does, ignoring ASCII case") {
  sqlite_harness h;
  auto s = h.make();
  commit_rows(*s, schema_of("billing", "Account", {"Id", "Name"}), {{"1", "one"}}, "f1");
  commit_rows(*s, schema_of("billing", "Account", {"ID", "name"}), {{"2", "two"}}, "f2");
  CHECK(h.read("billing", "Account") == rows{{"2", "two"}});
}

TEST_CASE("a full load with no columns empties the table in its transaction, keeps its columns, creates none") {
  for (auto& t : sql_targets()) {
    CAPTURE(t.h->name());
    const bool pg = t.h->name() == "postgres";
    auto s = t.h->make();
    commit_rows(*s, schema_of("billing", "Account", {"Id", "Name"}), {{"1", "one"}, {"2", "two"}}, "f1");
    stream_schema empty = schema_of("billing", "Account", {});
    s->open(empty)->abort();  // an aborted one changes nothing
    CHECK(t.h->read("billing", "Account").size() == 2);
    s->open(empty)->commit(file_token{"job-2", "Account", {}, 0});
    CHECK(t.h->read("billing", "Account").empty());
    const rows columns = t.query(pg ? "SELECT column_name FROM information_schema.columns WHERE table_name = "
                                      "'billing__Account' AND table_schema = current_schema() ORDER BY ordinal_position"
                                    : "SELECT name FROM pragma_table_info('billing__Account') ORDER BY cid");
    CHECK(columns == rows{{"Id"}, {"Name"}});
    CHECK(t.query("SELECT file_ids, job_id, rows FROM \"_aquaduct_commits\" WHERE file_ids = 'job-2'") ==
          rows{{"job-2", "job-2", "0"}});
    // A later full load, then a replay of the empty one: the ledger knows it.
    commit_rows(*s, schema_of("billing", "Account", {"Id", "Name"}), {{"3", "three"}}, "f3");
    t.h->make()->open(empty)->commit(file_token{"job-2", "Account", {}, 0});
    CHECK(t.h->read("billing", "Account") == rows{{"3", "three"}});
    // A missing table stays missing.
    CHECK_FALSE(s->holds(schema_of("billing", "Never", {})));
    s->open(schema_of("billing", "Never", {}))->commit(file_token{"job-3", "Never", {}, 0});
    CHECK_FALSE(s->holds(schema_of("billing", "Never", {})));
  }
}

TEST_CASE("sqlite: holds() reads a database file that is not there without creating it") {
  sqlite_harness h;
  CHECK_FALSE(h.make()->holds(schema_of("billing", "Account", {"Id"})));
  CHECK_FALSE(std::filesystem::exists(h.db()));
  CHECK(h.make()->destination() == h.db());
}

TEST_CASE("postgres: a lock another session holds is waited for lock_timeout_ms, then named") {
  postgres_harness h;
  commit_rows(*h.make(), schema_of("billing", "Account", {"Id", "V"}), {{"1", "first"}}, "f1");
  sinks::postgres_sink_options o;
  o.dsn = shared_postgres().dsn();
  o.schema = h.schema();
  o.lock_timeout_ms = 200;
  auto impatient = sinks::make_postgres_sink(o);
  const std::string table = h.qualified("billing", "Account");

  PGconn* reader = PQconnectdb(shared_postgres().dsn().c_str());
  REQUIRE(PQstatus(reader) == CONNECTION_OK);
  const auto run = [&](const std::string& sql) {
    PGresult* r = PQexec(reader, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    REQUIRE_MESSAGE(ok, sql);
  };
  // A reader's open transaction: a full load cannot TRUNCATE under it.
  run("BEGIN; LOCK TABLE " + table + " IN ACCESS SHARE MODE");
  std::error_code code;
  std::string why = what_of([&] { impatient->open(schema_of("billing", "Account", {"Id", "V"})); }, &code);
  CHECK(code == sink_errc::io_error);
  CHECK(why.find("postgres: job billing, query Account: " + table + " is locked by another session: no lock within "
                 "lock_timeout_ms (200 ms)") != std::string::npos);
  CHECK(why.find("lock timeout") != std::string::npos);  // the server's words follow
  // An incremental load reads nothing the reader blocks: it goes ahead.
  commit_rows(*impatient, schema_of("billing", "Account", {"Id", "V"}, load_kind::incremental), {{"2", "second"}}, "i1");
  run("COMMIT");

  // A session holding the table exclusively: the merge at commit cannot DELETE.
  run("BEGIN; LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE");
  why = what_of(
      [&] {
        commit_rows(*impatient, schema_of("billing", "Account", {"Id", "V"}, load_kind::incremental), {{"1", "x"}}, "i2");
      },
      &code);
  CHECK(why.find("job billing, query Account: commit failed: " + table + " is locked by another session") !=
        std::string::npos);
  run("COMMIT");

  // Another run committing the same files at this moment holds their ledger row.
  run("BEGIN; INSERT INTO " + sinks::quote_ident(h.schema()) +
      ".\"_aquaduct_commits\" (job, query, file_ids) VALUES ('billing', 'Account', 'i3')");
  why = what_of([&] {
    commit_rows(*impatient, schema_of("billing", "Account", {"Id", "V"}, load_kind::incremental), {{"1", "y"}}, "i3");
  });
  CHECK(why.find("commit failed: " + sinks::quote_ident(h.schema()) +
                 ".\"_aquaduct_commits\" is locked by another session") != std::string::npos);
  run("ROLLBACK");
  PQfinish(reader);

  CHECK(sorted(h.read("billing", "Account")) == rows{{"1", "first"}, {"2", "second"}});
  commit_rows(*impatient, schema_of("billing", "Account", {"Id", "V"}, load_kind::incremental), {{"1", "y"}}, "i3");
  CHECK(sorted(h.read("billing", "Account")) == rows{{"1", "y"}, {"2", "second"}});
}

TEST_CASE("postgres: a role's statement_timeout does not cut a COPY that lasts as long as its download") {
  pg_exec("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hasty') THEN CREATE ROLE hasty LOGIN; "
          "END IF; END $$; ALTER ROLE hasty SET statement_timeout = '100ms'; GRANT CREATE ON DATABASE postgres TO hasty");
  sinks::postgres_sink_options o;
  o.dsn = "host=" + shared_postgres().dir() + " user=hasty dbname=postgres";
  o.schema = "hasty_" + std::to_string(::getpid());
  auto s = sinks::make_postgres_sink(o);
  const auto schema = schema_of("billing", "Account", {"Id", "V"});
  auto stream = s->open(schema);
  stream->write(batch_builder(rows{{"1", "a"}}).batch(schema));
  // Poll until the COPY has been under way for ten times the role's timeout.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (pg_query("SELECT COUNT(*) > 0 FROM pg_stat_activity WHERE usename = 'hasty' AND query LIKE 'COPY%' AND "
                  "clock_timestamp() - query_start > interval '1 second'") != rows{{"t"}}) {
    REQUIRE(std::chrono::steady_clock::now() < give_up);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stream->write(batch_builder(rows{{"2", "b"}}).batch(schema));
  stream->commit(file_token{"j1", "Account", {"f1"}, 2});
  CHECK(sorted(pg_query("SELECT * FROM " + sinks::quote_ident(o.schema) + ".\"billing__Account\"")) ==
        rows{{"1", "a"}, {"2", "b"}});
}

TEST_CASE("postgres destination(): host, port, database and schema, never the password") {
  sinks::postgres_sink_options o;
  o.schema = "raw";
  o.dsn = "host=db.internal port=6543 dbname=zuora user=etl password=s3cret sslmode=require";
  CHECK(sinks::make_postgres_sink(o)->destination() == "host=db.internal port=6543 dbname=zuora schema=raw");
  o.dsn = "postgresql://etl:s3cret@db.internal:6543/zuora?sslmode=require";
  CHECK(sinks::make_postgres_sink(o)->destination() == "host=db.internal port=6543 dbname=zuora schema=raw");
  o.dsn = shared_postgres().dsn();
  CHECK(sinks::make_postgres_sink(o)->destination() ==
        "host=" + shared_postgres().dir() + " port=5432 dbname=postgres schema=raw");
}

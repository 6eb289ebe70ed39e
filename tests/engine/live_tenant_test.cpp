// The engine on a tenant that changes while it runs, with the queries users
// write without thinking twice: a join-first stateful query into sqlite, labels
// off, and a partitioned full load up to now while accounts are updated. The
// expected content never comes from the engine: it is the emulator's own
// export of the tenant, taken by a probe independent of the engine
// (emulator_probe.hpp), before and after the run.
#include <aquaduct/engine.hpp>

#include <aquaduct/emulator.hpp>
#include "engine/emulator_probe.hpp"
#include "engine/windows.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <future>
#include <sqlite3.h>
#include <map>
#include <set>
#include <thread>

using namespace aquaduct;
using namespace std::chrono_literals;
using aquaduct::test::temp_dir;

namespace {

emulator::options tenant(std::uint64_t seed, std::uint64_t scale, std::chrono::milliseconds latency) {
  emulator::options o;
  o.seed = seed;
  o.scale = scale;
  o.latency = latency;
  return o;
}

run_report run_toml(const std::string& toml, const std::string& state_dir) {
  engine_options eo;
  eo.state_dir = state_dir;
  eo.log = [](const log_record&) {};
  engine eng{parse_pipeline(toml, "live.toml"), eo};
  return eng.run();
}

// Column `name` of every row of a sqlite table, with the row count.
std::multiset<std::string> column_values(const test::sqlite_table& t, const std::string& name) {
  const auto at = std::find(t.columns.begin(), t.columns.end(), name);
  REQUIRE_MESSAGE(at != t.columns.end(), "no column " << name);
  const std::size_t c = static_cast<std::size_t>(at - t.columns.begin());
  std::multiset<std::string> out;
  for (const auto& r : t.data) out.insert(r[c]);
  return out;
}

// Id -> UpdatedDate of an export whose header names both.
std::map<std::string, std::string> versions(const test::rows& export_rows, const std::string& id_col,
                                            const std::string& updated_col) {
  REQUIRE(!export_rows.empty());
  const auto& h = export_rows.front();
  const auto id = static_cast<std::size_t>(std::find(h.begin(), h.end(), id_col) - h.begin());
  const auto up = static_cast<std::size_t>(std::find(h.begin(), h.end(), updated_col) - h.begin());
  REQUIRE(id < h.size());
  REQUIRE(up < h.size());
  std::map<std::string, std::string> out;
  for (std::size_t i = 1; i < export_rows.size(); ++i) out[export_rows[i][id]] = export_rows[i][up];
  return out;
}

std::map<std::string, std::string> versions(const test::sqlite_table& t, const std::string& id_col,
                                            const std::string& updated_col) {
  test::rows r{t.columns};
  for (const auto& row : t.data) r.push_back(row);
  std::map<std::string, std::string> out = versions(r, id_col, updated_col);
  for (auto& [id, updated] : out) updated = test::export_time(updated);  // typed: RFC 3339
  return out;
}

}  // namespace

TEST_CASE("upsert by the base object's Id: a join-first stateful query keeps 500 invoices with 3 updated") {
  const std::string zoql = "select Account.AccountNumber, Account.Id, Id, InvoiceNumber, Amount, UpdatedDate from Invoice";
  for (const bool labels : {true, false}) {
    CAPTURE(labels);
    const emulator::options opts = tenant(labels ? 1601 : 1602, 50, 100ms);
    emulator::server srv(opts);
    srv.start();
    test::emulator_probe probe(srv.base_url());
    temp_dir dir;
    const std::string db = (dir.path() / "live.db").string();
    const std::string toml = test::toml_source(srv.base_url()) +
                             "[[jobs]]\nname = \"inv\"\nformat = \"gzip\"\npartner = \"acme\"\nproject = \"live\"\n" +
                             "use_query_labels = " + (labels ? "true" : "false") + "\n" +
                             "[[jobs.queries]]\nname = \"Invoice\"\nquery = \"" + zoql + "\"\n" +
                             "deleted = { column = \"IsDeleted\", format = \"Boolean\" }\n" +
                             "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n";
    const std::string id_col = labels ? "Invoice.Id" : "Invoice: ID";
    const std::string updated_col = labels ? "Invoice.UpdatedDate" : "Invoice: Updated Date";
    const auto count_invoices = [&] { return probe.export_rows("select Id from Invoice").size() - 1; };

    const run_report first = run_toml(toml, (dir.path() / "state").string());
    REQUIRE_MESSAGE(first.exit_code() == 0, first.to_table());
    const std::size_t invoices = count_invoices();
    CHECK(invoices == 500);
    auto table = test::read_sqlite_table(db, "inv__Invoice");
    REQUIRE(table);
    CHECK(table->data.size() == invoices);

    const test::mutation changed = probe.mutate(R"({"object":"Invoice","update":3})");
    REQUIRE(changed.updated.size() == 3);
    const run_report second = run_toml(toml, (dir.path() / "state").string());
    REQUIRE_MESSAGE(second.exit_code() == 0, second.to_table());
    REQUIRE(second.jobs.size() == 1);
    REQUIRE(second.jobs[0].queries.size() == 1);
    CHECK_FALSE(second.jobs[0].queries[0].full);  // incremental: only the changes came
    CHECK(second.jobs[0].queries[0].rows == 3);

    table = test::read_sqlite_table(db, "inv__Invoice");
    REQUIRE(table);
    CHECK(table->data.size() == invoices);  // 500 stay 500
    const std::multiset<std::string> ids = column_values(*table, id_col);
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());  // none twice
    // Every row, the 3 updated ones included, carries the tenant's version now.
    const auto expected = versions(probe.export_rows("select Id, UpdatedDate from Invoice"), "Invoice.Id",
                                   "Invoice.UpdatedDate");
    CHECK(versions(*table, id_col, updated_col) == expected);
    for (const auto& id : changed.updated) CHECK(ids.count(id) == 1);

    // Deletions go by the same key: two invoices deleted, two rows gone, no other.
    const test::mutation gone = probe.mutate(R"({"object":"Invoice","delete":2})");
    const run_report third = run_toml(toml, (dir.path() / "state").string());
    REQUIRE_MESSAGE(third.exit_code() == 0, third.to_table());
    table = test::read_sqlite_table(db, "inv__Invoice");
    REQUIRE(table);
    CHECK(table->data.size() == invoices - 2);
    const std::multiset<std::string> left = column_values(*table, id_col);
    for (const auto& id : gone.deleted) CHECK(left.count(id) == 0);
  }
}

TEST_CASE("an incremental load into sqlite without the base Id is refused at validate time, at FILE:LINE:COL") {
  const std::string toml =
      "[source]\nbase_url = \"http://127.0.0.1:9\"\n[source.auth]\ntype = \"basic\"\nusername = \"u\"\npassword = \"p\"\n"
      "[[jobs]]\nname = \"inv\"\npartner = \"acme\"\nproject = \"live\"\n"
      "[[jobs.queries]]\nname = \"Invoice\"\nquery = \"select Account.Id, InvoiceNumber from Invoice\"\n"
      "[[sinks]]\ntype = \"sqlite\"\npath = \"x.db\"\n";
  try {
    parse_pipeline(toml, "refused.toml");
    FAIL("accepted");
  } catch (const config_error& e) {
    REQUIRE(e.problems().size() == 1);
    const std::string m = e.problems().front();
    CHECK_MESSAGE(m.rfind("refused.toml:11:1: ", 0) == 0, m);  // its [[jobs.queries]] table
    CHECK_MESSAGE(m.find("no Id of Invoice") != std::string::npos, m);
  }
  // The same query into csv (which never upserts) is fine.
  std::string csv = toml;
  csv.replace(csv.find("type = \"sqlite\""), 15, "type = \"csv\"");
  CHECK_NOTHROW(parse_pipeline(csv, "csv.toml"));
}

TEST_CASE("a partitioned full load up to now, with accounts updated while it runs, holds every account at its newest version") {
  // examples/partitioned_backfill.toml's shape: yearly UpdatedDate windows up to
  // now, one job at a time, the service slow enough that the updates land
  // between windows.
  const emulator::options opts = tenant(1603, 200, 1500ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  const auto before = versions(probe.export_rows("select Id, UpdatedDate from Account"), "Account.Id",
                               "Account.UpdatedDate");
  REQUIRE(before.size() == 200);
  temp_dir dir;
  const std::string db = (dir.path() / "backfill.db").string();
  const std::string toml =
      test::toml_source(srv.base_url(), "max_active_jobs = 1\n") +
      "[[jobs]]\nname = \"backfill\"\nformat = \"gzip\"\n"
      "[[jobs.queries]]\nname = \"Account\"\nquery = \"select Id, Name, UpdatedDate from Account\"\n"
      "partition = { by = \"UpdatedDate\", from = \"2015-01-01\", to = \"now\", step = \"P365D\" }\n"
      "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n" + test::toml_sink("csv", (dir.path() / "out").string());
  engine_options eo;
  eo.log = [](const log_record&) {};
  engine eng{parse_pipeline(toml, "backfill.toml"), eo};
  std::future<run_report> running = std::async(std::launch::async, [&eng] { return eng.run(); });
  // Once two windows have been submitted, 60 accounts change: some of them sit
  // in windows already exported, and all of them move past the plan's now.
  const auto [started, seen] =
      probe.wait_for([](const test::emulator_stats& s) { return s.request_count("/v1/batch-query/", "200") >= 2; }, 120s);
  REQUIRE_MESSAGE(started, "the backfill never submitted two windows");
  const test::mutation changed = probe.mutate(R"({"object":"Account","update":60})");
  REQUIRE(changed.updated.size() == 60);
  REQUIRE(running.wait_for(300s) == std::future_status::ready);
  const run_report report = running.get();
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());

  const auto after = versions(probe.export_rows("select Id, UpdatedDate from Account"), "Account.Id",
                              "Account.UpdatedDate");
  REQUIRE(after.size() == 200);
  for (const auto& id : changed.updated) CHECK(after.at(id) != before.at(id));
  const auto table = test::read_sqlite_table(db, "backfill__Account");
  REQUIRE(table);
  CHECK(table->data.size() == 200);  // every account, none twice
  CHECK(versions(*table, "Account.Id", "Account.UpdatedDate") == after);
  // The csv sink got the same rows in its one file.
  const test::rows csv = test::parse_csv_text(test::read_file((dir.path() / "out" / "backfill" / "Account.csv").string()));
  CHECK(versions(csv, "Account.Id", "Account.UpdatedDate") == after);
  CHECK(csv.size() == 201);
}

TEST_CASE("a state directory copied to another tenant: its cursors are set aside, the query loads that tenant in full") {
  temp_dir dir;
  const std::string state = (dir.path() / "state").string();
  const auto pipeline = [&](const std::string& base_url, const std::string& db) {
    return test::toml_source(base_url) +
           "[[jobs]]\nname = \"sync\"\nformat = \"gzip\"\npartner = \"acme\"\nproject = \"copied\"\n"
           "[[jobs.queries]]\nname = \"Account\"\nquery = \"select Id, Name, UpdatedDate from Account\"\n"
           "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n";
  };
  {
    emulator::server a(tenant(1604, 40, 100ms));
    a.start();
    const run_report r = run_toml(pipeline(a.base_url(), (dir.path() / "a.db").string()), state);
    REQUIRE_MESSAGE(r.exit_code() == 0, r.to_table());
  }
  emulator::server b(tenant(1605, 70, 100ms));
  b.start();
  test::emulator_probe probe(b.base_url());
  const std::string db_b = (dir.path() / "b.db").string();
  std::vector<log_record> warnings;
  engine_options eo;
  eo.state_dir = state;
  eo.log = [&](const log_record& r) {
    if (r.level == log_level::warning) warnings.push_back(r);
  };
  engine eng{parse_pipeline(pipeline(b.base_url(), db_b), "b.toml"), eo};
  const run_report r = eng.run();
  REQUIRE_MESSAGE(r.exit_code() == 0, r.to_table());
  const auto table = test::read_sqlite_table(db_b, "sync__Account");
  REQUIRE(table);
  CHECK(table->data.size() == probe.export_rows("select Id from Account").size() - 1);  // every account of b, not 0
  CHECK(table->data.size() == 70);
  const bool said = std::any_of(warnings.begin(), warnings.end(), [&](const log_record& w) {
    return w.query == "Account" && w.message.find("this run reads " + b.base_url()) != std::string::npos;
  });
  CHECK(said);
}

TEST_CASE("a dropped target table: the next run puts every row back, not just the changes") {
  const emulator::options opts = tenant(1606, 40, 100ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::string db = (dir.path() / "dropped.db").string();
  const std::string state = (dir.path() / "state").string();
  const std::string toml = test::toml_source(srv.base_url()) +
                           "[[jobs]]\nname = \"sync\"\nformat = \"gzip\"\npartner = \"acme\"\nproject = \"dropped\"\n"
                           "[[jobs.queries]]\nname = \"Account\"\nquery = \"select Id, Name, UpdatedDate from Account\"\n"
                           "deleted = { column = \"IsDeleted\", format = \"Boolean\" }\n"
                           "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n";
  REQUIRE(run_toml(toml, state).exit_code() == 0);
  sqlite3* handle = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &handle) == SQLITE_OK);
  REQUIRE(sqlite3_exec(handle, "DROP TABLE \"sync__Account\"", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(handle);
  probe.mutate(R"({"object":"Account","update":1,"delete":2})");
  const run_report r = run_toml(toml, state);
  REQUIRE_MESSAGE(r.exit_code() == 0, r.to_table());
  REQUIRE(r.jobs.size() == 1);
  CHECK(r.jobs[0].queries[0].full);  // replaced, not merged
  const auto table = test::read_sqlite_table(db, "sync__Account");
  REQUIRE(table);
  const auto expected = versions(probe.export_rows("select Id, UpdatedDate from Account"), "Account.Id",
                                 "Account.UpdatedDate");
  CHECK(expected.size() == 38);
  CHECK(table->data.size() == expected.size());  // every live row, the deleted ones left out
  CHECK(versions(*table, "Account.Id", "Account.UpdatedDate") == expected);
}

TEST_CASE("a tenant in Asia/Tokyo behind a US data centre: with tenant_time_zone, or without it, no change is skipped") {
  for (const bool configured : {true, false}) {
    CAPTURE(configured);
    emulator::options opts = tenant(configured ? 1607 : 1608, 40, 100ms);
    opts.tz = "Asia/Tokyo";  // startTime in Tokyo wall clock; incrementalTime read as Pacific
    emulator::server srv(opts);
    srv.start();
    test::emulator_probe probe(srv.base_url());
    temp_dir dir;
    const std::string db = (dir.path() / "tokyo.db").string();
    const std::string toml = test::toml_source(srv.base_url(), configured ? "tenant_time_zone = \"Asia/Tokyo\"\n" : "") +
                             "[[jobs]]\nname = \"sync\"\nformat = \"gzip\"\npartner = \"acme\"\nproject = \"tokyo\"\n"
                             "[[jobs.queries]]\nname = \"Account\"\nquery = \"select Id, Name, UpdatedDate from Account\"\n"
                             "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n";
    std::vector<log_record> warnings;
    engine_options eo;
    eo.state_dir = (dir.path() / "state").string();
    eo.log = [&](const log_record& r) {
      if (r.level == log_level::warning) warnings.push_back(r);
    };
    const auto run = [&] {
      engine eng{parse_pipeline(toml, "tokyo.toml"), eo};
      return eng.run();
    };
    REQUIRE(run().exit_code() == 0);
    const test::mutation changed = probe.mutate(R"({"object":"Account","update":3})");
    const run_report second = run();
    REQUIRE_MESSAGE(second.exit_code() == 0, second.to_table());
    CHECK_FALSE(second.jobs.at(0).queries.at(0).full);
    CHECK(second.jobs.at(0).queries.at(0).rows >= 3);  // the 3 changes (and, without the zone, a minute's overlap)
    const auto table = test::read_sqlite_table(db, "sync__Account");
    REQUIRE(table);
    const auto expected = versions(probe.export_rows("select Id, UpdatedDate from Account"), "Account.Id",
                                   "Account.UpdatedDate");
    CHECK(versions(*table, "Account.Id", "Account.UpdatedDate") == expected);
    const bool zone_warned = std::any_of(warnings.begin(), warnings.end(), [](const log_record& w) {
      return w.message.find("is the time zone right?") != std::string::npos;
    });
    CHECK(zone_warned == !configured);
  }
}

TEST_CASE("judge_live names each broken promise, and passes a sink that keeps them") {
  test::truth t;
  t.at = "2026-12-07T10:00:00Z";
  t.live = {{"a", "2026-12-07T09:00:00+0000"}, {"b", "2026-12-07T09:30:00+0000"}, {"c", "2026-12-07T09:59:00+0000"}};
  t.deleted = {{"x", "2026-12-07T08:00:00+0000"}, {"c", "2026-12-07T10:00:30+0000"}};
  const std::string end = "2026-12-07T10:01:00Z";
  // c was deleted during the run: held or not, both keep the promise.
  CHECK(test::judge_live(t, end, {{"a", "2026-12-07T09:00:00+0000"}, {"b", "2026-12-07T10:00:10+0000"}}).empty());
  CHECK(test::judge_live(t, end, {{"a", "2026-12-07T09:00:00+0000"}, {"b", "2026-12-07T09:30:00+0000"},
                                  {"c", "2026-12-07T09:59:00+0000"}})
            .empty());
  // x was deleted before the start: held flagged is fine, held plain is not.
  CHECK(test::judge_live(t, end, {{"a", "2026-12-07T09:00:00+0000"}, {"b", "2026-12-07T09:30:00+0000"},
                                  {"x", "2026-12-07T08:00:00+0000", true}})
            .empty());
  const std::string broken = test::judge_live(
      t, end,
      {{"a", "2026-12-07T08:59:00+0000"}, {"a", "2026-12-07T08:59:00+0000"}, {"x", "2026-12-07T07:00:00+0000"}});
  CHECK_MESSAGE(broken.find("1 alive at the start, missing: b") != std::string::npos, broken);
  CHECK_MESSAGE(broken.find("1 held twice: a") != std::string::npos, broken);
  CHECK_MESSAGE(broken.find("1 deleted before the start, held: x") != std::string::npos, broken);
  CHECK_MESSAGE(broken.find("older than at the start: a 2026-12-07T08:59:00+0000") != std::string::npos, broken);
}

TEST_CASE("a partitioned full load up to now on a churning tenant holds every row the truth says it must") {
  emulator::options opts = tenant(1609, 200, 500ms);
  opts.churn_rate = 200;  // accounts take a tenth: created, updated and deleted while the windows run
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::string db = (dir.path() / "churn.db").string();
  const std::string toml =
      test::toml_source(srv.base_url(), "max_active_jobs = 2\n") +
      "[[jobs]]\nname = \"backfill\"\nformat = \"gzip\"\n"
      "[[jobs.queries]]\nname = \"Account\"\nquery = \"select Id, Name, UpdatedDate from Account\"\n"
      "partition = { by = \"UpdatedDate\", from = \"2015-01-01\", to = \"now\", step = \"P365D\" }\n"
      "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n" + test::toml_sink("csv", (dir.path() / "out").string());
  const auto utc_now = [](std::chrono::seconds ahead) {
    return engine_detail::iso_utc(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) + ahead);
  };
  const std::string start = utc_now(0s);
  const run_report report = run_toml(toml, (dir.path() / "state").string());
  const std::string end = utc_now(1s);
  REQUIRE_MESSAGE(report.exit_code() == 0, report.to_table());
  const test::truth at_start = probe.truth_at("Account", start);
  const test::truth at_end = probe.truth_at("Account", end);
  std::size_t moved = 0;
  for (const auto& [id, version] : at_end.live)
    if (const auto s = at_start.live.find(id); s == at_start.live.end() || s->second != version) ++moved;
  MESSAGE(moved << " accounts created or updated during the backfill");
  CHECK(moved > 0);  // the tenant really changed under the windows

  const auto held_of = [](const test::rows& r) {
    std::vector<test::held_row> out;
    const auto& h = r.front();
    const auto id = std::find(h.begin(), h.end(), "Account.Id") - h.begin();
    const auto up = std::find(h.begin(), h.end(), "Account.UpdatedDate") - h.begin();
    for (std::size_t i = 1; i < r.size(); ++i)
      out.push_back({r[i][static_cast<std::size_t>(id)], r[i][static_cast<std::size_t>(up)], false});
    return out;
  };
  const auto table = test::read_sqlite_table(db, "backfill__Account");
  REQUIRE(table);
  test::rows sqlite_rows{table->columns};
  sqlite_rows.insert(sqlite_rows.end(), table->data.begin(), table->data.end());
  const std::string sqlite_broken = test::judge_live(at_start, end, held_of(sqlite_rows));
  CHECK_MESSAGE(sqlite_broken.empty(), sqlite_broken);
  const std::string csv_broken = test::judge_live(
      at_start, end,
      held_of(test::parse_csv_text(test::read_file((dir.path() / "out" / "backfill" / "Account.csv").string()))));
  CHECK_MESSAGE(csv_broken.empty(), csv_broken);
}

TEST_CASE("Zuora's recommended pattern: stateless incremental + deleted with force_export applies deletions in every sink") {
  // Contract §3.5: "Recommended incremental pattern: stateless v1.0 with your own high-water
  // mark" and "Add `deleted: {column: "is_deleted", format: "Boolean", forceExport: true}` to
  // every query that supports it". Deletions before the first run, and between runs.
  emulator::options opts = tenant(1610, 60, 100ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  const test::mutation early = probe.mutate(R"({"object":"Account","delete":2})");
  REQUIRE(early.deleted.size() == 2);
  temp_dir dir;
  const std::string db = (dir.path() / "hwm.db").string(), soft_db = (dir.path() / "soft.db").string();
  const std::string out = (dir.path() / "out").string(), nd = (dir.path() / "nd").string();
  const std::string toml =
      test::toml_source(srv.base_url()) +
      "[[jobs]]\nname = \"hwm\"\nformat = \"gzip\"\n"
      "[[jobs.queries]]\nname = \"Account\"\nquery = \"select Id, Name, UpdatedDate from Account\"\n"
      "incremental = { by = \"UpdatedDate\", lag_s = 0 }\n"
      "deleted = { column = \"IsDeleted\", format = \"Boolean\", force_export = true }\n"
      "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n" +
      "[[sinks]]\ntype = \"sqlite\"\npath = \"" + soft_db + "\"\ndeletes = \"soft\"\n" + test::toml_sink("csv", out) +
      test::toml_sink("ndjson", nd);
  const std::string state = (dir.path() / "state").string();
  const auto utc_now = [](std::chrono::seconds ahead) {
    return engine_detail::iso_utc(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) + ahead);
  };
  // What each sink holds after a run that started at `start` and ended at `end`, judged by the truth.
  const auto judge = [&](const std::string& start, const std::string& end, const std::string& what) {
    const test::truth at_start = probe.truth_at("Account", start);
    const auto hard = test::read_sqlite_table(db, "hwm__Account");
    REQUIRE(hard);
    std::vector<test::held_row> held;
    const auto col = [&](const test::sqlite_table& t, const std::string& name) {
      const auto at = std::find(t.columns.begin(), t.columns.end(), name);
      REQUIRE_MESSAGE(at != t.columns.end(), "no column " << name);
      return static_cast<std::size_t>(at - t.columns.begin());
    };
    for (const auto& r : hard->data)
      held.push_back({r[col(*hard, "Account.Id")], test::export_time(r[col(*hard, "Account.UpdatedDate")]), false});
    const std::string broken = test::judge_live(at_start, end, held);
    CHECK_MESSAGE(broken.empty(), what << " (sqlite, hard deletes):\n" << broken);
    // Hard deletes: no row the truth calls deleted at the end is held at all.
    const test::truth at_end = probe.truth_at("Account", end);
    std::size_t live_held = 0;
    for (const auto& h : held) {
      CHECK_MESSAGE(at_end.deleted.count(h.id) == 0, what << ": deleted " << h.id << " still held");
      live_held += at_end.live.count(h.id);
    }
    CHECK(live_held == at_end.live.size());
    // Soft deletes: every deleted row that was ever exported is kept, flagged.
    const auto soft = test::read_sqlite_table(soft_db, "hwm__Account");
    REQUIRE(soft);
    std::vector<test::held_row> soft_held;
    for (const auto& r : soft->data)
      soft_held.push_back({r[col(*soft, "Account.Id")], test::export_time(r[col(*soft, "Account.UpdatedDate")]),
                           r[col(*soft, "Account.IsDeleted")] == "1" || r[col(*soft, "Account.IsDeleted")] == "true"});
    const std::string soft_broken = test::judge_live(at_start, end, soft_held);
    CHECK_MESSAGE(soft_broken.empty(), what << " (sqlite, soft deletes):\n" << soft_broken);
    for (const auto& h : soft_held)
      if (at_end.deleted.count(h.id) > 0) CHECK_MESSAGE(h.flagged, what << ": deleted " << h.id << " not flagged");
  };

  std::string start = utc_now(0s);
  run_report first = run_toml(toml, state);
  REQUIRE_MESSAGE(first.exit_code() == 0, first.to_table());
  judge(start, utc_now(1s), "first run");

  const test::mutation later = probe.mutate(R"({"object":"Account","update":2,"delete":3})");
  REQUIRE(later.deleted.size() == 3);
  // A window ends at the plan's second (lag_s = 0) and holds what is stamped
  // before it: the run must start in a later second than the changes, or they
  // are (rightly) left to the run after it. Not a wait for an event: the
  // pattern's own clock rule.
  std::this_thread::sleep_until(std::chrono::ceil<std::chrono::seconds>(std::chrono::system_clock::now()) + 10ms);
  start = utc_now(0s);
  const run_report second = run_toml(toml, state);
  REQUIRE_MESSAGE(second.exit_code() == 0, second.to_table());
  REQUIRE(second.jobs.size() == 1);
  CHECK_FALSE(second.jobs[0].queries.at(0).full);
  judge(start, utc_now(1s), "second run");

  // The file sinks carry the deletions as flagged rows of the incremental load.
  std::set<std::string> flagged_csv;
  for (const auto& e : std::filesystem::recursive_directory_iterator(out)) {
    if (!e.is_regular_file() || e.path().filename() == "Account.csv") continue;
    const test::rows rows = test::parse_csv_text(test::read_file(e.path().string()));
    if (rows.empty() || rows.front().empty() || rows.front()[0] != "Account.IsDeleted") continue;
    const auto id = static_cast<std::size_t>(std::find(rows.front().begin(), rows.front().end(), "Account.Id") -
                                             rows.front().begin());
    for (std::size_t i = 1; i < rows.size(); ++i)
      if (rows[i][0] == "true") flagged_csv.insert(rows[i][id]);
  }
  for (const auto& id : later.deleted) CHECK_MESSAGE(flagged_csv.count(id) == 1, "csv: deletion of " << id);
  std::string ndjson_text;
  for (const auto& e : std::filesystem::recursive_directory_iterator(nd))
    if (e.is_regular_file()) ndjson_text += test::read_file(e.path().string());
  for (const auto& id : later.deleted) CHECK_MESSAGE(ndjson_text.find(id) != std::string::npos, "ndjson: " << id);
}

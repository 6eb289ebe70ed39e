// A fleet's coordination in PostgreSQL (engine/fleet.hpp, issue 21), on a
// throwaway server, with two workers in one process: planning happens once,
// a claim is exclusive, an expired lease is taken over with a higher fencing
// token, and the old holder can then neither renew, finish, nor commit a
// cursor; job slots hold a pool's size across workers and hand a dead
// holder's job to its taker. Leases expire by the test's own SQL, never by
// waiting.
#include "engine/fleet.hpp"
#include "engine/state_database.hpp"

#include <aquaduct/emulator.hpp>
#include <aquaduct/engine.hpp>

#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <fstream>
#include <set>
#include <thread>

using namespace aquaduct;
using engine_detail::fleet;

namespace {

test::postgres_server& server() {
  static test::postgres_server pg;
  return pg;
}

std::string fresh_url() {
  static int n = 0;
  return server().create_database("fleet_" + std::to_string(++n));
}

// The test's own SQL on the database at `url`: one value back, or "".
std::string sql(const std::string& url, const std::string& statement) {
  PGconn* c = PQconnectdb(url.c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PGresult* r = PQexec(c, statement.c_str());
  const auto st = PQresultStatus(r);
  CHECK_MESSAGE((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK), PQresultErrorMessage(r));
  std::string out = st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  PQfinish(c);
  return out;
}

// A pipeline of `jobs` (only the names and the file's bytes matter to a plan).
pipeline_config pipeline(const test::temp_dir& dir, std::vector<std::string> jobs, const std::string& text = "v1") {
  pipeline_config cfg;
  cfg.path = (dir.path() / ("pipeline-" + text + ".toml")).string();
  std::ofstream(cfg.path) << "# " << text << '\n';
  for (auto& name : jobs) {
    job_config j;
    j.name = std::move(name);
    cfg.jobs.push_back(std::move(j));
  }
  return cfg;
}

engine_detail::fleet_settings settings(const std::string& url, std::string run = "nightly") {
  engine_detail::fleet_settings s;
  s.url = url;
  s.run = std::move(run);
  s.lease = std::chrono::seconds(30);
  return s;
}

// Every lease of `owner` ran out (as if it stopped renewing 31 s ago).
void expire(const std::string& url, const fleet& owner) {
  const std::string who = "'" + owner.worker() + "'";
  sql(url, "UPDATE aquaduct.units SET lease_until = now() - interval '1 second' WHERE owner = " + who);
  sql(url, "UPDATE aquaduct.job_slots SET lease_until = now() - interval '1 second' WHERE owner = " + who);
}

std::error_code code_of(const auto& f) {
  try {
    f();
  } catch (const std::system_error& e) {
    return e.code();
  }
  return {};
}

engine_detail::cursor cursor_of(const std::string& job, const std::string& last_job_id) {
  engine_detail::cursor c;
  c.job = job;
  c.query = "Account";
  c.mode = "stateful";
  c.position = std::chrono::sys_days{std::chrono::year{2026} / 12 / 8};
  c.last_job_id = last_job_id;
  return c;
}

}  // namespace

TEST_CASE("fleet: of workers planning one run at once, exactly one plans it, with a unit per job in order") {
  const std::string url = fresh_url();
  test::temp_dir dir;
  const pipeline_config cfg = pipeline(dir, {"billing", "usage", "catalog"});
  std::vector<std::unique_ptr<fleet>> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(std::make_unique<fleet>(settings(url)));
  std::vector<int> planned(workers.size(), -1);
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < workers.size(); ++i)
      threads.emplace_back([&, i] { planned[i] = workers[i]->plan(cfg) ? 1 : 0; });
    for (auto& t : threads) t.join();
  }
  CHECK(std::count(planned.begin(), planned.end(), 1) == 1);
  CHECK(std::count(planned.begin(), planned.end(), 0) == 3);
  const engine_detail::run_row run = workers[0]->status();
  REQUIRE(run.units.size() == 3);
  CHECK(run.units[0].unit == "billing");
  CHECK(run.units[1].unit == "usage");
  CHECK(run.units[2].unit == "catalog");
  for (const auto& u : run.units) CHECK(u.state == "pending");
  CHECK_FALSE(run.finished());

  // Another pipeline under the same run id is refused, naming both files' digests.
  const pipeline_config other = pipeline(dir, {"billing"}, "v2");
  try {
    workers[1]->plan(other);
    FAIL("planned a run twice from two pipelines");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK(std::string(e.what()).find("was planned from another pipeline") != std::string::npos);
    CHECK(std::string(e.what()).find(other.path) != std::string::npos);
  }
}

TEST_CASE("fleet: a claim is exclusive; an expired lease is taken over with a higher token, and the old holder is fenced") {
  const std::string url = fresh_url();
  test::temp_dir dir;
  const pipeline_config cfg = pipeline(dir, {"billing", "usage"});
  fleet a(settings(url)), b(settings(url));
  CHECK(a.plan(cfg));
  const auto first = a.claim();
  const auto second = b.claim();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->unit != second->unit);
  CHECK(first->taken_from.empty());
  CHECK_FALSE(a.claim());  // both units are held under live leases
  CHECK_FALSE(b.claim());
  CHECK(a.renew().empty());

  // a stops renewing: b takes its unit over.
  expire(url, a);
  const auto taken = b.claim();
  REQUIRE(taken);
  CHECK(taken->unit == first->unit);
  CHECK(taken->fence > first->fence);
  CHECK(taken->fence > second->fence);
  CHECK(taken->attempt == 2);
  CHECK(taken->taken_from == a.worker());

  // a wakes up: it no longer holds the unit, whatever it tries.
  CHECK(a.renew() == std::vector<std::string>{first->unit});
  CHECK(code_of([&] { a.check(first->unit, first->fence); }) == sink_errc::stale_fence);
  CHECK(code_of([&] { b.check(taken->unit, taken->fence); }) == std::error_code{});
  engine_detail::fenced_state stale(a.state(), "nightly", *first);
  engine_detail::fenced_state holder(b.state(), "nightly", *taken);
  CHECK(code_of([&] { stale.begin_commit(cursor_of(first->unit, "late")); }) == sink_errc::stale_fence);
  CHECK(code_of([&] { stale.save(cursor_of(first->unit, "late")); }) == sink_errc::stale_fence);
  CHECK_FALSE(stale.pending(first->unit, "Account"));
  CHECK_FALSE(stale.load(first->unit, "Account"));  // nothing of the stale attempt was stored
  holder.save(cursor_of(taken->unit, "current"));
  CHECK(holder.load(taken->unit, "Account")->last_job_id == "current");
  CHECK_FALSE(a.finish(*first, 0, "{}"));  // its end is not recorded
  CHECK(b.finish(*taken, 0, "{\"status\":\"ok\"}"));
  CHECK(b.finish(*second, 1, "{\"status\":\"failed\"}"));

  const engine_detail::run_row run = b.status();
  CHECK(run.finished());
  CHECK(run.exit_code() == 1);
  for (const auto& u : run.units) CHECK(u.owner.empty());
}

TEST_CASE("fleet: a unit given back is pending again at once, for any worker") {
  const std::string url = fresh_url();
  test::temp_dir dir;
  fleet a(settings(url)), b(settings(url));
  a.plan(pipeline(dir, {"billing"}));
  const auto u = a.claim();
  REQUIRE(u);
  a.release(*u);
  const auto again = b.claim();
  REQUIRE(again);
  CHECK(again->unit == "billing");
  CHECK(again->taken_from.empty());
  CHECK(again->fence > u->fence);
  CHECK(b.finish(*again, 0, "{}"));
  CHECK(b.status().exit_code() == 0);
}

TEST_CASE("fleet: job slots hold their pool's size across workers; a dead holder's job goes to its taker") {
  const std::string url = fresh_url();
  fleet a(settings(url)), b(settings(url));
  const std::string pool = "stateless jobs @ test";
  const auto s0 = a.try_slot(pool, 2);
  const auto s1 = a.try_slot(pool, 2);
  REQUIRE(s0);
  REQUIRE(s1);
  CHECK(s0->number != s1->number);
  CHECK_FALSE(b.try_slot(pool, 2));  // the pool is full, whoever asks
  CHECK(b.try_slot("stateless jobs @ another tenant", 2));
  a.note_job(*s0, "job-left-behind");

  // a frees one: b gets it, with no job to cancel.
  a.free_slot(*s1);
  const auto freed = b.try_slot(pool, 2);
  REQUIRE(freed);
  CHECK(freed->orphan.empty());
  CHECK_FALSE(b.try_slot(pool, 2));

  // a dies with a job on the service: once its lease ran out, b takes the slot and the job to cancel.
  expire(url, a);
  const auto taken = b.try_slot(pool, 2);
  REQUIRE(taken);
  CHECK(taken->number == s0->number);
  CHECK(taken->orphan == "job-left-behind");
  CHECK(sql(url, "SELECT count(*) FROM aquaduct.job_slots WHERE pool = '" + pool + "' AND owner = '" + b.worker() +
                     "'") == "2");
  // renew() keeps b's slots; a's renewals find nothing of its own.
  b.renew();
  CHECK(sql(url, "SELECT count(*) FROM aquaduct.job_slots WHERE owner = '" + b.worker() +
                     "' AND lease_until > now() + interval '20 seconds'") == "3");
}

TEST_CASE("fleet: a version 1 state database migrates to version 2 and keeps its cursors") {
  const std::string url = fresh_url();
  sql(url,
      "CREATE SCHEMA aquaduct; CREATE TABLE aquaduct.schema_version (version integer NOT NULL);"
      "CREATE TABLE aquaduct.cursors (job text NOT NULL, query text NOT NULL, cursor text NOT NULL,"
      " committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (job, query));"
      "CREATE TABLE aquaduct.pending_commits (job text NOT NULL, query text NOT NULL, cursor text NOT NULL,"
      " PRIMARY KEY (job, query)); INSERT INTO aquaduct.schema_version VALUES (1)");
  {
    engine_detail::state_database v1(url);  // migrates
    v1.save(cursor_of("billing", "before"));
  }
  CHECK(sql(url, "SELECT max(version) FROM aquaduct.schema_version") == "2");
  CHECK(sql(url, "SELECT count(*) FROM aquaduct.units") == "0");
  fleet f(settings(url));
  CHECK(f.state().load("billing", "Account")->last_job_id == "before");
}

namespace {

// One value from the sqlite database at `path`.
std::string sqlite_value(const std::string& path, const std::string& statement) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(db, statement.c_str(), -1, &st, nullptr) == SQLITE_OK, sqlite3_errmsg(db));
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// An engine run of `claim`'s unit, as `aquaduct worker` makes it.
run_report run_unit(fleet& f, const pipeline_config& cfg, const engine_detail::claimed_unit& claim) {
  engine_options opts;
  auto unit = std::make_shared<engine_detail::fleet_unit>();
  unit->coordinator = &f;
  unit->claim = claim;
  unit->state = std::make_unique<engine_detail::fenced_state>(f.state(), f.run(), claim);
  opts.fleet = unit;
  opts.log = [](const log_record&) {};
  engine eng{cfg, std::move(opts)};
  return eng.run();
}

}  // namespace

TEST_CASE("fleet: the engine run of a worker that lost its unit commits nothing: its token is refused") {
  const std::string url = fresh_url();
  test::temp_dir dir;
  emulator::server emu{emulator::options{}};
  emu.start();
  const std::string db = (dir.path() / "sink.db").string();
  const std::string path = (dir.path() / "pipeline.toml").string();
  std::ofstream(path) << "[source]\nbase_url = \"" << emu.base_url()
                      << "\"\n[source.auth]\ntype = \"basic\"\nusername = \"aquaduct\"\npassword = \"aquaduct\"\n"
                         "[source.poll]\ninitial_ms = 20\nmax_ms = 100\n"
                         "[[jobs]]\nname = \"accounts\"\nversion = \"1.1\"\npartner = \"fleet\"\nproject = \"p\"\n"
                         "[[jobs.queries]]\nname = \"Account\"\nquery = \"select Id, Name, UpdatedDate from Account\"\n"
                         "[[sinks]]\ntype = \"sqlite\"\npath = \""
                      << db << "\"\n";
  const pipeline_config cfg = load_pipeline(path);
  fleet a(settings(url)), b(settings(url));
  a.plan(cfg);
  const auto stale = a.claim();
  REQUIRE(stale);
  expire(url, a);
  const auto holder = b.claim();
  REQUIRE(holder);
  REQUIRE(holder->fence > stale->fence);

  // The new holder's run commits its rows, its cursor and its token.
  const run_report done = run_unit(b, cfg, *holder);
  REQUIRE(done.exit_code() == 0);
  const std::string rows = sqlite_value(db, "SELECT count(*) FROM accounts__Account");
  CHECK(std::stoi(rows) > 0);
  CHECK(sqlite_value(db, "SELECT token FROM _aquaduct_fences WHERE unit = 'accounts'") == std::to_string(holder->fence));
  const auto cursor = b.state().load("accounts", "Account");
  REQUIRE(cursor);

  // The old holder's run, late: it reaches its commit and is refused there, by the token.
  const run_report late = run_unit(a, cfg, *stale);
  CHECK(late.exit_code() == 1);
  REQUIRE(late.jobs.size() == 1);
  REQUIRE(late.jobs[0].queries.size() == 1);
  const std::string why = late.jobs[0].queries[0].error.value_or(late.jobs[0].error.value_or(""));
  CHECK_MESSAGE(why.find("fencing token " + std::to_string(stale->fence) + " is stale") != std::string::npos, why);
  CHECK(sqlite_value(db, "SELECT count(*) FROM accounts__Account") == rows);
  CHECK(sqlite_value(db, "SELECT token FROM _aquaduct_fences WHERE unit = 'accounts'") == std::to_string(holder->fence));
  CHECK(b.state().load("accounts", "Account")->last_job_id == cursor->last_job_id);  // the cursor did not move
  CHECK_FALSE(b.state().pending("accounts", "Account"));
}

// The state backends' one contract (engine/state_store.hpp), run on both: the
// directory and PostgreSQL (engine/state_database.hpp, issue 21), the latter on
// a throwaway server. Then what only the database does: its versioned schema,
// its advisory lock naming the holder, a password never in a message.
#include "engine/state_database.hpp"
#include "engine/state_store.hpp"

#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

using namespace aquaduct;
using engine_detail::cursor;
using engine_detail::state_store;
namespace fs = std::filesystem;

namespace {

test::postgres_server& server() {
  static test::postgres_server pg;
  return pg;
}

// A fresh database on the shared server: each test its own.
std::string fresh_database_url() {
  static int n = 0;
  std::string name = "state_";
  name += std::to_string(++n);
  std::string admin_url = "postgresql:///postgres?host=";
  admin_url += server().dir();
  admin_url += "&user=aquaduct";
  PGconn* c = PQconnectdb(admin_url.c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  std::string create = "CREATE DATABASE ";
  create += name;
  PGresult* r = PQexec(c, create.c_str());
  REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
  PQclear(r);
  PQfinish(c);
  std::string url = "postgresql:///";
  url += name;
  url += "?host=";
  url += server().dir();
  url += "&user=aquaduct";
  return url;
}

// Runs SQL on the database at `url` (the test's own hand, not the backend's).
void sql(const std::string& url, const std::string& statement) {
  PGconn* c = PQconnectdb(url.c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PGresult* r = PQexec(c, statement.c_str());
  const auto st = PQresultStatus(r);
  CHECK_MESSAGE((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK), PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
}

cursor sample(std::string job = "billing", std::string query = "Account", std::string last_job = "job-1") {
  cursor c;
  c.job = std::move(job);
  c.query = std::move(query);
  c.mode = "stateful";
  c.position = std::chrono::sys_days{std::chrono::year{2026} / 11 / 29} + std::chrono::hours{10};
  c.fingerprint = engine_detail::fingerprint_of(query_config{});
  c.source = "https://rest.zuora.com as client 7c1e";
  c.destinations = {"csv:/data/out", "sqlite:/data/warehouse.db"};
  c.last_job_id = std::move(last_job);
  c.rows = 12345678901ull;
  return c;
}

// "q3": appended, not operator+ (g++ 12's false -Wrestrict on "q" + std::string).
std::string numbered(char prefix, int n) {
  std::string out(1, prefix);
  out += std::to_string(n);
  return out;
}

std::string error_of(const auto& f) {
  try {
    f();
  } catch (const std::system_error& e) {
    return e.what();
  }
  return "(no error)";
}

// The contract, on a fresh store opened by `open` (called again for "the next run").
void check_contract(const std::function<std::unique_ptr<state_store>()>& open) {
  std::unique_ptr<state_store> s = open();
  CHECK_FALSE(s->load("billing", "Account"));
  CHECK(s->list().empty());

  const cursor c = sample();
  s->save(c);
  const auto got = s->load("billing", "Account");
  REQUIRE(got);
  CHECK(engine_detail::to_json(*got).find(R"("position":"2026-11-29T10:00:00Z")") != std::string::npos);
  CHECK(got->rows == c.rows);
  CHECK(got->destinations == c.destinations);
  CHECK(got->source == c.source);
  CHECK(engine_detail::parse_iso_utc(got->committed_at));
  CHECK_FALSE(s->load("billing", "Contact"));
  CHECK_FALSE(s->load("Account", "billing"));

  // A later save replaces it; names with any bytes stay apart.
  cursor next = sample("billing", "Account", "job-2");
  next.mode = "incremental";
  next.position.reset();
  s->save(next);
  s->save(sample("bill'ing\"; --", "Acc/ount.x", "job-9"));
  const std::vector<cursor> all = s->list();
  REQUIRE(all.size() == 2);
  CHECK(all[0].job == "bill'ing\"; --");
  CHECK(all[1].job == "billing");
  CHECK(all[1].mode == "incremental");
  CHECK_FALSE(all[1].position);

  // A commit begun and not finished is found; its save ends it.
  cursor third = sample("billing", "Account", "job-3");
  s->begin_commit(third);
  REQUIRE(s->pending("billing", "Account"));
  CHECK(s->pending("billing", "Account")->last_job_id == "job-3");
  CHECK(s->load("billing", "Account")->last_job_id == "job-2");
  CHECK(s->list().size() == 2);  // a pending commit is not a cursor
  {
    std::unique_ptr<state_store> rerun = open();  // the next run sees it
    REQUIRE(rerun->pending("billing", "Account"));
  }
  s->save(third);
  CHECK_FALSE(s->pending("billing", "Account"));

  // Nothing load() would refuse is stored.
  cursor bad = sample();
  bad.mode = "sometimes";
  CHECK(error_of([&] { s->save(bad); }).find("mode \"sometimes\" is not stateful") != std::string::npos);
  CHECK(s->load("billing", "Account")->mode == "stateful");

  // Threads saving at once: every cursor whole.
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) s->save(sample("threads", numbered('q', t), numbered('j', i)));
    });
  for (auto& t : threads) t.join();
  for (int t = 0; t < 8; ++t) CHECK(s->load("threads", numbered('q', t))->last_job_id == "j9");

  // remove(): true once, then false; the next run finds nothing.
  CHECK(s->remove("billing", "Account"));
  CHECK_FALSE(s->remove("billing", "Account"));
  std::unique_ptr<state_store> rerun = open();
  CHECK_FALSE(rerun->load("billing", "Account"));
  CHECK(rerun->list().size() == 9);

  // The lock: one run at a time; the second is refused, by a message naming the state.
  s->lock();
  s->lock();  // idempotent
  const std::string busy = error_of([&] { rerun->lock(); });
  CHECK(busy.find("is in use by another aquaduct run") != std::string::npos);
  CHECK(busy.find(rerun->where()) != std::string::npos);
}

}  // namespace

TEST_CASE("the state backends keep one contract: the directory") {
  test::temp_dir tmp;
  check_contract([&] { return engine_detail::open_state((tmp.path() / "state").string()); });
}

TEST_CASE("the state backends keep one contract: PostgreSQL") {
  const std::string url = fresh_database_url();
  CHECK(engine_detail::is_state_url(url));
  check_contract([&] { return engine_detail::open_state(url); });
}

TEST_CASE("PostgreSQL state: the schema is versioned; a newer one is refused, not written over") {
  const std::string url = fresh_database_url();
  { engine_detail::state_database first(url); }
  sql(url, "SELECT 1 FROM aquaduct.schema_version WHERE version = 2");
  { engine_detail::state_database again(url); }  // a second open migrates nothing: a row per version
  PGconn* c = PQconnectdb(url.c_str());
  PGresult* r = PQexec(c, "SELECT count(*) FROM aquaduct.schema_version");
  CHECK(std::string(PQgetvalue(r, 0, 0)) == std::to_string(engine_detail::state_database::schema_version));
  PQclear(r);
  PQfinish(c);

  sql(url, "INSERT INTO aquaduct.schema_version VALUES (99)");
  const std::string e = error_of([&] { engine_detail::state_database newer(url); });
  CHECK(e.find("its schema is version 99, newer than this build's 2") != std::string::npos);
}

TEST_CASE("PostgreSQL state: a row that is not a cursor is an error naming the job and query, never a reset") {
  const std::string url = fresh_database_url();
  engine_detail::state_database s(url);
  s.save(sample());
  sql(url, "UPDATE aquaduct.cursors SET cursor = '{\"version\":2,\"job\":\"billing\"' WHERE job = 'billing'");
  const std::string e = error_of([&] { (void)s.load("billing", "Account"); });
  CHECK(e.find("the cursor of job billing, query Account") != std::string::npos);
  CHECK(e.find("truncated or not a JSON object") != std::string::npos);
  CHECK(e.find("aquaduct state reset billing Account") != std::string::npos);
  std::string update = "UPDATE aquaduct.cursors SET cursor = '";
  update += engine_detail::to_json(sample("payments", "Payment"));
  update += "' WHERE job = 'billing'";
  sql(url, update);
  CHECK(error_of([&] { (void)s.load("billing", "Account"); }).find("holds the cursor of job \"payments\"") !=
        std::string::npos);
}

TEST_CASE("PostgreSQL state: the lock names its holder and goes with its connection") {
  const std::string url = fresh_database_url();
  auto first = std::make_unique<engine_detail::state_database>(url);
  first->lock();
  engine_detail::state_database second(url);
  const std::string e = error_of([&] { second.lock(); });
  std::string holder = "(aquaduct pid ";
  holder += std::to_string(::getpid());
  holder += " on ";
  CHECK(e.find(holder) != std::string::npos);
  first.reset();  // its connection closed: the lock is free once the server has ended that session
  // The server ends the session after the client has gone (its backend exits on its own), so
  // the lock comes free soon after, not at once: ask until it does, within a generous deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string last = "(never asked)";
  for (;;) {
    last = error_of([&] { second.lock(); });
    if (last == "(no error)" || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK_MESSAGE(last == "(no error)", last);
}

TEST_CASE("PostgreSQL state: a password is never in where() or an error") {
  CHECK(engine_detail::redacted_state_url("postgresql://etl:s3cret-pw@db.example:5432/state") ==
        "postgresql://etl:[REDACTED]@db.example:5432/state");
  CHECK(engine_detail::redacted_state_url("postgres://db/state?user=etl&password=s3cret-pw&sslmode=require") ==
        "postgres://db/state?user=etl&password=[REDACTED]&sslmode=require");
  CHECK(engine_detail::redacted_state_url("postgresql:///state?host=/tmp/x") == "postgresql:///state?host=/tmp/x");
  // A refused connection: the server's words and the place, not the password.
  std::string url = "postgresql://nobody:s3cret-pw@/no_such_db?host=";
  url += server().dir();
  const std::string e = error_of([&] { engine_detail::open_state(url); });
  CHECK(e.find("cannot connect") != std::string::npos);
  CHECK(e.find("s3cret-pw") == std::string::npos);
  CHECK(e.find("[REDACTED]") != std::string::npos);
}

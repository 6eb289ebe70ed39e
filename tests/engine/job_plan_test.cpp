#include "engine/job_plan.hpp"

#include "engine/aqua_job.hpp"

#include "support/temp_dir.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <set>

using namespace aquaduct;
using namespace aquaduct::engine_detail;
using std::chrono::sys_seconds;

namespace {

sys_seconds at(const char* text) {
  std::string error;
  auto t = parse_time_point(text, sys_seconds{}, error);
  REQUIRE_MESSAGE(t, error);
  return *t;
}

query_config query(std::string name, std::string text) {
  query_config q;
  q.name = std::move(name);
  q.query = std::move(text);
  return q;
}

pipeline_config pipeline_with(job_config job) {
  pipeline_config cfg;
  cfg.path = "test.toml";
  cfg.jobs.push_back(std::move(job));
  return cfg;
}

cursor committed(const job_config& job, const query_config& q, std::string mode, sys_seconds position) {
  cursor c;
  c.job = job.name;
  c.query = q.name;
  c.mode = std::move(mode);
  c.position = position;
  c.fingerprint = fingerprint_of(q);
  return c;
}

// A stateful job of two queries, Account and Invoice.
job_config billing_session() {
  job_config job;
  job.name = "billing";
  job.partner = "acme";
  job.project = "wh";
  job.queries = {query("Account", "select Id from Account"), query("Invoice", "select Id from Invoice")};
  return job;
}

}  // namespace

TEST_CASE("a stateful job's incrementalTime is its oldest committed cursor, or the floor when any is missing") {
  test::temp_dir dir;
  state_directory state(dir.path());
  job_config job = billing_session();

  const std::string floor = format_incremental_time(at("2000-01-01"), data_center_zone::utc);
  CHECK(stateful_incremental_time(job, state, data_center_zone::utc) == floor);

  // Invoice has no cursor yet: a new query the service loads in full by itself
  // (contract §4.2), so Account stays incremental from its own cursor.
  state.save(committed(job, job.queries[0], "stateful", at("2026-03-01T10:00:00Z")));
  CHECK(stateful_incremental_time(job, state, data_center_zone::utc) ==
        format_incremental_time(at("2026-03-01T10:00:00Z"), data_center_zone::utc));

  state.save(committed(job, job.queries[1], "stateful", at("2026-02-01T10:00:00Z")));
  CHECK(stateful_incremental_time(job, state, data_center_zone::utc) ==
        format_incremental_time(at("2026-02-01T10:00:00Z"), data_center_zone::utc));
  // In the data centre's zone: Pacific is behind UTC, by 8 hours in February.
  CHECK(stateful_incremental_time(job, state, data_center_zone::pacific) ==
        format_incremental_time(at("2026-02-01T10:00:00Z"), data_center_zone::pacific));
  CHECK(format_incremental_time(at("2026-02-01T10:00:00Z"), data_center_zone::pacific) == "2026-02-01 02:00:00");

  // A changed query text does not reuse its old cursor, and the service
  // reloads it in full by itself: the job stays incremental from Account's.
  job.queries[1].query = "select Id, Amount from Invoice";
  CHECK(stateful_incremental_time(job, state, data_center_zone::utc) ==
        format_incremental_time(at("2026-03-01T10:00:00Z"), data_center_zone::utc));
  // A full refresh of one unchanged query leaves the service nothing to notice:
  // the whole job is asked from the floor.
  cursor_trust refresh;
  refresh.full_refresh = {"billing/Account"};
  CHECK(stateful_incremental_time(job, state, data_center_zone::utc, refresh) == floor);
}

TEST_CASE("plan: one changed query of a stateful job reloads alone, and the plan says so") {
  test::temp_dir dir;
  state_directory state(dir.path());
  job_config job = billing_session();
  state.save(committed(job, job.queries[0], "stateful", at("2026-03-01T10:00:00Z")));
  state.save(committed(job, job.queries[1], "stateful", at("2026-03-01T10:00:00Z")));
  job.queries[1].query = "select Id, Amount from Invoice";
  const pipeline_config cfg = pipeline_with(job);
  const run_plan plan = plan_run(cfg, &state, data_center_zone::utc, at("2026-03-02T00:00:00Z"));
  REQUIRE(plan.units.size() == 1);
  const work_unit& u = plan.units.front();
  CHECK(u.incremental_time == format_incremental_time(at("2026-03-01T10:00:00Z"), data_center_zone::utc));
  CHECK(u.reload == std::set<std::string>{"Invoice"});
  CHECK(u.expect_full == std::set<std::string>{"Invoice"});
  CHECK_FALSE(u.session_may_be_new);
  REQUIRE(plan.notes.size() == 1);
  CHECK(plan.notes[0].query == "Invoice");
  CHECK(plan.notes[0].message.find("full reload of this query only") != std::string::npos);
  CHECK(plan.notes[0].message.find("the query changed") != std::string::npos);

  // --full-refresh of the unchanged Account: the whole job from the floor, and the note says why.
  cursor_trust trust;
  trust.full_refresh = {"billing/Account"};
  const run_plan refresh = plan_run(cfg, &state, data_center_zone::utc, at("2026-03-02T00:00:00Z"), trust);
  REQUIRE(refresh.units.size() == 1);
  CHECK(refresh.units.front().incremental_time == format_incremental_time(at("2000-01-01"), data_center_zone::utc));
  CHECK(refresh.units.front().expect_full.empty());
  CHECK(refresh.units.front().reload == std::set<std::string>{"Account", "Invoice"});
  bool whole_job = false;
  for (const auto& n : refresh.notes)
    if (n.query == "Account" && n.message.find("full reload of the whole job") != std::string::npos &&
        n.message.find("--full-refresh") != std::string::npos)
      whole_job = true;
  CHECK(whole_job);
}

TEST_CASE("plan: plain queries share one unit, a partition becomes windows, an incremental query one window") {
  test::temp_dir dir;
  state_directory state(dir.path());
  job_config job;
  job.name = "billing";
  job.queries.push_back(query("Account", "select Id from Account"));
  query_config parted = query("Invoice", "select Id, UpdatedDate from Invoice where Status = 'Posted'");
  parted.partition = partition_config{"UpdatedDate", "2026-01-01", "2026-01-31", "P10D", "PT1H"};
  job.queries.push_back(parted);
  query_config incr = query("Payment", "select Id from Payment");
  incr.incremental = incremental_config{"UpdatedDate", 3600, "2026-01-01", "PT1H"};
  job.queries.push_back(incr);
  job.queries.push_back(query("Contact", "select Id from Contact"));
  const pipeline_config cfg = pipeline_with(job);
  const sys_seconds now = at("2026-02-01T12:00:00Z");

  run_plan plan = plan_run(cfg, &state, data_center_zone::utc, now);
  REQUIRE(plan.groups.size() == 2);
  // 10-day steps over 30 days: three windows; the incremental query: one.
  REQUIRE(plan.units.size() == 3 + 1 + 1);
  std::size_t plain = 0, windows = 0;
  for (const auto& u : plan.units) {
    if (!u.group) {
      ++plain;
      REQUIRE(u.queries.size() == 2);
      CHECK(u.queries[0].name == "Account");
      CHECK(u.queries[1].name == "Contact");
      CHECK(!u.incremental_time);
      continue;
    }
    ++windows;
    REQUIRE(u.window);
    REQUIRE(u.queries.size() == 1);
    CHECK(u.queries[0].query.find("UpdatedDate") != std::string::npos);
    CHECK(u.queries[0].query != u.group->query.query);
  }
  CHECK(plain == 1);
  CHECK(windows == 4);
  const window_group& invoices = plan.groups[0];
  CHECK(invoices.query.name == "Invoice");
  CHECK(invoices.pending_windows == 3);
  CHECK_FALSE(invoices.catch_up);  // `to` is fixed: a slice of the past, no catch-up
  CHECK(invoices.load == load_kind::full);
  const window_group& payments = plan.groups[1];
  CHECK(payments.pending_windows == 1);
  CHECK_FALSE(payments.catch_up);
  CHECK(payments.load == load_kind::full);  // nothing committed yet: the first window is everything
  REQUIRE(payments.next_cursor);
  CHECK(payments.next_cursor->position == now - std::chrono::seconds(3600));

  // Once a high-water mark is committed, the next window starts there and loads incrementally.
  state.save(committed(job, incr, "incremental", now - std::chrono::seconds(3600)));
  run_plan later = plan_run(cfg, &state, data_center_zone::utc, now + std::chrono::hours(5));
  REQUIRE(later.groups.size() == 2);
  CHECK(later.groups[1].load == load_kind::incremental);
  for (const auto& u : later.units)
    if (u.group == &later.groups[1]) {
      REQUIRE(u.window);
      CHECK(u.window->from == now - std::chrono::seconds(3600));
      CHECK(u.window->to == now + std::chrono::hours(5) - std::chrono::seconds(3600));
    }

  // Nothing new since the mark (the lag covers it): nothing to submit, reported as done.
  run_plan idle = plan_run(cfg, &state, data_center_zone::utc, now);
  CHECK(idle.groups.size() == 1);
  REQUIRE(idle.nothing_to_do.size() == 1);
  CHECK(idle.nothing_to_do[0].queries.at(0).name == "Payment");
}

TEST_CASE("plan: a stateful job always carries incrementalTime; state-keeping jobs need a state directory") {
  job_config job;
  job.name = "sync";
  job.partner = "acme";
  job.project = "wh";
  job.queries.push_back(query("Account", "select Id from Account"));
  const pipeline_config cfg = pipeline_with(job);
  const sys_seconds now = at("2026-02-01T12:00:00Z");
  CHECK_THROWS_AS(plan_run(cfg, nullptr, data_center_zone::pacific, now), config_error);

  test::temp_dir dir;
  state_directory state(dir.path());
  run_plan plan = plan_run(cfg, &state, data_center_zone::pacific, now);
  REQUIRE(plan.units.size() == 1);
  REQUIRE(plan.units[0].incremental_time);
  CHECK(*plan.units[0].incremental_time == format_incremental_time(at("2000-01-01"), data_center_zone::pacific));
  const std::string body = submit_body(job, plan.units[0].queries, {plan.units[0].incremental_time, "http://cb/x"});
  CHECK(body.find("\"incrementalTime\":\"" + *plan.units[0].incremental_time + "\"") != std::string::npos);
  CHECK(body.find("\"partner\":\"acme\"") != std::string::npos);
  CHECK(body.find("\"project\":\"wh\"") != std::string::npos);
  CHECK(body.find("\"notifyUrl\":\"http://cb/x\"") != std::string::npos);
}

TEST_CASE("plan: a full load partitioned up to now on a column rows move along gets a catch-up; CreatedDate none") {
  test::temp_dir dir;
  state_directory state(dir.path());
  const sys_seconds now = at("2026-02-01T12:00:00Z");
  for (const char* by : {"UpdatedDate", "Invoice.UpdatedDate", "InvoiceDate", "CreatedDate", "Invoice.CreatedDate"}) {
    CAPTURE(by);
    job_config job;
    job.name = "backfill";
    query_config q = query("Invoice", "select Id, InvoiceNumber, UpdatedDate from Invoice");
    q.partition = partition_config{by, "2025-01-01", "now", "P30D", "PT1H", 900};
    job.queries.push_back(q);
    run_plan plan = plan_run(pipeline_with(job), &state, data_center_zone::utc, now);
    REQUIRE(plan.groups.size() == 1);
    const window_group& g = plan.groups[0];
    const bool moves = std::string_view(by).find("CreatedDate") == std::string_view::npos;
    CHECK(g.catch_up == moves);
    CHECK(g.planned_at == now);
    CHECK(g.catch_up_lag == std::chrono::seconds(900));
  }
  // Without the base Id the catch-up cannot replace older copies: refused, naming the fix.
  job_config job;
  job.name = "backfill";
  query_config q = query("Invoice", "select Account.Id, InvoiceNumber from Invoice");
  q.partition = partition_config{"UpdatedDate", "2025-01-01", "now", "P30D"};
  job.queries.push_back(q);
  try {
    plan_run(pipeline_with(job), &state, data_center_zone::utc, now);
    FAIL("a catch-up partition without the base Id was planned");
  } catch (const config_error& e) {
    const std::string m = e.what();
    CHECK_MESSAGE(m.find("no Id of Invoice") != std::string::npos, m);
    CHECK_MESSAGE(m.find("CreatedDate") != std::string::npos, m);
  }
}

TEST_CASE("plan: a cursor is used only for its source and sinks while they hold its target; else it loads in full, said why") {
  test::temp_dir dir;
  state_directory state(dir.path());
  const sys_seconds now = at("2026-02-01T12:00:00Z");
  job_config stateful;
  stateful.name = "sync";
  stateful.partner = "acme";
  stateful.project = "wh";
  stateful.queries.push_back(query("Account", "select Id from Account"));
  stateful.queries.push_back(query("Invoice", "select Id from Invoice"));
  job_config incr;
  incr.name = "hwm";
  query_config payments = query("Payment", "select Id from Payment");
  payments.incremental = incremental_config{"UpdatedDate", 3600, "2026-01-01", "PT1H"};
  incr.queries.push_back(payments);
  pipeline_config cfg = pipeline_with(stateful);
  cfg.jobs.push_back(incr);

  cursor_trust trust;
  trust.source = "http://tenant-a as client x";
  trust.destinations = std::vector<std::string>{"sqlite:/w.db"};
  const auto save = [&](const job_config& job, const query_config& q, std::string mode, sys_seconds position) {
    cursor c = committed(job, q, std::move(mode), position);
    c.source = trust.source;
    c.destinations = *trust.destinations;
    state.save(c);
  };
  save(stateful, stateful.queries[0], "stateful", at("2026-01-20T00:00:00Z"));
  save(stateful, stateful.queries[1], "stateful", at("2026-01-21T00:00:00Z"));
  save(incr, payments, "incremental", at("2026-01-25T00:00:00Z"));

  const auto plan_with = [&](const cursor_trust& t) { return plan_run(cfg, &state, data_center_zone::utc, now, t); };
  const auto stateful_unit = [](const run_plan& p) -> const work_unit& {
    for (const auto& u : p.units)
      if (!u.group) return u;
    throw std::logic_error("no stateful unit");
  };
  SUBCASE("everything matches: the cursors are used, no note") {
    const run_plan p = plan_with(trust);
    CHECK(p.notes.empty());
    CHECK(*stateful_unit(p).incremental_time == "2026-01-20 00:00:00");
    CHECK(stateful_unit(p).reload.empty());
    CHECK_FALSE(stateful_unit(p).session_may_be_new);
    REQUIRE(p.groups.size() == 1);
    CHECK(p.groups[0].load == load_kind::incremental);
    REQUIRE(p.groups[0].next_cursor);
    CHECK(p.groups[0].next_cursor->source == trust.source);
    CHECK(p.groups[0].next_cursor->destinations == *trust.destinations);
  }
  SUBCASE("another tenant: every cursor set aside, each said once") {
    cursor_trust other = trust;
    other.source = "http://tenant-b as client x";
    const run_plan p = plan_with(other);
    REQUIRE(p.notes.size() == 3);
    for (const auto& n : p.notes) {
      CHECK(n.level == log_level::warning);
      CHECK_MESSAGE(n.message.find("committed from http://tenant-a as client x, this run reads http://tenant-b") !=
                        std::string::npos,
                    n.message);
    }
    CHECK(*stateful_unit(p).incremental_time == "2000-01-01 00:00:00");
    CHECK(stateful_unit(p).reload == std::set<std::string>{"Account", "Invoice"});
    CHECK(stateful_unit(p).session_may_be_new);
    CHECK(p.groups[0].load == load_kind::full);
  }
  SUBCASE("other sinks") {
    cursor_trust other = trust;
    other.destinations = std::vector<std::string>{"postgres:db.example/wh/public"};
    const run_plan p = plan_with(other);
    REQUIRE(p.notes.size() == 3);
    CHECK_MESSAGE(p.notes[0].message.find("committed to sqlite:/w.db, this run's sinks are postgres:") !=
                      std::string::npos,
                  p.notes[0].message);
  }
  SUBCASE("a sink lost one query's target: only that query reloads") {
    cursor_trust lost = trust;
    lost.lost_by = [](const std::string& job, const std::string& q) {
      return job == "sync" && q == "Invoice" ? std::string("sqlite") : std::string();
    };
    const run_plan p = plan_with(lost);
    REQUIRE(p.notes.size() == 1);
    CHECK(p.notes[0].job == "sync");
    CHECK(p.notes[0].query == "Invoice");
    CHECK_MESSAGE(p.notes[0].message.find("the sqlite sink no longer holds") != std::string::npos, p.notes[0].message);
    CHECK_MESSAGE(p.notes[0].message.find("from the floor") != std::string::npos, p.notes[0].message);
    CHECK(*stateful_unit(p).incremental_time == "2000-01-01 00:00:00");
    CHECK(stateful_unit(p).reload == std::set<std::string>{"Invoice"});
    CHECK_FALSE(stateful_unit(p).session_may_be_new);  // Account's cursor still stands
  }
  SUBCASE("a run stopped between its commits and its cursor: that query reloads") {
    cursor next = committed(stateful, stateful.queries[1], "stateful", at("2026-01-30T00:00:00Z"));
    next.last_job_id = "job-9";
    state.begin_commit(next);
    const run_plan p = plan_with(trust);
    REQUIRE(p.notes.size() == 1);
    CHECK(p.notes[0].query == "Invoice");
    CHECK_MESSAGE(p.notes[0].message.find("stopped between committing job job-9 and saving its cursor") !=
                      std::string::npos,
                  p.notes[0].message);
    CHECK(stateful_unit(p).reload == std::set<std::string>{"Invoice"});
  }
  SUBCASE("--full-refresh JOB/QUERY and JOB") {
    cursor_trust refresh = trust;
    refresh.full_refresh = {"hwm/Payment"};
    run_plan p = plan_with(refresh);
    REQUIRE(p.notes.size() == 1);
    CHECK(p.notes[0].query == "Payment");
    CHECK(p.groups[0].load == load_kind::full);
    CHECK(stateful_unit(p).reload.empty());
    refresh.full_refresh = {"sync"};
    p = plan_with(refresh);
    CHECK(p.notes.size() == 2);
    CHECK(stateful_unit(p).reload.size() == 2);
    CHECK(p.groups[0].load == load_kind::incremental);
  }
  CHECK(refresh_names({"*"}, "a", "b"));
  CHECK(refresh_names({"a"}, "a", "b"));
  CHECK(refresh_names({"a/b"}, "a", "b"));
  CHECK_FALSE(refresh_names({"a/c", "ab", "a/"}, "a", "b"));
}

TEST_CASE("source_identity names the service and who reads it, never a secret") {
  source_config src;
  src.base_url = "https://rest.apisandbox.zuora.com/";
  src.auth.type = auth_type::oauth;
  src.auth.client_id = "client-7";
  src.auth.client_secret = "TOP-SECRET";
  CHECK(source_identity(src) == "https://rest.apisandbox.zuora.com as client client-7");
  src.auth = {};
  src.auth.type = auth_type::basic;
  src.auth.username = "etl";
  src.auth.password = "hunter2";
  CHECK(source_identity(src) == "https://rest.apisandbox.zuora.com as user etl");
  src.base_url.clear();
  src.environment = "eu-sandbox";
  CHECK(source_identity(src).rfind("https://rest.sandbox.eu.zuora.com as user etl", 0) == 0);
}

#include "engine/job_plan.hpp"

#include "support/temp_dir.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

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

}  // namespace

TEST_CASE("a stateful job's incrementalTime is its oldest committed cursor, or the floor when any is missing") {
  test::temp_dir dir;
  state_store state(dir.path());
  job_config job;
  job.name = "billing";
  job.partner = "acme";
  job.project = "wh";
  job.queries = {query("Account", "select Id from Account"), query("Invoice", "select Id from Invoice")};

  const std::string floor = format_incremental_time(at("2000-01-01"), data_center_zone::utc);
  CHECK(stateful_incremental_time(job, state, data_center_zone::utc) == floor);

  state.save(committed(job, job.queries[0], "stateful", at("2026-03-01T10:00:00Z")));
  CHECK(stateful_incremental_time(job, state, data_center_zone::utc) == floor);  // Invoice has none yet

  state.save(committed(job, job.queries[1], "stateful", at("2026-02-01T10:00:00Z")));
  CHECK(stateful_incremental_time(job, state, data_center_zone::utc) ==
        format_incremental_time(at("2026-02-01T10:00:00Z"), data_center_zone::utc));
  // In the data centre's zone: Pacific is behind UTC, by 8 hours in February.
  CHECK(stateful_incremental_time(job, state, data_center_zone::pacific) ==
        format_incremental_time(at("2026-02-01T10:00:00Z"), data_center_zone::pacific));
  CHECK(format_incremental_time(at("2026-02-01T10:00:00Z"), data_center_zone::pacific) == "2026-02-01 02:00:00");

  // A changed query text must not reuse its old cursor.
  job.queries[1].query = "select Id, Amount from Invoice";
  CHECK(stateful_incremental_time(job, state, data_center_zone::utc) == floor);
}

TEST_CASE("plan: plain queries share one unit, a partition becomes windows, an incremental query one window") {
  test::temp_dir dir;
  state_store state(dir.path());
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
  CHECK(invoices.pending == 3);
  CHECK(invoices.load == load_kind::full);
  const window_group& payments = plan.groups[1];
  CHECK(payments.pending == 1);
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
  state_store state(dir.path());
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

// The engine's use of describe in a run, against the in-process emulator:
// every column of a stream gets its Zuora type (select *, joins, aliases,
// labels off, the deleted column); a describe that answers 500, stalls or
// does not know an object fails the run before any job is submitted; a query
// the service refuses for good is reported once and exits 2; the sinks'
// health is checked before any job.
#include <aquaduct/engine.hpp>

#include <aquaduct/emulator.hpp>
#include <aquaduct/error.hpp>
#include "engine/emulator_probe.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <map>
#include <mutex>

using namespace aquaduct;
using namespace std::chrono_literals;

namespace {

// Records each stream's schema at open; optionally unhealthy.
class schema_sink final : public sink {
 public:
  explicit schema_sink(std::string unhealthy = {}) : unhealthy_(std::move(unhealthy)) {}
  std::string_view type() const noexcept override { return "schema"; }
  std::unique_ptr<sink_stream> open(const stream_schema& s) override {
    std::lock_guard lock(m_);
    if (!s.columns.empty()) schemas_[s.query] = s;
    struct stream final : sink_stream {
      void write(const row_batch&) override {}
      void commit(const file_token&) override {}
      void abort() noexcept override {}
    };
    return std::make_unique<stream>();
  }
  void close() override {}
  std::string health_check() override { return unhealthy_; }
  std::map<std::string, stream_schema> schemas() {
    std::lock_guard lock(m_);
    return schemas_;
  }

 private:
  std::string unhealthy_;
  std::mutex m_;
  std::map<std::string, stream_schema> schemas_;
};

struct run_result {
  run_report report;
  std::map<std::string, stream_schema> schemas;
  std::vector<log_record> log;
};

run_result run_pipeline(const std::string& toml, std::string unhealthy = {}) {
  engine_options o;
  run_result out;
  std::mutex m;
  o.log = [&](const log_record& r) {
    std::lock_guard lock(m);
    out.log.push_back(r);
  };
  auto s = std::make_unique<schema_sink>(std::move(unhealthy));
  schema_sink* seen = s.get();
  engine eng{parse_pipeline(toml, "types.toml"), o};
  eng.add_sink(std::move(s));
  out.report = eng.run();
  out.schemas = seen->schemas();
  return out;
}

std::string source(const emulator::server& srv) {
  return test::toml_source(srv.base_url(), "[source.retry]\ninitial_ms = 1\nmax_ms = 5\nmax_attempts = 3\n");
}

emulator::options small() {
  emulator::options o;
  o.scale = 5;
  o.latency = 20ms;
  return o;
}

using ct = column_type;

std::map<std::string, ct> typed(const stream_schema& s) {
  std::map<std::string, ct> out;
  REQUIRE(s.types.size() == s.columns.size());
  for (std::size_t i = 0; i < s.columns.size(); ++i) out[s.columns[i]] = s.types[i];
  return out;
}

std::size_t count_messages(const std::vector<log_record>& log, const std::string& part) {
  std::size_t n = 0;
  for (const auto& r : log) n += r.message.find(part) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("column types: select *, joins, Rel.*, aliases and an expression, in header order") {
  emulator::server srv(small());
  srv.start();
  const run_result r = run_pipeline(
      source(srv) +
      test::toml_job("typed", {{"Star", "select * from Account"},
                               {"Joins", "select Id, Amount, InvoiceDate, Account.AutoPay, Account.BillCycleDay as Cycle, "
                                         "Account.UpdatedDate from Invoice"},
                               {"RelStar", "select Id, BillToContact.* from Account"}}));
  REQUIRE(r.report.exit_code() == 0);
  REQUIRE(r.schemas.size() == 3);
  const auto star = typed(r.schemas.at("Star"));
  CHECK(star.at("Account.Id") == ct::text);
  CHECK(star.at("Account.Balance") == ct::decimal);
  CHECK(star.at("Account.AutoPay") == ct::boolean);
  CHECK(star.at("Account.BillCycleDay") == ct::integer);
  CHECK(star.at("Account.Currency") == ct::text);  // picklist
  CHECK(star.at("Account.CreatedDate") == ct::datetime);
  const stream_schema& joins = r.schemas.at("Joins");
  CHECK(joins.columns == std::vector<std::string>{"Invoice.Id", "Invoice.Amount", "Invoice.InvoiceDate",
                                                  "Account.AutoPay", "Cycle", "Account.UpdatedDate"});
  CHECK(joins.types == std::vector<ct>{ct::text, ct::decimal, ct::date, ct::boolean, ct::integer, ct::datetime});
  const auto rel = typed(r.schemas.at("RelStar"));
  CHECK(rel.at("BillToContact.WorkEmail") == ct::text);
  CHECK(rel.at("BillToContact.UpdatedDate") == ct::datetime);
  CHECK(count_messages(r.log, "did not predict") == 0);
}

TEST_CASE("column types: display labels when use_query_labels is off") {
  emulator::server srv(small());
  srv.start();
  const run_result ok = run_pipeline(
      source(srv) + test::toml_job("labels", {{"Acc", "select Id, Balance, BillToContact.UpdatedDate from Account"}},
                                   "format = \"csv\"\nuse_query_labels = false\n"));
  REQUIRE(ok.report.exit_code() == 0);
  const stream_schema& s = ok.schemas.at("Acc");
  CHECK(s.columns == std::vector<std::string>{"Account: ID", "Account: Balance", "Bill To: Updated Date"});
  CHECK(s.types == std::vector<ct>{ct::text, ct::decimal, ct::datetime});
}

TEST_CASE("column types: the deleted column is first and boolean") {
  emulator::server srv(small());
  srv.start();
  const run_result r = run_pipeline(
      source(srv) + test::toml_job("del", {}, "format = \"csv\"\n") +
      "[[jobs.queries]]\nname = \"Acc\"\nquery = \"select Id, Balance from Account\"\n"
      "deleted = { column = \"IsDeleted\", format = \"Boolean\", force_export = true }\n");
  REQUIRE(r.report.exit_code() == 0);
  const stream_schema& s = r.schemas.at("Acc");
  CHECK(s.columns == std::vector<std::string>{"Account.IsDeleted", "Account.Id", "Account.Balance"});
  CHECK(s.types == std::vector<ct>{ct::boolean, ct::text, ct::decimal});
}

TEST_CASE("[source] describe = false: no describe request, every column text") {
  emulator::server srv(small());
  srv.start();
  const run_result r = run_pipeline(
      test::toml_source(srv.base_url(), "describe = false\n") + test::toml_job("plain", {{"Acc", "select Id, Balance from Account"}}));
  REQUIRE(r.report.exit_code() == 0);
  CHECK(r.schemas.at("Acc").types.empty());
  test::emulator_probe probe(srv.base_url());
  CHECK(probe.stats().request_count("/v1/describe/Account", "200") == 0);
}

TEST_CASE("describe failures end the run before any job is submitted, naming the query, object and status") {
  emulator::server srv(small());
  srv.start();
  test::emulator_probe probe(srv.base_url());
  const std::string jobs = test::toml_job("billing", {{"Invoices", "select Id, Amount, Account.Name from Invoice"}});
  SUBCASE("HTTP 500 on every try: retried under the retry policy, then exit 1") {
    probe.arm_faults(R"({"rules":[{"fault":"status","code":500,"path":"/v1/describe/*"}]})");
    const run_result r = run_pipeline(source(srv) + jobs);
    CHECK(r.report.exit_code() == 1);
    REQUIRE(r.report.jobs.size() == 1);
    const std::string error = r.report.jobs[0].error.value_or("");
    CHECK(error.find("query Invoices") != std::string::npos);
    CHECK(error.find("describe of object Invoice") != std::string::npos);
    CHECK(error.find("HTTP 500") != std::string::npos);
    CHECK(probe.stats().request_count("/v1/describe/Invoice", "500") == 3);
  }
  SUBCASE("a 500 then served: the run goes on") {
    probe.arm_faults(R"({"rules":[{"fault":"status","code":500,"path":"/v1/describe/*","times":1}]})");
    const run_result r = run_pipeline(source(srv) + jobs);
    CHECK(r.report.exit_code() == 0);
    CHECK(r.schemas.at("Invoices").types == std::vector<ct>{ct::text, ct::decimal, ct::text});
  }
  SUBCASE("a stalled describe times out on every try") {
    probe.arm_faults(R"({"rules":[{"fault":"stall_ms","ms":3000,"path":"/v1/describe/*"}]})");
    const run_result r = run_pipeline(
        test::toml_source(srv.base_url(), "request_timeout_ms = 200\nidle_timeout_ms = 200\n[source.retry]\ninitial_ms = 1\nmax_ms = 5\nmax_attempts = 2\n") + jobs);
    CHECK(r.report.exit_code() == 1);
    const std::string error = r.report.jobs.at(0).error.value_or("");
    CHECK(error.find("describe of object Invoice") != std::string::npos);
    CHECK(error.find("gave up after 2 attempts") != std::string::npos);
  }
  SUBCASE("an object the tenant does not describe: the query and object named, exit 2") {
    const run_result r = run_pipeline(source(srv) + test::toml_job("billing", {{"Typo", "select Id from Invoyce"}}));
    CHECK(r.report.exit_code() == 2);
    const std::string error = r.report.jobs.at(0).error.value_or("");
    CHECK(error.find("query Typo") != std::string::npos);
    CHECK(error.find("object Invoyce is not described by the tenant") != std::string::npos);
  }
  const test::emulator_stats stats = probe.stats();
  std::uint64_t jobs_seen = 0;
  for (const auto& [status, n] : stats.jobs) jobs_seen += n;
  if (stats.request_count("/v1/describe/Invoice", "200") == 0) CHECK(jobs_seen == 0);  // no job submitted after a failure
}

TEST_CASE("a query refused for good: reported once, naming it; exit 2; no other window submitted") {
  emulator::server srv(small());
  srv.start();
  const run_result r = run_pipeline(
      test::toml_source(srv.base_url(), "describe = false\n") +
      test::toml_job("billing", {{"Good", "select Id from Account"}, {"Bad", "select Id, Nmae from Account"},
                                 {"Other", "select Id from Contact"}}));
  CHECK(r.report.exit_code() == 2);
  REQUIRE(r.report.jobs.size() == 1);
  CHECK(r.report.jobs[0].refused);
  CHECK(r.report.jobs[0].error.value_or("").find("Nmae") != std::string::npos);
  for (const auto& q : r.report.jobs[0].queries) CHECK_FALSE(q.error);  // the job's error says it, once
  CHECK(count_messages(r.log, "Nmae") == 1);
  const std::string table = r.report.to_table();
  std::size_t said = 0;
  for (auto at = table.find("Nmae"); at != std::string::npos; at = table.find("Nmae", at + 1)) ++said;
  CHECK(said == 1);
}

TEST_CASE("an unhealthy sink ends the run before any job is submitted") {
  emulator::server srv(small());
  srv.start();
  const run_result r = run_pipeline(source(srv) + test::toml_job("billing", {{"Acc", "select Id from Account"}}),
                                    "cannot connect to db.example:5432");
  CHECK(r.report.exit_code() == 1);
  CHECK(r.report.jobs.at(0).error.value_or("").find("schema sink: cannot connect to db.example:5432") != std::string::npos);
  test::emulator_probe probe(srv.base_url());
  CHECK(probe.stats().jobs.empty());
  CHECK(probe.stats().request_count("/v1/describe/Account", "200") == 0);
}

// The engine against the in-process emulator, as a user runs it: a pipeline
// of many jobs parsed from TOML, sinks read back and compared with what the
// tenant holds (emulator::tenant_rows, an evaluation independent of the
// engine), the tenant's active-job limit watched through /_emulator/stats,
// and every emulator fault armed during a run.
#include <aquaduct/engine.hpp>

#include <aquaduct/emulator.hpp>
#include "engine/emulator_probe.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <thread>

using namespace aquaduct;
using aquaduct::test::temp_dir;

namespace {

// One query of the test pipelines, with what the tenant says it returns.
struct known_query {
  std::string object;
  std::vector<std::string> fields;
  std::optional<std::size_t> limit;

  std::string zoql() const {
    std::string s = "select ";
    for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? ", " : "") + fields[i];
    s += " from " + object;
    if (limit) s += " limit " + std::to_string(*limit);
    return s;
  }
  // Header and rows as the result file carries them (useQueryLabels = true).
  test::rows expected(const emulator::options& o) const {
    const emulator::table t = emulator::tenant_rows(o, object, fields);
    test::rows out;
    std::vector<std::string> header;
    for (const auto& f : fields) header.push_back(object + "." + f);
    out.push_back(header);
    const std::size_t n = limit ? std::min(*limit, t.rows.size()) : t.rows.size();
    out.insert(out.end(), t.rows.begin(), t.rows.begin() + static_cast<std::ptrdiff_t>(n));
    return out;
  }
};

run_report run_toml(const std::string& toml) {
  engine eng{parse_pipeline(toml, "engine_run.toml")};
  return eng.run();
}

// "<prefix>007": names that sort in job order.
std::string numbered(std::string prefix, std::size_t i) {
  const std::string n = std::to_string(i);
  prefix.append(3 - std::min<std::size_t>(3, n.size()), '0');
  prefix.append(n);
  return prefix;
}

}  // namespace

TEST_CASE("200 jobs in one pipeline, with job latency: every job's rows equal the tenant's") {
  emulator::options opts;
  opts.seed = 5;
  opts.scale = 120;
  opts.latency = std::chrono::milliseconds(250);
  emulator::server srv(opts);
  srv.start();

  const std::vector<known_query> kinds = {
      {"Account", {"Id", "AccountNumber", "Name"}, std::nullopt},
      {"Contact", {"Id", "FirstName", "LastName", "WorkEmail"}, std::nullopt},
      {"Account", {"Id", "Name"}, std::size_t{0}},  // limit set per job below
      {"Product", {"Id", "Name", "SKU"}, std::nullopt},
  };
  const std::vector<std::string> formats = {"gzip", "csv", "zip"};
  constexpr std::size_t job_count = 200;

  temp_dir out;
  std::string toml = test::toml_source(srv.base_url());
  std::vector<known_query> queries;
  for (std::size_t i = 0; i < job_count; ++i) {
    known_query q = kinds[i % kinds.size()];
    if (q.limit) q.limit = 1 + (i * 7) % opts.scale;
    queries.push_back(q);
    toml += test::toml_job(numbered("j", i), {{"rows", q.zoql()}}, std::string("format = \"").append(formats[i % formats.size()]).append("\"\n"));
  }
  toml += test::toml_sink("csv", out.path().string());

  const run_report report = run_toml(toml);
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  REQUIRE(report.jobs.size() == job_count);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < job_count; ++i) {
    const job_report& j = report.jobs[i];
    CAPTURE(j.name);
    CHECK(j.name == numbered("j", i));
    CHECK(j.status == aquaduct::outcome::completed);
    REQUIRE(j.queries.size() == 1);
    const test::rows expected = queries[i].expected(opts);
    CHECK(j.queries[0].rows == expected.size() - 1);
    const test::rows got = test::parse_csv_text(test::read_file((out.path() / j.name / "rows.csv").string()));
    CHECK(got == expected);
    correct += got == expected;
  }
  CHECK(correct == job_count);

  // The service saw each job once: no job was submitted twice or refused.
  test::emulator_probe probe(srv.base_url());
  const test::emulator_stats stats = probe.stats();
  CHECK(stats.job_count("completed") == job_count);
  CHECK(stats.request_count("/v1/batch-query/", "200") == job_count);
}

TEST_CASE("the tenant's active-job limit is never exceeded, per /_emulator/stats") {
  struct limit_case {
    std::optional<std::size_t> config_limit;  // nullopt: the default (50)
    std::size_t tenant_limit;
    std::size_t jobs;
  };
  for (const limit_case c : {limit_case{7, 7, 30}, limit_case{std::nullopt, 50, 64}}) {
    CAPTURE(c.tenant_limit);
    emulator::options opts;
    opts.seed = 9;
    opts.scale = 40;
    opts.latency = std::chrono::milliseconds(400);
    opts.max_active_jobs = c.tenant_limit;  // one job beyond it would be refused (90028) and fail the run
    emulator::server srv(opts);
    srv.start();

    temp_dir out;
    std::string toml = test::toml_source(
        srv.base_url(), c.config_limit ? "max_active_jobs = " + std::to_string(*c.config_limit) + "\n" : "");
    for (std::size_t i = 0; i < c.jobs; ++i)
      toml += test::toml_job(numbered("limit", i), {{"Accounts", "select Id, Name from Account"}});
    toml += test::toml_sink("csv", out.path().string());

    // A second client samples the tenant's active jobs for the whole run.
    std::atomic<bool> done{false};
    std::uint64_t peak = 0;
    std::uint64_t samples = 0;
    std::string sampler_error;
    std::thread sampler([&] {
      try {
        test::emulator_probe probe(srv.base_url());
        while (!done.load()) {
          peak = std::max(peak, probe.stats().active_stateless);
          ++samples;
          probe.pause(std::chrono::milliseconds(2));  // many samples per job latency, without hogging the emulator
        }
      } catch (const std::exception& e) {
        sampler_error = e.what();
      }
    });
    const run_report report = run_toml(toml);
    done = true;
    sampler.join();

    REQUIRE(sampler_error.empty());
    CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
    MESSAGE("peak active jobs " << peak << " over " << samples << " samples; limit " << c.tenant_limit);
    CHECK(peak <= c.tenant_limit);
    CHECK(peak >= 2);  // the jobs did run side by side, and the sampler saw it
    test::emulator_probe probe(srv.base_url());
    const test::emulator_stats stats = probe.stats();
    CHECK(stats.job_count("completed") == c.jobs);
    CHECK(stats.request_count("/v1/batch-query/", "200") == c.jobs);  // none refused and resubmitted
    CHECK(stats.active_stateless == 0);
  }
}

namespace {

// The fault runs' pipeline: three jobs of two queries each, segmented
// results, into one sqlite database.
const std::vector<std::string> fault_jobs = {"alpha", "beta", "gamma"};
const std::map<std::string, known_query> fault_queries = {
    {"Accounts", {"Account", {"Id", "AccountNumber", "Name"}, std::nullopt}},
    {"Contacts", {"Contact", {"Id", "FirstName", "LastName"}, std::nullopt}},
};

struct fault_case {
  std::string name;
  std::string rules;      // POST /_emulator/faults body
  bool must_recover;      // the design promises correct data (a retry, a resume, a refresh)
  std::function<void(emulator::options&)> tweak = [](emulator::options&) {};
  std::string auth;  // [source.auth] body; empty: basic
  std::function<void(const test::emulator_stats&, const run_report&)> fired;  // the fault did happen
  std::string source_extra;  // more [source] keys or tables
};

bool ends_in_failure(aquaduct::outcome status) {
  return status == aquaduct::outcome::failed || status == aquaduct::outcome::aborted ||
         status == aquaduct::outcome::cancelled;
}

// Every query ends in one of two ways: its table holds exactly the tenant's
// rows, or it failed clearly (a failed status, a message naming its job) and
// committed nothing. Returns how many queries failed.
std::size_t check_outcomes(const run_report& report, const std::string& db, const emulator::options& opts) {
  std::size_t failed = 0;
  REQUIRE(report.jobs.size() == fault_jobs.size());
  for (const job_report& j : report.jobs) {
    REQUIRE(j.queries.size() == fault_queries.size());
    for (const query_report& q : j.queries) {
      CAPTURE(j.name);
      CAPTURE(q.name);
      const auto table = test::read_sqlite_table(db, j.name + "__" + q.name);
      if (q.status == aquaduct::outcome::completed) {
        const auto [header, rows] = test::header_and_rows(fault_queries.at(q.name).expected(opts));
        REQUIRE(table);
        CHECK(table->columns == header);
        CHECK(test::sorted(table->data) == rows);
        CHECK(q.rows == rows.size());
        continue;
      }
      ++failed;
      CHECK_MESSAGE(ends_in_failure(q.status), to_string(q.status));
      CHECK(ends_in_failure(j.status));
      const std::string message = q.error.value_or("") + " | " + j.error.value_or("");
      MESSAGE("failed: job " << j.name << " query " << q.name << ": " << q.status << ": " << message);
      CHECK(message.size() > 3);
      const bool names_it = message.find(j.name) != std::string::npos ||
                            (!j.job_id.empty() && message.find(j.job_id) != std::string::npos) ||
                            (q.error && q.error->find("query " + q.name) != std::string::npos);
      CHECK_MESSAGE(names_it, message);
      // A batch that failed in our hands (download, decode, count) says where.
      if (j.status == aquaduct::outcome::failed && q.error) CHECK_MESSAGE(q.error->find("query " + q.name) != std::string::npos, *q.error);
      CHECK_MESSAGE(!table, "a failed query committed rows");
    }
  }
  CHECK(report.exit_code() == (failed == 0 ? 0 : 1));
  return failed;
}

}  // namespace

TEST_CASE("every emulator fault during a run ends in correct data or a clear failure of that batch, the others intact") {
  const std::vector<fault_case> cases = {
      {"connection reset mid-file, twice (resumed with Range)",
       R"({"rules":[{"path":"/v1/file/*","fault":"reset_after_bytes","bytes":300,"times":2}]})", true,
       [](emulator::options&) {}, "",
       [](const test::emulator_stats& s, const run_report&) { CHECK(s.faults_armed == 0); }, ""},
      {"connection reset mid-file on a server without Range",
       R"({"rules":[{"path":"/v1/file/*","fault":"reset_after_bytes","bytes":300,"times":1}]})", false,
       [](emulator::options& o) { o.range_requests = false; }, "",
       [](const test::emulator_stats& s, const run_report&) { CHECK(s.faults_armed == 0); }, ""},
      {"429 storm on every AQuA call",
       R"({"rules":[{"path":"/v1/*","fault":"status","code":429,"retry_after_s":0,"probability":0.35}]})", false,
       [](emulator::options&) {}, "",
       [](const test::emulator_stats& s, const run_report&) { CHECK(s.status_count("429") > 0); }, ""},
      {"a 503 beyond the retry budget of a poll",
       R"({"rules":[{"method":"GET","path":"/v1/batch-query/jobs/*","fault":"status","code":503,"retry_after_s":0,"times":1}]})",
       false, [](emulator::options&) {}, "",
       [](const test::emulator_stats& s, const run_report& r) {
         CHECK(s.status_count("503") == 1);
         std::size_t failed = 0;
         for (const auto& j : r.jobs) failed += j.status != aquaduct::outcome::completed;
         CHECK(failed == 1);  // one attempt allowed: the job that met the 503, and only it
       },
       "[source.retry]\nmax_attempts = 1\n"},
      {"a 429 at a poll with max_attempts = 1: back-pressure, not a failed attempt",
       R"({"rules":[{"method":"GET","path":"/v1/batch-query/jobs/*","fault":"status","code":429,"retry_after_s":0,"times":1}]})",
       true, [](emulator::options&) {}, "",
       [](const test::emulator_stats& s, const run_report&) { CHECK(s.status_count("429") == 1); },
       "[source.retry]\nmax_attempts = 1\n"},
      {"a token reported expired (401) once",
       R"({"rules":[{"path":"/v1/batch-query/jobs/*","fault":"token_expired","times":1}]})", true,
       [](emulator::options&) {}, "type = \"oauth\"\nclient_id = \"aquaduct\"\nclient_secret = \"aquaduct\"\n",
       [](const test::emulator_stats& s, const run_report&) {
         CHECK(s.faults_armed == 0);
         CHECK(s.status_count("401") >= 1);
       }, ""},
      {"tokens that live 1 s, over a run that lasts longer", R"({"rules":[]})", true,
       [](emulator::options& o) {
         o.token_lifetime = std::chrono::seconds(1);
         o.latency = std::chrono::milliseconds(1500);
       },
       "type = \"oauth\"\nclient_id = \"aquaduct\"\nclient_secret = \"aquaduct\"\n",
       [](const test::emulator_stats& s, const run_report& r) {
         CHECK(r.wall_s > 1.0);
         CHECK(s.request_count("/oauth/token", "200") > 1);
       }, ""},
      {"a job the service aborts",
       R"({"rules":[{"method":"POST","path":"/v1/batch-query*","fault":"job_abort","message":"emulated abort: java.lang.OutOfMemoryError","times":1}]})",
       false, [](emulator::options&) {}, "",
       [](const test::emulator_stats& s, const run_report& r) {
         CHECK(s.job_count("aborted") == 1);
         std::size_t aborted = 0;
         for (const auto& j : r.jobs) {
           if (j.status != aquaduct::outcome::aborted) continue;
           ++aborted;
           REQUIRE(j.error);
           CHECK(j.error->find("emulated abort") != std::string::npos);
           CHECK(j.error->find(j.name) != std::string::npos);
         }
         CHECK(aborted == 1);
       }, ""},
      {"a corrupt gzip file", R"({"rules":[{"path":"/v1/file/*","fault":"corrupt_gzip","times":1}]})", false,
       [](emulator::options&) {}, "",
       [](const test::emulator_stats& s, const run_report& r) {
         CHECK(s.faults_armed == 0);
         for (const auto& j : r.jobs)
           for (const auto& q : j.queries)
             if (q.status != aquaduct::outcome::completed && q.error) CHECK(q.error->find("gzip") != std::string::npos);
       }, ""},
  };

  for (const fault_case& fc : cases) {
    CAPTURE(fc.name);
    emulator::options opts;
    opts.seed = 13;
    opts.scale = 300;
    opts.segment_rows = 100;  // several files per batch: a fault can land between two of them
    opts.latency = std::chrono::milliseconds(150);
    fc.tweak(opts);
    emulator::server srv(opts);
    srv.start();
    test::emulator_probe probe(srv.base_url());
    probe.arm_faults(fc.rules);

    temp_dir out;
    const std::string db = (out.path() / "faults.db").string();
    // Two jobs at a time, so the run outlasts a short token.
    const std::string extra = "max_active_jobs = 2\n" + fc.source_extra;
    std::string toml = fc.auth.empty() ? test::toml_source(srv.base_url(), extra)
                                       : test::toml_source(srv.base_url(), extra, fc.auth);
    for (const auto& job : fault_jobs) {
      std::vector<test::toml_query> qs;
      for (const auto& [name, q] : fault_queries) qs.push_back({name, q.zoql()});
      toml += test::toml_job(job, qs);
    }
    toml += "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n";

    const run_report report = run_toml(toml);
    const std::size_t failed = check_outcomes(report, db, opts);
    MESSAGE(fc.name << ": " << (failed == 0 ? "correct data" : std::to_string(failed) + " queries failed clearly"));
    if (fc.must_recover) CHECK_MESSAGE(failed == 0, report.to_table());
    fc.fired(probe.stats(), report);
  }
}

// The engine's embedding API and its issue-6 features, as an embedder uses
// them, against the in-process emulator: async_run inside the embedder's own
// io_context, cancel() from another thread, progress() read while a run goes
// on, the callout listener, partitioned queries, adaptive window splitting, a
// purged file, one download at a time, a stateful session of two jobs, and
// JSON batch results. Every expected value comes from the emulator
// (emulator::tenant_rows, or the probe's own export and admin endpoints).
#include <aquaduct/engine.hpp>

#include <aquaduct/emulator.hpp>
#include "engine/batch_results_expected.hpp"
#include "engine/emulator_probe.hpp"
#include "support/scripted_server.hpp"
#include "support/temp_dir.hpp"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <doctest/doctest.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <sqlite3.h>
#include <mutex>
#include <set>
#include <thread>

using namespace aquaduct;
using aquaduct::test::temp_dir;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> account_fields = {"Id", "AccountNumber", "Name"};
const std::string account_zoql = "select Id, AccountNumber, Name from Account";

emulator::options tenant(std::uint64_t seed, std::uint64_t scale = 120, std::chrono::milliseconds latency = 150ms) {
  emulator::options o;
  o.seed = seed;
  o.scale = scale;
  o.latency = latency;
  return o;
}

// The tenant's accounts as a result file carries them: header first, id order.
test::rows expected_accounts(const emulator::options& o) {
  const emulator::table t = emulator::tenant_rows(o, "Account", account_fields);
  test::rows out;
  std::vector<std::string> header;
  for (const auto& f : account_fields) header.push_back("Account." + f);
  out.push_back(header);
  out.insert(out.end(), t.rows.begin(), t.rows.end());
  return out;
}

test::rows csv_file(const std::filesystem::path& p) { return test::parse_csv_text(test::read_file(p.string())); }

// Files under `dir` whose names do not start with '.' (published ones).
std::vector<std::filesystem::path> final_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().front() != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The sqlite table equals `expected` (header first), as a multiset of rows.
void check_sqlite_equals(const std::string& db, const std::string& table, const test::rows& expected) {
  const auto [header, rows] = test::header_and_rows(expected);
  const auto t = test::read_sqlite_table(db, table);
  REQUIRE_MESSAGE(t, "no table " << table << " in " << db);
  CHECK(t->data.size() == rows.size());  // no row twice
  CHECK(test::project(*t, header) == rows);
}

// A csv file's rows equal `expected` (header first) as a multiset, the header first.
void check_csv_same_rows(const std::filesystem::path& file, const test::rows& expected) {
  const test::rows got = csv_file(file);
  REQUIRE(!got.empty());
  CHECK(got.front() == expected.front());
  CHECK(got.size() == expected.size());
  CHECK(test::sorted(test::rows(got.begin() + 1, got.end())) == test::sorted(test::rows(expected.begin() + 1, expected.end())));
}

std::string source_toml(const std::string& base_url, const std::string& extra = "",
                        const std::string& poll = "initial_ms = 20\nmax_ms = 250\ntimeout_s = 600\n") {
  return "[source]\nbase_url = \"" + base_url + "\"\n" + extra +
         "[source.auth]\ntype = \"basic\"\nusername = \"aquaduct\"\npassword = \"aquaduct\"\n[source.poll]\n" + poll;
}

std::string sqlite_sink(const std::string& db) { return "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n"; }

// Runs `eng.run()` on a thread; the future is ready when it returns.
std::future<run_report> run_on_thread(engine& eng) {
  return std::async(std::launch::async, [&eng] { return eng.run(); });
}

// "YYYY-MM-DDThh:mm:ss..." (the result files' dateTimeUtc form) as an instant.
std::chrono::sys_seconds parse_utc(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &se) != 6)
    throw std::runtime_error("not a datetime: " + s);
  return std::chrono::sys_days{std::chrono::year{y} / mo / d} + std::chrono::hours{h} + std::chrono::minutes{mi} +
         std::chrono::seconds{se};
}

std::string format_utc(std::chrono::sys_seconds t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()), int(hms.hours().count()), int(hms.minutes().count()), int(hms.seconds().count()));
  return buf;
}

// The accounts' UpdatedDate values.
std::vector<std::chrono::sys_seconds> account_updates(const emulator::options& o) {
  std::vector<std::chrono::sys_seconds> out;
  for (const auto& r : emulator::tenant_rows(o, "Account", {"UpdatedDate"}).rows) out.push_back(parse_utc(r.at(0)));
  std::sort(out.begin(), out.end());
  return out;
}

// One job of one query, with extra lines for the query table.
std::string one_query_job(const std::string& job, const std::string& query, const std::string& zoql,
                          const std::string& query_extra = "", const std::string& job_extra = "format = \"gzip\"\n") {
  return "[[jobs]]\nname = \"" + job + "\"\n" + job_extra + "[[jobs.queries]]\nname = \"" + query + "\"\nquery = \"" +
         zoql + "\"\n" + query_extra;
}

// A partition over UpdatedDate.
struct partition_spec {
  std::string from, to = "now", step, min_step;

  // The [[jobs.queries]] line.
  std::string toml() const {
    std::string t = "partition = { by = \"UpdatedDate\", from = \"" + from + "\", to = \"" + to + "\", step = \"" + step + "\"";
    if (!min_step.empty()) t += ", min_step = \"" + min_step + "\"";
    return t + " }\n";
  }
};

// A partition over the accounts' UpdatedDate that starts whole steps of
// `step_days` before the median update, so that a window boundary falls
// exactly on a row's UpdatedDate, and before the oldest update.
partition_spec accounts_partition(const emulator::options& o, int step_days, std::string min_step = "") {
  const auto updates = account_updates(o);
  REQUIRE(updates.size() > 10);
  const auto median = updates[updates.size() / 2];
  const std::chrono::seconds step = std::chrono::days{step_days};
  auto from = median;
  while (from > updates.front() - 1s) from -= step;
  return partition_spec{format_utc(from), "now", "P" + std::to_string(step_days) + "D", std::move(min_step)};
}

// One window over every account: from the year of the oldest update, 20 years long.
partition_spec whole_span_partition(const emulator::options& o, std::string min_step = "") {
  const auto oldest = account_updates(o).front();
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(oldest)};
  return partition_spec{format_utc(std::chrono::sys_days{ymd.year() / 1 / 1}), "now", "P7300D", std::move(min_step)};
}

// A thread that samples until it is stopped; joined however the test ends.
class sampler_thread {
 public:
  template <class F>
  explicit sampler_thread(F sample) : thread_([this, sample]() mutable {
      try {
        while (!stop_.load()) {
          sample();
          std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a sampling interval, not a wait for an outcome
        }
      } catch (const std::exception& e) {
        error_ = e.what();
      }
    }) {}
  ~sampler_thread() { stop(); }
  sampler_thread(const sampler_thread&) = delete;
  sampler_thread& operator=(const sampler_thread&) = delete;
  // Stops and joins; returns what the sampler threw, if anything.
  std::string stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return error_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::string error_;
  std::thread thread_;
};

std::size_t planned_windows(const partition_spec& p) {
  const auto from = parse_utc(p.from);
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const auto step = std::chrono::days{std::stoi(p.step.substr(1))};
  return static_cast<std::size_t>((now - from + step - 1s) / step);
}

// The accounts, partitioned, into a sqlite database and a csv directory.
pipeline_config partitioned_accounts(const std::string& base_url, const std::string& job, const partition_spec& part,
                                     const std::string& db, const std::filesystem::path& out) {
  return parse_pipeline(source_toml(base_url) + one_query_job(job, "Accounts", account_zoql, part.toml()) + sqlite_sink(db) +
                            test::toml_sink("csv", out.string()),
                        job + ".toml");
}

run_report run_config(pipeline_config cfg, const std::string& state_dir = "") {
  engine_options o;
  o.state_dir = state_dir;
  o.log = [](const log_record&) {};
  engine eng{std::move(cfg), o};
  return eng.run();
}

// The report without what differs between two runs (times, ids, RSS).
std::string report_content(const run_report& r) {
  std::string s = std::string(to_string(r.status)) + " exit " + std::to_string(r.exit_code()) + (r.interrupted ? " interrupted" : "") + "\n";
  for (const auto& j : r.jobs) {
    s += j.name + " " + std::string(to_string(j.status)) + " " + j.error.value_or("") + "\n";
    for (const auto& q : j.queries)
      s += "  " + q.name + " " + std::string(to_string(q.status)) + " full=" + std::to_string(q.full) + " rows=" + std::to_string(q.rows) +
           " files=" + std::to_string(q.files) + " bytes=" + std::to_string(q.bytes_downloaded) + "/" +
           std::to_string(q.bytes_decoded) + " " + q.error.value_or("") + "\n";
  }
  return s;
}

std::uint64_t report_rows(const run_report& r) {
  std::uint64_t n = 0;
  for (const auto& j : r.jobs)
    for (const auto& q : j.queries) n += q.rows;
  return n;
}

}  // namespace

TEST_CASE("async_run inside the embedder's io_context: its other work goes on, done runs once, the report equals run()'s") {
  const emulator::options opts = tenant(101, 100, 300ms);
  emulator::server srv(opts);
  srv.start();
  temp_dir dir;
  const auto toml = [&](const std::string& out) {
    std::string t = source_toml(srv.base_url());
    for (const char* j : {"one", "two", "three"}) t += one_query_job(j, "Accounts", account_zoql);
    return t + test::toml_sink("csv", out);
  };

  asio::io_context io;
  engine eng{parse_pipeline(toml((dir.path() / "async").string()), "async.toml")};
  int done_calls = 0;
  run_report async_report;
  std::uint64_t ticks = 0, ticks_at_done = 0;
  bool finished = false;
  asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    ticker.expires_after(5ms);
    ticker.async_wait([&](std::error_code ec) {
      if (ec || finished) return;
      ++ticks;
      tick();
    });
  };
  tick();
  eng.async_run(io, [&](run_report r) {
    ++done_calls;
    ticks_at_done = ticks;
    finished = true;
    ticker.cancel();
    async_report = std::move(r);
  });
  const auto started = std::chrono::steady_clock::now();
  io.run();  // returns once the run and the ticker are both done
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  CHECK(done_calls == 1);
  CHECK_MESSAGE(async_report.exit_code() == 0, async_report.to_table());
  // The jobs take at least the emulator's latency (0.3 s); a ticker every
  // 5 ms on the same thread ticked all along.
  CHECK(wall >= 0.3);
  MESSAGE("the test's own timer ticked " << ticks_at_done << " times during a " << wall << " s run");
  CHECK(ticks_at_done >= 10);

  const run_report sync_report = run_config(parse_pipeline(toml((dir.path() / "sync").string()), "sync.toml"));
  CHECK(report_content(async_report) == report_content(sync_report));
  for (const char* j : {"one", "two", "three"}) {
    CAPTURE(j);
    const test::rows a = csv_file(dir.path() / "async" / j / "Accounts.csv");
    CHECK(a == expected_accounts(opts));
    CHECK(a == csv_file(dir.path() / "sync" / j / "Accounts.csv"));
  }
}

TEST_CASE("cancel() from another thread while jobs poll: interrupted, exit 130, jobs cancelled on the server, nothing committed") {
  const emulator::options opts = tenant(102, 100, 60s);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::string db = (dir.path() / "cancel.db").string();
  const std::vector<std::string> jobs = {"one", "two", "three"};
  std::string toml = source_toml(srv.base_url());
  for (const auto& j : jobs) toml += one_query_job(j, "Accounts", account_zoql);
  toml += test::toml_sink("csv", (dir.path() / "out").string()) + sqlite_sink(db);

  engine eng{parse_pipeline(toml, "cancel.toml")};
  std::future<run_report> running = run_on_thread(eng);
  const auto [active, seen] = probe.wait_for([&](const test::emulator_stats& s) { return s.active_stateless == jobs.size(); }, 60s);
  REQUIRE_MESSAGE(active, "jobs active: " << seen.active_stateless);
  eng.cancel();
  REQUIRE_MESSAGE(running.wait_for(60s) == std::future_status::ready, "run() did not return within 60 s of cancel()");
  const run_report report = running.get();

  CHECK(report.interrupted);
  CHECK(report.status == aquaduct::run_status::interrupted);
  CHECK_MESSAGE(report.exit_code() == 130, report.to_table());
  REQUIRE(report.jobs.size() == jobs.size());
  for (const auto& j : report.jobs) CHECK_MESSAGE(j.status == aquaduct::outcome::cancelled, j.name << ": " << to_string(j.status));
  const test::emulator_stats after = probe.stats();
  CHECK(after.job_count("cancelled") == jobs.size());
  CHECK(after.active_stateless == 0);
  CHECK(final_files(dir.path() / "out").empty());
  for (const auto& j : jobs) {
    const auto t = test::read_sqlite_table(db, j + "__Accounts");
    CHECK_MESSAGE((!t || t->data.empty()), "rows committed to " << j << "__Accounts");
  }
}

TEST_CASE("progress() read from another thread: monotonic counters, jobs_active within max_active_jobs, totals at the end") {
  const emulator::options opts = tenant(103, 100, 200ms);
  emulator::server srv(opts);
  srv.start();
  temp_dir dir;
  constexpr std::uint32_t limit = 3, job_count = 12;
  std::string toml = source_toml(srv.base_url(), "max_active_jobs = " + std::to_string(limit) + "\n");
  for (std::uint32_t i = 0; i < job_count; ++i) {
    std::string name = "p";  // not "p" + to_string(i): g++ 12 -O3 warns falsely (-Wrestrict)
    name += std::to_string(i);
    toml += one_query_job(name, "Accounts", account_zoql);
  }
  toml += test::toml_sink("csv", (dir.path() / "out").string());

  engine eng{parse_pipeline(toml, "progress.toml")};
  std::vector<std::string> violations;
  std::uint64_t samples = 0;
  std::uint32_t peak_active = 0;
  progress_snapshot last;
  sampler_thread sampler([&] {
    const progress_snapshot p = eng.progress();
    ++samples;
    peak_active = std::max(peak_active, p.jobs_active);
    const auto mono = [&](const char* what, std::uint64_t before, std::uint64_t now) {
      if (now < before && violations.size() < 20)
        violations.push_back(std::string(what) + " went from " + std::to_string(before) + " to " + std::to_string(now));
    };
    if (p.jobs_total == 0) return;  // the run has not started
    mono("jobs_total", last.jobs_total, p.jobs_total);
    mono("jobs_submitted", last.jobs_submitted, p.jobs_submitted);
    mono("jobs_done", last.jobs_done, p.jobs_done);
    mono("jobs_failed", last.jobs_failed, p.jobs_failed);
    mono("rows", last.rows, p.rows);
    mono("rows_committed", last.rows_committed, p.rows_committed);
    mono("bytes_downloaded", last.bytes_downloaded, p.bytes_downloaded);
    mono("bytes_decoded", last.bytes_decoded, p.bytes_decoded);
    if (p.jobs_active > limit && violations.size() < 20)
      violations.push_back("jobs_active " + std::to_string(p.jobs_active) + " over the limit");
    if (p.jobs_done > p.jobs_total && violations.size() < 20)
      violations.push_back("jobs_done " + std::to_string(p.jobs_done) + " over jobs_total");
    last = p;
  });
  const run_report report = eng.run();
  REQUIRE(sampler.stop().empty());

  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  MESSAGE(samples << " samples, peak jobs_active " << peak_active);
  for (const auto& v : violations) FAIL_CHECK(v);
  CHECK(violations.empty());
  CHECK(peak_active >= 1);
  const progress_snapshot end = eng.progress();
  CHECK(end.jobs_total == job_count);
  CHECK(end.jobs_done == end.jobs_total);
  CHECK(end.jobs_submitted == job_count);
  CHECK(end.jobs_active == 0);
  CHECK(end.jobs_failed == 0);
  CHECK(end.downloads_active == 0);
  const std::uint64_t rows = (expected_accounts(opts).size() - 1) * job_count;
  CHECK(report_rows(report) == rows);
  CHECK(end.rows_committed == report_rows(report));
  CHECK(end.rows == end.rows_committed);
  // One entry per configured job, in config order, adding up to the totals.
  REQUIRE(end.jobs.size() == job_count);
  progress_counters sum;
  for (std::uint32_t i = 0; i < job_count; ++i) {
    const job_progress& j = end.jobs[i];
    std::string name = "p";  // not "p" + to_string(i): g++ 12's -Wrestrict false positive
    name += std::to_string(i);
    CHECK(j.name == name);
    CHECK(j.state == aquaduct::job_state::done);
    CHECK(j.jobs_total == 1);
    CHECK(j.jobs_done == 1);
    CHECK(j.rows_committed == expected_accounts(opts).size() - 1);
    sum.jobs_done += j.jobs_done;
    sum.rows += j.rows;
    sum.bytes_downloaded += j.bytes_downloaded;
    sum.bytes_decoded += j.bytes_decoded;
  }
  CHECK(sum.jobs_done == end.jobs_done);
  CHECK(sum.rows == end.rows);
  CHECK(sum.bytes_downloaded == end.bytes_downloaded);
  CHECK(sum.bytes_decoded == end.bytes_decoded);
}

TEST_CASE("log records: every job submitted and committed with its job, job id, query and batch; a retry with its attempt; no secret") {
  const emulator::options opts = tenant(107, 60, 100ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  // The first poll of any job answers 503 once: one retry, logged.
  probe.arm_faults(R"({"rules":[{"method":"GET","path":"/v1/batch-query/jobs/*","fault":"status","code":503,"times":1}]})");
  temp_dir dir;
  const std::string toml = source_toml(srv.base_url()) + one_query_job("logged", "Accounts", account_zoql) +
                           one_query_job("second", "Accounts", account_zoql) +
                           test::toml_sink("csv", (dir.path() / "out").string());
  std::mutex m;
  std::vector<log_record> records;
  engine_options eo;
  eo.log = [&](const log_record& r) {
    std::lock_guard lock(m);
    records.push_back(r);
  };
  engine eng{parse_pipeline(toml, "logs.toml"), eo};
  const run_report report = eng.run();
  REQUIRE_MESSAGE(report.exit_code() == 0, report.to_table());

  for (const auto& j : report.jobs) {
    const auto has = [&](auto pred) { return std::any_of(records.begin(), records.end(), pred); };
    CHECK_MESSAGE(has([&](const log_record& r) {
                    return r.level == log_level::info && r.message == "submitted" && r.job == j.name && r.job_id == j.job_id;
                  }),
                  "no submitted record for " << j.name);
    CHECK_MESSAGE(has([&](const log_record& r) {
                    return r.message.starts_with("committed " + std::to_string(j.queries[0].rows) + " rows") &&
                           r.job == j.name && r.job_id == j.job_id && r.query == "Accounts" && !r.batch.empty();
                  }),
                  "no committed record for " << j.name);
  }
  std::size_t retries = 0;
  for (const auto& r : records) {
    if (r.message.starts_with("retrying GET /v1/batch-query/jobs/")) {
      ++retries;
      CHECK(r.level == log_level::warning);
      CHECK(r.attempt == 2);
      CHECK(!r.job.empty());
      CHECK(r.message.find(r.job_id) != std::string::npos);
    }
    for (const std::string& text : {to_text(r), to_json(r)}) CHECK(text.find("YXF1YWR1Y3Q6YXF1YWR1Y3Q") == std::string::npos);
  }
  CHECK(retries == 1);
  // The two formats carry the fields.
  // (the first record of a job: the run's own records, such as describe's, name none)
  const auto with_job = std::find_if(records.begin(), records.end(), [](const log_record& r) { return !r.job.empty(); });
  REQUIRE(with_job != records.end());
  const log_record& any = *with_job;
  CHECK(to_text(any).find("job=" + any.job) != std::string::npos);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(to_json(any)).get(doc) == simdjson::SUCCESS);
  CHECK(std::string(doc["job"].get_string().value()) == any.job);
  CHECK(std::string(doc["level"].get_string().value()) == std::string(to_string(any.level)));
}

TEST_CASE("the callout listener wakes the pollers: a 10-minute poll interval, yet the run ends in seconds with the right data") {
  const emulator::options opts = tenant(104, 100, 300ms);
  emulator::server srv(opts);
  srv.start();
  temp_dir dir;
  const std::vector<std::string> jobs = {"c1", "c2", "c3"};
  std::string toml = source_toml(srv.base_url(), "", "initial_ms = 600000\nmax_ms = 600000\ntimeout_s = 3600\n") +
                     "[source.callout]\nlisten = \"127.0.0.1:0\"\n";
  for (const auto& j : jobs) toml += one_query_job(j, "Accounts", account_zoql);
  toml += test::toml_sink("csv", (dir.path() / "out").string());

  engine eng{parse_pipeline(toml, "callout.toml")};
  std::future<run_report> running = run_on_thread(eng);
  if (running.wait_for(60s) != std::future_status::ready) {
    eng.cancel();  // let the thread end, then fail
    running.wait();
    FAIL("the run did not end within 60 s: the callouts did not wake the pollers");
  }
  const run_report report = running.get();
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  CHECK(report.wall_s < 60);
  for (const auto& j : jobs) CHECK(csv_file(dir.path() / "out" / j / "Accounts.csv") == expected_accounts(opts));

  test::emulator_probe probe(srv.base_url());
  simdjson::dom::parser parser;
  const simdjson::dom::element stats = parser.parse(probe.call("GET", "/_emulator/stats"));
  CHECK(std::uint64_t(stats["callouts"]["sent"]) >= jobs.size());
  // One poll per job: the one a callout set off (the first timed poll was 10 minutes away).
  CHECK(probe.stats().request_count("/v1/batch-query/jobs/{id}", "200") == jobs.size());
}

TEST_CASE("a partitioned query: several windowed jobs, the sinks end with the unpartitioned rows once each, one csv file") {
  const emulator::options opts = tenant(105, 200, 100ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::string db = (dir.path() / "part.db").string();
  const partition_spec part = accounts_partition(opts, 365);
  const std::size_t windows = planned_windows(part);
  REQUIRE(windows >= 3);
  const run_report report = run_config(partitioned_accounts(srv.base_url(), "backfill", part, db, dir.path() / "out"));

  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  // Up to now on UpdatedDate: the windows, then the catch-up (window_group.hpp).
  CHECK(report.jobs.size() == windows + 1);
  std::set<std::string> names;
  std::size_t catch_ups = 0;
  for (const auto& j : report.jobs) {
    CHECK(j.status == aquaduct::outcome::completed);
    CHECK_MESSAGE(j.name.rfind("backfill [", 0) == 0, j.name);
    catch_ups += j.name.rfind("backfill [catch-up ", 0) == 0;
    names.insert(j.name);
  }
  CHECK(names.size() == windows + 1);
  CHECK(catch_ups == 1);
  CHECK(probe.stats().request_count("/v1/batch-query/", "200") == windows + 1);
  // The unpartitioned query, exported independently.
  const test::rows expected = probe.export_rows(account_zoql);
  CHECK(test::sorted(expected) == test::sorted(expected_accounts(opts)));
  check_sqlite_equals(db, "backfill__Accounts", expected);
  const auto files = final_files(dir.path() / "out");
  REQUIRE(files.size() == 1);
  CHECK(files[0] == dir.path() / "out" / "backfill" / "Accounts.csv");
  check_csv_same_rows(files[0], expected);
}

namespace {

// The size of the accounts' result file in csv format, as written: the
// header and every row, comma-separated, one line each (a field with a comma
// or quote is quoted, which only adds bytes).
std::uint64_t accounts_csv_bytes(const emulator::options& o) {
  std::uint64_t n = 0;
  for (const auto& r : expected_accounts(o)) {
    for (const auto& f : r) n += f.size() + 1;
  }
  return n;
}

}  // namespace

TEST_CASE("adaptive splitting: a window whose file is over max-object-size (403) is split until its halves fit") {
  emulator::options opts = tenant(106, 200, 100ms);
  opts.max_file_bytes = accounts_csv_bytes(opts) * 6 / 10;  // the whole file is over it, halves of it fit
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::string db = (dir.path() / "split.db").string();
  const partition_spec part = whole_span_partition(opts);
  REQUIRE(planned_windows(part) == 1);
  engine_options eo;
  eo.log = [](const log_record&) {};
  engine eng{parse_pipeline(source_toml(srv.base_url()) +
                                one_query_job("big", "Accounts", account_zoql, part.toml(), "format = \"csv\"\n") +
                                sqlite_sink(db) + test::toml_sink("csv", (dir.path() / "out").string()),
                            "split.toml"),
             eo};
  const run_report report = eng.run();

  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  MESSAGE(report.to_table());
  CHECK(report.jobs.size() > 1);  // the halves (and their halves) report in the window's place
  for (const auto& j : report.jobs) CHECK(j.status == aquaduct::outcome::completed);
  const test::emulator_stats stats = probe.stats();
  CHECK(stats.status_count("403") >= 1);
  const test::rows expected = expected_accounts(opts);
  check_sqlite_equals(db, "big__Accounts", expected);
  check_csv_same_rows(dir.path() / "out" / "big" / "Accounts.csv", expected);
  CHECK(final_files(dir.path() / "out").size() == 1);
  // progress() agrees with the report: every job that stands in the plan is done.
  const progress_snapshot end = eng.progress();
  CHECK_MESSAGE(end.jobs_done == end.jobs_total,
                "jobs_done " << end.jobs_done << " of jobs_total " << end.jobs_total << " after a run of "
                             << report.jobs.size() << " jobs");
  CHECK(end.rows_committed == expected.size() - 1);
}

TEST_CASE("adaptive splitting: a window aborted for processing time (90027) is split in two; with min_step = the window, a clear failure") {
  const std::string abort_rule =
      R"({"rules":[{"method":"POST","path":"/v1/batch-query*","fault":"job_abort",)"
      R"("message":"90027: the query exceeded the maximum processing time","times":1}]})";
  SUBCASE("split: the data is still right") {
    const emulator::options opts = tenant(107, 200, 100ms);
    emulator::server srv(opts);
    srv.start();
    test::emulator_probe probe(srv.base_url());
    probe.arm_faults(abort_rule);
    temp_dir dir;
    const std::string db = (dir.path() / "timeout.db").string();
    const partition_spec part = whole_span_partition(opts);
    REQUIRE(planned_windows(part) == 1);
    const run_report report = run_config(parse_pipeline(
        source_toml(srv.base_url()) + one_query_job("slow", "Accounts", account_zoql, part.toml()) + sqlite_sink(db),
        "timeout.toml"));
    CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
    CHECK(report.jobs.size() == 3);  // the two halves in the window's place, and the catch-up
    const test::emulator_stats stats = probe.stats();
    CHECK(stats.faults_armed == 0);
    CHECK(stats.job_count("aborted") == 1);
    CHECK(stats.job_count("completed") == 3);
    check_sqlite_equals(db, "slow__Accounts", expected_accounts(opts));
  }
  SUBCASE("below min_step: the window goes on in pages by Id; the data is still right") {
    const emulator::options opts = tenant(108, 200, 100ms);
    emulator::server srv(opts);
    srv.start();
    test::emulator_probe probe(srv.base_url());
    probe.arm_faults(abort_rule);
    temp_dir dir;
    const std::string db = (dir.path() / "paged.db").string();
    const partition_spec part = whole_span_partition(opts, "P7300D");
    REQUIRE(planned_windows(part) == 1);
    const run_report report = run_config(parse_pipeline(
        source_toml(srv.base_url()) + one_query_job("slow", "SlowAccounts", account_zoql, part.toml()) + sqlite_sink(db),
        "paged.toml"));
    CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
    REQUIRE(report.jobs.size() == 2);  // the window's first page in its place, and the catch-up
    CHECK(report.jobs[0].window.ends_with(" Id page 1"));
    CHECK_MESSAGE(report.jobs[0].queries.at(0).split.find("1 Id page(s)") != std::string::npos,
                  report.jobs[0].queries.at(0).split);
    CHECK(probe.stats().job_count("aborted") == 1);
    check_sqlite_equals(db, "slow__SlowAccounts", expected_accounts(opts));
  }
  SUBCASE("cannot be split further: a page of one row still aborts; the query fails saying so, nothing committed") {
    const emulator::options opts = tenant(108, 200, 20ms);
    emulator::server srv(opts);
    srv.start();
    test::emulator_probe probe(srv.base_url());
    probe.arm_faults(R"({"rules":[{"method":"POST","path":"/v1/batch-query*","fault":"job_abort",)"
                     R"("message":"90027: the query exceeded the maximum processing time"}]})");
    temp_dir dir;
    const std::string db = (dir.path() / "nosplit.db").string();
    const partition_spec part = whole_span_partition(opts, "P7300D");
    const run_report report = run_config(parse_pipeline(
        source_toml(srv.base_url()) + one_query_job("slow", "SlowAccounts", account_zoql, part.toml()) + sqlite_sink(db),
        "nosplit.toml"));
    CHECK(report.exit_code() == 1);
    REQUIRE(report.jobs.size() == 1);  // the last page: every bigger one went on as a smaller one
    const job_report& j = report.jobs[0];
    CHECK(j.status == aquaduct::outcome::aborted);
    REQUIRE(j.queries.size() == 1);
    CHECK(j.queries[0].status != aquaduct::outcome::completed);
    const std::string message = j.error.value_or("") + " | " + j.queries[0].error.value_or("");
    MESSAGE(message);
    CHECK_MESSAGE(message.find("SlowAccounts") != std::string::npos, message);
    CHECK_MESSAGE(message.find("90027") != std::string::npos, message);
    CHECK_MESSAGE(message.find("a single row") != std::string::npos, message);
    // The query's own error (what the log says for it) names the page and why, too.
    const std::string query_error = j.queries[0].error.value_or("");
    CHECK_MESSAGE(query_error.find("Id page") != std::string::npos, query_error);
    CHECK_MESSAGE(query_error.find("a single row") != std::string::npos, query_error);
    // 50,000 rows a page halved down to 1: 16 pages, after the window itself.
    CHECK(probe.stats().job_count("aborted") == 17);
    const auto t = test::read_sqlite_table(db, "slow__SlowAccounts");
    CHECK_MESSAGE((!t || t->data.empty()), "a failed query committed rows");
  }
}

TEST_CASE("a plain query that cannot be split (order by) and runs out of time fails naming the query, the abort and why") {
  const emulator::options opts = tenant(110, 100, 20ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  probe.arm_faults(R"({"rules":[{"method":"POST","path":"/v1/batch-query*","fault":"job_abort",)"
                   R"("message":"90027: the query exceeded the maximum processing time","times":1}]})");
  temp_dir dir;
  const std::string db = (dir.path() / "ordered.db").string();
  const run_report report = run_config(parse_pipeline(
      source_toml(srv.base_url()) + one_query_job("slow", "Ordered", account_zoql + " order by Name") + sqlite_sink(db),
      "ordered.toml"));
  CHECK(report.exit_code() == 1);
  REQUIRE(report.jobs.size() == 1);
  REQUIRE(report.jobs[0].queries.size() == 1);
  const std::string error = report.jobs[0].queries[0].error.value_or("");
  CHECK_MESSAGE(error.find("Ordered") != std::string::npos, error);
  CHECK_MESSAGE(error.find("90027") != std::string::npos, error);
  CHECK_MESSAGE(error.find("cannot be split, as it has order by") != std::string::npos, error);
  CHECK(probe.stats().job_count("aborted") == 1);
}

namespace {

// The 404 a purged result file answers (emulator/aqua_service.cpp), once, on
// the next file download.
std::string purge_next_download() {
  const std::string purged_body = R"({\"success\":false,\"reasons\":[{\"code\":50000040,\"message\":\"File not found\"}]})";
  return R"({"rules":[{"method":"GET","path":"/v1/file/*","fault":"status","code":404,"times":1,"body":")" + purged_body +
         R"("}]})";
}

}  // namespace

TEST_CASE("a window's result file purged (404) before its commit: the window's job is submitted again, the data is right") {
  const emulator::options opts = tenant(109, 200, 100ms);  // one file per window
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  probe.arm_faults(purge_next_download());
  temp_dir dir;
  const std::string db = (dir.path() / "purged.db").string();
  const partition_spec part = accounts_partition(opts, 1000);
  const std::size_t windows = planned_windows(part);
  REQUIRE(windows >= 2);
  const run_report report = run_config(partitioned_accounts(srv.base_url(), "purged", part, db, dir.path() / "out"));
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  const test::emulator_stats stats = probe.stats();
  CHECK(stats.faults_armed == 0);
  CHECK(stats.status_count("404") == 1);
  // One window submitted twice, and the catch-up.
  CHECK(stats.request_count("/v1/batch-query/", "200") == windows + 2);
  CHECK(stats.job_count("completed") == windows + 2);
  const test::rows expected = expected_accounts(opts);
  check_sqlite_equals(db, "purged__Accounts", expected);
  check_csv_same_rows(dir.path() / "out" / "purged" / "Accounts.csv", expected);
}

TEST_CASE("a result purged between two files of one batch (the first already in the sinks' streams): submitted again, rows once") {
  // "A result purged (404) before we committed it is submitted again"
  // (docs/architecture.md), also when an earlier file of the batch was read.
  // Made deterministic: one download at a time; the first file stalls after
  // 100 bytes, and while it is stalled (so some of it reached the pipeline)
  // the 404 is armed for the next download, which is the second file.
  bool windowed = false;
  SUBCASE("a plain job") { windowed = false; }
  SUBCASE("a window of a partitioned query") { windowed = true; }
  {
    emulator::options opts = tenant(windowed ? 114 : 113, 150, 100ms);
    opts.segment_rows = 40;
    emulator::server srv(opts);
    srv.start();
    test::emulator_probe probe(srv.base_url());
    probe.arm_faults(R"({"rules":[{"method":"GET","path":"/v1/file/*","fault":"stall_ms","ms":1500,"after_bytes":100,"times":1}]})");
    temp_dir dir;
    const std::string db = (dir.path() / "purged.db").string();
    const std::string query_extra = windowed ? whole_span_partition(opts).toml() : "";
    engine eng{parse_pipeline(source_toml(srv.base_url(), "max_downloads = 1\n") +
                                  one_query_job("purged", "Accounts", account_zoql, query_extra, "format = \"csv\"\n") +
                                  sqlite_sink(db) + test::toml_sink("csv", (dir.path() / "out").string()),
                              "purged.toml")};
    std::future<run_report> running = run_on_thread(eng);
    const auto [stalled, seen] = probe.wait_for(
        [](const test::emulator_stats& s) { return s.faults_armed == 0; },  // the stall rule fired: file 1 is stalled
        60s);
    CHECK_MESSAGE(stalled, "the first download never started");
    probe.arm_faults(purge_next_download());
    REQUIRE(running.wait_for(120s) == std::future_status::ready);
    const run_report report = running.get();

    CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
    const test::emulator_stats stats = probe.stats();
    CHECK(stats.status_count("404") == 1);
    // The job, then again (and a window's group its catch-up).
    CHECK(stats.request_count("/v1/batch-query/", "200") == (windowed ? 3 : 2));
    const test::rows expected = expected_accounts(opts);
    REQUIRE(expected.size() - 1 > 2 * opts.segment_rows);
    check_sqlite_equals(db, "purged__Accounts", expected);
    const auto files = final_files(dir.path() / "out");
    REQUIRE(files.size() == 1);
    check_csv_same_rows(files[0], expected);
  }
}

TEST_CASE("max_downloads = 1 over several jobs of segmented results: one download at a time, rows in file order") {
  emulator::options opts = tenant(110, 150, 150ms);
  opts.segment_rows = 40;            // four files per job
  opts.max_concurrent_downloads = 1;  // a second download at once would be answered 429
  emulator::server srv(opts);
  srv.start();
  temp_dir dir;
  const std::vector<std::string> jobs = {"d1", "d2", "d3", "d4"};
  std::string toml = source_toml(srv.base_url(), "max_downloads = 1\n");
  for (const auto& j : jobs) toml += one_query_job(j, "Accounts", account_zoql);
  toml += test::toml_sink("csv", (dir.path() / "out").string());

  engine eng{parse_pipeline(toml, "downloads.toml")};
  std::uint64_t peak_server = 0, samples = 0;
  std::uint32_t peak_engine = 0;
  std::unique_ptr<test::emulator_probe> probe;  // made on the sampler's thread
  simdjson::dom::parser parser;
  sampler_thread sampler([&] {
    if (!probe) probe = std::make_unique<test::emulator_probe>(srv.base_url());
    const simdjson::dom::element s = parser.parse(probe->call("GET", "/_emulator/stats"));
    peak_server = std::max(peak_server, std::uint64_t(s["downloads_in_flight"]));
    peak_engine = std::max(peak_engine, eng.progress().downloads_active);
    ++samples;
  });
  const run_report report = eng.run();
  REQUIRE(sampler.stop().empty());

  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  MESSAGE(samples << " samples; peak downloads in flight: server " << peak_server << ", engine " << peak_engine);
  CHECK(peak_server <= 1);
  CHECK(peak_engine <= 1);
  CHECK(test::emulator_probe(srv.base_url()).stats().status_count("429") == 0);  // never two downloads at once
  const test::rows expected = expected_accounts(opts);
  REQUIRE(expected.size() - 1 > 3 * opts.segment_rows);
  for (const auto& j : report.jobs) {
    CAPTURE(j.name);
    REQUIRE(j.queries.size() == 1);
    CHECK(j.queries[0].files == (expected.size() - 1 + opts.segment_rows - 1) / opts.segment_rows);
    CHECK(csv_file(dir.path() / "out" / j.name / "Accounts.csv") == expected);
  }
}

TEST_CASE("a stateful session of two jobs: they run one after the other, both land right") {
  emulator::options opts = tenant(111, 100, 400ms);
  opts.max_active_jobs = 1;  // a second stateful job submitted while one is active is refused (90028)
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::string db = (dir.path() / "session.db").string();
  const std::string session = "format = \"gzip\"\nversion = \"1.1\"\npartner = \"acme\"\nproject = \"warehouse\"\n";
  const std::string contact_zoql = "select Id, FirstName, LastName from Contact";
  const std::string toml = source_toml(srv.base_url()) + one_query_job("first", "Accounts", account_zoql, "", session) +
                           one_query_job("second", "Contacts", contact_zoql, "", session) + sqlite_sink(db);

  std::uint64_t peak = 0, samples = 0;
  std::unique_ptr<test::emulator_probe> sampling;  // made on the sampler's thread
  sampler_thread sampler([&] {
    if (!sampling) sampling = std::make_unique<test::emulator_probe>(srv.base_url());
    peak = std::max(peak, sampling->stats().active_stateful);
    ++samples;
  });
  const run_report report = run_config(parse_pipeline(toml, "session.toml"), (dir.path() / "state").string());
  REQUIRE(sampler.stop().empty());

  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  MESSAGE(samples << " samples, peak active stateful jobs " << peak);
  CHECK(peak == 1);  // never both submitted at once (a queued session job counts as active)
  const test::emulator_stats stats = probe.stats();
  CHECK(stats.job_count("completed") == 2);
  CHECK(stats.request_count("/v1/batch-query/", "200") == 2);  // no submit refused for an overlap (90028 is an HTTP 200)
  check_sqlite_equals(db, "first__Accounts", probe.export_rows(account_zoql));
  check_sqlite_equals(db, "second__Contacts", probe.export_rows(contact_zoql));
}

TEST_CASE("the tenant's job limit reached through others (90028): refused submits wait and go again, every job lands") {
  emulator::options opts = tenant(112, 100, 150ms);
  opts.max_active_jobs = 1;  // the service takes one job at a time; the engine would send three
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::vector<std::string> jobs = {"l1", "l2", "l3"};
  std::string toml = source_toml(srv.base_url());
  for (const auto& j : jobs) toml += one_query_job(j, "Accounts", account_zoql);
  toml += test::toml_sink("csv", (dir.path() / "out").string());

  const run_report report = run_config(parse_pipeline(toml, "limit.toml"), (dir.path() / "state").string());
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  const test::emulator_stats stats = probe.stats();
  CHECK(stats.job_count("completed") == jobs.size());
  // 90028 is an HTTP 200 without a job: more submits than jobs means some were refused and sent again.
  CHECK(stats.request_count("/v1/batch-query/", "200") > jobs.size());
  const test::rows expected = expected_accounts(opts);
  for (const auto& j : jobs) CHECK(csv_file(dir.path() / "out" / j / "Accounts.csv") == expected);
}

TEST_CASE("kind = batch_results through the engine: each char type lands as <query>__type_<id>.csv with the batch's rows") {
  const emulator::options opts = tenant(112, 40, 200ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::string toml = source_toml(srv.base_url()) +
                           one_query_job("crm", "people", "select Id, Name, BillToContact.FirstName from Account", "",
                                         "kind = \"batch_results\"\n") +
                           "[[jobs.queries]]\nname = \"contacts\"\nquery = \"select Id, FirstName, LastName from Contact\"\n" +
                           test::toml_sink("csv", (dir.path() / "out").string());
  const run_report report = run_config(parse_pipeline(toml, "batch.toml"));

  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  REQUIRE(report.jobs.size() == 1);
  const job_report& j = report.jobs[0];
  std::vector<std::string> ids;
  for (std::size_t at = 0; at <= j.job_id.size();) {
    const std::size_t comma = std::min(j.job_id.find(',', at), j.job_id.size());
    ids.push_back(j.job_id.substr(at, comma - at));
    at = comma + 1;
  }
  REQUIRE(ids.size() == 2);
  std::size_t tables = 0;
  for (std::size_t qi = 0; qi < 2; ++qi) {
    const std::string query = qi == 0 ? "people" : "contacts";
    CAPTURE(query);
    const std::string document = probe.call("GET", "/v4/batch/" + ids[qi], "", true);
    for (const auto& [table, expected] : test::decode_independently(document)) {
      const std::string file = query + "__" + table + ".csv";
      CAPTURE(file);
      ++tables;
      test::rows want{expected.columns};
      want.insert(want.end(), expected.data.begin(), expected.data.end());
      CHECK(csv_file(dir.path() / "out" / "crm" / file) == want);
    }
  }
  CHECK(final_files(dir.path() / "out").size() == tables);
  CHECK(tables >= 5);  // people: Account and Contact records and their relationships; contacts: Contact (and none)
}

TEST_CASE("an embedder's sink throws its own exception (not a system_error): that query fails, named, nothing of it committed; the others land") {
  const emulator::options opts = tenant(109, 80, 50ms);
  emulator::server srv(opts);
  srv.start();
  temp_dir dir;
  const std::string toml = source_toml(srv.base_url()) + one_query_job("good", "Accounts", account_zoql) +
                           one_query_job("bad", "Broken", account_zoql) +
                           test::toml_sink("csv", (dir.path() / "out").string());
  std::atomic<int> aborts_of_broken{0}, commits_of_broken{0};
  callback_handlers h;
  h.on_rows = [](const row_batch& rows) {
    if (rows.schema().query == "Broken") throw std::runtime_error("the embedder's store refused a row");
  };
  h.on_commit = [&](const stream_schema& s, const file_token&) { commits_of_broken += s.query == "Broken"; };
  h.on_abort = [&](const stream_schema& s) { aborts_of_broken += s.query == "Broken"; };
  engine eng{parse_pipeline(toml, "throwing.toml")};
  eng.add_sink(make_callback_sink(std::move(h)));
  const run_report report = eng.run();
  CHECK(report.exit_code() == 1);
  REQUIRE(report.jobs.size() == 2);
  const job_report& good = report.jobs[0].name == "good" ? report.jobs[0] : report.jobs[1];
  const job_report& bad = report.jobs[0].name == "bad" ? report.jobs[0] : report.jobs[1];
  CHECK(good.status == aquaduct::outcome::completed);
  CHECK(bad.status == aquaduct::outcome::failed);
  REQUIRE(bad.queries.size() == 1);
  CHECK(bad.queries[0].status == aquaduct::outcome::failed);
  // The query's error says which job, query and file, and the embedder's own words; it is no "internal error".
  const std::string why = bad.queries[0].error.value_or(bad.error.value_or(""));
  INFO(report.to_table());
  CHECK(why.find("the embedder's store refused a row") != std::string::npos);
  CHECK(why.find("job bad") != std::string::npos);
  CHECK(why.find("query Broken") != std::string::npos);
  CHECK(why.find("file ") != std::string::npos);
  CHECK(why.find("internal error") == std::string::npos);
  CHECK(commits_of_broken == 0);
  CHECK(aborts_of_broken >= 1);
  // The csv sink holds the good query only.
  const auto files = final_files(dir.path() / "out");
  REQUIRE(files.size() == 1);
  check_csv_same_rows(files[0], expected_accounts(opts));
}

TEST_CASE("cancel() stops the run in progress only: the next run on the same engine goes to its end") {
  const emulator::options opts = tenant(131, 100, 400ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  engine_options eo;
  eo.log = [](const log_record&) {};
  engine eng{parse_pipeline(source_toml(srv.base_url()) + one_query_job("poison", "Accounts", account_zoql) +
                                "[[sinks]]\ntype = \"null\"\n",
                            "poison.toml"),
             eo};
  std::future<run_report> first = run_on_thread(eng);
  const auto [submitted, seen] =
      probe.wait_for([](const test::emulator_stats& s) { return s.request_count("/v1/batch-query/", "200") >= 1; }, 60s);
  REQUIRE(submitted);
  eng.cancel();
  REQUIRE(first.wait_for(120s) == std::future_status::ready);
  CHECK(first.get().exit_code() == 130);
  eng.cancel();  // between runs: nothing to cancel, and nothing kept for later
  const run_report second = eng.run();
  CHECK_MESSAGE(second.exit_code() == 0, second.to_table());
  CHECK_FALSE(second.interrupted);
}

namespace {

// A sink whose close() throws, as an embedder's might.
class throwing_close_sink final : public sink {
 public:
  std::string_view type() const noexcept override { return "closer"; }
  std::unique_ptr<sink_stream> open(const stream_schema&) override {
    struct stream final : sink_stream {
      void write(const row_batch&) override {}
      void commit(const file_token&) override {}
      void abort() noexcept override {}
    };
    return std::make_unique<stream>();
  }
  void close() override { throw std::runtime_error("the embedder's store went away at close"); }
};

}  // namespace

TEST_CASE("a sink whose close() throws: the run ends with it in the report, nothing thrown out of run()") {
  const emulator::options opts = tenant(132, 60);
  emulator::server srv(opts);
  srv.start();
  engine_options eo;
  eo.log = [](const log_record&) {};
  engine eng{parse_pipeline(source_toml(srv.base_url()) + one_query_job("closing", "Accounts", account_zoql) +
                                "[[sinks]]\ntype = \"null\"\n",
                            "closing.toml"),
             eo};
  eng.add_sink(std::make_unique<throwing_close_sink>());
  run_report report;
  CHECK_NOTHROW(report = eng.run());
  CHECK(report.exit_code() == 1);
  bool named = false;
  for (const auto& j : report.jobs)
    if (j.name == "(sinks)") named = j.error && j.error->find("the embedder's store went away at close") != std::string::npos;
  CHECK_MESSAGE(named, report.to_table());
}

TEST_CASE("a poll that keeps failing: the job is cancelled on the service before the unit gives up") {
  const emulator::options opts = tenant(133, 60, 2000ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  // Every poll answers 400 (not retried): the unit fails at once, its job still running on the service.
  probe.arm_faults(R"({"rules":[{"method":"GET","path":"/v1/batch-query/jobs/*","fault":"status","code":400,)"
                   R"("body":{"errorCode":"90010","message":"internal error"}}]})");
  const run_report report = run_config(parse_pipeline(
      source_toml(srv.base_url()) + one_query_job("abandoned", "Accounts", account_zoql) + "[[sinks]]\ntype = \"null\"\n",
      "abandoned.toml"));
  CHECK(report.exit_code() == 1);
  REQUIRE(report.jobs.size() == 1);
  CHECK(report.jobs[0].status == aquaduct::outcome::failed);
  // The run ends only after the cancel went out: the service counts the job cancelled, its slot free.
  const test::emulator_stats stats = probe.stats();
  CHECK(stats.job_count("cancelled") == 1);
  CHECK(stats.active_stateless == 0);
}

TEST_CASE("a window's download breaks on a server without Range: that window is downloaded again, the rest stands") {
  emulator::options opts = tenant(134, 200, 100ms);
  opts.range_requests = false;
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  probe.arm_faults(R"({"rules":[{"method":"GET","path":"/v1/file/*","fault":"reset_after_bytes","bytes":200,"times":1}]})");
  temp_dir dir;
  const std::string db = (dir.path() / "restart.db").string();
  std::vector<log_record> logged;
  std::mutex m;
  engine_options eo;
  eo.log = [&](const log_record& r) {
    std::lock_guard lock(m);
    logged.push_back(r);
  };
  const partition_spec part = accounts_partition(opts, 1000);
  REQUIRE(planned_windows(part) >= 2);
  engine eng{partitioned_accounts(srv.base_url(), "restart", part, db, dir.path() / "out"), eo};
  const run_report report = eng.run();
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  CHECK(probe.stats().faults_armed == 0);
  const bool again = std::any_of(logged.begin(), logged.end(), [](const log_record& r) {
    return r.message.find("downloading the file again from its first byte") != std::string::npos;
  });
  CHECK(again);
  const test::rows expected = expected_accounts(opts);
  check_sqlite_equals(db, "restart__Accounts", expected);
  check_csv_same_rows(dir.path() / "out" / "restart" / "Accounts.csv", expected);
}

namespace {

std::string json_200(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// A service that submits one job and completes it with `batch` (no file of
// its own unless the batch names one).
std::vector<test::script_step> one_job_script(const std::string& batch) {
  const std::string id = "0123456789abcdef0123456789abcdef";
  return {{json_200(R"({"id":")" + id + R"(","status":"submitted","batches":[]})")},
          {json_200(R"({"id":")" + id + R"(","status":"completed","startTime":"2026-12-01 10:00:00","batches":[)" +
                    batch + "]}")}};
}

}  // namespace

TEST_CASE("a completed batch with no fileId and no segments: a full load still replaces; with rows promised, a clear failure") {
  temp_dir dir;
  const std::string db = (dir.path() / "empty.db").string();
  const std::filesystem::path out = dir.path() / "out";
  // What an earlier run left: a file with a header and two rows, a table with one row.
  std::filesystem::create_directories(out / "emptied");
  {
    std::ofstream f(out / "emptied" / "Accounts.csv");
    f << "Account.Id,Account.Name\n1,one\n2,two\n";
  }
  sqlite3* handle = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &handle) == SQLITE_OK);
  REQUIRE(sqlite3_exec(handle,
                       "CREATE TABLE \"emptied__Accounts\" (\"Account.Id\" TEXT, \"Account.Name\" TEXT);"
                       "INSERT INTO \"emptied__Accounts\" VALUES ('1', 'one');",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(handle);
  const auto run_against = [&](const std::string& batch) {
    test::scripted_server srv(one_job_script(batch));
    engine_options eo;
    eo.log = [](const log_record&) {};
    // The script answers the job calls only: no describe.
    std::string src = source_toml("http://127.0.0.1:" + std::to_string(srv.port()));
    src.replace(src.find("[source]\n"), 9, "[source]\ndescribe = false\n");
    engine eng{parse_pipeline(src +
                                  one_query_job("emptied", "Accounts", account_zoql, "", "format = \"csv\"\n") +
                                  sqlite_sink(db) + test::toml_sink("csv", out.string()),
                              "empty.toml"),
               eo};
    return eng.run();
  };

  SUBCASE("recordCount 0: the file keeps its header only, the table keeps its columns and loses its rows") {
    const run_report r = run_against(R"({"name":"Accounts","status":"completed","recordCount":0,"full":true})");
    CHECK_MESSAGE(r.exit_code() == 0, r.to_table());
    CHECK(csv_file(out / "emptied" / "Accounts.csv") == test::rows{{"Account.Id", "Account.Name"}});
    const auto t = test::read_sqlite_table(db, "emptied__Accounts");
    REQUIRE(t);
    CHECK(t->columns == std::vector<std::string>{"Account.Id", "Account.Name"});
    CHECK(t->data.empty());
  }
  SUBCASE("recordCount 3 but no file: the query fails, naming it, and nothing changes") {
    const run_report r = run_against(R"({"name":"Accounts","status":"completed","recordCount":3,"full":true})");
    CHECK(r.exit_code() == 1);
    REQUIRE(r.jobs.size() == 1);
    const std::string error = r.jobs[0].queries.at(0).error.value_or("");
    CHECK_MESSAGE(error.find("query Accounts") != std::string::npos, error);
    CHECK_MESSAGE(error.find("recordCount says 3") != std::string::npos, error);
    CHECK(csv_file(out / "emptied" / "Accounts.csv").size() == 3);
    const auto t = test::read_sqlite_table(db, "emptied__Accounts");
    REQUIRE(t);
    CHECK(t->data.size() == 1);
  }
}

TEST_CASE("a spool budget smaller than one file: the backfill's windows wait on the service and still land whole") {
  const emulator::options opts = tenant(135, 200, 100ms);
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::string db = (dir.path() / "budget.db").string();
  const partition_spec part = accounts_partition(opts, 365);
  REQUIRE(planned_windows(part) >= 3);
  const run_report report = run_config(parse_pipeline(
      source_toml(srv.base_url(), "max_spool_bytes = 1\nmax_downloads = 1\n") +
          one_query_job("budget", "Accounts", account_zoql, part.toml()) + sqlite_sink(db) +
          test::toml_sink("csv", (dir.path() / "out").string()),
      "budget.toml"));
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  const test::rows expected = expected_accounts(opts);
  check_sqlite_equals(db, "budget__Accounts", expected);
  check_csv_same_rows(dir.path() / "out" / "budget" / "Accounts.csv", expected);
  // Every window's file was downloaded once: the waiting ones at delivery, none twice.
  CHECK(probe.stats().request_count("/v1/file/{id}", "200") == planned_windows(part) + 1);
}

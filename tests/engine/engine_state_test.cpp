// The engine's cursors and their promises (issue 6, interfaces.md §2 and §5),
// against the in-process emulator: stateful sessions carry changes and
// deletions; a crash between the server's completion and the sink's commit
// neither skips nor duplicates data; SIGINT cancels the jobs on the server;
// stateless incremental windows fetch only what changed; a download that
// cannot resume restarts from zero; a purged file reruns its job. Most fail
// until the engine work of issue 6 lands. Every expected value
// comes from the emulator, through a probe independent of the engine
// (emulator_probe.hpp).
#include <aquaduct/engine.hpp>

#include <aquaduct/emulator.hpp>
#include "engine/emulator_probe.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <libpq-fe.h>

#include <condition_variable>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <set>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>

extern char** environ;

using namespace aquaduct;
using aquaduct::test::temp_dir;

namespace {

const std::string account_zoql = "select Id, AccountNumber, Name from Account";

emulator::options tenant(std::uint64_t seed) {
  emulator::options o;
  o.seed = seed;
  o.scale = 150;
  o.latency = std::chrono::milliseconds(200);
  return o;
}

// A pipeline built as an embedder builds it: one job of one query into one
// sqlite database.
pipeline_config one_query_pipeline(const std::string& base_url, const std::string& db, job_config job) {
  pipeline_config cfg;
  cfg.path = "engine_state.toml";
  cfg.source.base_url = base_url;
  cfg.source.auth.type = auth_type::basic;
  cfg.source.auth.username = "aquaduct";
  cfg.source.auth.password = "aquaduct";
  cfg.source.poll.initial_ms = 20;
  cfg.source.poll.max_ms = 250;
  cfg.source.poll.full_jitter = false;
  cfg.jobs.push_back(std::move(job));
  sink_config sink;
  sink.type = "sqlite";
  sink.options["path"] = option_value{db, {}};
  cfg.sinks.push_back(std::move(sink));
  return cfg;
}

job_config accounts_job(const std::string& name) {
  job_config job;
  job.name = name;
  job.format = "gzip";
  query_config q;
  q.name = "Accounts";
  q.query = account_zoql;
  job.queries.push_back(q);
  return job;
}

job_config stateful_accounts_job(const std::string& name, const std::string& project) {
  job_config job = accounts_job(name);
  job.version = "1.1";
  job.partner = "acme";
  job.project = project;
  job.queries[0].deleted = deleted_config{"IsDeleted", "Boolean", false};
  return job;
}

run_report run_engine(pipeline_config cfg, const std::string& state_dir) {
  engine_options options;
  options.state_dir = state_dir;
  engine eng{std::move(cfg), options};
  return eng.run();
}

// The sqlite table (its columns that the export has) equals what the tenant
// holds now, per a fresh full export.
void check_table_equals_tenant(test::emulator_probe& probe, const std::string& db, const std::string& table) {
  const auto [header, rows] = test::header_and_rows(probe.export_rows(account_zoql));
  const auto t = test::read_sqlite_table(db, table);
  REQUIRE_MESSAGE(t, "no table " << table << " in " << db);
  CHECK(test::project(*t, header) == rows);
}

// Ids (the first column) of the tenant's accounts now, in export order.
std::vector<std::string> account_ids(test::emulator_probe& probe) {
  std::vector<std::string> ids;
  const test::rows r = probe.export_rows(account_zoql);
  for (std::size_t i = 1; i < r.size(); ++i) ids.push_back(r[i][0]);
  return ids;
}

std::string json_ids(const std::vector<std::string>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ",\"" : "\"") + ids[i] + "\"";
  return s + "]";
}

// Distinct ids a mutation touched.
std::set<std::string> touched(const std::vector<test::mutation>& ms) {
  std::set<std::string> ids;
  for (const auto& m : ms) {
    ids.insert(m.created.begin(), m.created.end());
    ids.insert(m.updated.begin(), m.updated.end());
    ids.insert(m.deleted.begin(), m.deleted.end());
  }
  return ids;
}

bool has_json_file(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return false;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".json") return true;
  return false;
}

// A child process (posix_spawn) whose stdout and stderr go to a file.
class child_process {
 public:
  child_process(const std::vector<std::string>& argv, const std::filesystem::path& output) : output_(output) {
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&files, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0].c_str(), &files, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv[0]);
  }
  ~child_process() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  bool running() const { return pid_ > 0 && !status_; }
  void signal(int sig) const { ::kill(pid_, sig); }

  // Waits for the child to end; kills it if `deadline` passes first.
  // Returns the wait status.
  int wait(std::chrono::seconds deadline) {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
      std::unique_lock lock(m);
      if (!cv.wait_for(lock, deadline, [&] { return done; })) ::kill(pid_, SIGKILL);
    });
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    {
      std::lock_guard lock(m);
      done = true;
    }
    cv.notify_one();
    watchdog.join();
    status_ = status;
    return status;
  }

  std::string output() const {
    try {
      return test::read_file(output_.string());
    } catch (const std::exception&) {
      return "";
    }
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::filesystem::path output_;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.flush());
}

}  // namespace

TEST_CASE("stateful: a full load, then /_emulator/mutate, then an incremental load carrying the deletions") {
  // incrementalTime must be in the data centre's zone (aqua-contract.md §1.3):
  // a Pacific tenant read as UTC starts the window hours late and misses the
  // changes; a UTC tenant read as Pacific starts it hours early and carries
  // changes committed before the first run again.
  struct zone_case {
    std::string name;
    bool utc_tenant;
    data_center_zone zone;
  };
  for (const zone_case& zc : {zone_case{"US data centre (Pacific), zone automatic", false, data_center_zone::automatic},
                             zone_case{"EU data centre (UTC), time_zone = utc", true, data_center_zone::utc}}) {
    CAPTURE(zc.name);
    emulator::options opts = tenant(21);
    opts.utc_tenant = zc.utc_tenant;
    emulator::server srv(opts);
    srv.start();
    test::emulator_probe probe(srv.base_url());
    temp_dir dir;
    const std::string db = (dir.path() / "warehouse.db").string();
    const std::string state = (dir.path() / "state").string();
    const auto pipeline = [&] {
      pipeline_config cfg = one_query_pipeline(srv.base_url(), db, stateful_accounts_job("sess", "warehouse"));
      cfg.source.time_zone = zc.zone;
      return cfg;
    };

    // Changes before the first run: its full load has them, and no later
    // window may carry them again.
    const std::vector<std::string> ids = account_ids(probe);
    REQUIRE(ids.size() > 40);
    probe.mutate(R"({"object":"Account","update_ids":)" + json_ids({ids[30], ids[31]}) + "}");

    const run_report first = run_engine(pipeline(), state);
    REQUIRE_MESSAGE(first.exit_code() == 0, first.to_table());
    CHECK(first.jobs.at(0).queries.at(0).full);
    check_table_equals_tenant(probe, db, "sess__Accounts");
    CHECK_MESSAGE(has_json_file(state), "no cursor file under the state dir after a committed stateful run");

    // Disjoint changes: 3 new accounts, 4 updated, 2 deleted.
    const test::mutation m = probe.mutate(R"({"object":"Account","create":3,"update_ids":)" +
                                          json_ids({ids[1], ids[2], ids[3], ids[4]}) + R"(,"delete_ids":)" +
                                          json_ids({ids[10], ids[11]}) + "}");
    REQUIRE(m.created.size() == 3);
    REQUIRE(m.deleted.size() == 2);

    const run_report second = run_engine(pipeline(), state);
    REQUIRE_MESSAGE(second.exit_code() == 0, second.to_table());
    const query_report& q = second.jobs.at(0).queries.at(0);
    CHECK_MESSAGE(!q.full, "the second run of a stateful session must be incremental");
    CHECK(q.rows == touched({m}).size());  // the changes only, deletions included
    check_table_equals_tenant(probe, db, "sess__Accounts");
    const auto table = test::read_sqlite_table(db, "sess__Accounts");
    REQUIRE(table);
    const test::rows kept_ids = test::project(*table, {"Account.Id"});
    for (const auto& gone : m.deleted)
      CHECK_MESSAGE(!std::binary_search(kept_ids.begin(), kept_ids.end(), std::vector<std::string>{gone}),
                    "deleted account " << gone << " still in the table");
  }
}

namespace {

std::string sqlite_sink_toml(const std::string& db) { return "[[sinks]]\ntype = \"sqlite\"\npath = \"" + db + "\"\n"; }

// A crash and its recovery: crash_child runs a pipeline and dies before its
// commit; reruns go into crash.db with the same state dir, the clean run
// into clean.db with a state dir of its own.
struct crash_scene {
  explicit crash_scene(std::uint64_t seed) : srv(tenant(seed)) {
    srv.start();
    probe.emplace(srv.base_url());
  }

  std::string source() const { return test::toml_source(srv.base_url()); }

  // crash_child runs `pipeline` (without sinks): it must die at its commit
  // (or its first write), after its job completed on the server.
  void crash(const std::string& pipeline, const std::string& at = "commit") {
    write_text(dir.path() / "child.toml", pipeline);
    const std::uint64_t completed_before = probe->stats().job_count("completed");
    child_process child({AQUADUCT_CRASH_CHILD, (dir.path() / "child.toml").string(), state, crash_db, at},
                        dir.path() / "child.out");
    const int status = child.wait(std::chrono::seconds(180));
    REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 77), describe_status(status) << "\n" << child.output());
    CHECK(probe->stats().job_count("completed") == completed_before + 1);
  }

  // A normal run into crash.db with the state dir the crash used.
  run_report run(const std::string& pipeline) {
    return run_engine(parse_pipeline(pipeline + sqlite_sink_toml(crash_db), "run.toml"), state);
  }
  run_report clean_run(const std::string& pipeline) {
    return run_engine(parse_pipeline(pipeline + sqlite_sink_toml(clean_db), "clean.toml"), (dir.path() / "clean-state").string());
  }

  // The recovered table equals the clean run's, and the tenant's data.
  void check_recovered(const std::string& table) {
    const auto recovered = test::read_sqlite_table(crash_db, table);
    const auto reference = test::read_sqlite_table(clean_db, table);
    REQUIRE(recovered);
    REQUIRE(reference);
    CHECK(recovered->columns == reference->columns);
    CHECK(test::sorted(recovered->data) == test::sorted(reference->data));
    check_table_equals_tenant(*probe, crash_db, table);
  }

  emulator::server srv;
  std::optional<test::emulator_probe> probe;
  temp_dir dir;
  std::string crash_db = (dir.path() / "crash.db").string();
  std::string clean_db = (dir.path() / "clean.db").string();
  std::string state = (dir.path() / "state").string();
};

}  // namespace

TEST_CASE("crash safety, stateless: killed before the sink commits, the rerun ends equal to one clean run") {
  crash_scene scene(31);
  const std::string pipeline = scene.source() + test::toml_job("crashy", {{"Accounts", account_zoql}});
  scene.crash(pipeline);
  CHECK_FALSE(test::read_sqlite_table(scene.crash_db, "crashy__Accounts"));  // nothing committed

  const run_report rerun = scene.run(pipeline);
  CHECK_MESSAGE(rerun.exit_code() == 0, rerun.to_table());
  const run_report clean = scene.clean_run(pipeline);
  CHECK_MESSAGE(clean.exit_code() == 0, clean.to_table());
  scene.check_recovered("crashy__Accounts");
}

// The stateful scene: a committed full load, changes, a run that dies after
// its job completed on the server (the session moved on), more changes and a
// rerun with the crashed run's state dir.
struct stateful_crash {
  crash_scene scene{41};
  std::vector<std::string> ids;
  test::mutation m1, m2;

  std::string pipeline(const std::string& project) const {
    return scene.source() +
           test::toml_job("sess", {{"Accounts", account_zoql}},
                          "format = \"gzip\"\nversion = \"1.1\"\npartner = \"acme\"\nproject = \"" + project + "\"\n") +
           "deleted = { column = \"IsDeleted\", format = \"Boolean\" }\n";
  }

  run_report crash_and_rerun(const std::string& at) {
    const run_report first = scene.run(pipeline("crash"));
    REQUIRE_MESSAGE(first.exit_code() == 0, first.to_table());
    ids = account_ids(*scene.probe);
    REQUIRE(ids.size() > 20);
    m1 = scene.probe->mutate(R"({"object":"Account","create":2,"update_ids":)" + json_ids({ids[1], ids[2]}) +
                             R"(,"delete_ids":)" + json_ids({ids[5]}) + "}");
    scene.crash(pipeline("crash"), at);
    m2 = scene.probe->mutate(R"({"object":"Account","create":1,"update_ids":)" + json_ids({ids[7], ids[8]}) +
                             R"(,"delete_ids":)" + json_ids({ids[9]}) + "}");
    run_report rerun = scene.run(pipeline("crash"));
    REQUIRE_MESSAGE(rerun.exit_code() == 0, rerun.to_table());
    return rerun;
  }

  // One clean run of a new session, into another database, must end equal.
  void check_recovered() {
    const run_report clean = scene.clean_run(pipeline("clean"));
    REQUIRE_MESSAGE(clean.exit_code() == 0, clean.to_table());
    scene.check_recovered("sess__Accounts");
  }
};

TEST_CASE("crash safety, stateful: the server's session moved on, the rerun fetches the gap again") {
  // Dies at its first write: rows half staged, no commit begun, so the cursor
  // is trusted. The rerun must carry both sets of changes: the session's own
  // window starts after the crashed job, our cursor before it.
  stateful_crash c;
  const run_report rerun = c.crash_and_rerun("write");
  const query_report& q = rerun.jobs.at(0).queries.at(0);
  CHECK_FALSE(q.full);
  CHECK(q.rows == touched({c.m1, c.m2}).size());
  c.check_recovered();
}

TEST_CASE("crash safety, stateful: a run that died inside its commit is reloaded in full, and ends equal to a clean run") {
  // Dies in the sink's commit, after the engine recorded the cursor it was
  // about to save as pending: whether the sink committed is unknown, and a
  // replay could not remove a row created and deleted inside the window.
  stateful_crash c;
  const run_report rerun = c.crash_and_rerun("commit");
  const query_report& q = rerun.jobs.at(0).queries.at(0);
  CHECK(q.full);
  CHECK(q.rows == c.scene.probe->truth_at("Account").live.size());
  c.check_recovered();
}

TEST_CASE("SIGINT or SIGTERM: the aquaduct CLI cancels its jobs on the server, exits 130 and leaves no final file") {
  for (const int sig : {SIGINT, SIGTERM}) {
    CAPTURE(sig);
    emulator::options opts = tenant(51);
    opts.latency = std::chrono::minutes(30);
    emulator::server srv(opts);
    srv.start();
    test::emulator_probe probe(srv.base_url());
    temp_dir dir;
    const std::filesystem::path out = dir.path() / "out";
    const std::vector<std::string> jobs = {"one", "two", "three"};
    std::string toml = test::toml_source(srv.base_url());
    for (const auto& j : jobs) toml += test::toml_job(j, {{"Accounts", account_zoql}});
    toml += test::toml_sink("csv", out.string());
    write_text(dir.path() / "pipeline.toml", toml);

    child_process cli({AQUADUCT_CLI, "run", (dir.path() / "pipeline.toml").string()}, dir.path() / "cli.out");
    const auto [active, seen] =
        probe.wait_for([&](const test::emulator_stats& s) { return s.active_stateless == jobs.size(); });
    REQUIRE_MESSAGE(active, "jobs active: " << seen.active_stateless << "\n" << cli.output());

    cli.signal(sig);
    const int status = cli.wait(std::chrono::seconds(120));
    CHECK_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 130), describe_status(status) << "\n" << cli.output());
    const test::emulator_stats after = probe.stats();
    CHECK(after.job_count("cancelled") == jobs.size());
    CHECK(after.active_stateless == 0);
    std::error_code ec;
    if (std::filesystem::exists(out, ec))
      for (const auto& e : std::filesystem::recursive_directory_iterator(out))
        if (e.is_regular_file()) CHECK_MESSAGE(e.path().filename().string().front() == '.', "a final file: " << e.path());
  }
}

TEST_CASE("stateless incremental windows: the second run fetches only the changed rows, the sink ends equal to the tenant") {
  emulator::server srv(tenant(61));
  srv.start();
  test::emulator_probe probe(srv.base_url());
  temp_dir dir;
  const std::string db = (dir.path() / "incr.db").string();
  const std::string state = (dir.path() / "state").string();
  const auto pipeline = [&] {
    job_config job = accounts_job("incr");
    job.queries[0].incremental = incremental_config{"UpdatedDate", 0, "2000-01-01", "PT1H"};
    return one_query_pipeline(srv.base_url(), db, job);
  };

  const run_report first = run_engine(pipeline(), state);
  REQUIRE_MESSAGE(first.exit_code() == 0, first.to_table());
  check_table_equals_tenant(probe, db, "incr__Accounts");

  const std::vector<std::string> ids = account_ids(probe);
  REQUIRE(ids.size() > 20);
  const test::mutation m =
      probe.mutate(R"({"object":"Account","create":2,"update_ids":)" + json_ids({ids[3], ids[4], ids[5]}) + "}");
  // UpdatedDate has whole seconds: let the clock leave the mutation's second,
  // so with lag_s = 0 the next window (ending at "now") covers the changes.
  std::this_thread::sleep_until(std::chrono::ceil<std::chrono::seconds>(std::chrono::system_clock::now()));

  const run_report second = run_engine(pipeline(), state);
  REQUIRE_MESSAGE(second.exit_code() == 0, second.to_table());
  CHECK(second.jobs.at(0).queries.at(0).rows == touched({m}).size());
  check_table_equals_tenant(probe, db, "incr__Accounts");
}

TEST_CASE("a download broken on a server without Range restarts that file from zero; every row lands once") {
  emulator::options opts = tenant(71);
  opts.scale = 300;
  opts.segment_rows = 100;
  opts.range_requests = false;
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  probe.arm_faults(R"({"rules":[{"path":"/v1/file/*","fault":"reset_after_bytes","bytes":300,"times":2}]})");
  temp_dir dir;
  const std::string db = (dir.path() / "restart.db").string();
  const std::string toml = test::toml_source(srv.base_url()) + test::toml_job("restart", {{"Accounts", account_zoql}}) +
                           sqlite_sink_toml(db) +
                           test::toml_sink("csv", (dir.path() / "out").string());

  const run_report report = run_engine(parse_pipeline(toml, "restart.toml"), (dir.path() / "state").string());
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  CHECK(probe.stats().faults_armed == 0);  // both resets happened
  probe.disarm_faults();                   // what is left must not break the probe's own export
  const test::rows expected = probe.export_rows(account_zoql);
  CHECK(test::parse_csv_text(test::read_file((dir.path() / "out/restart/Accounts.csv").string())) == expected);
  check_table_equals_tenant(probe, db, "restart__Accounts");
}

TEST_CASE("a result file purged (404) before its commit: the job runs again and its rows land once") {
  emulator::options opts = tenant(81);
  opts.segment_rows = 50;  // several files: the purge hits one after others were read
  emulator::server srv(opts);
  srv.start();
  test::emulator_probe probe(srv.base_url());
  // One download answers 404 as a purged file does (emulator/aqua_service.cpp), once.
  probe.arm_faults(
      R"({"rules":[{"method":"GET","path":"/v1/file/*","fault":"status","code":404,"times":1,)"
      R"("body":"{\"success\":false,\"reasons\":[{\"code\":50000040,\"message\":\"File not found\"}]}"}]})");
  temp_dir dir;
  const std::string db = (dir.path() / "purged.db").string();
  const run_report report =
      run_engine(parse_pipeline(test::toml_source(srv.base_url()) + test::toml_job("purged", {{"Accounts", account_zoql}}) +
                                    sqlite_sink_toml(db),
                                "purged.toml"),
                 (dir.path() / "state").string());
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  const test::emulator_stats stats = probe.stats();
  CHECK(stats.faults_armed == 0);
  CHECK(stats.job_count("completed") == 2);  // the first job's file was gone: a second job
  check_table_equals_tenant(probe, db, "purged__Accounts");
}

// The same two crashes with the cursors in PostgreSQL (`--state postgres://…`,
// docs/fleet.md): the crashed process's connection dies with it, its lock
// with it; the commit it began is in aquaduct.pending_commits.
TEST_CASE("crash safety with the state in PostgreSQL: a gap fetched again; a commit cut short reloaded in full") {
  test::postgres_server pg;
  const std::string url = "postgresql:///postgres?host=" + pg.dir() + "&user=aquaduct";
  {
    stateful_crash c;
    c.scene.state = url;
    const run_report rerun = c.crash_and_rerun("write");
    const query_report& q = rerun.jobs.at(0).queries.at(0);
    CHECK_FALSE(q.full);
    CHECK(q.rows == touched({c.m1, c.m2}).size());
    c.check_recovered();
  }
  {
    // A database of its own: the first scene's cursor (of another emulator) stays out.
    PGconn* admin = PQconnectdb(url.c_str());
    REQUIRE(PQstatus(admin) == CONNECTION_OK);
    PGresult* r = PQexec(admin, "CREATE DATABASE second_scene");
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(admin);
    stateful_crash c;
    c.scene.state = "postgresql:///second_scene?host=" + pg.dir() + "&user=aquaduct";
    const run_report rerun = c.crash_and_rerun("commit");
    const query_report& q = rerun.jobs.at(0).queries.at(0);
    CHECK(q.full);
    CHECK(q.rows == c.scene.probe->truth_at("Account").live.size());
    c.check_recovered();
  }
}

#include "engine/state_store.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

using namespace aquaduct;
using engine_detail::cursor;
using engine_detail::state_directory;
using engine_detail::state_store;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

cursor sample(std::string job = "billing", std::string query = "Account") {
  cursor c;
  c.job = std::move(job);
  c.query = std::move(query);
  c.mode = "stateful";
  c.position = std::chrono::sys_days{std::chrono::year{2026} / 11 / 29} + std::chrono::hours{10} + std::chrono::minutes{4} +
               std::chrono::seconds{5};
  c.fingerprint = engine_detail::fingerprint_of(query_config{});
  c.source = "https://rest.zuora.com as client 7c1e";
  c.destinations = {"csv:/data/out", "sqlite:/data/warehouse.db"};
  c.last_job_id = "2c92c0f8";
  c.rows = 12345678901ull;
  return c;
}

std::chrono::sys_seconds now_s() { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); }

// The std::system_error load() throws (a doctest failure when it returns).
std::string load_error(const state_store& s, std::string_view job, std::string_view query) {
  try {
    (void)s.load(job, query);
  } catch (const std::system_error& e) {
    return e.what();
  }
  FAIL("load() accepted a bad state file");
  return {};
}

// The pid of a process that has exited (and been reaped).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("iso_utc and parse_iso_utc agree and refuse anything else") {
  const auto t = std::chrono::sys_days{std::chrono::year{2024} / 2 / 29} + std::chrono::hours{23} + std::chrono::minutes{59} +
                 std::chrono::seconds{58};
  CHECK(engine_detail::iso_utc(t) == "2024-02-29T23:59:58Z");
  CHECK(engine_detail::parse_iso_utc("2024-02-29T23:59:58Z") == t);
  const auto now = now_s();
  CHECK(engine_detail::parse_iso_utc(engine_detail::iso_utc(now)) == now);
  for (std::string_view bad : {"", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z",
                               "2024-01-01 00:00:00", "2024-01-01T00:00:00+0000", "2024-01-01T00:00:0aZ", "yesterday"})
    CHECK_MESSAGE(!engine_detail::parse_iso_utc(bad), bad);
}

TEST_CASE("fingerprint: what decides a query's rows changes it; its name and API version do not") {
  query_config q;
  q.name = "Account";
  q.query = "select Id, Name from Account";
  const std::string base = engine_detail::fingerprint_of(q);
  CHECK(base.size() == 64);
  CHECK(base.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(engine_detail::fingerprint_of(q) == base);

  query_config same = q;
  same.name = "Renamed";
  same.api_version = "98.0";
  same.where = {"other.toml", 9, 9};
  CHECK(engine_detail::fingerprint_of(same) == base);

  std::set<std::string> seen{base};
  const auto differs = [&](const query_config& changed, const char* what) {
    const std::string fp = engine_detail::fingerprint_of(changed);
    CHECK_MESSAGE(seen.insert(fp).second, what);
  };
  query_config c = q;
  c.query += " ";
  differs(c, "query text");
  c = q;
  c.type = "zoql";
  differs(c, "type");
  c = q;
  c.deleted = deleted_config{"IsDeleted", "Boolean", false};
  differs(c, "deleted added");
  c.deleted->column = "Deleted";
  differs(c, "deleted renamed");
  c.deleted->format = "Numeric";
  differs(c, "deleted format");
  c = q;
  c.convert_to_currencies = "EUR";
  differs(c, "currency columns added");
  c.convert_to_currencies = "EUR,GBP";
  differs(c, "currency columns changed");
  c = q;
  c.incremental = incremental_config{"UpdatedDate"};
  differs(c, "incremental by");
  c.incremental->by = "CreatedDate";
  differs(c, "incremental by changed");
  c = q;
  c.partition = partition_config{"EffectiveDate", "2020-01-01", "now", "P30D", "PT1H"};
  differs(c, "partition by");
  // Field boundaries are part of the text: moving bytes between fields changes it.
  query_config a = q, b = q;
  a.query = "select Id from Account";
  a.deleted = deleted_config{"X", "Boolean", false};
  b.query = "select Id from AccountX";
  b.deleted = deleted_config{"", "Boolean", false};
  CHECK(engine_detail::fingerprint_of(a) != engine_detail::fingerprint_of(b));
}

TEST_CASE("a saved cursor loads back; none yet is nullopt; a later save replaces it") {
  test::temp_dir tmp;
  state_directory s(tmp.path() / "a" / "b" / "state");
  CHECK(fs::is_directory(tmp.path() / "a" / "b" / "state"));
  CHECK(!s.load("billing", "Account"));

  const auto before = now_s();
  const cursor c = sample();
  s.save(c);
  const auto after = now_s();
  const std::optional<cursor> got = s.load("billing", "Account");
  REQUIRE(got);
  CHECK(got->job == c.job);
  CHECK(got->query == c.query);
  CHECK(got->mode == c.mode);
  CHECK(got->position == c.position);
  CHECK(got->fingerprint == c.fingerprint);
  CHECK(got->last_job_id == c.last_job_id);
  CHECK(got->source == c.source);
  CHECK(got->destinations == c.destinations);
  CHECK(got->rows == c.rows);
  const auto committed = engine_detail::parse_iso_utc(got->committed_at);
  REQUIRE(committed);
  CHECK(*committed >= before);
  CHECK(*committed <= after);
  CHECK(!s.load("billing", "Contact"));
  CHECK(!s.load("Account", "billing"));

  // The file is the documented JSON, with its version.
  const std::string text = slurp(s.path_of("billing", "Account"));
  CHECK(text.find("\"version\":2") != std::string::npos);
  CHECK(text.find("\"position\":\"2026-11-29T10:04:05Z\"") != std::string::npos);

  cursor next = c;
  next.mode = "incremental";
  next.position.reset();
  next.rows = 0;
  next.last_job_id.clear();
  s.save(next);
  const auto again = s.load("billing", "Account");
  REQUIRE(again);
  CHECK(again->mode == "incremental");
  CHECK(!again->position);
  CHECK(again->rows == 0);
  CHECK(again->last_job_id.empty());
  // One file per cursor and the lock-free directory has nothing else in it.
  CHECK(names_in(s.dir()) == std::vector<std::string>{s.path_of("billing", "Account").filename().string()});

  // A second store over the same directory (the next run) sees it.
  state_directory rerun(s.dir());
  CHECK(rerun.load("billing", "Account")->mode == "incremental");
}

TEST_CASE("a crash's temporary files are ignored by load and swept by the next save") {
  test::temp_dir tmp;
  state_directory s(tmp.path());
  const cursor c = sample();
  s.save(c);
  const fs::path final_path = s.path_of(c.job, c.query);
  const std::string committed = slurp(final_path);

  // What a writer killed mid-write leaves: a half-written temporary beside the final name.
  const std::string base = final_path.filename().string();
  const fs::path dead_temp = tmp.path() / ("." + base + ".tmp-" + std::to_string(dead_pid()) + "-0");
  spit(dead_temp, committed.substr(0, committed.size() / 2));
  const fs::path garbage_temp = tmp.path() / ("." + base + ".tmp-" + std::to_string(dead_pid()) + "-7");
  spit(garbage_temp, std::string("\0\xff{{{\"version\":", 15));

  const auto got = s.load(c.job, c.query);
  REQUIRE(got);
  CHECK(got->rows == c.rows);
  CHECK(slurp(final_path) == committed);

  cursor next = c;
  next.rows = 7;
  s.save(next);
  CHECK(!fs::exists(dead_temp));
  CHECK(!fs::exists(garbage_temp));
  CHECK(s.load(c.job, c.query)->rows == 7);
  CHECK(names_in(tmp.path()) == std::vector<std::string>{base});
}

TEST_CASE("a state file that is not a whole cursor is an error naming the file, never a reset") {
  test::temp_dir tmp;
  state_directory s(tmp.path());
  const cursor c = sample();
  s.save(c);
  const fs::path file = s.path_of(c.job, c.query);
  const std::string good = slurp(file);

  SUBCASE("truncated at every length") {
    for (std::size_t n = 0; n < good.size() - 1; ++n) {
      spit(file, good.substr(0, n));
      const std::string why = load_error(s, c.job, c.query);
      CHECK_MESSAGE(why.find(file.string()) != std::string::npos, why);
    }
    spit(file, good.substr(0, good.size() / 2));
    CHECK(load_error(s, c.job, c.query).find("truncated") != std::string::npos);
    spit(file, "");
    CHECK(load_error(s, c.job, c.query).find("empty") != std::string::npos);
  }

  SUBCASE("wrong types, bad values, missing fields") {
    const auto replace = [&](std::string_view from, std::string_view to) {
      std::string text = good;
      const auto at = text.find(from);
      REQUIRE(at != std::string::npos);
      text.replace(at, from.size(), to);
      return text;
    };
    const std::vector<std::pair<std::string, std::string>> cases{
        {replace("\"rows\":12345678901", "\"rows\":\"12\""), "rows: expected a non-negative integer"},
        {replace("\"rows\":12345678901", "\"rows\":-1"), "rows: expected a non-negative integer"},
        {replace("\"rows\":12345678901", "\"rows\":1.5"), "rows"},
        {replace("\"job\":\"billing\"", "\"job\":5"), "job: expected a string"},
        {replace("\"2026-11-29T10:04:05Z\"", "\"yesterday\""), "position: not YYYY-MM-DDTHH:MM:SSZ: yesterday"},
        {replace("\"2026-11-29T10:04:05Z\"", "1764410645"), "position: expected a string"},
        {replace("\"version\":2", "\"version\":3"), "version 3 is not supported"},
        {replace("\"version\":2,", ""), "no \"version\""},
        {replace("\"destinations\":[", "\"destinations\":[5,"), "destinations: expected a string"},
        {replace("\"mode\":\"stateful\"", "\"mode\":\"sometimes\""), "mode \"sometimes\""},
        {replace("\"job\":\"billing\"", "\"job\":\"sales\""), "holds the cursor of job \"sales\""},
        {replace("\"query\":", "\"query\"="), "invalid cursor JSON"},
        {"[1,2,3]", "not a JSON object"},
        {"not json at all", "not a JSON object"},
    };
    for (const auto& [text, expected] : cases) {
      spit(file, text);
      const std::string why = load_error(s, c.job, c.query);
      CHECK_MESSAGE(why.find(file.string()) != std::string::npos, why);
      CHECK_MESSAGE(why.find(expected) != std::string::npos, why, " expected ", expected);
    }
  }

  SUBCASE("unreadable") {
    fs::remove(file);
    fs::create_directory(file);  // a directory where the file should be: read() fails with EISDIR
    const std::string why = load_error(s, c.job, c.query);
    CHECK_MESSAGE(why.find(file.string()) != std::string::npos, why);
  }

  SUBCASE("unknown keys from a newer build are ignored") {
    std::string text = good;
    text.insert(1, "\"future\":{\"x\":[1,2]},");
    spit(file, text);
    CHECK(s.load(c.job, c.query)->rows == c.rows);
  }
}

TEST_CASE("unusual job and query names stay inside the directory and never share a file") {
  test::temp_dir tmp;
  state_directory s(tmp.path() / "state");
  const std::vector<std::string> names{
      "Account", "a/b", "a_b", "a.b", "..", ".", "", "../../../etc/passwd", "/abs", "a\\b", "a\nb", "a\x01z",
      "ünïcödé", "日本語", std::string(300, 'q'), std::string(300, 'q') + "r", "with space", "-", ".hidden",
      std::string("nul\0byte", 8)};
  std::set<fs::path> paths;
  std::size_t n = 0;
  for (const auto& job : names) {
    for (const auto& query : names) {
      const fs::path p = s.path_of(job, query);
      CHECK(p.parent_path() == s.dir());
      const std::string f = p.filename().string();
      CHECK(f.size() <= 255);
      CHECK(f.front() != '.');
      CHECK(f.find("..") == std::string::npos);
      CHECK(f.find('/') == std::string::npos);
      CHECK(std::none_of(f.begin(), f.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; }));
      paths.insert(p);
      ++n;
    }
  }
  CHECK(paths.size() == n);

  // Names (valid UTF-8) round-trip through the files themselves.
  std::uint64_t i = 0;
  for (const auto& job : names) {
    cursor c = sample(job, names[i % names.size()]);
    c.rows = i++;
    s.save(c);
  }
  i = 0;
  for (const auto& job : names) {
    const auto got = s.load(job, names[i % names.size()]);
    REQUIRE(got);
    CHECK(got->job == job);
    CHECK(got->rows == i++);
  }
  for (const auto& e : fs::recursive_directory_iterator(tmp.path()))
    if (e.path() != s.dir()) CHECK_MESSAGE(e.path().parent_path() == s.dir(), e.path().string());

  // What load() would refuse is never written.
  cursor bad = sample("\xff\xfe", "Account");
  CHECK_THROWS_AS(s.save(bad), std::system_error);
  bad = sample("job", "Account");
  bad.mode = "";
  CHECK_THROWS_AS(s.save(bad), std::system_error);
  CHECK(!s.load("job", "Account"));
}

TEST_CASE("8 threads saving at once: every cursor whole, nothing left behind") {
  test::temp_dir tmp;
  state_directory s(tmp.path());
  constexpr int threads = 8, saves = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        for (int k = 0; k < saves; ++k) {
          cursor own = sample("job" + std::to_string(t), "Q");
          own.rows = static_cast<std::uint64_t>(k);
          s.save(own);
          cursor shared = sample("shared", "Q");
          shared.rows = static_cast<std::uint64_t>(t * 1000 + k);
          s.save(shared);
        }
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(failures == 0);
  for (int t = 0; t < threads; ++t) CHECK(s.load("job" + std::to_string(t), "Q")->rows == saves - 1);
  const auto shared = s.load("shared", "Q");
  REQUIRE(shared);
  CHECK(shared->rows % 1000 < saves);
  CHECK(shared->rows / 1000 < threads);
  CHECK(names_in(tmp.path()).size() == threads + 1);
}

TEST_CASE("the state directory lock: a second holder is refused with the first's pid; released when it exits") {
  test::temp_dir tmp;
  const fs::path dir = tmp.path() / "state";
  int ready[2], release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The other run: lock, say so, hold until the parent closes the pipe.
    ::close(ready[0]);
    ::close(release[1]);
    int code = 0;
    try {
      state_directory other(dir);
      other.lock();
      (void)!::write(ready[1], "L", 1);
      char b;
      while (::read(release[0], &b, 1) > 0) {
      }
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char b = 0;
  REQUIRE(::read(ready[0], &b, 1) == 1);
  CHECK(b == 'L');

  state_directory mine(dir);
  try {
    mine.lock();
    FAIL("a second run took the lock");
  } catch (const std::system_error& e) {
    const std::string why = e.what();
    CHECK(e.code() == std::errc::device_or_resource_busy);
    CHECK_MESSAGE(why.find(dir.string()) != std::string::npos, why);
    CHECK_MESSAGE(why.find("pid " + std::to_string(child)) != std::string::npos, why);
  }

  // The other run ends (however it ends): the lock is free.
  ::close(release[1]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  ::close(ready[0]);
  mine.lock();
  mine.lock();  // idempotent

  // Within one process too: a second store on the directory is refused, naming us.
  state_directory again(dir);
  try {
    again.lock();
    FAIL("a second store took the lock");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("pid " + std::to_string(::getpid())) != std::string::npos);
  }
  // Moving a store moves its lock; destroying it releases the lock.
  {
    state_directory moved(std::move(mine));
  }
  again.lock();
}

TEST_CASE("a state directory that cannot be made is an error naming it") {
  test::temp_dir tmp;
  spit(tmp.path() / "file", "x");
  try {
    state_directory s(tmp.path() / "file" / "state");
    FAIL("made a directory under a file");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find((tmp.path() / "file" / "state").string()) != std::string::npos);
  }
  try {
    state_directory s(tmp.path() / "file");
    FAIL("took a file for a directory");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("not a directory") != std::string::npos);
  }
}

TEST_CASE("a version 1 cursor (no source, no destinations) still loads; list() and remove()") {
  test::temp_dir tmp;
  state_directory s(tmp.path());
  spit(s.path_of("billing", "Account"),
       R"({"version":1,"job":"billing","query":"Account","mode":"stateful","position":"2026-11-29T10:04:05Z",)"
       R"("fingerprint":"ab","last_job_id":"x","rows":3,"committed_at":"2026-11-29T10:05:00Z"})");
  const auto old = s.load("billing", "Account");
  REQUIRE(old);
  CHECK(old->source.empty());
  CHECK(old->destinations.empty());
  CHECK(old->rows == 3);

  s.save(sample("billing", "Invoice"));
  s.save(sample("aaa", "Contact"));
  spit(tmp.path() / ".aquaduct.tmp-garbage", "not a cursor");  // temporaries are not listed
  const std::vector<cursor> all = s.list();
  REQUIRE(all.size() == 3);
  CHECK(all[0].job == "aaa");
  CHECK(all[1].query == "Account");
  CHECK(all[2].query == "Invoice");
  CHECK(engine_detail::to_json(all[2]).find(R"("destinations":["csv:/data/out","sqlite:/data/warehouse.db"])") !=
        std::string::npos);

  CHECK(s.remove("billing", "Account"));
  CHECK_FALSE(s.remove("billing", "Account"));
  CHECK_FALSE(s.load("billing", "Account"));
  CHECK(s.list().size() == 2);
}

TEST_CASE("a commit begun and not finished is found; the cursor it names, once saved, ends it") {
  test::temp_dir tmp;
  state_directory s(tmp.path());
  cursor before = sample();
  before.last_job_id = "job-1";
  s.save(before);
  CHECK_FALSE(s.pending("billing", "Account"));

  cursor next = sample();
  next.last_job_id = "job-2";
  s.begin_commit(next);
  const auto p = s.pending("billing", "Account");
  REQUIRE(p);
  CHECK(p->last_job_id == "job-2");
  CHECK(s.list().size() == 1);  // the marker is not a cursor
  CHECK(s.load("billing", "Account")->last_job_id == "job-1");

  // A crash after the cursor's save but before the marker went: the marker names
  // the saved cursor, so the commit counts as finished.
  spit(fs::path(s.path_of("billing", "Account").string() + ".pending"), engine_detail::to_json(before));
  CHECK_FALSE(s.pending("billing", "Account"));

  s.begin_commit(next);
  s.save(next);
  CHECK_FALSE(s.pending("billing", "Account"));
  CHECK_FALSE(fs::exists(s.path_of("billing", "Account").string() + ".pending"));
}

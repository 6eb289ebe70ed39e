// A stateful session's incremental files are named by their job's start
// second (<query>.<start>.csv). AQuA's start times have whole seconds, and a
// session starts its next job as soon as the last one ends, so the job after
// a committed one can start in the same second. Its file then took the
// committed job's name and replaced it: the kill loop (tests/reliability/
// kill_loop.sh, seed 5711 under load) ended with one header-only
// Subscription.<start>.csv, every row of the session gone from the csv sink.
//
// The service here is a stand-in whose start times the test chooses, so the
// same second happens every time, without racing a clock.
#include <aquaduct/engine.hpp>

#include "engine/emulator_probe.hpp"
#include "engine/state_store.hpp"
#include "support/loopback_listener.hpp"
#include "support/temp_dir.hpp"

#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>
#include <doctest/doctest.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace aquaduct;
using aquaduct::test::temp_dir;

namespace {

// One job of the session as the stand-in answers it: completed at once,
// incremental, its start and its rows (Id,Name) chosen by the test.
struct scripted_job {
  std::string start_time;  // AQuA's form: "YYYY-MM-DD hh:mm:ss", Pacific wall clock
  std::vector<std::string> rows;
};

// A stateful AQuA session (aqua-contract.md §1, §4.2) reduced to what the
// engine asks of it: the session's last completed job, submit, get and the
// result file. The n-th submit gets jobs[n] (the last one once they run out).
// One request per connection (Connection: close), so the listener's one
// connection at a time never waits on a kept-alive one.
class session_stand_in {
 public:
  explicit session_stand_in(std::vector<scripted_job> jobs) : jobs_(std::move(jobs)) {}

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(listener_.port()); }
  // The incrementalTime of each submit so far, in order ("" when it was left out).
  std::vector<std::string> submitted_from() {
    std::lock_guard lock(mu_);
    return submitted_from_;
  }

 private:
  bool serve(asio::ip::tcp::socket& sock) {
    asio::streambuf buf;
    std::error_code ec;
    const std::size_t n = asio::read_until(sock, buf, "\r\n\r\n", ec);
    if (ec) return true;
    const auto text = [&buf](std::size_t k) {
      const auto begin = asio::buffers_begin(buf.data());
      return std::string(begin, begin + static_cast<std::ptrdiff_t>(k));
    };
    const std::string head = text(n);
    buf.consume(n);
    std::size_t length = 0;
    for (const char* name : {"Content-Length: ", "content-length: "})
      if (const auto p = head.find(name); p != std::string::npos) length = std::stoul(head.substr(p + 16));
    if (buf.size() < length) asio::read(sock, buf, asio::transfer_exactly(length - buf.size()), ec);
    const std::string body = text(length);
    const std::string request_line = head.substr(0, head.find("\r\n"));
    const auto [status, type, content] = answer(request_line, body);
    const std::string response = "HTTP/1.1 " + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " +
                                 std::to_string(content.size()) + "\r\nConnection: close\r\n\r\n" + content;
    asio::write(sock, asio::buffer(response), ec);
    return true;
  }

  struct reply {
    std::string status, type, content;
  };

  reply answer(const std::string& request_line, const std::string& body) {
    std::lock_guard lock(mu_);
    const auto json = [](std::string s) { return reply{"200 OK", "application/json", std::move(s)}; };
    if (request_line.starts_with("GET /v1/batch-query/jobs/partner/"))
      // The session has a completed job (a killed run's): the engine asks from its floor.
      return json(job_json("job-0", {"2026-01-05 09:00:00", {}}));
    if (request_line.starts_with("POST /v1/batch-query/ ")) {
      const std::string key = "\"incrementalTime\":\"";
      const auto p = body.find(key);
      submitted_from_.push_back(p == std::string::npos
                                    ? std::string()
                                    : body.substr(p + key.size(), body.find('"', p + key.size()) - p - key.size()));
      const std::size_t k = submitted_from_.size();
      return json(job_json("job-" + std::to_string(k), jobs_[std::min(k, jobs_.size()) - 1]));
    }
    if (request_line.starts_with("GET /v1/batch-query/jobs/job-")) {
      const std::size_t k = std::stoul(request_line.substr(request_line.find("job-") + 4));
      return json(job_json("job-" + std::to_string(k), jobs_[std::min(k, jobs_.size()) - 1]));
    }
    if (request_line.starts_with("GET /v1/file/file-")) {
      const std::size_t k = std::stoul(request_line.substr(request_line.find("file-") + 5));
      std::string csv = "Id,Name\n";
      for (const auto& r : jobs_[std::min(k, jobs_.size()) - 1].rows) csv += r + "\n";
      return {"200 OK", "text/csv", csv};
    }
    return {"404 Not Found", "application/json", R"({"message":"no such endpoint"})"};
  }

  static std::string job_json(const std::string& id, const scripted_job& j) {
    const std::string n = id.substr(4);
    return R"({"id":")" + id + R"(","status":"completed","startTime":")" + j.start_time +
           R"(","partner":"acme","project":"names","batches":[{"batchId":"batch-)" + n +
           R"(","name":"Subscription","status":"completed","full":false,"recordCount":)" +
           std::to_string(j.rows.size()) + R"(,"fileId":"file-)" + n + R"("}]})";
  }

  std::vector<scripted_job> jobs_;
  std::mutex mu_;
  std::vector<std::string> submitted_from_;
  test::loopback_listener listener_{[this](asio::ip::tcp::socket& s) { return serve(s); }};  // last: stops first
};

struct session_scene {
  explicit session_scene(std::vector<scripted_job> jobs) : service(std::move(jobs)) {}

  run_report run() {
    const std::string toml =
        test::toml_source(service.base_url(), "describe = false\n") +  // the stand-in has no describe
        test::toml_job("sync", {{"Subscription", "select Id, Name from Subscription"}},
                       "format = \"csv\"\nversion = \"1.1\"\npartner = \"acme\"\nproject = \"names\"\n") +
        test::toml_sink("csv", out.string());
    engine_options options;
    options.state_dir = state.string();
    engine eng{parse_pipeline(toml, (dir.path() / "names.toml").string()), options};
    return eng.run();
  }

  session_stand_in service;
  temp_dir dir;
  std::filesystem::path out = dir.path() / "out";
  std::filesystem::path state = dir.path() / "state";
};

const std::set<std::vector<std::string>> first_rows{{"A-1", "first"}, {"A-2", "second"}};
const std::set<std::vector<std::string>> later_rows{{"A-1", "first, updated"}, {"A-3", "third"}};

std::set<std::vector<std::string>> rows_of(const std::filesystem::path& file) {
  const test::rows r = test::parse_csv_text(test::read_file(file.string()));
  REQUIRE(!r.empty());
  return {r.begin() + 1, r.end()};
}

}  // namespace

TEST_CASE("stateful: a job that starts in the second of the last committed job does not replace its file") {
  // 1. The first run (no cursor): asked from the floor, it lands as the full
  //    file, started 09:59:59 Pacific.
  // 2. Incremental from there: two rows, started 10:00:00 Pacific (18:00:00Z),
  //    in Subscription.20260105T180000Z.csv.
  // 3. From that start: the session's next job starts in the same second (its
  //    window is empty), then one a second later.
  session_scene scene({{"2026-01-05 09:59:59", {"A-1,first", "A-2,second"}},
                       {"2026-01-05 10:00:00", {"A-1,\"first, updated\"", "A-3,third"}},
                       {"2026-01-05 10:00:00", {}},
                       {"2026-01-05 10:00:01", {}}});
  const run_report first = scene.run();
  REQUIRE_MESSAGE(first.exit_code() == 0, first.to_table());
  REQUIRE(rows_of(scene.out / "sync" / "Subscription.csv") == first_rows);
  const run_report second = scene.run();
  REQUIRE_MESSAGE(second.exit_code() == 0, second.to_table());
  const std::filesystem::path later = scene.out / "sync" / "Subscription.20260105T180000Z.csv";
  REQUIRE(rows_of(later) == later_rows);

  const run_report third = scene.run();
  REQUIRE_MESSAGE(third.exit_code() == 0, third.to_table());
  CHECK_MESSAGE(rows_of(later) == later_rows, "the second job's rows must survive in their file");
  // Every job of the third run asked from the second job's start: nothing skipped.
  const std::vector<std::string> from = scene.service.submitted_from();
  REQUIRE(from.size() == 4);
  CHECK(from[2] == "2026-01-05 10:00:00");
  CHECK(from[3] == "2026-01-05 10:00:00");
  // The job committed is the one that started a second later, and the cursor says so.
  CHECK(third.jobs.at(0).job_id == "job-4");
  const auto c = engine_detail::state_directory(scene.state).load("sync", "Subscription");
  REQUIRE(c);
  CHECK(c->position == engine_detail::parse_iso_utc("2026-01-05T18:00:01Z"));
}

TEST_CASE("stateful: a service whose jobs keep starting in the committed job's second fails the run clearly") {
  // Every job after the second reports the same start: a clock that does not move.
  session_scene scene({{"2026-01-05 09:59:59", {"A-1,first", "A-2,second"}},
                       {"2026-01-05 10:00:00", {"A-1,\"first, updated\"", "A-3,third"}},
                       {"2026-01-05 10:00:00", {}}});
  REQUIRE(scene.run().exit_code() == 0);
  REQUIRE(scene.run().exit_code() == 0);
  const std::filesystem::path later = scene.out / "sync" / "Subscription.20260105T180000Z.csv";
  REQUIRE(rows_of(later) == later_rows);

  const run_report third = scene.run();
  CHECK(third.exit_code() == 1);
  const job_report& j = third.jobs.at(0);
  CHECK(j.status == aquaduct::outcome::failed);
  REQUIRE(j.error);
  CHECK_MESSAGE(j.error->find("job sync") != std::string::npos, *j.error);
  CHECK_MESSAGE(j.error->find("2026-01-05T18:00:00Z") != std::string::npos, *j.error);
  // Nothing committed: the second job's file and the cursor are as they were.
  CHECK(rows_of(later) == later_rows);
  CHECK(rows_of(scene.out / "sync" / "Subscription.csv") == first_rows);
  const auto c = engine_detail::state_directory(scene.state).load("sync", "Subscription");
  REQUIRE(c);
  CHECK(c->last_job_id == "job-2");
  CHECK(c->position == engine_detail::parse_iso_utc("2026-01-05T18:00:00Z"));
}

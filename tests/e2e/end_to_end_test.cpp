// The whole path, in process: emulator -> HTTP -> submit -> poll -> download
// -> gunzip -> CSV parse -> csv sink, compared with the emulator's own rows.
#include <aquaduct/engine.hpp>
#include <aquaduct/error.hpp>

#include <aquaduct/emulator.hpp>
#include "support/run_sync.hpp"
#include "transport/http_client.hpp"
#include "support/csv_table.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using namespace aquaduct;
using aquaduct::test::temp_dir;

namespace {

const std::vector<std::string> fields = {"Id", "AccountNumber", "Name", "Balance", "Status", "CreatedDate", "UpdatedDate"};

emulator::options emulator_options(std::string faults = "") {
  emulator::options o;
  o.latency = std::chrono::milliseconds(60);
  o.scale = 500;
  o.seed = 7;
  o.faults_json = std::move(faults);
  return o;
}

std::string pipeline(const std::string& base_url, const std::string& out, const std::string& format,
                     const std::string& auth = "type = \"oauth\"\nclient_id = \"aquaduct\"\nclient_secret = \"aquaduct\"",
                     const std::string& query = "") {
  std::string select = "select ";
  for (std::size_t i = 0; i < fields.size(); ++i) select += (i ? ", " : "") + fields[i];
  select += " from Account";
  return "[source]\nbase_url = \"" + base_url + "\"\n[source.auth]\n" + auth +
         "\n[source.poll]\ninitial_ms = 10\nmax_ms = 200\ntimeout_s = 120\n"
         "[[jobs]]\nname = \"billing\"\nformat = \"" + format + "\"\n"
         "[[jobs.queries]]\nname = \"Account\"\nquery = \"" + (query.empty() ? select : query) + "\"\n"
         "[[sinks]]\ntype = \"csv\"\npath = \"" + out + "\"\n";
}

run_report run_pipeline(const std::string& toml) {
  engine eng{parse_pipeline(toml, "e2e.toml")};
  return eng.run();
}

test::rows expected_rows(const emulator::options& o) {
  const emulator::table t = emulator::tenant_rows(o, "Account", fields);
  test::rows out;
  std::vector<std::string> header;
  for (const auto& f : fields) header.push_back("Account." + f);
  out.push_back(header);
  out.insert(out.end(), t.rows.begin(), t.rows.end());
  return out;
}

}  // namespace

TEST_CASE("csv and gzip results land in PATH/<job>/<query>.csv equal to the emulator's rows") {
  const auto opts = emulator_options();
  emulator::server srv(opts);
  srv.start();
  for (const std::string format : {"gzip", "csv"}) {
    CAPTURE(format);
    temp_dir out;
    const run_report report = run_pipeline(pipeline(srv.base_url(), out.path().string(), format));
    REQUIRE(report.jobs.size() == 1);
    CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
    CHECK(report.jobs[0].status == aquaduct::outcome::completed);
    CHECK(report.jobs[0].job_id.size() == 32);
    const auto& q = report.jobs[0].queries.at(0);
    CHECK(q.rows == opts.scale);
    CHECK(q.files == 1);
    CHECK(out.files() == std::vector<std::string>{"billing/Account.csv"});
    const auto got = test::parse_csv_text(test::read_file((out.path() / "billing/Account.csv").string()));
    CHECK(got == expected_rows(opts));
    CHECK(q.bytes_decoded == test::read_file((out.path() / "billing/Account.csv").string()).size());
  }
}

TEST_CASE("a result split into segments is reassembled in order, one header") {
  auto opts = emulator_options();
  opts.segment_rows = 120;  // 500 rows -> 5 segment files
  emulator::server srv(opts);
  srv.start();
  temp_dir out;
  const run_report report = run_pipeline(pipeline(srv.base_url(), out.path().string(), "gzip"));
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
  CHECK(report.jobs[0].queries[0].files == 5);
  CHECK(test::parse_csv_text(test::read_file((out.path() / "billing/Account.csv").string())) == expected_rows(opts));
}

TEST_CASE("api_key and basic credentials work too; wrong ones are exit code 3") {
  emulator::server srv(emulator_options());
  srv.start();
  temp_dir out;
  const auto ok_key =
      run_pipeline(pipeline(srv.base_url(), out.path().string(), "csv",
                            "type = \"api_key\"\naccess_key_id = \"aquaduct\"\nsecret_access_key = \"aquaduct\""));
  CHECK_MESSAGE(ok_key.exit_code() == 0, ok_key.to_table());
  const auto ok_basic = run_pipeline(
      pipeline(srv.base_url(), out.path().string(), "csv", "type = \"basic\"\nusername = \"aquaduct\"\npassword = \"aquaduct\""));
  CHECK_MESSAGE(ok_basic.exit_code() == 0, ok_basic.to_table());

  temp_dir none;
  const auto bad = run_pipeline(pipeline(srv.base_url(), none.path().string(), "csv",
                                         "type = \"oauth\"\nclient_id = \"aquaduct\"\nclient_secret = \"wrong-secret\""));
  CHECK(bad.exit_code() == 3);
  REQUIRE(bad.jobs[0].error);
  CHECK(bad.jobs[0].error->find("wrong-secret") == std::string::npos);  // secrets never in messages
  const auto bad_key = run_pipeline(pipeline(srv.base_url(), none.path().string(), "csv",
                                             "type = \"api_key\"\naccess_key_id = \"x\"\nsecret_access_key = \"y\""));
  CHECK(bad_key.exit_code() == 3);
  CHECK(none.files().empty());
}

TEST_CASE("a job the service aborts fails the run with the service's message, and writes nothing") {
  emulator::server srv(emulator_options(
      R"({"rules":[{"path":"/v1/batch-query*","fault":"job_abort","message":"java.lang.RuntimeException: You must specify a select.","times":1}]})"));
  srv.start();
  temp_dir out;
  const run_report report = run_pipeline(pipeline(srv.base_url(), out.path().string(), "gzip"));
  CHECK(report.exit_code() == 1);
  CHECK(report.jobs[0].status == aquaduct::outcome::aborted);
  REQUIRE(report.jobs[0].error);
  CHECK(report.jobs[0].error->find("You must specify a select.") != std::string::npos);
  CHECK(out.files().empty());
}

TEST_CASE("a download cut short once resumes with Range and lands complete") {
  for (const std::string fault : {R"({"path":"/v1/file/*","fault":"truncate","bytes":300,"times":1})",
                                  R"({"path":"/v1/file/*","fault":"reset_after_bytes","bytes":200,"times":1})"}) {
    CAPTURE(fault);
    const auto opts = emulator_options(R"({"rules":[)" + fault + "]}");
    emulator::server srv(opts);
    srv.start();
    temp_dir out;
    const run_report report = run_pipeline(pipeline(srv.base_url(), out.path().string(), "gzip"));
    CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
    CHECK(test::parse_csv_text(test::read_file((out.path() / "billing/Account.csv").string())) == expected_rows(opts));
  }
}

TEST_CASE("a download that always breaks, or is corrupt, fails that query and leaves no file under a final name") {
  for (const std::string fault : {R"({"path":"/v1/file/*","fault":"truncate","bytes":300})",
                                  R"({"path":"/v1/file/*","fault":"corrupt_gzip","times":1})",
                                  R"({"path":"/v1/file/*","fault":"reset_after_bytes","bytes":200})"}) {
    CAPTURE(fault);
    emulator::server srv(emulator_options(R"({"rules":[)" + fault + "]}"));
    srv.start();
    temp_dir out;
    const run_report report = run_pipeline(pipeline(srv.base_url(), out.path().string(), "gzip"));
    CHECK(report.exit_code() == 1);
    CHECK(report.jobs[0].queries[0].status == aquaduct::outcome::failed);
    REQUIRE(report.jobs[0].queries[0].error);
    const std::string& error = *report.jobs[0].queries[0].error;
    CHECK(error.find("query Account") != std::string::npos);
    CHECK(out.files().empty());
    if (fault.find("corrupt_gzip") == std::string::npos) {
      // Every attempt resumed where the last one stopped, until the policy gave up.
      CHECK(error.find("gave up after 5 attempts") != std::string::npos);
      CHECK(error.find("connection closed") != std::string::npos);
    }
    if (fault.find("truncate") != std::string::npos) {
      CHECK(report.jobs[0].queries[0].bytes_downloaded == 5 * 300);  // what arrived before each cut
    }
    if (fault.find("corrupt_gzip") != std::string::npos) {
      // Said once, with its position: not repeated by the error's own category message.
      const auto first = error.find("gzip stream is corrupt");
      REQUIRE(first != std::string::npos);
      CHECK(error.find("gzip stream is corrupt", first + 1) == std::string::npos);
      CHECK(error.find("at compressed byte") != std::string::npos);
    }
  }
}

TEST_CASE("transient 503s on submit and poll are retried") {
  emulator::server srv(emulator_options(
      R"({"rules":[{"method":"POST","path":"/v1/batch-query*","fault":"status","code":503,"times":2},)"
      R"({"method":"GET","path":"/v1/batch-query/jobs/*","fault":"status","code":429,"retry_after_s":0,"times":1}]})"));
  srv.start();
  temp_dir out;
  const run_report report = run_pipeline(pipeline(srv.base_url(), out.path().string(), "gzip"));
  CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
}

TEST_CASE("a query the service rejects names the query and exits 2") {
  emulator::server srv(emulator_options());
  srv.start();
  temp_dir out;
  const run_report report =
      run_pipeline(pipeline(srv.base_url(), out.path().string(), "csv", "type = \"basic\"\nusername = \"aquaduct\"\npassword = \"aquaduct\"",
                            "select Id, NoSuchField from Account"));
  CHECK(report.exit_code() == 2);  // refused for good: running it again cannot help
  CHECK(report.jobs[0].refused);
  REQUIRE(report.jobs[0].error);
  CHECK(report.jobs[0].error->find("90005") != std::string::npos);
  CHECK(report.jobs[0].error->find("Account") != std::string::npos);
  CHECK(out.files().empty());
}

TEST_CASE("an unreachable service fails the job clearly") {
  unsigned short port = 0;
  {
    emulator::server srv(emulator_options());
    srv.start();
    port = srv.port();
  }
  temp_dir out;
  const run_report report = run_pipeline(pipeline("http://127.0.0.1:" + std::to_string(port), out.path().string(), "csv"));
  CHECK(report.exit_code() == 1);
  REQUIRE(report.jobs[0].error);
  CHECK(report.jobs[0].error->find("connect") != std::string::npos);
}

TEST_CASE("the run report's JSON has the documented shape") {
  emulator::server srv(emulator_options());
  srv.start();
  temp_dir out;
  const run_report report = run_pipeline(pipeline(srv.base_url(), out.path().string(), "gzip"));
  const std::string json = report.to_json();
  for (const char* key : {"\"status\":\"ok\"", "\"started_at\":", "\"wall_s\":", "\"peak_rss_bytes\":", "\"jobs\":[",
                          "\"name\":\"billing\"", "\"submit_s\":", "\"wait_s\":", "\"queries\":[", "\"rows\":500",
                          "\"files\":1", "\"bytes_downloaded\":", "\"bytes_decoded\":", "\"download_s\":",
                          "\"error\":null", "\"full\":true"})
    CHECK_MESSAGE(json.find(key) != std::string::npos, key);
}

TEST_CASE("several jobs of several queries run concurrently, or one at a time, with the same output") {
  const auto opts = emulator_options();
  emulator::server srv(opts);
  srv.start();
  for (const int limit : {1, 50}) {
    CAPTURE(limit);
    temp_dir out;
    std::string toml = "[source]\nbase_url = \"" + srv.base_url() + "\"\nmax_active_jobs = " + std::to_string(limit) +
                       "\n[source.auth]\ntype = \"basic\"\nusername = \"aquaduct\"\npassword = \"aquaduct\"\n"
                       "[source.poll]\ninitial_ms = 10\nmax_ms = 100\n";
    for (const std::string job : {"alpha", "beta", "gamma"}) {
      toml += "[[jobs]]\nname = \"" + job + "\"\nformat = \"" + (job == "beta" ? "csv" : "gzip") + "\"\n";
      toml += "[[jobs.queries]]\nname = \"Ids\"\nquery = \"select Id from Account\"\n";
      toml += "[[jobs.queries]]\nname = \"Names\"\nquery = \"select Id, Name from Account limit 10\"\n";
    }
    toml += "[[sinks]]\ntype = \"csv\"\npath = \"" + out.path().string() + "\"\n";
    const run_report report = run_pipeline(toml);
    CHECK_MESSAGE(report.exit_code() == 0, report.to_table());
    CHECK(out.files() == std::vector<std::string>{"alpha/Ids.csv", "alpha/Names.csv", "beta/Ids.csv", "beta/Names.csv",
                                                  "gamma/Ids.csv", "gamma/Names.csv"});
    for (const auto& j : report.jobs) {
      CHECK(j.queries.at(0).rows == opts.scale);
      CHECK(j.queries.at(1).rows == 10);
    }
    const emulator::table names = emulator::tenant_rows(opts, "Account", {"Id", "Name"});
    test::rows expected = {{"Account.Id", "Account.Name"}};
    expected.insert(expected.end(), names.rows.begin(), names.rows.begin() + 10);
    CHECK(test::parse_csv_text(test::read_file((out.path() / "gamma/Names.csv").string())) == expected);
  }
}

namespace {
asio::awaitable<transport::http_response> get_stats(transport::http_client* c) {
  transport::http_request r;
  r.target = "/_emulator/stats";
  co_return co_await c->request(std::move(r));
}
}  // namespace

TEST_CASE("a job that outlives [source.poll] timeout_s is cancelled on the server and fails the run") {
  auto opts = emulator_options();
  opts.latency = std::chrono::minutes(10);
  emulator::server srv(opts);
  srv.start();
  temp_dir out;
  std::string toml = pipeline(srv.base_url(), out.path().string(), "gzip");
  toml.replace(toml.find("timeout_s = 120"), 15, "timeout_s = 1");
  const run_report report = run_pipeline(toml);
  CHECK(report.exit_code() == 1);
  REQUIRE(report.jobs[0].error);
  CHECK(report.jobs[0].error->find("after 1 s") != std::string::npos);
  CHECK(report.jobs[0].error->find("cancelling it failed") == std::string::npos);

  asio::io_context io;
  std::error_code ec;
  transport::http_client client(io.get_executor(), transport::parse_base_url(srv.base_url(), ec));
  const auto stats = test::run_sync(io, get_stats(&client));
  CHECK(stats.status == 200);
  CHECK(stats.body.find("\"cancelled\":1") != std::string::npos);
  CHECK(out.files().empty());
}

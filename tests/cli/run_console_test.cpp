// The progress block's lines (a pure function of a snapshot) and the console's
// log lines, without a terminal: tests/cli/progress_test.sh looks at the real
// thing in tmux.
#include "cli/run_console.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <string>

using namespace aquaduct;

namespace {

progress_snapshot snapshot_of(std::size_t jobs) {
  progress_snapshot p;
  for (std::size_t i = 0; i < jobs; ++i) {
    job_progress j;
    j.name = "job" + std::to_string(i);
    j.jobs_total = 2;
    j.jobs_done = static_cast<std::uint32_t>(i % 3);
    j.state = i % 3 == 2 ? job_state::done : i % 3 == 1 ? job_state::downloading : job_state::queued;
    j.rows = 1234567 * i;
    j.bytes_downloaded = 2'500'000 * i;
    p.jobs_total += j.jobs_total;
    p.jobs_done += j.jobs_done;
    p.rows += j.rows;
    p.bytes_downloaded += j.bytes_downloaded;
    p.jobs.push_back(j);
  }
  p.elapsed_s = 75;
  return p;
}

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  return out;
}

}  // namespace

TEST_CASE("progress lines: a header, a line per job, the totals; the rate only while downloading") {
  const progress_snapshot p = snapshot_of(3);
  const auto lines = cli::progress_lines(p, {-1, 2'000'000, 5'000'000}, 7'000'000, 200, 40);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].starts_with("JOB "));
  CHECK(lines[1].starts_with("job0 "));
  CHECK(lines[1].find("queued") != std::string::npos);
  CHECK(lines[1].ends_with("-"));  // not downloading: no rate
  CHECK(lines[2].find("downloading") != std::string::npos);
  CHECK(lines[2].find("1,234,567") != std::string::npos);
  CHECK(lines[2].ends_with("2.0"));  // 2 MB/s
  CHECK(lines[3].ends_with("-"));    // done
  CHECK(lines[4].starts_with("total "));
  CHECK(lines[4].find("3/6") != std::string::npos);
  CHECK(lines[4].find("7.0") != std::string::npos);
  CHECK(lines[4].ends_with("1:15"));
}

TEST_CASE("progress lines: the totals say how many jobs were split into pieces, and how many Id pages there were") {
  progress_snapshot p = snapshot_of(2);
  CHECK(cli::progress_lines(p, {-1, 0, 0}, 0, 200, 40).back().find("split") == std::string::npos);
  p.jobs_split = 3;
  p.id_pages = 5;
  const std::string total = cli::progress_lines(p, {-1, 0, 0}, 0, 200, 40).back();
  CHECK_MESSAGE(total.find("3 split into pieces (5 Id pages)") != std::string::npos, total);
}

TEST_CASE("progress lines fit the terminal: cut to its width, and the jobs that do not fit summed up") {
  const progress_snapshot p = snapshot_of(30);
  const auto lines = cli::progress_lines(p, {}, -1, 50, 10);
  CHECK(lines.size() == 10);
  for (const auto& l : lines) CHECK(l.size() < 50);
  CHECK(lines[8].find("23 more jobs") != std::string::npos);  // 7 shown of 30
  CHECK(lines[9].starts_with("total "));
}

TEST_CASE("a cut never splits a UTF-8 character") {
  progress_snapshot p = snapshot_of(1);
  p.jobs[0].name = "r\xc3\xa9sum\xc3\xa9s-\xc3\xa9t\xc3\xa9";  // résumés-été
  for (std::size_t width = 2; width < 12; ++width)
    for (const auto& l : cli::progress_lines(p, {}, -1, width, 10)) {
      INFO(width << ": " << l);
      CHECK((l.empty() || (static_cast<unsigned char>(l.back()) & 0xC0) != 0xC0));  // no lead byte left alone
      if (l.size() >= 2 && (static_cast<unsigned char>(l[l.size() - 2]) & 0xE0) == 0xE0)
        CHECK((static_cast<unsigned char>(l.back()) & 0xC0) != 0x80);  // no 3-byte character cut after 2
    }
}

TEST_CASE("the console's log lines: text or JSON, below the level dropped, nothing drawn when off") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    cli::run_console console(cli::progress_style::off, cli::log_format::json, log_level::warning, f);
    console.log({.level = log_level::info, .message = "dropped", .job = "a"});
    console.log({.level = log_level::warning, .message = "kept", .job = "billing", .attempt = 2});
    console.note("interrupted");
  }
  const std::string json = read_all(f);
  std::fclose(f);
  CHECK(json.find("dropped") == std::string::npos);
  CHECK(json.find(R"("level":"warning","msg":"kept","job":"billing","attempt":2})") != std::string::npos);
  CHECK(json.find(R"("msg":"interrupted")") != std::string::npos);
  CHECK(json.find('\x1b') == std::string::npos);

  f = std::tmpfile();
  {
    cli::run_console console(cli::progress_style::off, cli::log_format::text, log_level::info, f);
    console.log({.message = "committed 5 rows", .job = "billing", .job_id = "abc", .query = "Account"});
  }
  const std::string text = read_all(f);
  std::fclose(f);
  CHECK(text.ends_with(" info job=billing job_id=abc query=Account: committed 5 rows\n"));
}

namespace {

run_report sample_report() {
  run_report r;
  r.started_at = "2026-01-01T00:00:00Z";
  r.wall_s = 1.5;
  job_report j;
  j.name = "billing";
  j.job_id = "abc";
  j.status = outcome::completed;
  query_report q;
  q.name = "Account";
  q.status = outcome::completed;
  q.rows = 200;
  q.files = 1;
  q.bytes_downloaded = 1234;  // compressed
  q.bytes_decoded = 5678;     // CSV
  j.queries.push_back(q);
  r.jobs.push_back(j);
  return r;
}

}  // namespace

TEST_CASE("the run report under JSON logs is one JSON record, whatever the level; under text the table") {
  const run_report r = sample_report();
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    cli::run_console console(cli::progress_style::off, cli::log_format::json, log_level::error, f);
    console.log({.level = log_level::warning, .message = "dropped"});
    console.error("p.toml:1:1: a problem");
    console.report(r);
  }
  const std::string json = read_all(f);
  std::fclose(f);
  // Two lines, each one object: the error, then the report with run_report::to_json()'s object.
  REQUIRE(std::count(json.begin(), json.end(), '\n') == 2);
  const std::string first = json.substr(0, json.find('\n'));
  const std::string second = json.substr(first.size() + 1);
  CHECK(first.find(R"("level":"error","msg":"p.toml:1:1: a problem"})") != std::string::npos);
  CHECK(second.starts_with(R"({"ts":")"));
  CHECK(second.find(R"("level":"info","msg":"run ok: 1 AQuA job(s) in 1.50 s","report":{"status":"ok")") !=
        std::string::npos);
  std::string body = r.to_json();
  body.pop_back();
  CHECK(second.ends_with(",\"report\":" + body + "}\n"));
  CHECK(second.find(R"("bytes_downloaded":1234,"bytes_decoded":5678)") != std::string::npos);

  f = std::tmpfile();
  {
    cli::run_console console(cli::progress_style::off, cli::log_format::text, log_level::error, f);
    console.report(r);
  }
  const std::string text = read_all(f);
  std::fclose(f);
  CHECK(text == r.to_table());
}

TEST_CASE("the run report's byte columns: downloaded (compressed) and decoded (CSV), in the table and the JSON") {
  run_report r = sample_report();
  const std::string table = r.to_table();
  const std::string header = table.substr(0, table.find('\n'));
  CHECK(header.find(" rows   downloaded      decoded files  seconds  status") != std::string::npos);
  CHECK(table.find("        200         1234         5678     1 ") != std::string::npos);
  // A windowed query's windows add up, both counts.
  job_report w = r.jobs[0];
  w.name = "billing [2020]";
  w.window = "2020";
  r.jobs = {w, w};
  r.jobs[1].name = "billing [2021]";
  r.jobs[1].window = "2021";
  const std::string windowed = r.to_table();
  CHECK(windowed.find("billing (2 windows)") != std::string::npos);
  CHECK(windowed.find("        400         2468        11356     2 ") != std::string::npos);
  CHECK(r.to_json().find(R"("rows":400,"files":2,"bytes_downloaded":2468,"bytes_decoded":11356)") != std::string::npos);
}

// The progress block's lines (a pure function of a snapshot) and the console's
// log lines, without a terminal: tests/cli/progress_test.sh looks at the real
// thing in tmux.
#include "cli/run_console.hpp"

#include <doctest/doctest.h>

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

// Huge objects (issue 19): --max-job-rows aborts a batch as the service does
// when a job runs out of processing time (90027); --burst gives COUNT rows one
// UpdatedDate second; `Id > 'x' order by Id limit n` pages through a result
// exactly, Ids compared as strings.
#include <aquaduct/emulator.hpp>

#include <map>
#include <set>
#include <string>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "emulator/test_client.hpp"

using aquaduct::emulator::options;
using aquaduct::emulator::server;
using emu_test::batch_files;
using emu_test::client;
using emu_test::json;
using emu_test::reply;
using emu_test::submit;
using emu_test::wait_terminal;

namespace {

options limited() {
  options o;
  o.seed = 5;
  o.scale = 40;  // InvoiceItem: 2,000 rows
  o.latency = std::chrono::milliseconds(20);
  return o;
}

std::string body_of(const std::string& query) {
  return fmt::format(R"({{"format":"csv","version":"1.0","useQueryLabels":"true","dateTimeUtc":"true",)"
                     R"("queries":[{{"name":"Q","query":"{}","type":"zoqlexport"}}]}})",
                     query);
}

// The data rows of a completed job's only batch (header dropped).
std::vector<std::vector<std::string>> rows_of(client& c, const std::string& job_text) {
  std::vector<std::vector<std::string>> all;
  for (const std::string& fid : batch_files(job_text)) {
    reply f = c.request("GET", "/v1/file/" + fid);
    REQUIRE(f.status == 200);
    auto rows = emu_test::parse_csv(f.body);
    REQUIRE_FALSE(rows.empty());
    all.insert(all.end(), rows.begin() + 1, rows.end());
  }
  return all;
}

}  // namespace

TEST_CASE("--max-job-rows: a batch over the limit aborts its job with 90027, one within it completes") {
  options o = limited();
  o.max_job_rows = 500;
  server s{o};
  s.start();
  client c{s.port()};
  const std::string over = wait_terminal(c, submit(c, body_of("select Id from InvoiceItem")));
  const json j(over);
  CHECK(j.str("status") == "aborted");
  const simdjson::dom::element b = j.root["batches"].at(0);
  CHECK(std::string_view(b["status"]) == "aborted");
  const std::string message{std::string_view(b["message"])};
  CHECK_MESSAGE(message.rfind("90027: Exceeded max processing time", 0) == 0, message);
  CHECK(batch_files(over).empty());

  // Exactly the limit passes; a page of it too.
  const std::string at = wait_terminal(c, submit(c, body_of("select Id from InvoiceItem order by Id limit 500")));
  CHECK(json(at).str("status") == "completed");
  CHECK(rows_of(c, at).size() == 500);
  const std::string small = wait_terminal(c, submit(c, body_of("select Id from Account")));
  CHECK(json(small).str("status") == "completed");
}

TEST_CASE("--burst: the first COUNT rows share one UpdatedDate second; tenant_rows and the service agree") {
  options o = limited();
  REQUIRE(aquaduct::emulator::parse_burst_option("InvoiceItem:1200", o));
  REQUIRE(aquaduct::emulator::parse_burst_option("Invoice:50:2025-06-30T12:00:00Z", o));
  CHECK_FALSE(aquaduct::emulator::parse_burst_option("Invoice", o));
  CHECK_FALSE(aquaduct::emulator::parse_burst_option("Invoice:x", o));
  CHECK_FALSE(aquaduct::emulator::parse_burst_option("Invoice:5:2025-06-30", o));
  CHECK(o.bursts.size() == 2);

  const auto items = aquaduct::emulator::tenant_rows(o, "InvoiceItem", {"Id", "CreatedDate", "UpdatedDate"});
  std::map<std::string, std::size_t> per_second;
  for (const auto& r : items.rows) {
    ++per_second[r[2]];
    CHECK(r[2] >= r[1]);  // UpdatedDate >= CreatedDate, both +0000
  }
  CHECK(per_second["2025-12-31T12:00:00+0000"] == 1200);
  const auto invoices = aquaduct::emulator::tenant_rows(o, "Invoice", {"Id", "CreatedDate", "UpdatedDate"});
  std::size_t at_burst = 0;
  for (std::size_t i = 0; i < invoices.rows.size(); ++i)
    if (invoices.rows[i][2] == "2025-06-30T12:00:00+0000") ++at_burst;
    else if (i < 50) CHECK(invoices.rows[i][1] > "2025-06-30T12:00:00+0000");  // created after the burst
  CHECK(at_burst <= 50);
  CHECK(at_burst > 0);

  server s{o};
  s.start();
  client c{s.port()};
  const std::string one_second = wait_terminal(
      c, submit(c, body_of("select Id from InvoiceItem where UpdatedDate >= '2025-12-31T12:00:00+00:00' and "
                           "UpdatedDate < '2025-12-31T12:00:01+00:00'")));
  CHECK(rows_of(c, one_second).size() == 1200);

  options bad = limited();
  bad.bursts.push_back({"NoSuchObject", 5, std::nullopt});
  CHECK_THROWS_AS(server{bad}.start(), std::invalid_argument);
}

TEST_CASE("keyset pages: Id > 'last' order by Id limit n returns every row of a burst second once, in Id order") {
  options o = limited();
  REQUIRE(aquaduct::emulator::parse_burst_option("InvoiceItem:1500", o));
  o.max_job_rows = 400;
  server s{o};
  s.start();
  client c{s.port()};
  const std::string window =
      "UpdatedDate >= '2025-12-31T12:00:00+00:00' and UpdatedDate < '2025-12-31T12:00:01+00:00'";
  std::vector<std::string> ids;
  std::string last;
  for (int page = 0; page < 10; ++page) {
    const std::string q = fmt::format("select Id, UpdatedDate from InvoiceItem where {}{} order by Id limit 400",
                                      window, last.empty() ? "" : " and Id > '" + last + "'");
    const std::string done = wait_terminal(c, submit(c, body_of(q)));
    REQUIRE(json(done).str("status") == "completed");
    const auto rows = rows_of(c, done);
    for (const auto& r : rows) ids.push_back(r[0]);
    if (rows.size() < 400) break;
    last = rows.back()[0];
  }
  CHECK(ids.size() == 1500);
  CHECK(std::is_sorted(ids.begin(), ids.end()));  // as strings: 32 lower-case hex digits
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());

  // Ids compare as strings: a prefix of an Id is below it.
  const std::string first = ids.front();
  const std::string below = wait_terminal(
      c, submit(c, body_of(fmt::format("select Id from InvoiceItem where {} and Id > '{}' order by Id limit 1", window,
                                       first.substr(0, 20)))));
  CHECK(rows_of(c, below).at(0)[0] == first);
}

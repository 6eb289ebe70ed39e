// Where the emulator once contradicted the documents (issue 20). Each case
// quotes the line of docs/aqua-contract.md (or docs/emulator.md) it follows.
#include <aquaduct/emulator.hpp>

#include <set>
#include <string>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "emulator/test_client.hpp"

using emu_test::json;
using emu_test::reply;

namespace {

aquaduct::emulator::options small() {
  aquaduct::emulator::options o;
  o.seed = 5;
  o.scale = 25;
  o.latency = std::chrono::milliseconds(20);
  return o;
}

struct emulator_fixture {
  aquaduct::emulator::server srv{small()};
  std::unique_ptr<emu_test::client> c;
  emulator_fixture() {
    srv.start();
    c = std::make_unique<emu_test::client>(srv.port());
  }
  std::string run(const std::string& body) { return emu_test::wait_terminal(*c, emu_test::submit(*c, body)); }
  std::vector<std::vector<std::string>> rows(const std::string& job_text, std::size_t index = 0) {
    const auto files = emu_test::batch_files(job_text, index);
    REQUIRE(files.size() == 1);
    reply f = c->request("GET", "/v1/file/" + files.front());
    REQUIRE(f.status == 200);
    return emu_test::parse_csv(f.body);
  }
};

bool full_of(const std::string& job_text, std::size_t index) {
  return bool(json(job_text).root["batches"].at(index)["full"]);
}

std::uint64_t count_of(const std::string& job_text, std::size_t index) {
  return std::uint64_t(json(job_text).root["batches"].at(index)["recordCount"]);
}

}  // namespace

// §4.1: "`version` 1.1 or 1.2 **and** both `partner` and `project` set ⇒ stateful. Otherwise
// stateless (1.0 always stateless)."
TEST_CASE_FIXTURE(emulator_fixture, "fidelity: version 1.0 (or none) with partner and project runs stateless") {
  for (const std::string version : {R"("version":"1.0",)", ""}) {
    INFO(version);
    const std::string body = "{" + version +
                             R"("partner":"acme","project":"old-client","useQueryLabels":true,"dateTimeUtc":true,)"
                             R"("queries":[{"name":"A","query":"select Id from Account"}]})";
    for (int round = 0; round < 2; ++round) {  // no session: the second run is full again
      const std::string j = run(body);
      const json jj(j);
      CHECK(jj.str("status") == "completed");
      CHECK(jj.str("partner") == "acme");
      CHECK(jj.str("project") == "old-client");
      CHECK(full_of(j, 0));  // §1.5: "`full` ... always true for stateless"
      CHECK(count_of(j, 0) == 25);
    }
  }
  // No session was made: the partner/project endpoint knows no completed job.
  CHECK(c->request("GET", "/v1/batch-query/jobs/partner/acme/project/old-client").status == 404);
}

// §1.3: "`offset` | integer 0–3600 (seconds) | 0 | stateful only; incremental end time = now − offset".
// Typed as a number with default 0 and never said to be refused: a stateless job accepts it,
// echoes it, and has no incremental window for it to shift.
TEST_CASE_FIXTURE(emulator_fixture, "fidelity: offset is accepted in stateless mode and changes nothing there") {
  const std::string plain = run(R"({"queries":[{"name":"A","query":"select Id, UpdatedDate from Account"}]})");
  for (int offset : {0, 1, 600, 3600}) {
    INFO(offset);
    const std::string j = run(fmt::format(
        R"({{"offset":{},"queries":[{{"name":"A","query":"select Id, UpdatedDate from Account"}}]}})", offset));
    CHECK(json(j).str("status") == "completed");
    CHECK(json(j).root["offset"].get_int64().value() == offset);
    CHECK(rows(j) == rows(plain));
  }
  // Still validated as the documents type it.
  reply r = c->request("POST", "/v1/batch-query/",
                       R"({"offset":3601,"queries":[{"name":"A","query":"select Id from Account"}]})");
  CHECK(json(r.body).str("errorCode") == "90005");
}

// §4.2: "A query is reloaded in full (while others stay incremental) when: its query text
// changes; the `deleted` spec is added, removed, renamed or its format changes; or it is a
// newly added query." and "`incrementalTime` overrides the window start." No exception for
// incrementalTime is named: with it, a changed query still loads in full, the others are
// incremental from the given time.
TEST_CASE_FIXTURE(emulator_fixture, "fidelity: an explicit incrementalTime does not turn a changed query incremental") {
  const auto body = [](const std::string& account_fields, const std::string& extra) {
    return fmt::format(R"({{"version":"1.2","partner":"acme","project":"reload","dateTimeUtc":true{},)"
                       R"("queries":[{{"name":"A","query":"select {} from Account"}},)"
                       R"({{"name":"C","query":"select Id from Contact"}}]}})",
                       extra, account_fields);
  };
  std::string j = run(body("Id", ""));
  CHECK(full_of(j, 0));
  CHECK(full_of(j, 1));
  REQUIRE(c->request("POST", "/_emulator/mutate", R"({"object":"Contact","update":3})").status == 200);
  // Account gains a field; the job starts its window at a recent explicit time.
  j = run(body("Id, Name", R"(,"incrementalTime":"2020-01-01 00:00:00")"));
  CHECK(full_of(j, 0));
  CHECK(count_of(j, 0) == 25);
  CHECK_FALSE(full_of(j, 1));
  const std::uint64_t contacts_since_2020 = count_of(j, 1);
  // The same with an incrementalTime later than every change: Contact finds nothing.
  j = run(body("Id, Name, Balance", R"(,"incrementalTime":"2099-01-01 00:00:00")"));
  CHECK(full_of(j, 0));
  CHECK_FALSE(full_of(j, 1));
  CHECK(count_of(j, 1) == 0);
  CHECK(contacts_since_2020 >= 3);
}

// §4.1 "First job in a session ⇒ **full** load of every query": an incrementalTime on the
// first job of a session does not make it incremental either.
TEST_CASE_FIXTURE(emulator_fixture, "fidelity: a session's first job is full even with an incrementalTime") {
  const std::string j = run(R"({"version":"1.2","partner":"acme","project":"first","incrementalTime":"2099-01-01 00:00:00",)"
                            R"("queries":[{"name":"A","query":"select Id from Account"}]})");
  CHECK(full_of(j, 0));
  CHECK(count_of(j, 0) == 25);
}

// §4.2: only the session's first job (and the named query changes) load in full; a client
// that sends incrementalTime with every job, as the Singer tap for Zuora does, gets
// incremental loads after the first (found by the tap's acceptance test: the session's
// window start was only set by jobs without incrementalTime, so every such job was full).
TEST_CASE_FIXTURE(emulator_fixture, "fidelity: after the first job, a session sent incrementalTime every time is incremental") {
  const std::string body = R"({"version":"1.2","partner":"acme","project":"always","incrementalTime":"2000-01-01 00:00:00",)"
                           R"("queries":[{"name":"A","query":"select Id from Account"}]})";
  const std::string first = run(body);
  CHECK(full_of(first, 0));
  CHECK(count_of(first, 0) == 25);
  const std::string second = run(body);
  CHECK_FALSE(full_of(second, 0));
  const std::string third = run(R"({"version":"1.2","partner":"acme","project":"always","incrementalTime":"2099-01-01 00:00:00",)"
                                R"("queries":[{"name":"A","query":"select Id from Account"}]})");
  CHECK_FALSE(full_of(third, 0));
  CHECK(count_of(third, 0) == 0);  // nothing changed after 2099
}

// §1.3: "`forceExport: true` allows it in stateless mode (otherwise 90012)"; §3.5 "Add
// `deleted: {column: "is_deleted", format: "Boolean", forceExport: true}` to every query that
// supports it" beside "`WHERE UpdatedDate >= '<last_hwm>' AND UpdatedDate < '<new_hwm>'`".
// Over HTTP, a stateless query with both shows the rows deleted in its window.
TEST_CASE_FIXTURE(emulator_fixture, "fidelity: a stateless query with deleted + forceExport shows deletions over HTTP") {
  const reply m = c->request("POST", "/_emulator/mutate", R"({"object":"Account","delete":2,"update":1})");
  REQUIRE(m.status == 200);
  const json mj(m.body);
  std::set<std::string> deleted;
  simdjson::dom::array ids;
  REQUIRE_FALSE(mj.root["deleted"].get(ids));
  for (simdjson::dom::element id : ids) deleted.insert(std::string(std::string_view(id)));
  REQUIRE(deleted.size() == 2);
  const std::string q =
      R"({"useQueryLabels":true,"dateTimeUtc":true,"queries":[{"name":"A","query":"select Id from Account where UpdatedDate >= '2020-01-01T00:00:00Z'",)"
      R"("deleted":{"column":"IsDeleted","format":"Boolean","forceExport":true}}]})";
  const std::string j = run(q);
  const auto r = rows(j);
  REQUIRE(r.size() > 1);
  CHECK(r[0][0] == "Account.IsDeleted");
  std::set<std::string> flagged;
  for (std::size_t i = 1; i < r.size(); ++i)
    if (r[i][0] == "true") flagged.insert(r[i][1]);
  CHECK(flagged == deleted);
  // The same query without deleted: the deleted rows are simply gone.
  const std::string plain = run(
      R"({"useQueryLabels":true,"queries":[{"name":"A","query":"select Id from Account where UpdatedDate >= '2020-01-01T00:00:00Z'"}]})");
  for (const auto& row : rows(plain)) CHECK(deleted.count(row[0]) == 0);
}

// §1.6: "`localizedStatus` mirrors `status`"; docs/emulator.md §7 "`localizedStatus` | equal
// to `status`" — on the job as on its batches.
TEST_CASE_FIXTURE(emulator_fixture, "fidelity: the job carries localizedStatus too") {
  const std::string id = emu_test::submit(*c, R"({"queries":[{"name":"A","query":"select Id from Account"}]})");
  const std::string j = emu_test::wait_terminal(*c, id);
  CHECK(json(j).str("localizedStatus") == "completed");
  CHECK(json(j).str("localizedStatus") == json(j).str("status"));
}

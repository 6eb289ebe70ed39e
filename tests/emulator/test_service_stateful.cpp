// Stateful mode (contract §4): a session's first job is a full load, later
// ones incremental with only the changes (deleted rows included); a changed
// query forces a full load of that query; offset and incrementalTime; the
// last-completed endpoint; session serialisation; job status machines;
// callouts; tenant job limits.
#include <aquaduct/emulator.hpp>

#include <poll.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

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

options small(std::chrono::milliseconds latency = std::chrono::milliseconds(30)) {
  options o;
  o.seed = 11;
  o.scale = 30;
  o.latency = latency;
  return o;
}

struct query_def {
  std::string name, text, deleted;  // deleted: JSON object text or empty
};

std::string stateful_body(const std::string& project, const std::vector<query_def>& queries,
                          const std::string& extra = {}) {
  std::string qs;
  for (const auto& q : queries) {
    if (!qs.empty()) qs += ',';
    qs += fmt::format(R"({{"name":"{}","query":"{}","type":"zoqlexport"{}}})", q.name, q.text,
                      q.deleted.empty() ? "" : ",\"deleted\":" + q.deleted);
  }
  return fmt::format(R"({{"format":"csv","version":"1.2","name":"{}","partner":"acme","project":"{}",)"
                     R"("useQueryLabels":"true","dateTimeUtc":"true"{},"queries":[{}]}})",
                     project, project, extra, qs);
}

// Rows of every file of batch `index` (headers dropped after the first file).
std::vector<std::vector<std::string>> batch_rows(client& c, const std::string& job_text, std::size_t index = 0) {
  std::vector<std::vector<std::string>> all;
  for (const std::string& fid : batch_files(job_text, index)) {
    reply f = c.request("GET", "/v1/file/" + fid);
    REQUIRE(f.status == 200);
    auto rows = emu_test::parse_csv(f.body);
    REQUIRE_FALSE(rows.empty());
    if (!all.empty()) rows.erase(rows.begin());
    all.insert(all.end(), rows.begin(), rows.end());
  }
  return all;
}

bool batch_full(const std::string& job_text, std::size_t index = 0) {
  return bool(json(job_text).root["batches"].at(index)["full"]);
}

std::uint64_t batch_count(const std::string& job_text, std::size_t index = 0) {
  return std::uint64_t(json(job_text).root["batches"].at(index)["recordCount"]);
}

std::vector<std::string> ids_of(const json& j, const char* key) {
  std::vector<std::string> out;
  for (simdjson::dom::element e : simdjson::dom::array(j.root[key])) out.emplace_back(std::string_view(e));
  return out;
}

const std::string deleted_bool = R"({"column":"IsDeleted","format":"Boolean"})";

}  // namespace

TEST_CASE("stateful: full load, mutate, incremental with deleted rows, last completed") {
  const options o = small();
  server s{o};
  s.start();
  client c{s.port()};
  const std::vector<query_def> qs{{"Accounts", "select Id, Name, UpdatedDate from Account", deleted_bool}};

  const std::string first = wait_terminal(c, submit(c, stateful_body("sync", qs)));
  REQUIRE(json(first).str("status") == "completed");
  CHECK(batch_full(first));
  auto rows = batch_rows(c, first);
  REQUIRE(rows.size() == o.scale + 1);
  CHECK(rows[0] == std::vector<std::string>{"Account.IsDeleted", "Account.Id", "Account.Name", "Account.UpdatedDate"});
  for (std::size_t i = 1; i < rows.size(); ++i) CHECK(rows[i][0] == "false");  // a full load has no deleted rows

  reply m = c.request("POST", "/_emulator/mutate", R"({"object":"Account","create":2,"update":3,"delete":2})");
  REQUIRE(m.status == 200);
  const json mj(m.body);
  const auto created = ids_of(mj, "created"), updated = ids_of(mj, "updated"), deleted = ids_of(mj, "deleted");
  REQUIRE(created.size() == 2);
  REQUIRE(updated.size() == 3);
  REQUIRE(deleted.size() == 2);

  const std::string second = wait_terminal(c, submit(c, stateful_body("sync", qs)));
  REQUIRE(json(second).str("status") == "completed");
  CHECK_FALSE(batch_full(second));
  rows = batch_rows(c, second);
  std::set<std::string> live, gone;
  for (std::size_t i = 1; i < rows.size(); ++i) (rows[i][0] == "true" ? gone : live).insert(rows[i][1]);
  std::set<std::string> expect_live(created.begin(), created.end());
  expect_live.insert(updated.begin(), updated.end());
  for (const auto& d : deleted) expect_live.erase(d);  // an updated row may have been deleted too
  CHECK(live == expect_live);
  CHECK(gone == std::set<std::string>(deleted.begin(), deleted.end()));
  CHECK(batch_count(second) == rows.size() - 1);

  reply last = c.request("GET", "/v1/batch-query/jobs/partner/acme/project/sync");
  REQUIRE(last.status == 200);
  CHECK(json(last.body).str("id") == json(second).str("id"));
  CHECK(c.request("GET", "/v1/batch-query/jobs/partner/acme/project/other").status == 404);

  // No changes since: the next incremental load is empty (header only).
  const std::string third = wait_terminal(c, submit(c, stateful_body("sync", qs)));
  CHECK_FALSE(batch_full(third));
  CHECK(batch_count(third) == 0);
  CHECK(batch_rows(c, third).size() == 1);
}

TEST_CASE("stateful: changed query text, changed deleted spec and a new query load in full; no queries reruns") {
  const options o = small();
  server s{o};
  s.start();
  client c{s.port()};
  const query_def acc{"Accounts", "select Id, Name from Account", deleted_bool};
  const query_def con{"Contacts", "select Id, FirstName from Contact", ""};
  wait_terminal(c, submit(c, stateful_body("p1", {acc, con})));

  // Same queries: both incremental.
  std::string j = wait_terminal(c, submit(c, stateful_body("p1", {acc, con})));
  CHECK_FALSE(batch_full(j, 0));
  CHECK_FALSE(batch_full(j, 1));

  // The deleted spec changes format: that query is full, the other not.
  const query_def acc_num{"Accounts", acc.text, R"({"column":"IsDeleted","format":"Numeric"})"};
  j = wait_terminal(c, submit(c, stateful_body("p1", {acc_num, con})));
  CHECK(batch_full(j, 0));
  CHECK_FALSE(batch_full(j, 1));
  auto rows = batch_rows(c, j, 0);
  REQUIRE(rows.size() == o.scale + 1);
  CHECK(rows[1][0] == "0");

  // The text changes: full again; a new query is full too.
  const query_def con2{"Contacts", "select Id, FirstName, LastName from Contact", ""};
  const query_def inv{"Invoices", "select Id from Invoice", ""};
  j = wait_terminal(c, submit(c, stateful_body("p1", {acc_num, con2, inv})));
  CHECK_FALSE(batch_full(j, 0));
  CHECK(batch_full(j, 1));
  CHECK(batch_full(j, 2));
  CHECK(batch_count(j, 2) > 0);

  // No queries: the last completed job's queries rerun incrementally.
  reply r = c.request("POST", "/v1/batch-query/",
                      R"({"format":"csv","version":"1.2","partner":"acme","project":"p1","queries":[]})");
  const std::string id = json(r.body).str("id");
  REQUIRE(id.size() == 32);
  j = wait_terminal(c, id);
  json jj(j);
  REQUIRE(simdjson::dom::array(jj.root["batches"]).size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK_FALSE(batch_full(j, i));

  // Another project is another session: full.
  j = wait_terminal(c, submit(c, stateful_body("p2", {acc})));
  CHECK(batch_full(j));
}

TEST_CASE("stateful: offset holds back fresh changes; incrementalTime sets the window and does not move it") {
  const options o = small();
  server s{o};
  s.start();
  client c{s.port()};
  const std::vector<query_def> qs{{"Accounts", "select Id from Account", ""}};
  wait_terminal(c, submit(c, stateful_body("w", qs)));
  REQUIRE(c.request("POST", "/_emulator/mutate", R"({"object":"Account","update":4})").status == 200);

  // offset 3600: the window ends an hour ago, so the fresh updates are not in it.
  std::string j = wait_terminal(c, submit(c, stateful_body("w", qs, R"(,"offset":3600)")));
  CHECK(json(j).root["offset"].get_int64().value() == 3600);
  CHECK_FALSE(batch_full(j));
  CHECK(batch_count(j) == 0);

  // An explicit incrementalTime far in the past: every row is in the window.
  j = wait_terminal(c, submit(c, stateful_body("w", qs, R"(,"incrementalTime":"2000-01-01 00:00:00")")));
  CHECK_FALSE(batch_full(j));
  CHECK(batch_count(j) == o.scale);
  CHECK(json(j).root["incrementalTime"].get_int64().value() == 946713600000);  // 2000-01-01T08:00:00Z (Pacific)

  // A window that starts in the future holds nothing, and (decision §7) does
  // not move the session's window: the next plain run still sees the updates
  // made after the offset run started... of which there are none, so mutate again.
  REQUIRE(c.request("POST", "/_emulator/mutate", R"({"object":"Account","update":2})").status == 200);
  j = wait_terminal(c, submit(c, stateful_body("w", qs, R"(,"incrementalTime":"2099-01-01 00:00:00")")));
  CHECK(batch_count(j) == 0);
  j = wait_terminal(c, submit(c, stateful_body("w", qs)));
  CHECK(batch_count(j) >= 2);
}

TEST_CASE("status machines: submitted -> executing -> completed, batches pending -> executing -> completed") {
  server s{small(std::chrono::milliseconds(400))};
  s.start();
  client c{s.port()};
  reply r = c.request("POST", "/v1/batch-query/",
                      R"({"format":"gzip","queries":[{"name":"A","query":"select Id from Account"}]})");
  const json sub(r.body);
  CHECK(sub.str("status") == "submitted");
  CHECK(std::string_view(sub.root["batches"].at(0)["status"]) == "pending");
  const std::string id = sub.str("id");

  std::vector<std::string> seen{"submitted"}, batch_seen{"pending"};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (seen.back() != "completed") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    const json j(c.request("GET", "/v1/batch-query/jobs/" + id).body);
    if (j.str("status") != seen.back()) seen.push_back(j.str("status"));
    const std::string bs(std::string_view(j.root["batches"].at(0)["status"]));
    if (bs != batch_seen.back()) batch_seen.push_back(bs);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(seen == std::vector<std::string>{"submitted", "executing", "completed"});
  CHECK(batch_seen == std::vector<std::string>{"pending", "executing", "completed"});
}

TEST_CASE("stateful: jobs of one session run one at a time") {
  // A job's latency of 1 s: b waits that long behind a, while the other
  // session's job runs at once. The order of the reads keeps the checks free
  // of races: b is read before a (b leaves `submitted` only after a
  // completed, so a read after it must be completed), and the other job after
  // b (seen running while b, read earlier, still waited).
  server s{small(std::chrono::milliseconds(1000))};
  s.start();
  client c{s.port()};
  const std::vector<query_def> qs{{"Accounts", "select Id from Account", ""}};
  const std::string a = submit(c, stateful_body("serial", qs));
  const std::string b = submit(c, stateful_body("serial", qs));
  const std::string other = submit(c, stateful_body("elsewhere", qs));  // another session is not held back
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool other_ran_while_b_waited = false;
  for (;;) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    const std::string sb = json(c.request("GET", "/v1/batch-query/jobs/" + b).body).str("status");
    const std::string sa = json(c.request("GET", "/v1/batch-query/jobs/" + a).body).str("status");
    const std::string so = json(c.request("GET", "/v1/batch-query/jobs/" + other).body).str("status");
    if (sb != "submitted") CHECK(sa == "completed");
    if (so != "submitted" && sb == "submitted") other_ran_while_b_waited = true;
    if (sb == "completed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(other_ran_while_b_waited);
  // b started after a ended, so it was incremental.
  CHECK_FALSE(batch_full(wait_terminal(c, b)));
}

namespace {

// Accepts one HTTP request on an ephemeral loopback port and keeps its request line.
struct callout_listener {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::string request_line;
  std::atomic<bool> done{false};
  std::thread thread;

  callout_listener() {
    thread = std::thread([this] {
      pollfd p{acceptor.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 30000) <= 0) {
        done = true;
        return;
      }
      asio::ip::tcp::socket sock = acceptor.accept();
      std::string buf;
      char tmp[1024];
      std::error_code ec;
      while (buf.find("\r\n\r\n") == std::string::npos) {
        pollfd q{sock.native_handle(), POLLIN, 0};
        if (::poll(&q, 1, 30000) <= 0) break;
        const std::size_t n = sock.read_some(asio::buffer(tmp), ec);
        if (ec) break;
        buf.append(tmp, n);
      }
      asio::write(sock, asio::buffer(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")),
                  ec);
      request_line = buf.substr(0, buf.find("\r\n"));
      done = true;
    });
  }
  ~callout_listener() { thread.join(); }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
};

}  // namespace

TEST_CASE("callout: notifyUrl is called with ${JOBID} and ${STATUS} when the job ends") {
  callout_listener listener;
  server s{small()};
  s.start();
  client c{s.port()};
  const std::string body = fmt::format(
      R"({{"format":"csv","version":"1.1","notifyUrl":"http://127.0.0.1:{}/cb?job=${{JOBID}}&status=${{STATUS}}",)"
      R"("queries":[{{"name":"A","query":"select Id from Account"}}]}})",
      listener.port());
  const std::string id = submit(c, body);
  wait_terminal(c, id);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!listener.done) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(listener.request_line == fmt::format("GET /cb?job={}&status=Completed HTTP/1.1", id));
  // The stats count it once the service has read the answer.
  for (;;) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    const json st(c.request("GET", "/_emulator/stats").body);
    if (st.root["callouts"]["sent"].get_uint64().value() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TEST_CASE("tenant limits: 90028 beyond the active stateless and stateful jobs; a cancel frees a slot") {
  options o = small(std::chrono::seconds(60));  // jobs stay active for the whole test
  o.max_active_jobs = 2;
  server s{o};
  s.start();
  client c{s.port()};
  const std::string stateless = R"({"queries":[{"name":"A","query":"select Id from Account"}]})";
  const std::string a = submit(c, stateless);
  submit(c, stateless);
  reply over = c.request("POST", "/v1/batch-query/", stateless);
  CHECK(over.status == 200);
  json oj(over.body);
  CHECK(oj.str("status") == "error");
  CHECK(oj.str("errorCode") == "90028");
  CHECK(oj.str("id").empty());

  // Stateful jobs have their own allowance.
  const std::vector<query_def> qs{{"A", "select Id from Account", ""}};
  submit(c, stateful_body("s1", qs));
  submit(c, stateful_body("s2", qs));
  CHECK(json(c.request("POST", "/v1/batch-query/", stateful_body("s3", qs)).body).str("errorCode") == "90028");

  REQUIRE(json(c.request("DELETE", "/v1/batch-query/jobs/" + a).body).str("status") == "cancelled");
  submit(c, stateless);
}

namespace {

// Submits `bodies` at once, one connection and thread each, as a fleet of
// clients does; the replies in the order of `bodies`. Only the main thread
// asserts (doctest's checks are not thread-safe).
std::vector<reply> submit_concurrently(std::uint16_t port, const std::vector<std::string>& bodies) {
  std::vector<reply> replies(bodies.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < bodies.size(); ++i)
    threads.emplace_back([&, i] {
      try {
        client c{port};
        replies[i] = c.request("POST", "/v1/batch-query/", bodies[i]);
      } catch (const std::exception& e) {
        replies[i].body = e.what();
      }
    });
  for (std::thread& t : threads) t.join();
  return replies;
}

std::vector<std::string> ids_of_submits(const std::vector<reply>& replies) {
  std::vector<std::string> ids;
  for (const reply& r : replies) {
    INFO(r.body);
    REQUIRE(r.status == 200);
    const json j(r.body);
    REQUIRE(j.str("status") == "submitted");
    ids.push_back(j.str("id"));
  }
  return ids;
}

// How many of `ids` the service shows active (neither of the terminal states) now.
std::uint64_t count_active(client& c, const std::vector<std::string>& ids) {
  std::uint64_t n = 0;
  for (const std::string& id : ids) {
    const std::string st = json(c.request("GET", "/v1/batch-query/jobs/" + id).body).str("status");
    if (st == "submitted" || st == "executing") ++n;
  }
  return n;
}

std::uint64_t stat(client& c, const char* key) {
  return json(c.request("GET", "/_emulator/stats").body).root[key].get_uint64().value();
}

}  // namespace

TEST_CASE("stats: active_jobs now and the peaks of jobs active at once, overall, by mode and in one session") {
  options o = small(std::chrono::seconds(60));  // no job ends by itself during the test
  server s{o};
  s.start();
  client c{s.port()};
  const std::string stateless = R"({"queries":[{"name":"A","query":"select Id from Account"}]})";
  const std::vector<query_def> qs{{"A", "select Id from Account", ""}};
  std::vector<std::string> bodies(5, stateless);
  bodies.push_back(stateful_body("one", qs));
  bodies.push_back(stateful_body("one", qs));  // waits behind the first of the session, active all the same
  bodies.push_back(stateful_body("two", qs));
  const std::vector<std::string> ids = ids_of_submits(submit_concurrently(s.port(), bodies));
  const std::vector<std::string> stateless_ids(ids.begin(), ids.begin() + 5);
  const std::vector<std::string> stateful_ids(ids.begin() + 5, ids.end());
  const std::vector<std::string> session_one(ids.begin() + 5, ids.begin() + 7);

  // Jobs never come back from a terminal state, so every job seen active
  // after the last submit was active when it was accepted: these are the
  // numbers active at once, and no more jobs were ever there.
  const std::uint64_t seen_all = count_active(c, ids);
  const std::uint64_t seen_stateless = count_active(c, stateless_ids);
  const std::uint64_t seen_stateful = count_active(c, stateful_ids);
  const std::uint64_t seen_session = count_active(c, session_one);
  {
    const json st(c.request("GET", "/_emulator/stats").body);
    CHECK(st.root["active_jobs"].get_uint64().value() == seen_all);
    CHECK(st.root["active_stateless"].get_uint64().value() == seen_stateless);
    CHECK(st.root["active_stateful"].get_uint64().value() == seen_stateful);
    CHECK(st.root["peak_active_jobs"].get_uint64().value() == seen_all);
    CHECK(st.root["peak_active_stateless_jobs"].get_uint64().value() == seen_stateless);
    CHECK(st.root["peak_active_stateful_jobs"].get_uint64().value() == seen_stateful);
    // The session serialises its jobs but has accepted both: a client that
    // keeps to one job per session never sees more than 1 here.
    CHECK(st.root["peak_session_active_jobs"].get_uint64().value() == seen_session);
    CHECK(seen_session == 2);
  }

  // A cancel ends a job now; the peak stays, and a new job below it leaves it.
  for (std::size_t i = 0; i < 3; ++i)
    REQUIRE(json(c.request("DELETE", "/v1/batch-query/jobs/" + ids[i]).body).str("status") == "cancelled");
  CHECK(stat(c, "active_jobs") == seen_all - 3);
  const std::string again = submit(c, stateless);
  CHECK(stat(c, "active_jobs") == seen_all - 2);
  CHECK(stat(c, "peak_active_jobs") == seen_all);

  // Cancelling one of session "one"'s jobs (the running one starts the
  // other): the session's count goes down, its peak stays.
  REQUIRE(json(c.request("DELETE", "/v1/batch-query/jobs/" + session_one[0]).body).str("status") == "cancelled");
  CHECK(count_active(c, session_one) == 1);
  CHECK(stat(c, "peak_session_active_jobs") == seen_session);

  std::vector<std::string> all = ids;
  all.push_back(again);
  for (const std::string& id : all) c.request("DELETE", "/v1/batch-query/jobs/" + id);
  CHECK(count_active(c, all) == 0);
  CHECK(stat(c, "active_jobs") == 0);
  CHECK(stat(c, "peak_active_jobs") == seen_all);

  // DECISION (docs/emulator.md): a reset starts the peaks over.
  REQUIRE(c.request("POST", "/_emulator/reset").status == 200);
  const json st(c.request("GET", "/_emulator/stats").body);
  for (const char* key : {"active_jobs", "peak_active_jobs", "peak_active_stateless_jobs", "peak_active_stateful_jobs",
                          "peak_session_active_jobs"})
    CHECK_MESSAGE(st.root[key].get_uint64().value() == 0, key);
}

TEST_CASE("stats: jobs that complete or abort by themselves leave active_jobs at 0 and the peak where it was") {
  options o = small(std::chrono::milliseconds(300));
  o.faults_json = R"({"rules":[{"path":"/v1/batch-query*","fault":"job_abort","message":"LINK_30000007 boom","times":1}]})";
  server s{o};
  s.start();
  client c{s.port()};
  const std::vector<std::string> bodies(6, R"({"queries":[{"name":"A","query":"select Id from Account"}]})");
  const std::vector<std::string> ids = ids_of_submits(submit_concurrently(s.port(), bodies));
  // At least these were active at once (see above); jobs that ended before
  // this read may have been counted at their peak too, but never more than
  // were submitted.
  const std::uint64_t seen = count_active(c, ids);
  std::set<std::string> ends;
  for (const std::string& id : ids) ends.insert(json(wait_terminal(c, id)).str("status"));
  CHECK(ends == std::set<std::string>{"aborted", "completed"});
  const json st(c.request("GET", "/_emulator/stats").body);
  CHECK(st.root["active_jobs"].get_uint64().value() == 0);
  const std::uint64_t peak = st.root["peak_active_jobs"].get_uint64().value();
  CHECK(peak >= seen);
  CHECK(peak >= 1);
  CHECK(peak <= ids.size());
  CHECK(st.root["peak_active_stateless_jobs"].get_uint64().value() == peak);
  CHECK(st.root["peak_active_stateful_jobs"].get_uint64().value() == 0);
  CHECK(st.root["peak_session_active_jobs"].get_uint64().value() == 0);
}

TEST_CASE("exports run on a worker: the service answers while a large result is written; cancel removes it") {
  options o = small(std::chrono::milliseconds(0));
  o.scale = 4000;  // 200,000 InvoiceItem rows: a export that takes a while
  o.data_dir = (std::filesystem::temp_directory_path() /
                fmt::format("emu-worker-test-{}-{}", ::getpid(), std::chrono::steady_clock::now().time_since_epoch().count()))
                   .string();
  {
    server s{o};
    s.start();
    client c{s.port()};
    const std::string body =
        R"({"format":"gzip","queries":[{"name":"Items","query":"select * from InvoiceItem order by ChargeAmount desc"}]})";
    const std::string id = submit(c, body);
    // Right after submit the export is still running, and the I/O thread answers.
    const std::string st = json(c.request("GET", "/v1/batch-query/jobs/" + id).body).str("status");
    CHECK((st == "submitted" || st == "executing"));
    CHECK(c.request("GET", "/_emulator/stats").status == 200);

    // Cancel while the export runs: nothing of it stays on disk. With one
    // worker, exports run in order, so once a later job completes the
    // cancelled export has ended.
    REQUIRE(json(c.request("DELETE", "/v1/batch-query/jobs/" + id).body).str("status") == "cancelled");
    const std::string later = wait_terminal(c, submit(c, R"({"queries":[{"name":"A","query":"select Id from Account"}]})"));
    CHECK(json(later).str("status") == "completed");
    CHECK_FALSE(std::filesystem::exists(std::filesystem::path(o.data_dir) / id));
    CHECK(std::filesystem::exists(std::filesystem::path(o.data_dir) / json(later).str("id")));
    CHECK(batch_files(wait_terminal(c, id)).empty());
  }
  std::filesystem::remove_all(o.data_dir);
}

TEST_CASE("incrementalTime is read in the tenant zone: Pacific with DST by default, UTC with utc_tenant") {
  const std::vector<query_def> qs{{"A", "select Id from Account", ""}};
  options o = small();
  {
    server s{o};
    s.start();
    client c{s.port()};
    reply winter = c.request("POST", "/v1/batch-query/", stateful_body("tz", qs, R"(,"incrementalTime":"2024-01-15 12:00:00")"));
    CHECK(json(winter.body).root["incrementalTime"].get_int64().value() == 1705348800000);  // 20:00Z (-08:00)
    reply summer = c.request("POST", "/v1/batch-query/", stateful_body("tz", qs, R"(,"incrementalTime":"2024-07-15 12:00:00")"));
    CHECK(json(summer.body).root["incrementalTime"].get_int64().value() == 1721070000000);  // 19:00Z (-07:00)
  }
  o.utc_tenant = true;
  server s{o};
  s.start();
  client c{s.port()};
  reply utc = c.request("POST", "/v1/batch-query/", stateful_body("tz", qs, R"(,"incrementalTime":"2024-07-15 12:00:00")"));
  CHECK(json(utc.body).root["incrementalTime"].get_int64().value() == 1721044800000);
}

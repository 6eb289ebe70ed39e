// A live tenant: churn while serving, the truth oracle, and the tenant's and
// the data centre's time zones. The crucial invariant: a job starting at T
// exports exactly the changes stamped before T, so a stateful session's
// incremental loads, and stateless UpdatedDate windows, are exact under churn.
#include <aquaduct/emulator.hpp>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>

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

using id_versions = std::map<std::string, std::string>;  // Id -> UpdatedDate (or deletion time)

struct truth_reply {
  std::string at, now;
  id_versions live, deleted;
};

truth_reply get_truth(client& c, const std::string& object, const std::string& at = {}) {
  reply r = c.request("GET", "/_emulator/truth?object=" + object + (at.empty() ? "" : "&at=" + at));
  INFO(r.body);
  REQUIRE(r.status == 200);
  const json j(r.body);
  truth_reply t;
  t.at = j.str("at");
  t.now = j.str("now");
  for (auto [k, v] : simdjson::dom::object(j.root["live"])) t.live.emplace(k, std::string_view(v));
  for (auto [k, v] : simdjson::dom::object(j.root["deleted"])) t.deleted.emplace(k, std::string_view(v));
  CHECK(std::uint64_t(j.root["live_count"]) == t.live.size());
  CHECK(std::uint64_t(j.root["deleted_count"]) == t.deleted.size());
  return t;
}

// "2026-12-07T10:50:29+0000" (a result file's UTC datetime) or
// "2026-12-07T10:50:29Z" -> "2026-12-07T10:50:29Z"; both sort as time.
std::string as_z(const std::string& t) { return t.substr(0, 19) + "Z"; }

// "YYYY-MM-DDTHH:MM:SSZ" <-> unix seconds, with <chrono>'s calendar.
std::int64_t unix_of(const std::string& z) {
  REQUIRE(z.size() == 20);
  const auto n = [&z](std::size_t pos, std::size_t len) { return std::stoi(z.substr(pos, len)); };
  const std::chrono::sys_days d{std::chrono::year{n(0, 4)} / std::chrono::month(static_cast<unsigned>(n(5, 2))) /
                                std::chrono::day(static_cast<unsigned>(n(8, 2)))};
  return d.time_since_epoch().count() * 86400 + n(11, 2) * 3600 + n(14, 2) * 60 + n(17, 2);
}

std::string z_of(std::int64_t unix_s) {
  const std::chrono::sys_days d{std::chrono::days{unix_s >= 0 ? unix_s / 86400 : (unix_s - 86399) / 86400}};
  const std::chrono::year_month_day ymd{d};
  const std::int64_t rem = unix_s - d.time_since_epoch().count() * 86400;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", int(ymd.year()), unsigned(ymd.month()),
                     unsigned(ymd.day()), rem / 3600, rem % 3600 / 60, rem % 60);
}

std::uint64_t churn_sequence(client& c) {
  reply r = c.request("GET", "/_emulator/stats");
  REQUIRE(r.status == 200);
  return std::uint64_t(json(r.body).root["churn"]["sequence"]);
}

// Polls until the churn has applied `n` more mutations.
void wait_for_churn(client& c, std::uint64_t n) {
  const std::uint64_t target = churn_sequence(c) + n;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (churn_sequence(c) < target) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

struct load_row {
  std::string version;
  bool deleted = false;
};

// Id -> row of every file of batch `index`, by header name (labels mode).
std::map<std::string, load_row> load_of(client& c, const std::string& job_text, std::size_t index,
                                        const std::string& object) {
  std::map<std::string, load_row> out;
  for (const std::string& fid : batch_files(job_text, index)) {
    reply f = c.request("GET", "/v1/file/" + fid);
    REQUIRE(f.status == 200);
    const auto rows = emu_test::parse_csv(f.body);
    REQUIRE_FALSE(rows.empty());
    const auto col = [&](const std::string& name) {
      const auto it = std::find(rows[0].begin(), rows[0].end(), object + "." + name);
      REQUIRE(it != rows[0].end());
      return static_cast<std::size_t>(it - rows[0].begin());
    };
    const std::size_t id = col("Id"), upd = col("UpdatedDate"), del = col("IsDeleted");
    for (std::size_t i = 1; i < rows.size(); ++i) {
      INFO(object << " row " << rows[i][id]);
      CHECK(out.emplace(rows[i][id], load_row{rows[i][upd], rows[i][del] == "true"}).second);  // never twice
    }
  }
  return out;
}

const std::vector<std::string> churned{"Account", "Contact", "Subscription", "Invoice", "InvoiceItem", "Payment"};

std::string session_body(const std::string& project) {
  std::string qs;
  for (const std::string& o : churned) {
    if (!qs.empty()) qs += ',';
    qs += fmt::format(R"({{"name":"{0}","query":"select Id, UpdatedDate from {0}","type":"zoqlexport",)"
                      R"("deleted":{{"column":"IsDeleted","format":"Boolean"}}}})",
                      o);
  }
  return fmt::format(R"({{"format":"csv","version":"1.2","name":"{0}","partner":"acme","project":"{0}",)"
                     R"("useQueryLabels":"true","dateTimeUtc":"true","queries":[{1}]}})",
                     project, qs);
}

std::string stateless_body(const std::string& query, bool utc = true) {
  return fmt::format(R"({{"format":"csv","version":"1.1","name":"q","useQueryLabels":"true","dateTimeUtc":"{}",)"
                     R"("queries":[{{"name":"Q","query":"{}","type":"zoqlexport"}}]}})",
                     utc ? "true" : "false", query);
}

// The job's transaction start from its startTime ("...+0000" with iso_start_time).
std::string start_of(const std::string& job_text) {
  const std::string st = json(job_text).str("startTime");
  REQUIRE(st.size() == 24);
  REQUIRE(st.substr(19) == "+0000");
  return as_z(st);
}

std::string completed(client& c, const std::string& body) {
  const std::string text = wait_terminal(c, submit(c, body));
  INFO(text);
  REQUIRE(json(text).str("status") == "completed");
  return text;
}

}  // namespace

TEST_CASE("churn: a stateful session's loads are exact window by window, and add up to the truth") {
  options o;
  o.seed = 5;
  o.scale = 40;
  o.latency = std::chrono::milliseconds(30);
  o.iso_start_time = true;
  o.churn_rate = 400;  // heavy for 40 accounts: every second changes ~40 rows of each object
  server s{o};
  s.start();
  client c{s.port()};

  std::map<std::string, id_versions> sink;  // object -> Id -> UpdatedDate
  std::string prev_start;
  std::vector<std::string> starts;
  std::uint64_t incremental_rows = 0, incremental_deletions = 0;
  for (int job = 0; job < 5; ++job) {
    if (job > 0) wait_for_churn(c, 450);  // changes between every two jobs, across a second boundary
    const std::string text = completed(c, session_body("live"));
    const std::string start = start_of(text);
    CAPTURE(job);
    CAPTURE(start);
    if (!prev_start.empty()) CHECK(start > prev_start);
    for (std::size_t b = 0; b < churned.size(); ++b) {
      const std::string& obj = churned[b];
      CAPTURE(obj);
      const bool full = bool(json(text).root["batches"].at(b)["full"]);
      CHECK(full == (job == 0));
      const auto load = load_of(c, text, b, obj);
      const truth_reply now = get_truth(c, obj, start);
      CHECK(now.at == start);
      if (full) {
        sink[obj].clear();
        for (const auto& [id, r] : load) {
          CHECK_FALSE(r.deleted);
          sink[obj][id] = r.version;
        }
      } else {
        // Exactly the rows that changed in [prev_start, start): live ones at
        // their version at `start`, and the deletions of rows alive at prev_start.
        const truth_reply before = get_truth(c, obj, prev_start);
        std::map<std::string, load_row> expect;
        for (const auto& [id, version] : now.live)
          if (as_z(version) >= prev_start) expect[id] = load_row{version, false};
        for (const auto& [id, when] : now.deleted)
          if (as_z(when) >= prev_start && as_z(when) < start && before.live.contains(id))
            expect[id] = load_row{when, true};
        CHECK(load.size() == expect.size());
        for (const auto& [id, r] : expect) {
          INFO(id);
          REQUIRE(load.contains(id));
          CHECK(load.at(id).deleted == r.deleted);
          CHECK(load.at(id).version == r.version);
        }
        for (const auto& [id, r] : load) {
          if (r.deleted) {
            sink[obj].erase(id);
            ++incremental_deletions;
          } else {
            sink[obj][id] = r.version;
          }
          ++incremental_rows;
        }
      }
      CHECK(sink[obj] == now.live);  // the union of the loads is the truth at the last start
    }
    prev_start = start;
    starts.push_back(start);
  }
  CHECK(incremental_rows > 0);
  CHECK(incremental_deletions > 0);

  // Stateless windows over the same churned tenant are exact too: a job
  // starting at T sees each row at its version at T.
  const std::string a = starts[1], b = starts[3];
  const std::string text = completed(
      c, stateless_body(fmt::format("select Id, UpdatedDate from InvoiceItem where UpdatedDate >= '{}' and "
                                    "UpdatedDate < '{}'",
                                    a, b)));
  const std::string t = start_of(text);
  std::map<std::string, std::string> got;
  for (const std::string& fid : batch_files(text)) {
    const auto rows = emu_test::parse_csv(c.request("GET", "/v1/file/" + fid).body);
    for (std::size_t i = 1; i < rows.size(); ++i) CHECK(got.emplace(rows[i][0], rows[i][1]).second);
  }
  id_versions expect;
  for (const auto& [id, version] : get_truth(c, "InvoiceItem", t).live)
    if (as_z(version) >= a && as_z(version) < b) expect[id] = version;
  CHECK(got == expect);
}

TEST_CASE("truth: live rows with their versions at T, every deletion, and a full load agrees") {
  options o;
  o.seed = 8;
  o.scale = 20;
  o.latency = std::chrono::milliseconds(20);
  o.iso_start_time = true;
  server s{o};
  s.start();
  client c{s.port()};
  const auto base = aquaduct::emulator::tenant_rows(o, "Account", {"Id", "UpdatedDate"});
  const std::string kept = base.rows[0][0], changed = base.rows[1][0], removed = base.rows[2][0];

  // Before any change: every generated row at its generated version, no deletion.
  const truth_reply t0 = get_truth(c, "Account");
  CHECK(t0.at == t0.now);
  REQUIRE(t0.live.size() == base.rows.size());
  for (const auto& row : base.rows) CHECK(t0.live.at(row[0]) == row[1]);
  CHECK(t0.deleted.empty());

  reply m = c.request("POST", "/_emulator/mutate",
                      fmt::format(R"({{"object":"Account","create":1,"update_ids":["{}"],"delete_ids":["{}"]}})",
                                  changed, removed));
  REQUIRE(m.status == 200);
  const std::string created = std::string(std::string_view(json(m.body).root["created"].at(0)));

  const truth_reply later = get_truth(c, "Account");
  REQUIRE(later.deleted.size() == 1);
  const std::string stamp = as_z(later.deleted.at(removed));  // the mutation's second
  // At the stamp itself, nothing of the mutation is visible yet ...
  const truth_reply at_stamp = get_truth(c, "Account", stamp);
  CHECK(at_stamp.at == stamp);
  CHECK(at_stamp.live == t0.live);
  CHECK(at_stamp.deleted == later.deleted);  // deletions after T are listed too
  // ... one second later all of it is.
  const std::string after_stamp = z_of(unix_of(stamp) + 1);
  const truth_reply after = get_truth(c, "Account", after_stamp);
  CHECK(after.live.size() == base.rows.size());  // one created, one deleted
  CHECK(after.live.at(kept) == base.rows[0][1]);
  CHECK(as_z(after.live.at(changed)) == stamp);
  CHECK(as_z(after.live.at(created)) == stamp);
  CHECK_FALSE(after.live.contains(removed));
  CHECK(after.deleted == later.deleted);

  // A full load (it starts in a later second than the mutation) holds
  // exactly the truth at its start.
  const std::string text = completed(c, stateless_body("select Id, UpdatedDate from Account"));
  const std::string start = start_of(text);
  CHECK(start > stamp);
  id_versions got;
  for (const std::string& fid : batch_files(text)) {
    const auto rows = emu_test::parse_csv(c.request("GET", "/v1/file/" + fid).body);
    for (std::size_t i = 1; i < rows.size(); ++i) got.emplace(rows[i][0], rows[i][1]);
  }
  CHECK(got == get_truth(c, "Account", start).live);

  // Bad requests: 400 with a JSON error that names the problem.
  for (const auto& [query, needle] : std::vector<std::pair<std::string, std::string>>{
           {"", "object="},
           {"?object=Nothing", "Nothing"},
           {"?object=Account&at=2026-13-01T00:00:00Z", "2026-13-01"},
           {"?object=Account&at=2026-02-30T00:00:00Z", "2026-02-30"},
           {"?object=Account&at=2026-01-01%2000:00:00", "2026-01-01 00:00:00"},
           {"?object=Account&at=yesterday", "yesterday"}}) {
    reply r = c.request("GET", "/_emulator/truth" + query);
    CAPTURE(query);
    CHECK(r.status == 400);
    const json j(r.body);
    CHECK(j.str("status") == "error");
    CHECK(j.str("message").find(needle) != std::string::npos);
  }
  CHECK(c.request("POST", "/_emulator/truth?object=Account").status == 405);
}

TEST_CASE("churn: options, POST /_emulator/churn, stats and reset") {
  options o;
  o.seed = 4;
  o.scale = 10;
  o.latency = std::chrono::milliseconds(100);
  server s{o};
  s.start();
  client c{s.port()};
  reply g = c.request("GET", "/_emulator/churn");
  REQUIRE(g.status == 200);
  CHECK(json(g.body).root["rate"].get_double().value() == 0);
  CHECK(std::uint64_t(json(g.body).root["seed"]) == 4);  // the tenant's seed by default

  reply p = c.request("POST", "/_emulator/churn", R"({"rate":250,"seed":12})");
  REQUIRE(p.status == 200);
  CHECK(json(p.body).root["rate"].get_double().value() == 250);
  CHECK(std::uint64_t(json(p.body).root["seed"]) == 12);
  wait_for_churn(c, 200);

  const auto counted = [&c] {
    const json st(c.request("GET", "/_emulator/stats").body);
    const auto churn = st.root["churn"];
    std::uint64_t sum = std::uint64_t(churn["skipped"]);
    for (const std::string& obj : churned)
      for (const char* op : {"created", "updated", "deleted"}) sum += std::uint64_t(churn["objects"][obj][op]);
    return std::tuple{sum, std::uint64_t(churn["sequence"]), std::uint64_t(st.root["mutations"])};
  };
  {
    const auto [sum, sequence, logged] = counted();
    CHECK(sum == sequence);     // every step of the sequence counted once
    CHECK(logged == sequence);  // and logged (no step found an object empty here)
  }

  // Rate 0 stops it: a job's whole latency passes without a mutation.
  REQUIRE(c.request("POST", "/_emulator/churn", R"({"rate":0})").status == 200);
  const std::uint64_t stopped = churn_sequence(c);
  completed(c, stateless_body("select Id from Account"));
  CHECK(churn_sequence(c) == stopped);

  // Reset: the seed's data, an empty history, the sequence from its start.
  REQUIRE(c.request("POST", "/_emulator/reset").status == 200);
  {
    const auto [sum, sequence, logged] = counted();
    CHECK(sum == 0);
    CHECK(sequence == 0);
    CHECK(logged == 0);
  }
  CHECK(get_truth(c, "Account").deleted.empty());

  for (const char* bad : {R"({"rate":-1})", R"({"rate":"fast"})", R"({})", "not json", R"({"rate":1,"seed":-2})",
                          R"({"rate":1e9})"}) {
    reply r = c.request("POST", "/_emulator/churn", bad);
    CAPTURE(bad);
    CHECK(r.status == 400);
    CHECK(json(r.body).str("status") == "error");
  }
  CHECK(c.request("PUT", "/_emulator/churn", R"({"rate":1})").status == 405);
  CHECK(json(c.request("GET", "/_emulator/churn").body).root["rate"].get_double().value() == 0);
}

TEST_CASE("churn: jobs keep starting while the tenant changes every tick") {
  options o;
  o.seed = 6;
  o.scale = 10;
  o.latency = std::chrono::milliseconds(20);
  o.churn_rate = 2000;
  o.churn_seed = 77;
  server s{o};
  s.start();
  client c{s.port()};
  // Each job starts in a second full of churn; none waits for a quiet one.
  for (int i = 0; i < 5; ++i) completed(c, stateless_body("select Id from InvoiceItem"));
  const json st(c.request("GET", "/_emulator/stats").body);
  CHECK(std::uint64_t(st.root["churn"]["seed"]) == 77);
  CHECK(std::uint64_t(st.root["churn"]["sequence"]) > 0);
}

TEST_CASE("parse_churn_option: RATE[:SEED]") {
  options o;
  CHECK(aquaduct::emulator::parse_churn_option("50", o));
  CHECK(o.churn_rate == 50);
  CHECK_FALSE(o.churn_seed);
  CHECK(aquaduct::emulator::parse_churn_option("0.5:7", o));
  CHECK(o.churn_rate == 0.5);
  CHECK(o.churn_seed == 7u);
  for (const char* bad : {"", "x", "-1", "50:", ":7", "50:x", "50:7:1", "20000", "nan", "1e9"}) {
    options p;
    CAPTURE(bad);
    CHECK_FALSE(aquaduct::emulator::parse_churn_option(bad, p));
    CHECK(p.churn_rate == 0);
  }
  o.churn_rate = -1;
  server s{o};
  CHECK_THROWS_AS(s.start(), std::invalid_argument);
}

// ---------------------------------------------------------------- time zones

namespace {

std::string stateful_with_time(const std::string& project, const std::string& incremental_time) {
  return fmt::format(R"({{"format":"csv","version":"1.2","name":"{0}","partner":"acme","project":"{0}",)"
                     R"("incrementalTime":"{1}","queries":[{{"name":"A","query":"select Id from Account",)"
                     R"("type":"zoqlexport"}}]}})",
                     project, incremental_time);
}

std::int64_t incremental_ms(client& c, const std::string& incremental_time) {
  reply r = c.request("POST", "/v1/batch-query/", stateful_with_time("tz", incremental_time));
  INFO(r.body);
  REQUIRE(r.status == 200);
  return json(r.body).root["incrementalTime"].get_int64().value();
}

std::int64_t ms(const std::string& z) { return unix_of(z) * 1000; }

}  // namespace

TEST_CASE("time zones: a tenant in Asia/Tokyo behind a US data centre") {
  options o;
  o.seed = 3;
  o.scale = 20;
  o.latency = std::chrono::milliseconds(20);
  o.tz = "Asia/Tokyo";
  server s{o};
  s.start();
  client c{s.port()};

  // startTime is the Tokyo wall clock (UTC+9, no daylight saving).
  const std::int64_t before = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string text = completed(c, stateless_body("select Id, CreatedDate from Account", false));
  const std::int64_t after = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
  std::string start = json(text).str("startTime");
  REQUIRE(start.size() == 19);
  start[10] = 'T';
  const std::int64_t started = unix_of(start + "Z") - 9 * 3600;
  CHECK(started >= before);
  CHECK(started <= after);

  // Datetimes without dateTimeUtc are Tokyo time; the same instants as UTC.
  const auto base = aquaduct::emulator::tenant_rows(o, "Account", {"Id", "CreatedDate"});
  std::map<std::string, std::string> utc;
  for (const auto& r : base.rows) utc[r[0]] = r[1];
  const auto rows = emu_test::parse_csv(c.request("GET", "/v1/file/" + batch_files(text).at(0)).body);
  REQUIRE(rows.size() == base.rows.size() + 1);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const std::string& local = rows[i][1];
    REQUIRE(local.size() == 24);
    CHECK(local.substr(19) == "+0900");
    CHECK(unix_of(local.substr(0, 19) + "Z") - 9 * 3600 == unix_of(as_z(utc.at(rows[i][0]))));
  }

  // A datetime literal without an offset is Tokyo time.
  const std::string id0 = base.rows[0][0];
  const std::string tokyo_wall = z_of(unix_of(as_z(base.rows[0][1])) + 9 * 3600).substr(0, 19);
  const auto ids_where = [&c](const std::string& literal) {
    const std::string t = completed(c, stateless_body("select Id from Account where CreatedDate = '" + literal + "'"));
    std::set<std::string> out;
    for (const auto& r : emu_test::parse_csv(c.request("GET", "/v1/file/" + batch_files(t).at(0)).body)) out.insert(r[0]);
    return out;
  };
  CHECK(ids_where(tokyo_wall).contains(id0));
  CHECK(ids_where(tokyo_wall + "+09:00").contains(id0));
  CHECK_FALSE(ids_where(tokyo_wall + "Z").contains(id0));

  // incrementalTime is read in the data centre's zone, Pacific, with the
  // daylight-saving rules of tzdata.
  CHECK(incremental_ms(c, "2024-01-15 12:00:00") == ms("2024-01-15T20:00:00Z"));  // PST, -08:00
  CHECK(incremental_ms(c, "2024-07-15 12:00:00") == ms("2024-07-15T19:00:00Z"));  // PDT, -07:00
  // 01:30 on 2024-11-03 happens twice (clocks go back at 02:00 PDT): the
  // first occurrence, PDT, is used.
  CHECK(incremental_ms(c, "2024-11-03 01:30:00") == ms("2024-11-03T08:30:00Z"));
  CHECK(incremental_ms(c, "2024-11-03 02:30:00") == ms("2024-11-03T10:30:00Z"));  // after it: PST
  // 02:30 on 2024-03-10 never happens: read with the offset before the gap (PST).
  CHECK(incremental_ms(c, "2024-03-10 02:30:00") == ms("2024-03-10T10:30:00Z"));
  // A day that does not exist is not a time.
  reply feb30 = c.request("POST", "/v1/batch-query/", stateful_with_time("tz", "2024-02-30 00:00:00"));
  CHECK(json(feb30.body).str("errorCode") == "90015");
}

TEST_CASE("time zones: an EU data centre reads incrementalTime as UTC whatever the tenant's zone") {
  options o;
  o.scale = 5;
  o.region = aquaduct::emulator::data_center::eu;
  o.tz = "Australia/Lord_Howe";
  server s{o};
  s.start();
  client c{s.port()};
  CHECK(incremental_ms(c, "2024-07-15 12:00:00") == ms("2024-07-15T12:00:00Z"));
  // And the tenant's wall clock is Lord Howe's, half-hour offsets included.
  const std::string text = completed(c, stateless_body("select Id, CreatedDate from Account", false));
  for (const auto& r : emu_test::parse_csv(c.request("GET", "/v1/file/" + batch_files(text).at(0)).body))
    if (r[1] != "Account.CreatedDate") CHECK((r[1].ends_with("+1030") || r[1].ends_with("+1100")));
}

TEST_CASE("time zones: an unknown zone is refused at start, naming it; UTC in any case is fine") {
  options o;
  o.tz = "Mars/Olympus_Mons";
  server bad{o};
  try {
    bad.start();
    FAIL("start() accepted an unknown zone");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("Mars/Olympus_Mons") != std::string::npos);
  }
  CHECK_FALSE(aquaduct::emulator::known_time_zone("Mars/Olympus_Mons"));
  CHECK(aquaduct::emulator::known_time_zone("Europe/Berlin"));
  for (const char* utc : {"UTC", "utc"}) {
    options u;
    u.tz = utc;
    u.scale = 5;
    server s{u};
    CHECK_NOTHROW(s.start());
  }
}

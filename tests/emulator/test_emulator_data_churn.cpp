// Churn, the mutation history and the tenant's time zones, without a server:
// the churn sequence is a function of the seed; the history rebuilds exactly
// the state each snapshot holds; copy-on-write keeps old snapshots intact;
// IANA zones come from tzdata.
#include "emulator/churn.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "emulator/tenant_history.hpp"
#include "emulator/tenant_state.hpp"

using namespace aquaduct::emulator;

namespace {

using change_list = std::vector<std::tuple<std::string_view, std::uint64_t, mutation_op>>;

// Applies `ticks` ticks of churn at `rate` to a fresh tenant, each stamped
// `stamp0 + tick`; returns the changes of every tick and the last snapshot.
std::pair<std::vector<change_list>, tenant_snapshot> run_churn(std::uint64_t seed, double rate, std::uint64_t ticks,
                                                               std::int64_t stamp0, tenant_history* history = nullptr,
                                                               std::vector<tenant_snapshot>* snapshots = nullptr) {
  tenant_snapshot t = make_tenant(5, 20);
  std::vector<change_list> out;
  for (std::uint64_t k = 0; k < ticks; ++k) {
    tenant_editor ed(t, stamp0 + static_cast<std::int64_t>(k));
    for (std::uint64_t n = churn_due(rate, k); n < churn_due(rate, k + 1); ++n)
      apply_churn_step(ed, churn_step_at(seed, n));
    change_list tick;
    for (const row_change& c : ed.changes()) tick.emplace_back(c.obj->name, c.index, c.op);
    out.push_back(std::move(tick));
    if (history != nullptr) history->add(ed.changes(), ed.at());
    t = ed.finish();
    if (snapshots != nullptr) snapshots->push_back(t);
  }
  return {out, t};
}

}  // namespace

TEST_CASE("churn: the mutations of each tick are a function of the seed and the tick number") {
  const auto [a, ta] = run_churn(42, 35, 40, tenant_epoch_unix_s + 1000);
  const auto [b, tb] = run_churn(42, 35, 40, tenant_epoch_unix_s + 555'555);  // other wall-clock times
  CHECK(a == b);
  std::size_t total = 0;
  for (std::uint64_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].size() == churn_due(35, k + 1) - churn_due(35, k));  // no step found the object empty
    total += a[k].size();
  }
  CHECK(total == 140);  // 35 a second for 4 seconds
  const auto [c, tc] = run_churn(43, 35, 40, tenant_epoch_unix_s + 1000);
  CHECK(a != c);
  // The same rows in the end, whatever the clock said.
  for (const churn_share& s : churn_objects) {
    const object_def& obj = *find_object(s.object);
    REQUIRE(ta->row_count(obj) == tb->row_count(obj));
    for (std::uint64_t i = 0; i < ta->row_count(obj); ++i) CHECK(ta->live(obj, i) == tb->live(obj, i));
  }
}

TEST_CASE("churn: the documented mix of objects and operations") {
  std::map<std::string_view, unsigned> objects;
  std::map<mutation_op, unsigned> ops;
  constexpr unsigned n = 20000;
  for (std::uint64_t i = 0; i < n; ++i) {
    const churn_step s = churn_step_at(7, i);
    ++objects[s.obj->name];
    ++ops[s.op];
  }
  // Each share within 2 points of its percentage (20,000 draws: a standard
  // deviation is at most 0.35 points).
  CHECK(objects.size() == std::size(churn_objects));
  for (const churn_share& s : churn_objects) {
    CAPTURE(s.object);
    CHECK(std::abs(objects[s.object] * 100.0 / n - s.percent) < 2.0);
  }
  CHECK(std::abs(ops[mutation_op::update] * 100.0 / n - churn_update_percent) < 2.0);
  CHECK(std::abs(ops[mutation_op::create] * 100.0 / n - churn_create_percent) < 2.0);
  CHECK(std::abs(ops[mutation_op::remove] * 100.0 / n - (100 - churn_update_percent - churn_create_percent)) < 2.0);
  CHECK(churn_due(0.5, 19) == 0);  // a fractional rate: one mutation every 2 s
  CHECK(churn_due(0.5, 20) == 1);
  CHECK(churn_due(0, 1000) == 0);
}

TEST_CASE("history: the truth at T is exactly the snapshot a job starting at T takes") {
  tenant_history history;
  std::vector<tenant_snapshot> snapshots;  // [k]: after the changes stamped stamp0 + k
  const std::int64_t stamp0 = tenant_epoch_unix_s + 86400;
  const tenant_snapshot t0 = make_tenant(5, 20);
  run_churn(9, 120, 30, stamp0, &history, &snapshots);
  std::uint64_t deletions = 0;
  for (const churn_share& s : churn_objects) {
    const object_def& obj = *find_object(s.object);
    const std::size_t upd = *find_field(obj, "UpdatedDate");
    // A job starting at stamp0 + k sees the changes stamped before it: the
    // snapshot after tick k-1 (t0 for k = 0).
    for (std::size_t k = 0; k <= snapshots.size(); ++k) {
      const tenant_snapshot& snap = k == 0 ? t0 : snapshots[k - 1];
      const auto truth = history.at(snap->generator(), obj, stamp0 + static_cast<std::int64_t>(k));
      std::vector<std::pair<std::uint64_t, std::int64_t>> expect;
      record r;
      for (std::uint64_t i = 0; i < snap->row_count(obj); ++i)
        if (snap->row(obj, i, r) == tenant_state::row_status::live) expect.emplace_back(i, r[upd].i);
      CAPTURE(s.object);
      CAPTURE(k);
      CHECK(truth.live == expect);
    }
    // Every deletion is listed, with its time, whatever T is asked.
    const tenant_snapshot& last = snapshots.back();
    const auto early = history.at(last->generator(), obj, stamp0);
    std::set<std::uint64_t> listed;
    for (const auto& [index, when] : early.deleted) {
      std::int64_t deleted_at = 0;
      record r;
      CHECK(last->row(obj, index, r, &deleted_at) == tenant_state::row_status::deleted);
      CHECK(when == deleted_at);
      listed.insert(index);
    }
    const object_overlay* ov = last->overlay(obj);
    CHECK(listed.size() == (ov != nullptr ? ov->deleted() : 0));
    deletions += listed.size();
  }
  CHECK(deletions > 0);
  CHECK(history.size() > 0);
  history.clear();
  CHECK(history.at(t0->generator(), *find_object("Account"), stamp0 + 100).live.size() == 20);
}

TEST_CASE("state: copy-on-write chunks leave every older snapshot as it was") {
  const object_def& item = *find_object("InvoiceItem");
  tenant_snapshot t = make_tenant(2, 10);  // 500 items: 8 chunks
  std::vector<tenant_snapshot> history{t};
  std::vector<std::map<std::uint64_t, std::string>> seen;  // per snapshot: index -> marker text
  const std::size_t desc = *find_field(item, "ChargeName");  // the field updates mark
  for (int round = 0; round < 6; ++round) {
    tenant_editor ed(t, tenant_epoch_unix_s + round);
    for (std::uint64_t i = static_cast<std::uint64_t>(round); i < 500; i += 37) ed.update(item, i);
    if (round % 2 == 1) ed.remove(item, static_cast<std::uint64_t>(round) * 50);
    ed.create(item, 3);
    t = ed.finish();
    history.push_back(t);
  }
  record r;
  for (const tenant_snapshot& s : history) {
    std::map<std::uint64_t, std::string> texts;
    for (std::uint64_t i = 0; i < s->row_count(item); ++i) {
      s->row(item, i, r);
      texts[i] = r[desc].s + (s->live(item, i) ? "" : " [deleted]");
    }
    seen.push_back(std::move(texts));
  }
  // Replaying the same edits again must give the same texts for every
  // snapshot: nothing written later leaked into an earlier one.
  tenant_snapshot u = make_tenant(2, 10);
  for (int round = 0; round < 6; ++round) {
    std::map<std::uint64_t, std::string> texts;
    for (std::uint64_t i = 0; i < u->row_count(item); ++i) {
      u->row(item, i, r);
      texts[i] = r[desc].s + (u->live(item, i) ? "" : " [deleted]");
    }
    CHECK(texts == seen[static_cast<std::size_t>(round)]);
    tenant_editor ed(u, tenant_epoch_unix_s + round);
    for (std::uint64_t i = static_cast<std::uint64_t>(round); i < 500; i += 37) ed.update(item, i);
    if (round % 2 == 1) ed.remove(item, static_cast<std::uint64_t>(round) * 50);
    ed.create(item, 3);
    u = ed.finish();
  }
  CHECK(history.front()->overlay(item) == nullptr);
  CHECK(history.back()->row_count(item) == 506);
  CHECK(history.back()->overlay(item)->deleted() == 3);
  CHECK(seen.back().at(0).ends_with(" (updated)"));
  CHECK_FALSE(seen.front().at(0).ends_with(" (updated)"));
}

TEST_CASE("time zones: any IANA zone from tzdata, UTC, and the Pacific rules") {
  const std::int64_t jan = days_from_civil(2024, 1, 15) * 86400;
  const std::int64_t jul = days_from_civil(2024, 7, 15) * 86400;
  const auto tokyo = tenant_zone::find("Asia/Tokyo");
  REQUIRE(tokyo);
  CHECK(tokyo->name() == "Asia/Tokyo");
  CHECK(tenant_offset_minutes(*tokyo, jan) == 9 * 60);
  CHECK(tenant_offset_minutes(*tokyo, jul) == 9 * 60);
  const auto berlin = tenant_zone::find("Europe/Berlin");
  REQUIRE(berlin);
  CHECK(tenant_offset_minutes(*berlin, jan) == 60);
  CHECK(tenant_offset_minutes(*berlin, jul) == 120);
  const auto lord_howe = tenant_zone::find("Australia/Lord_Howe");  // half-hour daylight saving
  REQUIRE(lord_howe);
  CHECK(tenant_offset_minutes(*lord_howe, jan) == 11 * 60);
  CHECK(tenant_offset_minutes(*lord_howe, jul) == 10 * 60 + 30);
  CHECK(format_datetime(jul, time_zone::tenant, *lord_howe) == "2024-07-15T10:30:00+1030");
  CHECK(format_datetime(jan, time_zone::tenant, *tokyo) == "2024-01-15T09:00:00+0900");
  CHECK(tokyo->local_to_utc(jan) == jan - 9 * 3600);

  CHECK(tenant_zone::find("UTC") == tenant_zone::utc);
  CHECK(tenant_zone::find("utc") == tenant_zone::utc);
  CHECK(tenant_zone::find("America/Los_Angeles") == tenant_zone::pacific);
  CHECK(tenant_zone::pacific.name() == "America/Los_Angeles");
  CHECK(tenant_zone::utc.name() == "UTC");
  CHECK_FALSE(tenant_zone::find("Mars/Olympus_Mons"));
  CHECK_FALSE(tenant_zone::find(""));

  CHECK(parse_wall_clock("2024-02-29 23:59:58", ' ') == days_from_civil(2024, 2, 29) * 86400 + 86398);
  CHECK(parse_wall_clock("2024-02-29T00:00:00", 'T') == days_from_civil(2024, 2, 29) * 86400);
  for (const char* bad : {"2023-02-29 00:00:00", "2024-04-31 00:00:00", "2024-13-01 00:00:00", "2024-01-01 24:00:00",
                          "2024-01-01T00:00:00", "2024-01-01 00:00", "2024-1-01 00:00:00", "2024-01-01 00:00:0x"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_wall_clock(bad, ' '));
  }

  // Pacific: the repeated November hour is read as its first occurrence
  // (PDT), the skipped March hour with the offset before the gap (PST).
  const std::int64_t nov3 = days_from_civil(2024, 11, 3) * 86400;
  const std::int64_t mar10 = days_from_civil(2024, 3, 10) * 86400;
  CHECK(tenant_zone::pacific.local_to_utc(nov3 + 3600 + 1800) == nov3 + 8 * 3600 + 1800);
  CHECK(tenant_zone::pacific.local_to_utc(nov3 + 2 * 3600 + 1800) == nov3 + 10 * 3600 + 1800);  // 02:30 PST
  CHECK(tenant_zone::pacific.local_to_utc(mar10 + 2 * 3600 + 1800) == mar10 + 10 * 3600 + 1800);
  // Berlin's repeated October hour likewise: 02:30 CEST = 00:30Z.
  const std::int64_t oct27 = days_from_civil(2024, 10, 27) * 86400;
  CHECK(berlin->local_to_utc(oct27 + 2 * 3600 + 1800) == oct27 + 1800);
}

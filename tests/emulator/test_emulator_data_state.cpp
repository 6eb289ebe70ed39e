// Mutations and stateful extraction: snapshots stay unchanged, incremental
// windows carry exactly what changed, deleted rows only in incremental loads
// and only with a deleted spec, and the 30-day tombstone retention.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "emulator/result_writer.hpp"
#include "emulator/tenant_state.hpp"
#include "emulator/zoql.hpp"
#include "emulator/test_emulator_data_support.hpp"

using namespace aquaduct::emulator;
using emu_data_test::spec_for;

namespace {

constexpr std::int64_t day = 86400;

// id -> deleted flag of every result row.
std::map<std::string, bool> result_of(const tenant_snapshot& t, const export_spec& spec) {
  std::map<std::string, bool> out;
  for_each_result_row(t, spec, std::filesystem::temp_directory_path(), [&](const result_row& r) {
    CHECK(out.emplace((*r.slots[0])[0].s, r.deleted).second);
  });
  return out;
}

mutation_outcome mutate(const tenant_snapshot& t, mutation_request req, std::int64_t now) {
  mutation_outcome out;
  std::string err;
  REQUIRE_MESSAGE(apply_mutation(t, req, now, out, err), err);
  return out;
}

}  // namespace

TEST_CASE("state: mutations make a new snapshot and leave the old one alone") {
  const tenant_snapshot t0 = make_tenant(21, 50);
  const object_def& a = *find_object("Account");
  const std::int64_t now = tenant_epoch_unix_s + 10 * day;
  const auto m = mutate(t0, {"account", 3, 4, 2, {}, {}}, now);
  CHECK(m.created_ids.size() == 3);
  CHECK(m.updated_ids.size() == 4);
  CHECK(m.deleted_ids.size() == 2);
  CHECK(t0->row_count(a) == 50);
  CHECK(m.state->row_count(a) == 53);
  const std::size_t upd = *find_field(a, "UpdatedDate"), cre = *find_field(a, "CreatedDate");
  std::set<std::string> touched;
  record r0, r1;
  for (const auto* ids : {&m.created_ids, &m.updated_ids, &m.deleted_ids})
    for (const std::string& id : *ids) CHECK(touched.insert(id).second);  // distinct rows
  for (const std::string& id : m.updated_ids) {
    const auto idx = m.state->find(a, id);
    REQUIRE(idx);
    CHECK(m.state->row(a, *idx, r1) == tenant_state::row_status::live);
    CHECK(r1[upd].i == now);
    t0->row(a, *idx, r0);
    CHECK(r0[upd].i < now);  // the old snapshot still has the old value
    CHECK(r1[*find_field(a, "Name")].s.ends_with(" (updated)"));
  }
  for (const std::string& id : m.created_ids) {
    const auto idx = m.state->find(a, id);
    REQUIRE(idx);
    CHECK(*idx >= 50);
    CHECK_FALSE(t0->find(a, id));
    m.state->row(a, *idx, r1);
    CHECK(r1[0].s == id);
    CHECK(r1[cre].i == now);
    CHECK(r1[upd].i == now);
  }
  for (const std::string& id : m.deleted_ids) {
    const auto idx = m.state->find(a, id);
    REQUIRE(idx);
    std::int64_t when = 0;
    CHECK(m.state->row(a, *idx, r1, &when) == tenant_state::row_status::deleted);
    CHECK(when == now);
    CHECK(t0->row(a, *idx, r0) == tenant_state::row_status::live);
  }
  // Other objects are untouched and shared.
  CHECK(m.state->overlay(*find_object("Invoice")) == nullptr);
}

TEST_CASE("state: explicit ids and errors") {
  const tenant_snapshot t0 = make_tenant(3, 5);
  const object_def& c = *find_object("Contact");
  const std::string id0 = t0->generator().make_id(c, 0), id1 = t0->generator().make_id(c, 1);
  const auto m = mutate(t0, {"Contact", 0, 0, 0, {id0}, {id1}}, tenant_epoch_unix_s);
  CHECK(m.updated_ids == std::vector<std::string>{id0});
  CHECK(m.deleted_ids == std::vector<std::string>{id1});
  mutation_outcome out;
  std::string err;
  CHECK_FALSE(apply_mutation(t0, {"Nothing", 1, 0, 0, {}, {}}, 0, out, err));
  CHECK(err.find("Nothing") != std::string::npos);
  CHECK_FALSE(apply_mutation(m.state, {"Contact", 0, 0, 0, {}, {id1}}, 0, out, err));  // already deleted
  CHECK(err.find(id1) != std::string::npos);
  CHECK_FALSE(apply_mutation(t0, {"Contact", 0, 0, 0, {"2c92c0f9ffffffff0000000000000001"}, {}}, 0, out, err));
  CHECK_FALSE(apply_mutation(t0, {"Contact", 0, 0, 0, {id0}, {id0}}, 0, out, err));  // named twice
  CHECK_FALSE(apply_mutation(t0, {"Contact", 0, 6, 5, {}, {}}, 0, out, err));         // 10 live rows
  CHECK(err.find("10 live") != std::string::npos);
  CHECK(out.state == nullptr);
}

TEST_CASE("state: full load, then incremental with deleted rows (Boolean/Numeric via the spec)") {
  const tenant_snapshot t0 = make_tenant(33, 80);
  const object_def& inv = *find_object("Invoice");
  export_spec spec = spec_for("select Id, Status from Invoice");
  spec.deleted = deleted_spec{"IsDeleted", false};

  // Job 1 at T1: full load.
  const std::int64_t t1 = tenant_epoch_unix_s + day;
  spec.now_unix_s = t1;
  const auto full0 = result_of(t0, spec);
  CHECK(full0.size() == 800);

  // Mutations between T1 and T2; one row created and deleted inside the window.
  const auto m1 = mutate(t0, {"Invoice", 2, 5, 3, {}, {}}, t1 + 100);
  const auto m2 = mutate(m1.state, {"Invoice", 0, 0, 0, {}, {m1.created_ids[1]}}, t1 + 200);
  const tenant_snapshot t2 = m2.state;

  // Full load now: no deleted rows at all.
  spec.now_unix_s = t1 + 300;
  const auto full = result_of(t2, spec);
  CHECK(full.size() == 800 + 2 - 3 - 1);
  for (const auto& [id, del] : full) CHECK_FALSE(del);

  // Incremental [T1, T2): updated + created live rows, deleted rows flagged,
  // the created-and-deleted row absent.
  spec.incremental = time_window{t1, t1 + 300};
  const auto inc = result_of(t2, spec);
  std::map<std::string, bool> expect;
  for (const auto& id : m1.updated_ids) expect[id] = false;
  expect[m1.created_ids[0]] = false;
  for (const auto& id : m1.deleted_ids) expect[id] = true;
  CHECK(inc == expect);
  export_spec sorted = spec;  // the same rows through the sorting path, deleted flags kept
  sorted.query.order_by.push_back({sorted.query.columns[1].column, true});
  sorted.sort_run_rows = 2;
  CHECK(result_of(t2, sorted) == expect);

  // Without a deleted spec: no deleted rows.
  export_spec plain = spec;
  plain.deleted.reset();
  auto expect_live = expect;
  std::erase_if(expect_live, [](const auto& e) { return e.second; });
  CHECK(result_of(t2, plain) == expect_live);

  // A window before the mutations is empty; one that ends before them too.
  spec.incremental = time_window{t1 + 1000, t1 + 2000};
  CHECK(result_of(t2, spec).empty());
  spec.incremental = time_window{std::nullopt, t1 + 150};  // up to T1+150: m1 only, no from
  const auto early = result_of(t2, spec);
  for (const auto& id : m1.deleted_ids) CHECK(early.at(id));
  CHECK(early.contains(m1.created_ids[0]));

  // Stateless with forceExport: deleted rows (UpdatedDate = deletion time)
  // come back flagged, and `where UpdatedDate >= T1` finds exactly the changes.
  export_spec stateless = spec_for("select Id from Invoice where UpdatedDate >= 'now - 1 hour'");
  stateless.deleted = deleted_spec{"IsDeleted", true};
  stateless.force_export = true;
  stateless.now_unix_s = t1 + 300;
  std::map<std::string, bool> expect_stateless = expect;
  expect_stateless[m1.created_ids[1]] = true;  // created and deleted: a stateless export cannot know
  CHECK(result_of(t2, stateless) == expect_stateless);
  stateless.force_export = false;
  CHECK(result_of(t2, stateless) == expect_live);
  stateless.now_unix_s = t1 + 31 * day;  // past the retention: no tombstones
  stateless.force_export = true;
  stateless.query = spec_for("select Id from Invoice").query;
  for (const auto& [id, del] : result_of(t2, stateless)) CHECK_FALSE(del);

  // where applies to incremental rows too.
  export_spec posted = spec_for("select Id from Invoice where Status = 'Posted'");
  posted.incremental = time_window{t1, t1 + 300};
  record r;
  for (const auto& [id, del] : result_of(t2, posted)) {
    CHECK_FALSE(del);
    t2->row(inv, *t2->find(inv, id), r);
    CHECK(r[*find_field(inv, "Status")].s == "Posted");
  }

  // Tombstones older than 30 days are no longer exported (retention), but a
  // deleted row stays deleted: later mutations never bring it back.
  spec.incremental = time_window{t1, t1 + 40 * day};
  spec.now_unix_s = t1 + 40 * day;
  for (const auto& [id, del] : result_of(t2, spec)) CHECK_FALSE(del);
  const auto m3 = mutate(t2, {"Invoice", 0, 1, 0, {}, {}}, t1 + 40 * day);
  for (const auto& id : m1.deleted_ids) CHECK_FALSE(m3.state->live(inv, *m3.state->find(inv, id)));
  CHECK(m3.state->overlay(inv)->deleted() == m1.deleted_ids.size() + 1);
  spec.incremental.reset();
  CHECK(result_of(m3.state, spec).size() == 800 + 2 - 3 - 1);
}

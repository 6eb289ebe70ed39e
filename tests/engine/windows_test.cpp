// Time windows (engine/windows.hpp): parsing, planning, splitting, the ZOQL a
// window adds (run against the emulator's evaluator over a generated tenant),
// and the Pacific wall clock checked against the system's tz database
// (`TZ=America/Los_Angeles date`) at test time.
#include "engine/windows.hpp"

#include "emulator/result_writer.hpp"
#include "emulator/tenant_state.hpp"
#include "emulator/zoql.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <unistd.h>

using namespace aquaduct;
using namespace aquaduct::engine_detail;
using namespace std::chrono;
namespace emu = aquaduct::emulator;

namespace {

sys_seconds at(int y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days{year{y} / month{m} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

std::optional<sys_seconds> tp(std::string_view text, sys_seconds now = at(2026, 5, 17, 12)) {
  std::string error;
  auto r = parse_time_point(text, now, error);
  CHECK_MESSAGE(r.has_value() == error.empty(), error);
  return r;
}

std::string tp_error(std::string_view text) {
  std::string error;
  INFO(text);
  CHECK_FALSE(parse_time_point(text, at(2026, 1, 1), error).has_value());
  CHECK(error.find(std::string(text)) != std::string::npos);  // the message names the text
  return error;
}

std::optional<seconds> dur(std::string_view text) {
  std::string error;
  INFO(text);
  auto r = parse_iso_duration(text, error);
  CHECK_MESSAGE(r.has_value(), error);
  return r;
}

std::string dur_error(std::string_view text) {
  std::string error;
  INFO(text);
  CHECK_FALSE(parse_iso_duration(text, error).has_value());
  CHECK(!error.empty());
  return error;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Runs `cmd`, returns its stdout.
std::string run(const std::string& cmd) {
  std::string out;
  std::FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  REQUIRE(pclose(p) == 0);
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// `TZ=America/Los_Angeles date` for each line of `inputs` (date -f), with `format`.
std::vector<std::string> la_date(const std::vector<std::string>& inputs, const std::string& format) {
  const auto path = std::filesystem::temp_directory_path() / ("aquaduct_windows_" + std::to_string(::getpid()));
  {
    std::ofstream f(path);
    for (const auto& i : inputs) f << i << '\n';
  }
  const std::string out = run("TZ=America/Los_Angeles date -f '" + path.string() + "' '+" + format + "'");
  std::filesystem::remove(path);
  auto result = lines(out);
  REQUIRE(result.size() == inputs.size());
  return result;
}

std::int64_t unix_of(sys_seconds t) { return t.time_since_epoch().count(); }

}  // namespace

TEST_CASE("parse_time_point: every accepted form, and every bad one is refused with its text") {
  const sys_seconds now = at(2026, 5, 17, 12, 34, 56);
  CHECK(tp("now", now) == now);
  CHECK(tp("2020-01-01") == at(2020, 1, 1));
  CHECK(tp("2024-02-29") == at(2024, 2, 29));
  CHECK(tp("2020-01-31T23:59:59Z") == at(2020, 1, 31, 23, 59, 59));
  CHECK(tp("2020-01-31 06:07:08") == at(2020, 1, 31, 6, 7, 8));
  CHECK(tp("1970-01-01") == sys_seconds{});

  for (const char* bad : {"", "NOW", "now ", "2020-1-01", "2020-01-1", "20200101", "2020/01/01", "2023-02-29",
                          "2020-13-01", "2020-00-10", "2020-04-31", "2020-01-01T", "2020-01-01T10:00:00+00:00",
                          "2020-01-01T24:00:00Z", "2020-01-01T10:60:00Z", "2020-01-01T10:00:60Z",
                          "2020-01-01 10:00:00Z", "2020-01-01 10:00", "2020-01-01T10:00Z", "2020-01-01x",
                          "2020-01-01T10:00:00.5Z", " 2020-01-01", "2020-01-01 ", "+020-01-01", "2020-0a-01"})
    CHECK(contains(tp_error(bad), "is not a time"));
  // A zone-less ISO time would be ambiguous: the message says to add Z.
  CHECK(contains(tp_error("2020-01-01T10:00:00"), "add Z"));
}

TEST_CASE("parse_iso_duration: days, hours, minutes, seconds; everything else says why") {
  CHECK(dur("P30D") == days{30});
  CHECK(dur("PT6H") == hours{6});
  CHECK(dur("P1DT12H30M") == days{1} + hours{12} + minutes{30});
  CHECK(dur("PT90S") == seconds{90});
  CHECK(dur("PT1H1M1S") == seconds{3661});
  CHECK(dur("P0D") == seconds{0});
  CHECK(dur("P36500D") == days{36500});

  CHECK(contains(dur_error("P1M"), "months"));
  CHECK(contains(dur_error("P1Y"), "years"));
  CHECK(contains(dur_error("P1Y2M3D"), "months"));
  CHECK(contains(dur_error("P2W"), "weeks"));
  CHECK(contains(dur_error("PT1.5H"), "fractions"));
  CHECK(contains(dur_error("PT1,5H"), "fractions"));
  CHECK(contains(dur_error("P40000D"), "100 years"));
  CHECK(contains(dur_error("P9999999999999D"), "too large"));
  CHECK(contains(dur_error("30D"), "start with P"));
  CHECK(contains(dur_error(""), "start with P"));
  CHECK(contains(dur_error("P"), "no number"));
  CHECK(contains(dur_error("PT"), "nothing follows T"));
  CHECK(contains(dur_error("P1DT"), "nothing follows T"));
  CHECK(contains(dur_error("PT1HT1M"), "T appears twice"));
  CHECK(contains(dur_error("P1H"), "before T only D"));
  CHECK(contains(dur_error("PT1D"), "after T only H, M and S"));
  CHECK(contains(dur_error("PT1M1H"), "order"));
  CHECK(contains(dur_error("PT1H1H"), "order"));
  CHECK(contains(dur_error("P1D1D"), "order"));
  CHECK(contains(dur_error("PTH"), "number must come before"));
  CHECK(contains(dur_error("P30"), "no unit"));
  CHECK(contains(dur_error("p30d"), "start with P"));
  CHECK(contains(dur_error("P-1D"), "number must come before"));
  CHECK(contains(dur_error("PT6h"), "not a unit"));
}

TEST_CASE("check_partition and check_incremental: valid configs pass, each mistake has its message") {
  partition_config p{"UpdatedDate", "2020-01-01", "now", "P30D", "PT1H"};
  CHECK(check_partition(p) == "");
  p.to = "2021-01-01T00:00:00Z";
  CHECK(check_partition(p) == "");
  p.by = "Account.UpdatedDate";
  CHECK(check_partition(p) == "");

  // Each mistake: the valid config with one key changed, and the message it gets.
  const partition_config ok{"UpdatedDate", "2020-01-01", "now", "P30D", "PT1H"};
  struct partition_case {
    std::string partition_config::*key;
    const char* value;
    const char* expect;
  };
  using pc = partition_config;
  const partition_case partition_cases[] = {
      {&pc::by, "", "partition.by is required"},
      {&pc::by, "Updated Date", "is not a field name"},
      {&pc::by, "UpdatedDate'", "is not a field name"},
      {&pc::by, "1Updated", "is not a field name"},
      {&pc::by, ".UpdatedDate", "is not a field name"},
      {&pc::by, "Account.", "is not a field name"},
      {&pc::by, "a..b", "is not a field name"},
      {&pc::by, "x;y", "is not a field name"},
      {&pc::from, "", "partition.from is required"},
      {&pc::from, "now", "partition.from cannot be \"now\""},
      {&pc::from, "2020-02-30", "partition.from: '2020-02-30' is not a time"},
      {&pc::to, "tomorrow", "partition.to: 'tomorrow' is not a time"},
      {&pc::to, "2020-01-01", "must come before partition.to"},
      {&pc::to, "2019-12-31T23:59:59Z", "must come before partition.to"},
      {&pc::step, "", "partition.step is required"},
      {&pc::step, "P1M", "partition.step: 'P1M'"},
      {&pc::step, "PT0S", "partition.step = \"PT0S\" must be longer than zero"},
      {&pc::step, "PT1S", "into more than 10000 windows: use a longer step"},  // to = now
      {&pc::min_step, "1h", "partition.min_step: '1h'"},
      {&pc::min_step, "P0D", "partition.min_step = \"P0D\" must be longer than zero"},
  };
  for (const partition_case& k : partition_cases) {
    partition_config c = ok;
    c.*k.key = k.value;
    const std::string e = check_partition(c);
    INFO(k.value, " -> ", e);
    CHECK(contains(e, k.expect));
  }

  incremental_config i{"UpdatedDate", 7200, "2000-01-01", "PT1H"};
  CHECK(check_incremental(i) == "");
  i.lag_s = 0;
  CHECK(check_incremental(i) == "");
  struct incremental_case {
    std::string incremental_config::*key;
    const char* value;
    const char* expect;
  };
  using ic = incremental_config;
  const incremental_case incremental_cases[] = {
      {&ic::by, "", "incremental.by is required"},
      {&ic::by, "Updated-Date", "is not a field name"},
      {&ic::start, "now", "incremental.start cannot be \"now\""},
      {&ic::start, "2000", "incremental.start: '2000' is not a time"},
      {&ic::min_step, "PT0S", "incremental.min_step = \"PT0S\" must be longer than zero"},
      {&ic::min_step, "P1Y", "years"},
  };
  for (const incremental_case& k : incremental_cases) {
    incremental_config c = i;
    c.*k.key = k.value;
    const std::string e = check_incremental(c);
    INFO(k.value, " -> ", e);
    CHECK(contains(e, k.expect));
  }
}

TEST_CASE("plan_partition: consecutive windows, the last one clipped, to = now") {
  const partition_config p{"UpdatedDate", "2020-01-01", "2020-03-15T12:00:00Z", "P30D", "PT1H"};
  const auto w = plan_partition(p, at(2030, 1, 1));
  const sys_seconds from = at(2020, 1, 1), to = at(2020, 3, 15, 12);
  // ceil((to - from) / 30 days) windows
  const auto count = ((to - from) + days{30} - seconds{1}) / days{30};
  REQUIRE(w.size() == static_cast<std::size_t>(count));
  CHECK(w.front().from == from);
  CHECK(w.back().to == to);
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (i > 0) CHECK(w[i].from == w[i - 1].to);
    if (i + 1 < w.size()) CHECK(w[i].to - w[i].from == days{30});
    CHECK(w[i].from < w[i].to);
  }
  CHECK(w.back().to - w.back().from < days{30});

  // An exact multiple: no empty or short last window.
  auto exact = plan_partition({"UpdatedDate", "2020-01-01", "2020-01-03", "P1D", "PT1H"}, at(2030, 1, 1));
  CHECK(exact == std::vector<time_window>{{at(2020, 1, 1), at(2020, 1, 2)}, {at(2020, 1, 2), at(2020, 1, 3)}});

  // to = "now" reads the caller's now.
  const sys_seconds now = at(2020, 1, 1, 13, 30);
  auto hourly = plan_partition({"UpdatedDate", "2020-01-01", "now", "PT6H", "PT1H"}, now);
  REQUIRE(hourly.size() == 3);
  CHECK(hourly[2] == time_window{at(2020, 1, 1, 12), now});
  // The limit: exactly max_partition_windows windows plan; one more does not.
  partition_config most{"UpdatedDate", "2020-01-01", "", "PT1M", "PT1M"};
  most.to = zoql_utc_literal(at(2020, 1, 1) + minutes{max_partition_windows}).substr(0, 19) + "Z";
  CHECK(check_partition(most) == "");
  CHECK(plan_partition(most, now).size() == max_partition_windows);
  most.step = "PT59S";
  CHECK(contains(check_partition(most), "more than 10000 windows"));
  CHECK(plan_partition(most, now).empty());
  // Nothing to plan: from after now, or a config that does not parse.
  CHECK(plan_partition({"UpdatedDate", "2020-01-02", "now", "P1D", "PT1H"}, at(2020, 1, 1)).empty());
  CHECK(plan_partition({"UpdatedDate", "2020-01-01", "now", "P1M", "PT1H"}, now).empty());
  CHECK(plan_partition({"UpdatedDate", "2020-01-01", "now", "P0D", "PT1H"}, now).empty());
  CHECK(plan_partition({"UpdatedDate", "bad", "now", "P1D", "PT1H"}, now).empty());
}

TEST_CASE("incremental_window: from the high-water mark or start, up to now - lag; empty is nullopt") {
  const incremental_config c{"UpdatedDate", 7200, "2000-01-01", "PT1H"};
  const sys_seconds now = at(2026, 3, 1, 12);
  CHECK(incremental_window(c, std::nullopt, now) == time_window{at(2000, 1, 1), now - hours{2}});
  CHECK(incremental_window(c, at(2026, 3, 1, 9), now) == time_window{at(2026, 3, 1, 9), at(2026, 3, 1, 10)});
  CHECK_FALSE(incremental_window(c, at(2026, 3, 1, 10), now).has_value());  // exactly empty
  CHECK_FALSE(incremental_window(c, at(2026, 3, 1, 11), now).has_value());  // the mark is inside the lag
  auto no_lag = c;
  no_lag.lag_s = 0;
  CHECK(incremental_window(no_lag, at(2026, 3, 1, 11), now) == time_window{at(2026, 3, 1, 11), now});
  auto bad = c;
  bad.start = "yesterday";
  CHECK_FALSE(incremental_window(bad, std::nullopt, now).has_value());
}

TEST_CASE("can_split and split_window: halves at a whole second, both at least min_step") {
  const time_window day{at(2020, 1, 1), at(2020, 1, 2)};
  CHECK(can_split(day, hours{12}));
  CHECK_FALSE(can_split(day, hours{12} + seconds{1}));
  auto [a, b] = split_window(day);
  CHECK(a == time_window{at(2020, 1, 1), at(2020, 1, 1, 12)});
  CHECK(b == time_window{at(2020, 1, 1, 12), at(2020, 1, 2)});

  const time_window odd{at(2020, 1, 1), at(2020, 1, 1) + seconds{7201}};
  auto [c, d] = split_window(odd);
  CHECK(c.from == odd.from);
  CHECK(c.to == d.from);
  CHECK(d.to == odd.to);
  CHECK(c.to - c.from == seconds{3600});
  CHECK(d.to - d.from == seconds{3601});
  CHECK(can_split(odd, hours{1}));
  CHECK_FALSE(can_split(odd, hours{1} + seconds{1}));
  CHECK_FALSE(can_split({at(2020, 1, 1), at(2020, 1, 1) + seconds{1}}, seconds{0}));  // halves of 0 and 1 s
  CHECK(can_split({at(2020, 1, 1), at(2020, 1, 1) + seconds{2}}, seconds{1}));
  CHECK_FALSE(can_split({at(2020, 1, 1), at(2020, 1, 1)}, seconds{0}));
}

TEST_CASE("window_label and zoql_utc_literal") {
  CHECK(window_label({at(2020, 1, 1), at(2020, 1, 31)}) == "20200101T000000Z-20200131T000000Z");
  CHECK(window_label({at(1999, 12, 31, 23, 59, 58), at(2000, 2, 29, 1, 2, 3)}) == "19991231T235958Z-20000229T010203Z");
  CHECK(zoql_utc_literal(at(2024, 3, 10, 9, 5, 7)) == "2024-03-10T09:05:07+00:00");
}

TEST_CASE("windowed_query: placement, parentheses, strings, errors") {
  const time_window w{at(2020, 1, 1), at(2020, 2, 1)};
  const std::string win = "UpdatedDate >= '" + zoql_utc_literal(w.from) + "' and UpdatedDate < '" +
                          zoql_utc_literal(w.to) + "'";
  const auto wq = [&](std::string_view q) {
    std::string error;
    std::string r = windowed_query(q, "UpdatedDate", w, error);
    INFO(q);
    CHECK_MESSAGE(!r.empty(), error);
    CHECK(error.empty());
    return r;
  };
  CHECK(wq("select Id from Account") == "select Id from Account where " + win);
  CHECK(wq("select Id from Account  ") == "select Id from Account where " + win + "  ");
  CHECK(wq("select Id from Account;") == "select Id from Account where " + win + ";");
  CHECK(wq("SELECT Id FROM Account ORDER BY Id LIMIT 5") ==
        "SELECT Id FROM Account where " + win + " ORDER BY Id LIMIT 5");
  CHECK(wq("select Id from Account limit 10, 5") == "select Id from Account where " + win + " limit 10, 5");
  CHECK(wq("select Id from Account where Status = 'Active'") ==
        "select Id from Account where Status = 'Active' and " + win);
  CHECK(wq("select Id from Account WHERE a = 1 and b = 2 order by Id desc") ==
        "select Id from Account WHERE a = 1 and b = 2 and " + win + " order by Id desc");
  // A top-level or: without parentheses anywhere (plain ZOQL allows none) each
  // or-ed term gets the window; with some, the condition is parenthesised. An or
  // already in parentheses, or in a string, needs neither.
  CHECK(wq("select Id from Account where a = 1 or b = 2 limit 3") ==
        "select Id from Account where a = 1 and " + win + " or b = 2 and " + win + " limit 3");
  CHECK(wq("select Id from Account where a = 1 or b = 2 or c = 3 and d = 4") ==
        "select Id from Account where a = 1 and " + win + " or b = 2 and " + win + " or c = 3 and d = 4 and " + win);
  CHECK(wq("select Id from Account where (a = 1) or b = 2 order by Id") ==
        "select Id from Account where ((a = 1) or b = 2) and " + win + " order by Id");
  CHECK(wq("select Id from Account where a = 1 or (b = 2 and c = 3)") ==
        "select Id from Account where (a = 1 or (b = 2 and c = 3)) and " + win);
  CHECK(wq("select Id from Account where (a = 1 or b = 2) and c = 3") ==
        "select Id from Account where (a = 1 or b = 2) and c = 3 and " + win);
  CHECK(wq("select Id from Account where Name = 'x or y'") ==
        "select Id from Account where Name = 'x or y' and " + win);
  CHECK(wq("select Id from Account where not a = 1 or b = 2") ==
        "select Id from Account where not a = 1 and " + win + " or b = 2 and " + win);
  // Keywords inside strings and quoted aliases are not keywords.
  CHECK(wq("select Id as \"where\" from Account") == "select Id as \"where\" from Account where " + win);
  CHECK(wq("select Name as \"from x\", Id from Account where Name = 'it''s where order by x limit 1'") ==
        "select Name as \"from x\", Id from Account where Name = 'it''s where order by x limit 1' and " + win);
  // A field whose name contains a keyword, and a field named like a clause.
  CHECK(wq("select Id from Account where CreditLimit > 5 order by OrderDate") ==
        "select Id from Account where CreditLimit > 5 and " + win + " order by OrderDate");
  CHECK(wq("select Id from Account where Account.Limit = 'x' order by Id") ==
        "select Id from Account where Account.Limit = 'x' and " + win + " order by Id");
  CHECK(wq("select count(*) from Account where a = 1 group by Status having count(*) > 1") ==
        "select count(*) from Account where a = 1 and " + win + " group by Status having count(*) > 1");
  // Multi-line queries keep their line breaks; the window joins the condition's last line.
  CHECK(wq("select Id\nfrom Account\nwhere a = 1\norder by Id\n") ==
        "select Id\nfrom Account\nwhere a = 1 and " + win + "\norder by Id\n");
  CHECK(wq("select Id from Account where Name = 'x'order by Id") ==
        "select Id from Account where Name = 'x' and " + win + " order by Id");
  // Another column name.
  {
    std::string error;
    CHECK(windowed_query("select Id from Invoice", "Account.UpdatedDate", w, error) ==
          "select Id from Invoice where Account.UpdatedDate >= '" + zoql_utc_literal(w.from) +
              "' and Account.UpdatedDate < '" + zoql_utc_literal(w.to) + "'");
  }

  const auto err = [&](std::string_view q, std::string_view column, std::string_view expect) {
    std::string error;
    INFO(q);
    CHECK(windowed_query(q, column, w, error) == "");
    INFO(error);
    CHECK(contains(error, expect));
  };
  err("select Id", "UpdatedDate", "no FROM");
  err("select Id, 'from' from", "UpdatedDate", "names no object");
  err("select Id as \"from\"", "UpdatedDate", "no FROM");
  err("select Id from Account where", "UpdatedDate", "WHERE has no condition");
  err("select Id from Account where order by Id", "UpdatedDate", "WHERE has no condition");
  err("update Account set x = 1", "UpdatedDate", "must start with select");
  err("", "UpdatedDate", "must start with select");
  err("select Id from Account where Name = 'x", "UpdatedDate", "unterminated string");
  err("select Id from Account where (a = 1", "UpdatedDate", "unclosed '('");
  err("select Id from Account where a = 1)", "UpdatedDate", "unbalanced ')'");
  err("select Id from Account a where x = 1", "UpdatedDate", "unexpected 'a' after the FROM object");
  err("select Id from Account", "Updated Date", "not a field name");
  err("select Id from Account", "UpdatedDate' or 1=1 or ''='", "not a field name");
  err("select Id from Account", "", "not a field name");
}

namespace {

// Base-row ids a query selects over `t`, in output order.
std::vector<std::string> ids_of(const emu::tenant_snapshot& t, std::string_view query, emu::tenant_zone zone,
                                emu::zoql_dialect dialect = emu::zoql_dialect::export_zoql) {
  emu::export_spec spec;
  std::string err;
  INFO(query);
  REQUIRE_MESSAGE(emu::parse_zoql(query, dialect, spec.query, err), err);
  spec.zone = zone;
  std::vector<std::string> out;
  emu::for_each_result_row(t, spec, std::filesystem::temp_directory_path(),
                           [&](const emu::result_row& r) { out.push_back((*r.slots[0])[0].s); });
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("windowed queries over the emulator's tenant return exactly the rows in the window, whatever the zone") {
  const emu::tenant_snapshot t = emu::make_tenant(7, 300);
  const emu::object_def& acct = *emu::find_object("Account");
  const std::size_t id = *emu::find_field(acct, "Id"), upd = *emu::find_field(acct, "UpdatedDate"),
                    status = *emu::find_field(acct, "Status"), name = *emu::find_field(acct, "Name");
  std::vector<emu::record> rows(t->row_count(acct));
  for (std::uint64_t i = 0; i < rows.size(); ++i) t->row(acct, i, rows[i]);
  REQUIRE(rows.size() >= 100);
  std::int64_t lo = rows[0][upd].i, hi = lo;
  for (const auto& r : rows) {
    lo = std::min(lo, r[upd].i);
    hi = std::max(hi, r[upd].i);
  }
  REQUIRE(lo < hi);
  const auto ids_where = [&](auto pred) {
    std::vector<std::string> out;
    for (const auto& r : rows)
      if (pred(r)) out.push_back(r[id].s);
    return sorted(out);
  };

  // Windows that start and end on rows' own timestamps: the bounds must be exact.
  const sys_seconds first{seconds{lo}}, last{seconds{hi}};
  const std::vector<time_window> windows{
      {first, last},                                      // the last row is outside [from, to)
      {first, last + seconds{1}},                         // every row
      {first + (last - first) / 3, first + (last - first) / 3 * 2},
      {sys_seconds{seconds{rows[rows.size() / 2][upd].i}}, sys_seconds{seconds{rows[rows.size() / 2][upd].i + 1}}},
  };
  for (const time_window& w : windows) {
    const auto in_window = [&](const emu::record& r) {
      return r[upd].i >= unix_of(w.from) && r[upd].i < unix_of(w.to);
    };
    INFO(window_label(w));
    std::string error;
    const std::string plain = windowed_query("select Id, UpdatedDate from Account", "UpdatedDate", w, error);
    REQUIRE_MESSAGE(!plain.empty(), error);
    const auto expect = ids_where(in_window);
    CHECK(!expect.empty());
    for (auto zone : {emu::tenant_zone::pacific, emu::tenant_zone::utc}) {
      CHECK(sorted(ids_of(t, plain, zone)) == expect);
      // Plain ZOQL: an AND-only condition gets no parentheses, so it stays valid there.
      const std::string zoql = windowed_query("select Id, UpdatedDate from Account where Status = 'Active'",
                                              "UpdatedDate", w, error);
      CHECK(sorted(ids_of(t, zoql, zone, emu::zoql_dialect::plain_zoql)) ==
            ids_where([&](const emu::record& r) { return in_window(r) && r[status].s == "Active"; }));
      // Plain ZOQL with or: no parentheses are added.
      const std::string zoql_or = windowed_query(
          "select Id, UpdatedDate from Account where Status = 'Active' or not Status = 'Draft' and Name != 'or'",
          "UpdatedDate", w, error);
      CHECK(sorted(ids_of(t, zoql_or, zone, emu::zoql_dialect::plain_zoql)) ==
            ids_where([&](const emu::record& r) {
              return in_window(r) && (r[status].s == "Active" || (r[status].s != "Draft" && r[name].s != "or"));
            }));
      // Export ZOQL with parentheses and a top-level or.
      const std::string paren = windowed_query(
          "select Id from Account where (Status = 'Active' and Name != 'a') or not (Status != 'Draft')", "UpdatedDate",
          w, error);
      CHECK(sorted(ids_of(t, paren, zone)) == ids_where([&](const emu::record& r) {
              return in_window(r) && ((r[status].s == "Active" && r[name].s != "a") || r[status].s == "Draft");
            }));
      // A top-level or, a string holding keywords, order by and limit.
      const std::string q = windowed_query(
          "select Id from Account where Status = 'Draft' or Name != 'x where y or z order by' order by UpdatedDate "
          "desc limit 100000",
          "UpdatedDate", w, error);
      REQUIRE_MESSAGE(!q.empty(), error);
      const auto got = ids_of(t, q, zone);
      CHECK(sorted(got) == ids_where([&](const emu::record& r) {
              return in_window(r) && (r[status].s == "Draft" || r[name].s != "x where y or z order by");
            }));
      // order by UpdatedDate desc survived the rewrite.
      const auto updated_of = [&](const std::string& row_id) {
        const auto r = std::find_if(rows.begin(), rows.end(), [&](const emu::record& x) { return x[id].s == row_id; });
        return (*r)[upd].i;
      };
      for (std::size_t i = 1; i < got.size(); ++i) CHECK(updated_of(got[i - 1]) >= updated_of(got[i]));
    }
  }

  // A partition of the whole range: every row exactly once across its windows.
  partition_config p;
  p.by = "UpdatedDate";
  p.from = format_incremental_time(first, data_center_zone::utc).substr(0, 10);  // the first row's day, UTC
  p.to = format_incremental_time(last + seconds{1}, data_center_zone::utc);      // "YYYY-MM-DD HH:MM:SS" UTC
  p.step = "P7DT5H3M1S";                                                         // windows cut mid-day
  REQUIRE(check_partition(p) == "");
  const auto plan = plan_partition(p, sys_seconds{});
  REQUIRE(plan.size() > 5);
  for (auto zone : {emu::tenant_zone::pacific, emu::tenant_zone::utc}) {
    std::multiset<std::string> seen;
    for (const time_window& w : plan) {
      std::string error;
      const std::string q = windowed_query("select Id from Account where Status != 'x'", p.by, w, error);
      REQUIRE_MESSAGE(!q.empty(), error);
      for (auto& i : ids_of(t, q, zone)) seen.insert(i);
    }
    const auto all = ids_where([](const emu::record& r) { return r[1].s != "\x01"; });  // every row
    CHECK(std::vector<std::string>(seen.begin(), seen.end()) == all);
    CHECK(seen.size() == rows.size());
  }
  // And a split window returns the same rows as its halves together.
  const time_window whole{first, last + seconds{1}};
  auto [a, b] = split_window(whole);
  std::string error;
  auto left = ids_of(t, windowed_query("select Id from Account", "UpdatedDate", a, error), emu::tenant_zone::pacific);
  auto right = ids_of(t, windowed_query("select Id from Account", "UpdatedDate", b, error), emu::tenant_zone::pacific);
  left.insert(left.end(), right.begin(), right.end());
  CHECK(sorted(left) == sorted(ids_of(t, "select Id from Account", emu::tenant_zone::pacific)));
}

TEST_CASE("windowed_query over random conditions means exactly: the original query and the window") {
  // Conditions drawn from a small grammar (and/or/not, parentheses, strings
  // holding keywords and quotes, mixed case and line breaks); each original
  // and its windowed form run on the emulator, and the windowed rows must be
  // the original's rows that lie in the window.
  const emu::tenant_snapshot t = emu::make_tenant(3, 60);
  const emu::object_def& acct = *emu::find_object("Account");
  const std::size_t upd = *emu::find_field(acct, "UpdatedDate");
  std::vector<emu::record> rows(t->row_count(acct));
  for (std::uint64_t i = 0; i < rows.size(); ++i) t->row(acct, i, rows[i]);
  std::map<std::string, std::int64_t> updated;  // id -> UpdatedDate
  std::int64_t lo = rows[0][upd].i, hi = lo;
  for (const auto& r : rows) {
    updated[r[0].s] = r[upd].i;
    lo = std::min(lo, r[upd].i);
    hi = std::max(hi, r[upd].i);
  }
  std::mt19937 rng(4711);
  const auto pick = [&](std::initializer_list<const char*> xs) {
    return std::string(xs.begin()[rng() % xs.size()]);
  };
  const auto predicate = [&] {
    return pick({"Status = 'Active'", "Status != 'Draft'", "Name != 'it''s where x or y order by z'",
                 "Name like 'A%'", "Balance > 100", "Balance <= 50.5", "AutoPay = true", "SalesRepName is null",
                 "Name != 'limit 5; group by'", "STATUS = 'Canceled'", "Name != 'say \"where\" ('"});
  };
  // plain: no parentheses (plain ZOQL allows none).
  std::function<std::string(int, bool)> condition = [&](int depth, bool plain) -> std::string {
    const auto roll = rng() % 10;
    if (depth == 0 || roll < 3) return (rng() % 5 == 0 ? "not " : "") + predicate();
    const std::string op = pick({" and ", " or ", " AND ", " Or ", "\nor\n"});
    std::string left = condition(depth - 1, plain), right = condition(depth - 1, plain);
    if (!plain && roll < 6) left = "(" + left + ")";
    if (!plain && roll == 9) right = "not (" + right + ")";
    return left + op + right;
  };
  std::size_t checked = 0, nonempty = 0;
  for (int i = 0; i < 300; ++i) {
    const bool plain = i % 3 == 0;
    std::string q = pick({"select Id from Account", "SELECT Id FROM Account", "select Id\nfrom Account"});
    if (rng() % 4 != 0) q += pick({" where ", " WHERE ", "\nwhere "}) + condition(3, plain);
    if (!plain && rng() % 2 == 0) q += pick({" order by Name", " ORDER BY Balance desc, Id", "\norder by Id"});
    if (!plain && rng() % 3 == 0) q += " limit 100000";
    if (rng() % 4 == 0) q += ";";
    const std::int64_t a = lo + static_cast<std::int64_t>(rng() % static_cast<std::uint32_t>(hi - lo + 1));
    const std::int64_t b = lo + static_cast<std::int64_t>(rng() % static_cast<std::uint32_t>(hi - lo + 1));
    const time_window w{sys_seconds{seconds{std::min(a, b)}}, sys_seconds{seconds{std::max(a, b) + 1}}};
    const auto dialect = plain ? emu::zoql_dialect::plain_zoql : emu::zoql_dialect::export_zoql;
    std::string error;
    const std::string windowed = windowed_query(q, "UpdatedDate", w, error);
    INFO(q, "\n-> ", windowed, " ", error);
    REQUIRE(!windowed.empty());
    std::vector<std::string> expect;
    for (const auto& id : ids_of(t, q, emu::tenant_zone::pacific, dialect))
      if (updated[id] >= unix_of(w.from) && updated[id] < unix_of(w.to)) expect.push_back(id);
    const auto got = ids_of(t, windowed, emu::tenant_zone::pacific, dialect);
    CHECK(got == expect);  // order by survives, so the order is the same too
    ++checked;
    nonempty += !expect.empty();
  }
  CHECK(checked == 300);
  CHECK(nonempty > 100);  // the windows and conditions select rows often enough to mean something
}

TEST_CASE("resolve_zone: EU environments and hosts are UTC, everything else Pacific; an explicit zone wins") {
  const auto zone = [](std::string env, std::string url, data_center_zone z = data_center_zone::automatic) {
    source_config s;
    s.environment = std::move(env);
    s.base_url = std::move(url);
    s.time_zone = z;
    return resolve_zone(s);
  };
  for (const char* env : {"eu-production", "eu-sandbox", "eu-central-sandbox"})
    CHECK(zone(env, "") == data_center_zone::utc);
  for (const char* env : {"us-production", "us-cloud2-production", "us-sandbox", "us-cloud2-sandbox",
                          "us-central-sandbox", "us-performance-test", "apac-production", "apac-central-sandbox"})
    CHECK(zone(env, "") == data_center_zone::pacific);
  for (const char* url : {"https://rest.eu.zuora.com", "https://rest.sandbox.eu.zuora.com/",
                          "https://rest.test.eu.zuora.com:443/v1", "https://REST.EU.ZUORA.COM",
                          "https://rest.eu.zuora.com.", "http://eu.zuora.com"})
    CHECK_MESSAGE(zone("", url) == data_center_zone::utc, url);
  for (const char* url : {"https://rest.zuora.com", "https://rest.na.zuora.com", "https://rest.apisandbox.zuora.com",
                          "https://rest.eu.zuora.com.example.org", "https://noteu.zuora.com", "http://127.0.0.1:8080",
                          "https://eu.example.com", "not a url", ""})
    CHECK_MESSAGE(zone("", url) == data_center_zone::pacific, url);
  CHECK(zone("eu-production", "", data_center_zone::pacific) == data_center_zone::pacific);
  CHECK(zone("us-production", "", data_center_zone::utc) == data_center_zone::utc);
  CHECK(zone("", "https://rest.zuora.com", data_center_zone::utc) == data_center_zone::utc);
}

TEST_CASE("the Pacific wall clock matches the tz database over 2007-2030, transition hours included") {
  // Without tzdata, date would silently use UTC (scripts/install-deps.sh installs it).
  REQUIRE_MESSAGE(la_date({"@0"}, "%z") == std::vector<std::string>{"-0800"},
                  "TZ=America/Los_Angeles is unknown to date: install tzdata");
  // Every hour boundary (and 1 s either side, and the half hour) in the weeks
  // that hold the second Sunday of March and the first Sunday of November,
  // plus random instants: the transitions are not computed by the test.
  std::vector<sys_seconds> instants;
  std::mt19937_64 rng(20260317);
  for (int y = 2007; y <= 2030; ++y) {
    for (auto [m, d0] : {std::pair{3u, 7u}, std::pair{10u, 31u}}) {
      const sys_seconds start = at(y, m, d0);
      for (int h = 0; h < 10 * 24; ++h)
        for (int off : {-1, 0, 1, 1800}) instants.push_back(start + hours{h} + seconds{off});
    }
    const std::int64_t y0 = unix_of(at(y, 1, 1)), y1 = unix_of(at(y + 1, 1, 1));
    for (int i = 0; i < 200; ++i) {  // each with its neighbours an hour away: a repeated wall clock shows twice
      const sys_seconds t{seconds{y0 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(y1 - y0))}};
      for (auto x : {t - hours{1}, t, t + hours{1}}) instants.push_back(x);
    }
  }
  std::vector<std::string> inputs;
  for (auto t : instants) inputs.push_back(fmt::format("@{}", unix_of(t)));
  const auto local = la_date(inputs, "%Y-%m-%d %H:%M:%S %z");
  const auto iso = la_date(inputs, "%Y-%m-%dT%H:%M:%S%z");

  std::map<std::string, std::vector<sys_seconds>> by_wall;  // wall clock -> instants showing it
  std::map<std::int64_t, std::string> wall_of;
  std::size_t dst = 0, standard = 0;
  for (std::size_t i = 0; i < instants.size(); ++i) {
    const sys_seconds t = instants[i];
    const std::string wall = local[i].substr(0, 19);
    const std::string zone = local[i].substr(20);
    INFO(inputs[i], " ", local[i]);
    CHECK(format_incremental_time(t, data_center_zone::pacific) == wall);
    CHECK(pacific_offset(t) == (zone == "-0700" ? hours{-7} : hours{-8}));
    CHECK((zone == "-0700" || zone == "-0800"));
    (zone == "-0700" ? dst : standard)++;
    CHECK(parse_start_time(iso[i], data_center_zone::pacific) == t);  // an explicit offset wins over the zone
    CHECK(parse_start_time(iso[i], data_center_zone::utc) == t);
    // UTC data centres: the UTC wall clock.
    CHECK(parse_start_time(format_incremental_time(t, data_center_zone::utc), data_center_zone::utc) == t);
    by_wall[wall].push_back(t);
    wall_of[unix_of(t)] = wall;
  }
  CHECK(dst > 1000);
  CHECK(standard > 1000);

  // Wall clock -> instant: unique times map back; the repeated November hour
  // reads as its first occurrence (the earlier offset, PDT).
  std::size_t repeated = 0;
  for (const auto& [wall, ts] : by_wall) {
    INFO(wall);
    const auto u = parse_start_time(wall, data_center_zone::pacific);
    REQUIRE(u.has_value());
    const sys_seconds earliest = *std::min_element(ts.begin(), ts.end());
    CHECK(*u == earliest);
    CHECK(parse_start_time(wall.substr(0, 10) + "T" + wall.substr(11), data_center_zone::pacific) == u);
    if (std::set<sys_seconds>(ts.begin(), ts.end()).size() > 1) {
      ++repeated;
      CHECK(*std::max_element(ts.begin(), ts.end()) - earliest == hours{1});
    }
  }
  CHECK(repeated >= 24 * 4);  // 4 sampled times of each year's repeated hour, at least

  // The skipped March hour: 02:MM:SS does not exist; it reads with the standard
  // offset, which is the instant the clock shows as 03:MM:SS (PDT).
  std::size_t skipped = 0;
  for (const auto& [unix_s, wall] : wall_of) {
    const auto before = wall_of.find(unix_s - 3600);
    if (before == wall_of.end() || wall.substr(11, 2) != "03" || before->second.substr(11, 2) != "01" ||
        wall.substr(0, 10) != before->second.substr(0, 10) || wall.substr(13) != before->second.substr(13))
      continue;
    const std::string missing = wall.substr(0, 11) + "02" + wall.substr(13);
    INFO(missing);
    CHECK(by_wall.count(missing) == 0);
    CHECK(parse_start_time(missing, data_center_zone::pacific) == sys_seconds{seconds{unix_s}});
    const auto missing_wall = parse_start_time(missing, data_center_zone::utc);  // the wall clock as if UTC
    REQUIRE(missing_wall.has_value());
    CHECK(local_to_utc(*missing_wall, data_center_zone::pacific) == sys_seconds{seconds{unix_s}});
    ++skipped;
  }
  CHECK(skipped >= 24 * 4);
}

TEST_CASE("parse_start_time reads the emulator's startTime in both of its forms and both zones") {
  // Plain wall clock: exact, except the repeated November hour's second
  // occurrence, which reads an hour early (a cursor then re-fetches, never skips).
  std::mt19937_64 rng(99);
  const std::int64_t from = unix_of(at(2007, 1, 1)), span = unix_of(at(2031, 1, 1)) - from;
  std::vector<std::int64_t> instants;
  for (int i = 0; i < 10000; ++i)
    instants.push_back(from + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span)));
  for (int y = 2007; y <= 2030; ++y)  // every half hour of the weeks holding the transitions
    for (unsigned m : {3u, 11u})
      for (int h = 0; h < 9 * 48; ++h) instants.push_back(unix_of(at(y, m, 1) + minutes{30 * h}));
  std::size_t early = 0;
  for (const std::int64_t u : instants) {
    const sys_seconds t{seconds{u}};
    for (auto [emu_zone, zone] : {std::pair{emu::tenant_zone::pacific, data_center_zone::pacific},
                                  std::pair{emu::tenant_zone::utc, data_center_zone::utc}}) {
      const std::string plain = emu::format_plain_datetime(u, emu::tenant_offset_minutes(emu_zone, u));
      const std::string iso = emu::format_datetime(u, emu::time_zone::tenant, emu_zone);
      INFO(plain, " ", iso);
      CHECK(parse_start_time(iso, zone) == t);
      const auto p = parse_start_time(plain, zone);
      REQUIRE(p.has_value());
      if (*p != t) {
        // Only the second occurrence of a repeated hour: an hour earlier shows the same wall clock.
        CHECK(*p == t - hours{1});
        CHECK(emu::format_plain_datetime(u - 3600, emu::tenant_offset_minutes(emu_zone, u - 3600)) == plain);
        ++early;
      }
      CHECK(format_incremental_time(t, zone) == plain);
    }
  }
  CHECK(early >= 24 * 2);  // each year's repeated hour, sampled at :00 and :30 (and any random hits)
}

TEST_CASE("parse_start_time: accepted forms and malformed ones") {
  const sys_seconds t = at(2021, 1, 18, 17, 13, 48);
  CHECK(parse_start_time("2021-01-18T17:13:48+0000", data_center_zone::pacific) == t);
  CHECK(parse_start_time("2021-01-18T17:13:48+00:00", data_center_zone::pacific) == t);
  CHECK(parse_start_time("2021-01-18T17:13:48Z", data_center_zone::pacific) == t);
  CHECK(parse_start_time("2021-01-18T09:13:48-0800", data_center_zone::utc) == t);
  CHECK(parse_start_time("2021-01-18T22:43:48+05:30", data_center_zone::pacific) == t);
  CHECK(parse_start_time("2021-01-18T17:13:48.123+0000", data_center_zone::pacific) == t);
  CHECK(parse_start_time("2021-01-18 17:13:48", data_center_zone::utc) == t);
  CHECK(parse_start_time("2021-01-18 09:13:48", data_center_zone::pacific) == t);  // PST in January
  CHECK(parse_start_time("2021-01-18 09:13:48", data_center_zone::automatic) == t);
  for (const char* bad : {"", "2021-01-18", "2021-01-18T17:13", "2021-01-18T17:13:48+0", "2021-01-18T17:13:48+000",
                          "2021-01-18T17:13:48+00:0", "2021-01-18T17:13:48+0000x", "2021-01-18T17:13:48 +0000",
                          "2021-01-18T17:13:48.", "2021-01-18T17:13:48.Z", "2021-01-18T17:13:48+2400",
                          "2021-01-18T17:13:48+0060", "2021-01-18T17:13:48+00:000", "2021-02-30 00:00:00",
                          "1421865001000", "2021-01-18T17:13:48z", "2021-01-18T17:13:48+00-00"})
    CHECK_MESSAGE(!parse_start_time(bad, data_center_zone::pacific).has_value(), bad);
  CHECK(format_incremental_time(t, data_center_zone::automatic) ==
        format_incremental_time(t, data_center_zone::pacific));
  CHECK(format_incremental_time(t, data_center_zone::utc) == "2021-01-18 17:13:48");
}

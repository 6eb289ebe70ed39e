// Result files: the CSV dialect, segments, gzip and zip, order by spilling to
// sorted runs, cancellation and I/O errors. Every expected cell is rendered in
// the test from the snapshot's records, and files are read back with our own
// reference CSV reader, zlib, gzip -t and unzip.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "emulator/result_writer.hpp"
#include "emulator/tenant_state.hpp"
#include "emulator/zoql.hpp"
#include "emulator/test_emulator_data_support.hpp"
#include "support/temp_dir.hpp"

using namespace aquaduct::emulator;
using namespace emu_data_test;
using aquaduct::test::temp_dir;

namespace {

// The expected rows (no header), rendered directly from the records.
csv_rows expected_rows(const tenant_snapshot& t, const export_spec& spec) {
  csv_rows out;
  for_each_result_row(t, spec, std::filesystem::temp_directory_path(), [&](const result_row& r) {
    std::vector<std::string> row;
    if (spec.deleted) row.emplace_back(r.deleted ? (spec.deleted->numeric ? "1" : "true") : (spec.deleted->numeric ? "0" : "false"));
    for (const select_column& c : spec.query.columns) {
      std::string cell;
      render_value(column_value(c.column, r.slots), spec.tz, cell);
      row.push_back(cell.empty() ? spec.null_replacement : cell);
    }
    out.push_back(std::move(row));
  });
  return out;
}

// All rows of all files (each file's header checked and dropped).
csv_rows read_all(const std::vector<written_file>& files, const std::vector<std::string>& header,
                  result_format f = result_format::csv) {
  csv_rows all;
  for (const written_file& w : files) {
    std::string bytes = slurp(w.path.string());
    CHECK(w.bytes == bytes.size());
    if (f == result_format::gzip) bytes = gunzip(bytes);
    if (f == result_format::zip) {
      std::string out;
      REQUIRE(run("unzip -p '" + w.path.string() + "'", &out) == 0);
      bytes = out;
    }
    csv_rows rows = read_csv(bytes);
    REQUIRE(!rows.empty());
    CHECK(rows.front() == header);
    CHECK(rows.size() - 1 == w.rows);
    all.insert(all.end(), rows.begin() + 1, rows.end());
  }
  return all;
}

}  // namespace

TEST_CASE("results: CSV dialect, headers in both modes, deleted column, nullReplacement") {
  const tenant_snapshot t = make_tenant(9, 120);
  temp_dir dir;
  export_spec spec = spec_for("select Id, Name, Balance, AutoPay, BillCycleDay, SalesRepName, CreatedDate, "
                              "BillToContact.WorkEmail, BillToContact.City as \"City, billed\" from Account");
  spec.use_query_labels = true;
  spec.deleted = deleted_spec{"IsDeleted", false};
  spec.null_replacement = "NULL";
  spec.tz = time_zone::utc;
  const std::vector<std::string> api_header{"Account.IsDeleted", "Account.Id", "Account.Name", "Account.Balance",
                                            "Account.AutoPay", "Account.BillCycleDay", "Account.SalesRepName",
                                            "Account.CreatedDate", "BillToContact.WorkEmail", "City, billed"};
  CHECK(result_header(spec) == api_header);
  auto files = write_result_files(t, spec, dir.path(), "a");
  REQUIRE(files.size() == 1);
  CHECK(files[0].name == "Q.csv");
  CHECK(files[0].path == dir.path() / "a-1.csv");
  const std::string raw = slurp(files[0].path.string());
  CHECK(raw.find('\r') == std::string::npos);
  CHECK(raw.substr(0, 3) != "\xEF\xBB\xBF");
  CHECK(raw.find(",NULL,") != std::string::npos);
  CHECK(raw.find("\"City, billed\"") != std::string::npos);
  const csv_rows rows = read_all(files, api_header);
  CHECK(rows == expected_rows(t, spec));
  CHECK(rows.size() == 120);
  // Every row of a full load is not deleted; datetimes in UTC.
  for (const auto& r : rows) {
    CHECK(r[0] == "false");
    CHECK(r[7].ends_with("+0000"));
  }
  // The generated text needs quoting somewhere: the reader proved it round-trips.
  bool quoted_newline = false;
  for (const auto& r : rows) quoted_newline |= r[2].find('\n') != std::string::npos;
  CHECK(quoted_newline);

  // Label mode, tenant zone, Numeric deleted.
  spec.use_query_labels = false;
  spec.deleted = deleted_spec{"del", true};
  spec.tz = time_zone::tenant;
  spec.null_replacement.clear();
  CHECK(result_header(spec) == std::vector<std::string>{"Account.del", "Account: ID", "Account: Name", "Account: Balance",
                                                        "Account: Auto Pay", "Account: Bill Cycle Day",
                                                        "Account: Sales Rep Name", "Account: Created Date",
                                                        "Bill To: Work Email", "City, billed"});
  files = write_result_files(t, spec, dir.path(), "b");
  const csv_rows rows2 = read_all(files, result_header(spec));
  CHECK(rows2 == expected_rows(t, spec));
  record rec;
  bool summer = false, winter = false;
  for (std::size_t i = 0; i < rows2.size(); ++i) {
    const auto& r = rows2[i];
    CHECK(r[0] == "0");
    t->row(*spec.query.object, i, rec);
    const int off = tenant_offset_minutes(tenant_zone::pacific, rec[*find_field(*spec.query.object, "CreatedDate")].i);
    CHECK(r[7].ends_with(off == -420 ? "-0700" : "-0800"));
    summer |= off == -420;
    winter |= off == -480;
  }
  CHECK(summer);  // both offsets occur in one file
  CHECK(winter);
}

TEST_CASE("results: CRLF and BOM switches") {
  const tenant_snapshot t = make_tenant(9, 30);
  temp_dir dir;
  export_spec spec = spec_for("select Id, Name from Account");
  spec.crlf = true;
  spec.bom = true;
  const auto files = write_result_files(t, spec, dir.path(), "x");
  std::string raw = slurp(files[0].path.string());
  REQUIRE(raw.starts_with("\xEF\xBB\xBF"));
  raw.erase(0, 3);
  CHECK(raw.find("\r\n") != std::string::npos);
  const csv_rows rows = read_csv(raw);
  CHECK(rows.size() == 31);
  spec.crlf = spec.bom = false;
  CHECK(std::vector(rows.begin() + 1, rows.end()) == expected_rows(t, spec));
}

TEST_CASE("results: segments, an empty result, offset and limit") {
  const tenant_snapshot t = make_tenant(4, 20);  // 1000 invoice items
  temp_dir dir;
  export_spec spec = spec_for("select Id, ChargeAmount, Invoice.InvoiceNumber from InvoiceItem");
  spec.segment_rows = 300;
  const auto files = write_result_files(t, spec, dir.path(), "seg");
  REQUIRE(files.size() == 4);
  CHECK(files[0].rows == 300);
  CHECK(files[3].rows == 100);
  CHECK(files[0].name == "Q_1.csv");
  CHECK(files[3].name == "Q_4.csv");
  const csv_rows rows = read_all(files, result_header(spec));
  CHECK(rows.size() == 1000);
  CHECK(rows == expected_rows(t, spec));

  spec.segment_rows = 250;  // exactly 4 full segments, no empty fifth
  CHECK(write_result_files(t, spec, dir.path(), "seg2").size() == 4);

  export_spec none = spec_for("select Id from Account where Name = 'no such name'");
  const auto empty = write_result_files(t, none, dir.path(), "empty");
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].rows == 0);
  CHECK(slurp(empty[0].path.string()) == "Account: ID\n");

  export_spec window = spec_for("select Id from InvoiceItem limit 995, 10");
  const auto w = write_result_files(t, window, dir.path(), "w");
  CHECK(w[0].rows == 5);
  CHECK(read_all(w, result_header(window)).front()[0] == t->generator().make_id(*find_object("InvoiceItem"), 995));
  // No stray files: only finished results, no .part or sort runs.
  for (const auto& f : dir.files()) CHECK_FALSE(f.ends_with(".part"));
}

TEST_CASE("results: gzip and zip hold the same CSV, valid for gzip -t and unzip -t") {
  const tenant_snapshot t = make_tenant(6, 40);
  temp_dir dir;
  export_spec spec = spec_for("select * from Invoice");
  spec.segment_rows = 150;
  spec.format = result_format::csv;
  const auto csv = write_result_files(t, spec, dir.path(), "c");
  spec.format = result_format::gzip;
  const auto gz = write_result_files(t, spec, dir.path(), "g");
  spec.format = result_format::zip;
  const auto zip = write_result_files(t, spec, dir.path(), "z");
  spec.zip_stream = true;
  const auto zips = write_result_files(t, spec, dir.path(), "zs");
  REQUIRE(csv.size() == 3);
  REQUIRE(gz.size() == 3);
  REQUIRE(zip.size() == 3);
  REQUIRE(zips.size() == 3);
  CHECK(gz[1].name == "Q_2.csv.gz");
  CHECK(zip[1].name == "Q_2.zip");
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string plain = slurp(csv[i].path.string());
    CHECK(run("gzip -t '" + gz[i].path.string() + "' 2>&1") == 0);
    CHECK(gunzip(slurp(gz[i].path.string())) == plain);
    for (const auto* z : {&zip, &zips}) {
      const std::string p = (*z)[i].path.string();
      CHECK(run("unzip -tq '" + p + "' >/dev/null 2>&1") == 0);
      std::string listing;
      REQUIRE(run("unzip -Z1 '" + p + "'", &listing) == 0);
      CHECK(listing == "Q.csv\n");  // one entry named after the query (contract §7)
      std::string content;
      REQUIRE(run("unzip -p '" + p + "'", &content) == 0);
      CHECK(content == plain);
    }
  }
}

TEST_CASE("results: order by spilled to sorted runs equals the in-memory sort") {
  const tenant_snapshot t = make_tenant(8, 30);
  temp_dir dir;
  export_spec spec = spec_for("select Id, UpdatedDate, Status from Invoice order by Status desc, UpdatedDate asc");
  const auto mem = write_result_files(t, spec, dir.path(), "mem");
  spec.sort_run_rows = 7;  // 300 rows -> 43 runs
  const auto spilled = write_result_files(t, spec, dir.path(), "spill");
  const csv_rows a = read_all(mem, result_header(spec));
  const csv_rows b = read_all(spilled, result_header(spec));
  CHECK(a == b);
  REQUIRE(a.size() == 300);
  for (std::size_t i = 1; i < a.size(); ++i) {
    INFO(i);
    CHECK(a[i - 1][2] >= a[i][2]);
    if (a[i - 1][2] == a[i][2]) CHECK(a[i - 1][1] <= a[i][1]);  // same offset: text order is time order
  }
  for (const auto& f : dir.files()) CHECK(f.find(".run") == std::string::npos);
  // order by + limit: the first rows of the sorted result.
  spec.query.limit = 5;
  spec.query.offset = 2;
  const csv_rows c = read_all(write_result_files(t, spec, dir.path(), "lim"), result_header(spec));
  CHECK(c == csv_rows(a.begin() + 2, a.begin() + 7));
}

TEST_CASE("results: cancellation and I/O errors leave nothing behind") {
  const tenant_snapshot t = make_tenant(8, 200);
  temp_dir dir;
  export_spec spec = spec_for("select Id, ChargeName from InvoiceItem");
  std::atomic<bool> cancel{true};
  spec.cancel = &cancel;
  spec.segment_rows = 1000;
  CHECK_THROWS_AS(write_result_files(t, spec, dir.path(), "c"), export_cancelled);
  CHECK(dir.files().empty());
  spec.cancel = nullptr;
  const auto missing = dir.path() / "no" / "such" / "dir";
  try {
    write_result_files(t, spec, missing, "c");
    FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find((missing / "c-1.csv.part").string()) != std::string::npos);
  }
  CHECK(dir.files().empty());
}

namespace {

std::string utc_literal(std::int64_t t) {
  const auto s = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  return fmt::format("'{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00'", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// The Ids a full export of `spec` holds, found the slow way: every row of
// the object, its WHERE evaluated, then sorted and cut as its order by Id and
// limit say. The exporter's UpdatedDate index and Id floor must agree.
std::vector<std::string> brute_force_ids(const tenant_snapshot& t, const export_spec& spec) {
  const object_def& obj = *spec.query.object;
  std::vector<std::string> ids;
  record rec;
  for (std::uint64_t i = 0; i < t->row_count(obj); ++i) {
    if (t->row(obj, i, rec) != tenant_state::row_status::live) continue;
    const record* slots[] = {&rec};
    if (zoql_matches(spec.query, slots, spec.now_unix_s, spec.zone)) ids.push_back(rec[0].s);
  }
  if (!spec.query.order_by.empty()) std::sort(ids.begin(), ids.end());
  if (spec.query.limit && ids.size() > *spec.query.limit) ids.resize(*spec.query.limit);
  return ids;
}

std::vector<std::string> exported_ids(const tenant_snapshot& t, const export_spec& spec) {
  std::vector<std::string> ids;
  for_each_result_row(t, spec, std::filesystem::temp_directory_path(),
                      [&](const result_row& r) { ids.push_back(column_value(spec.query.columns[0].column, r.slots).s); });
  return ids;
}

}  // namespace

TEST_CASE("results: windows and keyset pages read through the UpdatedDate index match a scan of every row") {
  const object_def& items = *find_object("InvoiceItem");
  const std::int64_t burst_at = tenant_epoch_unix_s - 12 * 3600;
  tenant_snapshot t = make_tenant(8, 2000, {burst_rows{&items, 20000, burst_at}});  // 100,000 items: indexed
  REQUIRE(t->generator().updated_index_of(items) != nullptr);
  const std::int64_t stamp = tenant_epoch_unix_s + 1000;
  mutation_outcome m;
  std::string err;
  REQUIRE_MESSAGE(apply_mutation(t, {"InvoiceItem", 20, 50, 10, {}, {}}, stamp, m, err), err);
  t = m.state;
  const auto id = [&](std::uint64_t i) { return t->generator().make_id(items, i); };
  const std::string year_ago = utc_literal(tenant_epoch_unix_s - 365 * 86400);
  const std::vector<std::string> queries = {
      // a window of about a month: a small part of the object
      "select Id from InvoiceItem where UpdatedDate >= " + year_ago + " and UpdatedDate < " +
          utc_literal(tenant_epoch_unix_s - 335 * 86400),
      // the burst second, paged by Id
      "select Id from InvoiceItem where UpdatedDate >= " + utc_literal(burst_at) + " and UpdatedDate < " +
          utc_literal(burst_at + 1) + " and Id > '" + id(12345) + "' order by Id asc limit 5000",
      "select Id from InvoiceItem where UpdatedDate >= " + utc_literal(burst_at) + " and UpdatedDate < " +
          utc_literal(burst_at + 1) + " and Id > '" + id(19000) + "' order by Id asc limit 5000",
      // the mutation's second: only changed and created rows
      "select Id from InvoiceItem where UpdatedDate >= " + utc_literal(stamp) + " and UpdatedDate < " +
          utc_literal(stamp + 1),
      // an Id floor alone, inclusive, and one that is no Id at all
      "select Id from InvoiceItem where Id >= '" + id(99990) + "'",
      "select Id from InvoiceItem where Id > '" + id(40000).substr(0, 20) + "' and UpdatedDate >= " + year_ago,
  };
  for (const std::string& query : queries) {
    CAPTURE(query);
    export_spec spec = spec_for(query);
    spec.now_unix_s = stamp + 10;
    const std::vector<std::string> want = brute_force_ids(t, spec);
    CHECK_FALSE(want.empty());
    CHECK(exported_ids(t, spec) == want);
  }
  // The mutation's second holds the rows it updated or created and did not delete.
  std::vector<std::string> changed = m.updated_ids;
  changed.insert(changed.end(), m.created_ids.begin(), m.created_ids.end());
  std::erase_if(changed, [&](const std::string& x) {
    return std::find(m.deleted_ids.begin(), m.deleted_ids.end(), x) != m.deleted_ids.end();
  });
  std::sort(changed.begin(), changed.end());
  std::vector<std::string> got = exported_ids(t, spec_for(queries[3]));
  std::sort(got.begin(), got.end());
  CHECK(got == changed);
}

// Sink throughput on a generated 1M-row Account-like result, each figure
// beside a baseline measured in the same run:
//   csv, ndjson, singer         rows/s, beside `cp` of the same CSV file
//   singer, wide typed rows     InvoiceItem-like rows (17 columns, numbers and dates typed),
//                               beside `dd conv=fsync oflag=nocache` of the sink's own output:
//                               writing those bytes durably, and no more, the fastest way we know
//   sqlite                      beside the sqlite3 CLI's `.import` of the CSV file
//   postgres                    beside `psql -c "\copy t from 'file.csv' csv header"` (a private server)
//   postgres, typed columns     InvoiceItem-like rows into numeric/timestamptz/date/bigint columns, beside the
//                               same rows into text columns and `psql \copy` of their CSV into the same typed table
// Usage: sink_bench [ROWS [singer|postgres]]   (default 1000000; `singer`: the singer cases only;
//        `postgres`: the typed postgres case only)
#include "sinks/csv_sink.hpp"
#include "sinks/ndjson_sink.hpp"
#include "sinks/postgres_sink.hpp"
#include "sinks/singer_sink.hpp"
#include "sinks/sqlite_sink.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace aquaduct;
using clock_type = std::chrono::steady_clock;

namespace {

// Rows laid out the way the CSV decoder hands them over: batches of views.
struct batch_data {
  std::string data;
  std::vector<std::size_t> fields{0};
  std::vector<std::size_t> records{0};
};

const std::vector<std::string> columns = {"Account.Id",       "Account.Name",     "Account.AccountNumber",
                                          "Account.Balance",  "Account.Currency", "Account.Status",
                                          "Account.UpdatedDate", "Account.Notes"};

// ROWS rows in batches of BATCH_ROWS; row(i, x, field) appends row i's
// fields, x a pseudo-random number drawn for the row.
template <class Row>
std::vector<batch_data> generate_rows(std::size_t rows, std::size_t batch_rows, Row row) {
  std::vector<batch_data> out;
  std::uint64_t x = 88172645463325252ull;
  for (std::size_t i = 0; i < rows; ++i) {
    if (i % batch_rows == 0) out.emplace_back();
    auto& b = out.back();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    row(i, x, [&](std::string_view v) {
      b.data.append(v);
      b.fields.push_back(b.data.size());
    });
    b.records.push_back(b.fields.size() - 1);
  }
  return out;
}

std::vector<batch_data> generate(std::size_t rows, std::size_t batch_rows) {
  return generate_rows(rows, batch_rows, [](std::size_t i, std::uint64_t x, const auto& field) {
    static const char* names[] = {"Acme Corp", "Globex, Inc.", "Initech", "Umbrella \"Health\"", "Stark Industries",
                                  "Wayne Enterprises", "Müller GmbH", "Société Générale"};
    static const char* notes[] = {"", "renewal due", "line one\nline two", "VIP", "net 30, paid by wire", ""};
    char buf[64];
    std::snprintf(buf, sizeof buf, "2c92c0f8%016llx%08zx", static_cast<unsigned long long>(x), i);
    field(buf);
    field(names[x % 8]);
    std::snprintf(buf, sizeof buf, "A%08zu", i);
    field(buf);
    std::snprintf(buf, sizeof buf, "%llu.%02llu", static_cast<unsigned long long>(x % 100000),
                  static_cast<unsigned long long>(x % 100));
    field(buf);
    field((x >> 8) % 3 ? "USD" : "EUR");
    field((x >> 12) % 5 ? "Active" : "Canceled");
    std::snprintf(buf, sizeof buf, "2026-%02llu-%02lluT%02llu:%02llu:00Z", static_cast<unsigned long long>(x % 12 + 1),
                  static_cast<unsigned long long>(x % 28 + 1), static_cast<unsigned long long>(x % 24),
                  static_cast<unsigned long long>(x % 60));
    field(buf);
    field(notes[(x >> 20) % 6]);
  });
}

stream_schema schema_of() {
  stream_schema s;
  s.job = "bench";
  s.job_id = "job-1";
  s.query = "Account";
  s.columns = columns;
  return s;
}

// InvoiceItem as `select * from InvoiceItem` returns it from the emulator:
// 17 columns, about 260 bytes of CSV a row, numbers and dates typed.
stream_schema invoice_item_schema() {
  stream_schema s;
  s.job = "bench";
  s.job_id = "job-1";
  s.query = "InvoiceItem";
  using t = column_type;
  const std::pair<const char*, column_type> cols[] = {
      {"Id", t::text},          {"ChargeName", t::text},        {"ChargeNumber", t::text},
      {"ChargeAmount", t::decimal}, {"ChargeDate", t::datetime}, {"Quantity", t::decimal},
      {"UnitPrice", t::decimal}, {"ProcessingType", t::integer}, {"ServiceStartDate", t::date},
      {"ServiceEndDate", t::date}, {"SKU", t::text},             {"UOM", t::text},
      {"TaxAmount", t::decimal}, {"CreatedDate", t::datetime},  {"UpdatedDate", t::datetime},
      {"CreatedById", t::text},  {"UpdatedById", t::text}};
  for (const auto& [name, type] : cols) {
    s.columns.push_back(std::string("InvoiceItem.") + name);
    s.types.push_back(type);
  }
  return s;
}

std::vector<batch_data> generate_invoice_items(std::size_t rows, std::size_t batch_rows) {
  return generate_rows(rows, batch_rows, [](std::size_t i, std::uint64_t x, const auto& field) {
    static const char* charges[] = {"Base fee", "Seats", "Overage", "Support \"Gold\"", "Setup fee"};
    static const char* uoms[] = {"Seats", "Each", "GB", ""};
    char buf[64];
    const auto ull = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
    const auto stamp = [&](std::uint64_t s) {
      std::snprintf(buf, sizeof buf, "2024-%02llu-%02lluT%02llu:%02llu:%02llu+0000", ull(s % 12 + 1), ull(s % 28 + 1),
                    ull(s % 24), ull(s % 60), ull(s / 60 % 60));
      field(buf);
    };
    std::snprintf(buf, sizeof buf, "2c92c1024835b8f1%016zx", i);
    field(buf);
    field(charges[x % 5]);
    std::snprintf(buf, sizeof buf, "C-%08zu", i);
    field(buf);
    const std::uint64_t qty = x % 50 + 1, price = x % 100000;
    std::snprintf(buf, sizeof buf, "%llu.%02llu", ull(qty * price / 100), ull(qty * price % 100));
    field(buf);
    stamp(x >> 3);
    std::snprintf(buf, sizeof buf, "%llu", ull(qty));
    field(buf);
    std::snprintf(buf, sizeof buf, "%llu.%02llu", ull(price / 100), ull(price % 100));
    field(buf);
    field((x >> 9) % 4 ? "0" : "1");
    std::snprintf(buf, sizeof buf, "2024-%02llu-%02llu", ull(x % 12 + 1), ull(x % 28 + 1));
    field(buf);
    std::snprintf(buf, sizeof buf, "2025-%02llu-%02llu", ull(x % 12 + 1), ull(x % 28 + 1));
    field(buf);
    std::snprintf(buf, sizeof buf, "SKU-%05llu", ull(x % 100));
    field(buf);
    field(uoms[(x >> 5) % 4]);
    std::snprintf(buf, sizeof buf, "%llu.%02llu", ull(price * 8 / 10000), ull(price * 8 / 100 % 100));
    field(buf);
    stamp(x >> 5);
    stamp(x >> 7);
    std::snprintf(buf, sizeof buf, "2c93a0b1f5ab8140%016llx", ull(x % 16));
    field(buf);
    std::snprintf(buf, sizeof buf, "2c93a0b1f5ab8140%016llx", ull((x >> 4) % 16));
    field(buf);
  });
}

// Seconds to open a stream, write every batch and commit; `commit_s`, when
// given, gets the commit's share.
double run_sink(sink& s, const stream_schema& schema, const std::vector<batch_data>& batches, std::size_t rows,
                double* commit_s = nullptr) {
  const auto t0 = clock_type::now();
  auto stream = s.open(schema);
  for (const auto& b : batches) stream->write(row_batch(schema, b.data, b.fields, b.records));
  const auto t1 = clock_type::now();
  stream->commit(file_token{"job-1", schema.query, {"file-1"}, rows});
  const auto t2 = clock_type::now();
  if (commit_s) *commit_s = std::chrono::duration<double>(t2 - t1).count();
  return std::chrono::duration<double>(t2 - t0).count();
}

double run_sink(sink& s, const std::vector<batch_data>& batches, std::size_t rows) {
  return run_sink(s, schema_of(), batches, rows);
}

// Seconds to run a command; exits the bench if it fails.
double run_command(const std::vector<std::string>& argv) {
  const auto t0 = clock_type::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "sink_bench: %s failed\n", argv[0].c_str());
    std::exit(1);
  }
  return s;
}

void report(const char* name, std::size_t rows, double s) {
  std::printf("%-9s %12.0f rows/s  (%.2f s)\n", name, static_cast<double>(rows) / s, s);
}

void compare(const char* name, std::size_t rows, double ours, const char* baseline, double theirs, double target) {
  const double ratio = theirs / ours;
  std::printf("%-9s %12.0f rows/s  %-44s %12.0f rows/s  ratio %.2f  (target >= %.1f: %s)\n", name,
              static_cast<double>(rows) / ours, baseline, static_cast<double>(rows) / theirs, ratio, target,
              ratio >= target ? "met" : "MISSED");
}

// singer on wide typed rows, beside writing its own output durably.
void bench_singer_wide(const std::string& root, std::size_t rows) {
  const auto wide = generate_invoice_items(rows, 8192);
  const std::string out = root + "/wide.singer";
  auto sink = sinks::make_singer_sink({out});
  double commit_s = 0;
  const double s = run_sink(*sink, invoice_item_schema(), wide, rows, &commit_s);
  const double mb = static_cast<double>(std::filesystem::file_size(out)) / 1e6;
  const double dd_s = run_command(
      {"dd", "if=" + out, "of=" + root + "/wide.copy", "bs=8M", "conv=fsync", "oflag=nocache", "status=none"});
  std::filesystem::remove(root + "/wide.copy");
  std::printf("singer, wide typed rows (InvoiceItem-like, %.0f bytes a message): %.0f rows/s, %.0f MB/s (%.2f s, commit "
              "%.2f s); baseline dd conv=fsync oflag=nocache of that output: %.0f MB/s (%.2f s); ratio %.2f  (target >= 500k rows/s: %s)\n",
              mb * 1e6 / static_cast<double>(rows), static_cast<double>(rows) / s, mb / s, s, commit_s, mb / dd_s, dd_s,
              dd_s / s, static_cast<double>(rows) / s >= 500e3 ? "met" : "MISSED");
  std::filesystem::remove(out);
}

// postgres with typed columns: our sink into a typed table, the same rows
// into text columns, and psql \copy of the same rows (their CSV, written by
// the csv sink) into a typed table made by the sink, emptied first.
void bench_postgres_typed(const std::string& root, std::size_t rows, test::postgres_server& pg) {
  const auto wide = generate_invoice_items(rows, 8192);
  const stream_schema typed = invoice_item_schema();
  stream_schema text = typed;
  text.query = "InvoiceItemText";
  text.types.clear();
  auto csv = sinks::make_csv_sink({root + "/wide"});
  run_sink(*csv, typed, wide, rows);
  const std::string csv_file = root + "/wide/bench/InvoiceItem.csv";
  sinks::postgres_sink_options po;
  po.dsn = pg.dsn();
  po.schema = "typed";
  auto post = sinks::make_postgres_sink(po);
  const double typed_s = run_sink(*post, typed, wide, rows);
  const double text_s = run_sink(*post, text, wide, rows);
  run_command({"psql", "-q", pg.dsn(), "-c",
               "CREATE TABLE typed.theirs (LIKE typed.\"bench__InvoiceItem\")"});
  const double copy_s = run_command({"psql", "-q", pg.dsn(), "-c",
                                     "\\copy typed.theirs from '" + csv_file + "' csv header"});
  std::printf("postgres, typed columns (InvoiceItem-like, 17 columns: numeric, timestamptz, date, bigint):\n");
  compare("  typed", rows, typed_s, "psql \\copy into the same typed table", copy_s, 0.8);
  std::printf("%-9s %12.0f rows/s  the same rows into text columns (%.2f s); typed/text ratio %.2f\n", "  text",
              static_cast<double>(rows) / text_s, text_s, text_s / typed_s);
  post->close();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const bool only_singer = argc > 2 && std::string_view(argv[2]) == "singer";
  const auto batches = generate(rows, 8192);
  test::temp_dir dir;
  const std::string root = dir.path().string();
  if (argc > 2 && std::string_view(argv[2]) == "postgres") {  // the typed postgres case only
    test::postgres_server pg;
    bench_postgres_typed(root, rows, pg);
    return 0;
  }
  if (only_singer) {
    std::printf("sink_bench: %zu rows, the singer cases only\n", rows);
    auto singer = sinks::make_singer_sink({root + "/out.singer"});
    report("singer", rows, run_sink(*singer, batches, rows));
    bench_singer_wide(root, rows);
    return 0;
  }

  // csv first: its file is the input of every baseline.
  auto csv = sinks::make_csv_sink({root + "/csv"});
  const double csv_s = run_sink(*csv, batches, rows);
  const std::string csv_file = root + "/csv/bench/Account.csv";
  const double cp_s = run_command({"cp", csv_file, root + "/copy.csv"});
  std::printf("sink_bench: %zu rows, %.1f MB as CSV; baseline cp of that file: %.0f rows/s (%.2f s)\n", rows,
              static_cast<double>(std::filesystem::file_size(csv_file)) / 1e6, static_cast<double>(rows) / cp_s, cp_s);
  report("csv", rows, csv_s);
  auto ndjson = sinks::make_ndjson_sink({root + "/ndjson"});
  report("ndjson", rows, run_sink(*ndjson, batches, rows));
  auto singer = sinks::make_singer_sink({root + "/out.singer"});
  report("singer", rows, run_sink(*singer, batches, rows));
  std::printf("          (the Python Singer tap for Zuora: about 3,300 rows/s on this machine)\n");
  bench_singer_wide(root, rows);

  // sqlite: our sink into one database, `.import` into another.
  sinks::sqlite_sink_options lo;
  lo.path = root + "/ours.db";
  auto lite = sinks::make_sqlite_sink(lo);
  const double lite_s = run_sink(*lite, batches, rows);
  const double import_s =
      run_command({"sqlite3", root + "/theirs.db", "-cmd", ".mode csv", ".import " + csv_file + " t"});
  compare("sqlite", rows, lite_s, "sqlite3 .import", import_s, 0.8);

  // postgres: a private server; our sink (full load) vs psql \copy into a TEXT table.
  test::postgres_server pg;
  sinks::postgres_sink_options po;
  po.dsn = pg.dsn();
  auto post = sinks::make_postgres_sink(po);
  const double pg_s = run_sink(*post, batches, rows);
  std::string create = "CREATE TABLE t (";
  for (std::size_t i = 0; i < columns.size(); ++i) create += (i ? ", \"" : "\"") + columns[i] + "\" text";
  run_command({"psql", "-q", pg.dsn(), "-c", create + ")"});
  const double copy_s =
      run_command({"psql", "-q", pg.dsn(), "-c", "\\copy t from '" + csv_file + "' csv header"});
  compare("postgres", rows, pg_s, "psql \\copy", copy_s, 0.8);
  post->close();
  bench_postgres_typed(root, rows, pg);
  return 0;
}

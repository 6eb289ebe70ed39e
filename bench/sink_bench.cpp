// Sink throughput on a generated 1M-row Account-like result, each figure
// beside a baseline measured in the same run:
//   csv, ndjson, singer         rows/s, beside `cp` of the same CSV file
//   sqlite                      beside the sqlite3 CLI's `.import` of the CSV file
//   postgres                    beside `psql -c "\copy t from 'file.csv' csv header"` (a private server)
// Usage: sink_bench [ROWS]   (default 1000000)
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

std::vector<batch_data> generate(std::size_t rows, std::size_t batch_rows) {
  static const char* names[] = {"Acme Corp", "Globex, Inc.", "Initech", "Umbrella \"Health\"", "Stark Industries",
                                "Wayne Enterprises", "Müller GmbH", "Société Générale"};
  static const char* notes[] = {"", "renewal due", "line one\nline two", "VIP", "net 30, paid by wire", ""};
  std::vector<batch_data> out;
  std::uint64_t x = 88172645463325252ull;
  char buf[64];
  for (std::size_t i = 0; i < rows; ++i) {
    if (i % batch_rows == 0) out.emplace_back();
    auto& b = out.back();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const auto field = [&](std::string_view v) {
      b.data.append(v);
      b.fields.push_back(b.data.size());
    };
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
    b.records.push_back(b.fields.size() - 1);
  }
  return out;
}

stream_schema schema_of() {
  stream_schema s;
  s.job = "bench";
  s.job_id = "job-1";
  s.query = "Account";
  s.columns = columns;
  return s;
}

// Seconds to open a stream, write every batch and commit.
double run_sink(sink& s, const std::vector<batch_data>& batches, std::size_t rows) {
  const auto schema = schema_of();
  const auto t0 = clock_type::now();
  auto stream = s.open(schema);
  for (const auto& b : batches) stream->write(row_batch(schema, b.data, b.fields, b.records));
  stream->commit(file_token{"job-1", "Account", {"file-1"}, rows});
  return std::chrono::duration<double>(clock_type::now() - t0).count();
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

}  // namespace

int main(int argc, char** argv) {
  const std::size_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const auto batches = generate(rows, 8192);
  test::temp_dir dir;
  const std::string root = dir.path().string();

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
  return 0;
}

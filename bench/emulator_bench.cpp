// Emulator result generation: rows/s and peak RSS while the emulator writes a
// gzip result of `select * from InvoiceItem` (10 million rows at the default
// scale, 500,000-row segments), beside `gzip -c` (same level) and `cat` of the
// same CSV bytes, measured in the same run on the first segment.
//   emulator_bench [ACCOUNTS] [order]   (default 200,000 accounts = 10,000,000 InvoiceItem rows;
//                                        "order" adds `order by UpdatedDate desc`, sorted in spilled runs)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include "emulator/result_writer.hpp"
#include "emulator/tenant_state.hpp"
#include "emulator/zoql.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace aquaduct::emulator;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

double time_command(const std::string& cmd) {
  const auto t0 = clock_type::now();
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "baseline command failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t accounts = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200'000;
  const auto dir = std::filesystem::temp_directory_path() / ("emulator-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const long rss_before = peak_rss_kib();

  const tenant_snapshot t = make_tenant(1, accounts);
  export_spec spec;
  std::string err;
  const bool ordered = argc > 2 && std::string(argv[2]) == "order";
  const std::string query = std::string("select * from InvoiceItem") + (ordered ? " order by UpdatedDate desc" : "");
  if (!parse_zoql(query, zoql_dialect::export_zoql, spec.query, err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  spec.name = "InvoiceItem";
  spec.format = result_format::gzip;

  const auto t0 = clock_type::now();
  const auto files = write_result_files(t, spec, dir, "gz");
  const double emu_s = seconds_since(t0);
  std::uint64_t rows = 0, gz_bytes = 0;
  for (const auto& f : files) {
    rows += f.rows;
    gz_bytes += f.bytes;
  }
  const long rss_peak = peak_rss_kib();

  // Baseline input: the first segment as plain CSV (not timed).
  export_spec one = spec;
  one.format = result_format::csv;
  one.query.limit = files.front().rows;
  const auto csv = write_result_files(t, one, dir, "csv");
  const std::string csv_path = csv.front().path.string();
  const double seg_rows = static_cast<double>(csv.front().rows);
  const double gzip_s = time_command("gzip -" + std::to_string(spec.gzip_level) + " -c '" + csv_path + "' > /dev/null");
  const double cat_s = time_command("cat '" + csv_path + "' > /dev/null");
  std::filesystem::remove_all(dir);

  const double emu_rate = static_cast<double>(rows) / emu_s;
  const double gzip_rate = seg_rows / gzip_s;
  const double cat_rate = seg_rows / cat_s;
  const double csv_bytes_per_row = static_cast<double>(csv.front().bytes) / seg_rows;
  std::printf("query: %s\n", query.c_str());
  std::printf("emulator: %llu InvoiceItem rows (%zu gzip segments, %.1f MB gz, ~%.0f MB CSV) in %.2f s = %.0f rows/s "
              "(%.1f MB/s of CSV)\n",
              static_cast<unsigned long long>(rows), files.size(), static_cast<double>(gz_bytes) / 1e6,
              csv_bytes_per_row * static_cast<double>(rows) / 1e6, emu_s, emu_rate, emu_rate * csv_bytes_per_row / 1e6);
  std::printf("peak RSS: %.1f MB (%.1f MB before the tenant existed)\n", static_cast<double>(rss_peak) / 1024.0,
              static_cast<double>(rss_before) / 1024.0);
  std::printf("baseline gzip -%d -c of the same CSV: %.0f rows/s (%.1f MB/s); emulator/gzip ratio %.2f\n",
              spec.gzip_level, gzip_rate, gzip_rate * csv_bytes_per_row / 1e6, emu_rate / gzip_rate);
  std::printf("baseline cat of the same CSV: %.0f rows/s (%.1f MB/s); emulator/cat ratio %.3f\n", cat_rate,
              cat_rate * csv_bytes_per_row / 1e6, emu_rate / cat_rate);
  return 0;
}

// Decode-stage throughput: gzip inflate + CSV parse of an AQuA-like result,
// beside `gzip -dc` on the same bytes, measured in the same run.
//   decode_bench [ROWS]     (default 1,000,000 rows)
#include "decode/content_decoder.hpp"
#include "decode/csv_parser.hpp"

#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;

std::string make_csv(std::size_t rows) {
  std::mt19937_64 rng(42);
  std::string out = "Account.Id,Account.AccountNumber,Account.Name,Account.Balance,Account.Status,Account.UpdatedDate\n";
  const char* names[] = {"Acme", "\"Quoted\" Ltd", "Smith, Jones", "Ærøskøbing GmbH", "Line\nBreak Inc"};
  char buf[256];
  for (std::size_t i = 0; i < rows; ++i) {
    std::string quoted = std::string(names[rng() % 5]) + " " + std::to_string(i);
    if (quoted.find_first_of(",\"\n") != std::string::npos) {
      std::string q = "\"";
      for (char c : quoted) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      quoted = q + "\"";
    }
    const int n = std::snprintf(buf, sizeof buf, "2c92c0f8%024zx,A%08zu,%s,%lu.%02lu,Active,2026-%02lu-%02luT10:%02lu:00+0000\n",
                                i, i, quoted.c_str(), static_cast<unsigned long>(rng() % 100000),
                                static_cast<unsigned long>(rng() % 100), static_cast<unsigned long>(1 + rng() % 12),
                                static_cast<unsigned long>(1 + rng() % 28), static_cast<unsigned long>(rng() % 60));
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string gzip(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

struct result {
  double seconds;
  std::uint64_t rows;
};

result run_ours(const std::string& gz) {
  auto dec = aquaduct::decode::make_gzip_decoder();
  aquaduct::decode::csv_parser parser;
  std::vector<char> out(256 << 10);
  std::uint64_t rows = 0;
  const auto t0 = clock_type::now();
  std::string_view in(gz);
  std::error_code ec;
  const auto parse = [&](std::string_view bytes) {
    while (!bytes.empty()) {
      const std::size_t used = parser.put(bytes, ec);
      if (ec) throw std::runtime_error("csv: " + ec.message());
      bytes.remove_prefix(used);
      rows += parser.records().size();
      parser.clear_records();
    }
  };
  while (!in.empty()) {
    const auto chunk = in.substr(0, 64 << 10);  // as the HTTP client hands it over
    std::string_view rest = chunk;
    while (!rest.empty()) {
      const auto r = dec->put(rest, out, ec);
      if (ec) throw std::runtime_error("gzip: " + ec.message());
      rest.remove_prefix(r.consumed);
      parse(std::string_view(out.data(), r.produced));
    }
    in.remove_prefix(chunk.size());
  }
  for (;;) {
    const auto r = dec->put({}, out, ec);
    if (r.produced == 0) break;
    parse(std::string_view(out.data(), r.produced));
  }
  dec->finish(ec);
  parser.finish(ec);
  rows += parser.records().size();
  return {std::chrono::duration<double>(clock_type::now() - t0).count(), rows - 1};
}

double run_gzip_dc(const std::string& path) {
  const std::string cmd = "gzip -dc '" + path + "' > /dev/null";
  const auto t0 = clock_type::now();
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("gzip -dc failed");
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const std::string csv = make_csv(rows);
  const std::string gz = gzip(csv);
  char path[] = "/tmp/aquaduct-bench-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0 || write(fd, gz.data(), gz.size()) != static_cast<ssize_t>(gz.size())) return 1;
  close(fd);

  // Best of three for each, interleaved, so both see the same machine state.
  double ours = 1e9, base = 1e9;
  std::uint64_t parsed = 0;
  for (int i = 0; i < 3; ++i) {
    const result r = run_ours(gz);
    ours = std::min(ours, r.seconds);
    parsed = r.rows;
    base = std::min(base, run_gzip_dc(path));
  }
  std::remove(path);
  if (parsed != rows) {
    std::fprintf(stderr, "parsed %llu rows, expected %zu\n", static_cast<unsigned long long>(parsed), rows);
    return 1;
  }
  const double mb = static_cast<double>(csv.size()) / 1e6;
  std::printf("| stage | rows | CSV MB | seconds | MB/s | rows/s |\n|---|---|---|---|---|---|\n");
  std::printf("| aquaduct gzip+CSV parse | %zu | %.1f | %.3f | %.0f | %.0f |\n", rows, mb, ours, mb / ours,
              static_cast<double>(rows) / ours);
  std::printf("| baseline `gzip -dc > /dev/null` | %zu | %.1f | %.3f | %.0f | %.0f |\n", rows, mb, base, mb / base,
              static_cast<double>(rows) / base);
  std::printf("ratio (aquaduct decode+parse speed / gzip -dc speed): %.2fx\n", base / ours);
  return 0;
}

// Decode-stage throughput on a billing-like CSV corpus generated here
// (32-hex ids, dates, decimals, quoted names, a few newlines inside fields),
// each figure beside a baseline measured in the same run, as in issue 5:
//   CSV parse, SIMD path            target >= 1000 MB/s  (baseline: memchr line count)
//   CSV parse, scalar path          target >=  500 MB/s  (same baseline)
//   gzip -> rows, ISA-L             target >= 2.0x `gzip -dc file > /dev/null`
//   gzip -> rows, zlib              target >= 0.85x zlib inflate alone
//   zip  -> rows                    target >= 0.9x gzip -> rows (same deflate data)
//   zip  -> rows, ours vs libarchive  the client's push decoder against libarchive's
//        streaming zip reader (archive_read_support_format_zip_streamable, fed the
//        same 64 KiB pieces through its read callback, zero-copy data blocks),
//        both into the same CSV parser, and both decoding only (bytes counted),
//        on one archive written by libarchive as the emulator writes it (Zip64
//        size fields, data descriptor). Same zlib inflate on both sides, and
//        ours with ISA-L (automatic) too. Target: ours >= 1.0x libarchive.
// MB are of uncompressed CSV, 1 MB = 1e6 bytes; best of RUNS runs each.
// Rates are per CPU second of the work measured (this process's CPU time; for
// `gzip -dc`, the child's user+sys time), so other load on a shared machine
// does not count against either side; wall-clock rates are printed beside them.
//   decode_bench [MB] [RUNS]     (defaults: 200 MB, 3 runs)
#include "decode/content_decoder.hpp"
#include "decode/csv_parser.hpp"
#include "fuzz/seeds.hpp"  // libarchive_zip_bytes: the zip fuzz seeds' writer

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

namespace {

using namespace aquaduct::decode;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t http_chunk = 64u << 10;  // what the HTTP client hands over at a time

std::string make_csv(std::size_t bytes, std::size_t& rows) {
  std::mt19937_64 rng(42);
  std::string out =
      "Invoice.Id,Invoice.InvoiceNumber,Account.Id,Account.Name,Invoice.InvoiceDate,Invoice.DueDate,"
      "Invoice.Amount,Invoice.Balance,Invoice.TaxAmount,Invoice.Status,Invoice.Comments,Invoice.UpdatedDate\n";
  out.reserve(bytes + 512);
  const char* names[] = {"Acme Corp", "Smith, Jones & Co", "\"Quoted\" Ltd", "Ærøskøbing GmbH", "Müller AG",
                         "Blue Sky Ltd", "Zhang 张 Trading", "O'Brien Partners"};
  const char* comments[] = {"", "", "", "", "paid by card", "net 30, see \"terms\"", "two\nlines", ""};
  const char* statuses[] = {"Posted", "Draft", "Canceled"};
  rows = 0;
  char buf[512];
  while (out.size() < bytes) {
    const auto quote = [](std::string s) {
      if (s.find_first_of(",\"\n") == std::string::npos) return s;
      std::string q = "\"";
      for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      return q + "\"";
    };
    const std::string name = quote(std::string(names[rng() % 8]) + " " + std::to_string(rng() % 100000));
    const std::string comment = quote(comments[rng() % 8]);
    const unsigned long y = 2020 + rng() % 7, m = 1 + rng() % 12, d = 1 + rng() % 28;
    const int n = std::snprintf(
        buf, sizeof buf,
        "%016llx%016llx,INV%08zu,%016llx%016llx,%s,%lu-%02lu-%02lu,%lu-%02lu-%02lu,%lu.%02lu,%lu.%02lu,%lu.%02lu,%s,%s,"
        "%lu-%02lu-%02luT%02lu:%02lu:%02lu-0800\n",
        static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(rng()), rows,
        static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(rng()), name.c_str(), y, m, d, y,
        m, std::min(28ul, d + 14), static_cast<unsigned long>(rng() % 100000), static_cast<unsigned long>(rng() % 100),
        static_cast<unsigned long>(rng() % 10000), static_cast<unsigned long>(rng() % 100),
        static_cast<unsigned long>(rng() % 1000), static_cast<unsigned long>(rng() % 100), statuses[rng() % 3],
        comment.c_str(), y, m, d, static_cast<unsigned long>(rng() % 24), static_cast<unsigned long>(rng() % 60),
        static_cast<unsigned long>(rng() % 60));
    out.append(buf, static_cast<std::size_t>(n));
    ++rows;
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

std::string le(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A zip archive with one deflated entry holding the gzip member's deflate
// data (the same compressed bytes, so only the container differs), written
// as a streaming writer does: sizes in a data descriptor after the data.
std::string zip_of(const std::string& gz, const std::string& csv) {
  const std::string deflated = gz.substr(10, gz.size() - 18);  // zlib's gzip header is 10 bytes, no name
  const std::string crc = gz.substr(gz.size() - 8, 4);
  const std::string name = "Invoices.csv";
  std::string z = "PK\x03\x04" + le(20, 2) + le(8, 2) + le(8, 2) + le(0, 4) + le(0, 4) + le(0, 4) + le(0, 4) +
                  le(name.size(), 2) + le(0, 2) + name + deflated;
  z += "PK\x07\x08" + crc + le(deflated.size(), 4) + le(csv.size(), 4);
  const std::size_t central = z.size();
  z += "PK\x01\x02" + le(20, 2) + le(20, 2) + le(8, 2) + le(8, 2) + le(0, 4) + crc + le(deflated.size(), 4) +
       le(csv.size(), 4) + le(name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) + name;
  z += "PK\x05\x06" + le(0, 4) + le(1, 2) + le(1, 2) + le(z.size() - central, 4) + le(central, 4) + le(0, 2);
  return z;
}

struct timing {
  double cpu = 1e9;   // seconds of CPU
  double wall = 1e9;  // seconds of wall clock
};

double process_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double children_cpu() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  const auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// Runs fn once and keeps the better of this run and `best` (by CPU time).
void measure(timing& best, const std::function<void()>& fn, bool child = false) {
  const double c0 = child ? children_cpu() : process_cpu();
  const auto t0 = clock_type::now();
  fn();
  const double wall = std::chrono::duration<double>(clock_type::now() - t0).count();
  const double cpu = (child ? children_cpu() : process_cpu()) - c0;
  if (cpu < best.cpu) best = {cpu, wall};
}

// The CSV parser fed piece by piece, counting the records it completes: the
// one way every figure below turns bytes into rows.
class row_counter {
 public:
  explicit row_counter(csv_parser& parser) : parser_(parser) { parser_.reset(); }
  void put(std::string_view bytes) {
    while (!bytes.empty()) {
      const std::size_t used = parser_.put(bytes, ec_);
      if (ec_) throw std::runtime_error("csv: " + ec_.message());
      bytes.remove_prefix(used);
      take();
    }
  }
  // The data rows (the header not counted).
  std::uint64_t finish() {
    parser_.finish(ec_);
    if (ec_) throw std::runtime_error("csv: " + ec_.message());
    take();
    return rows_ - 1;
  }

 private:
  void take() {
    rows_ += parser_.records().size();
    parser_.clear_records();
  }
  csv_parser& parser_;
  std::error_code ec_;
  std::uint64_t rows_ = 0;
};

// Parses `bytes` as an HTTP body would arrive; returns data rows.
std::uint64_t parse_stream(csv_parser& parser, std::string_view bytes) {
  row_counter rows(parser);
  while (!bytes.empty()) {
    rows.put(bytes.substr(0, http_chunk));
    bytes.remove_prefix(std::min(bytes.size(), http_chunk));
  }
  return rows.finish();
}

// A content decoder over `body` in http_chunk pieces, as the HTTP client hands
// them over; every decoded piece goes to `sink`.
template <class Sink>
void decode_each(content_decoder& dec, std::string_view body, Sink&& sink) {
  std::vector<char> out(256u << 10);
  std::error_code ec;
  dec.reset();
  while (!body.empty()) {
    std::string_view piece = body.substr(0, http_chunk);
    body.remove_prefix(piece.size());
    while (!piece.empty()) {
      const auto r = dec.put(piece, out, ec);
      if (ec) throw std::runtime_error("decode: " + ec.message());
      piece.remove_prefix(r.consumed);
      sink(std::string_view(out.data(), r.produced));
    }
  }
  for (;;) {
    const auto r = dec.put({}, out, ec);
    if (ec) throw std::runtime_error("decode: " + ec.message());
    if (r.produced == 0) break;
    sink(std::string_view(out.data(), r.produced));
  }
  dec.finish(ec);
  if (ec) throw std::runtime_error("decode: " + ec.message());
}

// Content decoder -> CSV parser, as result_pipeline does it; returns data rows.
std::uint64_t decode_to_rows(content_decoder& dec, csv_parser& parser, std::string_view body) {
  row_counter rows(parser);
  decode_each(dec, body, [&](std::string_view bytes) { rows.put(bytes); });
  return rows.finish();
}

// libarchive's streaming zip reader over `body`, handed out in http_chunk
// pieces by its read callback; every data block goes to `sink`. libarchive
// pulls: a client receiving pushed buffers would need a thread (or a
// coroutine) to block in this callback until the next piece arrives; here the
// pieces are all in memory already, libarchive's best case.
void libarchive_read(std::string_view body, const std::function<void(std::string_view)>& sink) {
  struct source {
    std::string_view rest;
  } src{body};
  const auto next = [](archive*, void* p, const void** buf) -> la_ssize_t {
    auto* s = static_cast<source*>(p);
    const std::string_view piece = s->rest.substr(0, http_chunk);
    s->rest.remove_prefix(piece.size());
    *buf = piece.data();
    return static_cast<la_ssize_t>(piece.size());
  };
  archive* a = archive_read_new();
  archive_read_support_format_zip_streamable(a);
  archive_entry* e = nullptr;
  if (archive_read_open(a, &src, nullptr, next, nullptr) != ARCHIVE_OK || archive_read_next_header(a, &e) != ARCHIVE_OK)
    throw std::runtime_error(std::string("libarchive: ") + archive_error_string(a));
  const void* block = nullptr;
  std::size_t size = 0;
  la_int64_t offset = 0;
  int rc;
  while ((rc = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK)
    sink(std::string_view(static_cast<const char*>(block), size));
  if (rc != ARCHIVE_EOF || archive_read_next_header(a, &e) != ARCHIVE_EOF)
    throw std::runtime_error(std::string("libarchive: ") + archive_error_string(a));
  archive_read_free(a);
}

std::uint64_t libarchive_to_rows(csv_parser& parser, std::string_view body) {
  row_counter rows(parser);
  libarchive_read(body, [&](std::string_view bytes) { rows.put(bytes); });
  return rows.finish();
}

// A content decoder alone over `body` in http_chunk pieces; returns the bytes decoded.
std::uint64_t decode_bytes(content_decoder& dec, std::string_view body) {
  std::uint64_t total = 0;
  decode_each(dec, body, [&](std::string_view bytes) { total += bytes.size(); });
  return total;
}

// zlib inflate alone, same chunking and output buffer, output discarded.
std::uint64_t zlib_inflate_only(std::string_view gz) {
  z_stream z{};
  inflateInit2(&z, 16 + MAX_WBITS);
  std::vector<char> out(256u << 10);
  std::uint64_t total = 0;
  int rc = Z_OK;
  while (!gz.empty() && rc != Z_STREAM_END) {
    std::string_view piece = gz.substr(0, http_chunk);
    gz.remove_prefix(piece.size());
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
    z.avail_in = static_cast<uInt>(piece.size());
    do {
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) throw std::runtime_error("inflate");
      total += out.size() - z.avail_out;
    } while (z.avail_out == 0 || (z.avail_in > 0 && rc == Z_OK));
  }
  inflateEnd(&z);
  return total;
}

// memchr over the corpus counting line ends: a floor for "touch every byte once".
std::uint64_t count_lines(std::string_view s) {
  std::uint64_t n = 0;
  for (const char* p = s.data(); const void* hit = std::memchr(p, '\n', static_cast<std::size_t>(s.data() + s.size() - p));) {
    ++n;
    p = static_cast<const char*>(hit) + 1;
  }
  return n;
}

struct row {
  std::string what, baseline;
  timing ours, base;
  double target;  // a ratio ours/base, or an MB/s floor when `absolute`
  bool absolute;
};

}  // namespace

int main(int argc, char** argv) {
  const std::size_t mb = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  std::size_t rows = 0;
  const std::string csv = make_csv(mb * 1000000, rows);
  const std::string gz = gzip(csv);
  const std::string zip = zip_of(gz, csv);
  // The emulator's zip layout, from libarchive's writer (as gzip() above, level 6):
  // one deflated entry, Zip64 size fields, a data descriptor.
  const std::string la_zip = aquaduct::fuzz::libarchive_zip_bytes("Invoices.csv", csv, "zip:compression-level=6");
  char path[] = "/tmp/aquaduct-bench-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0 || write(fd, gz.data(), gz.size()) != static_cast<ssize_t>(gz.size())) return 1;
  close(fd);
  const std::string gzip_dc = "gzip -dc '" + std::string(path) + "' > /dev/null";

  std::printf("corpus: %zu rows, %.1f MB CSV, %.1f MB gzip, %.1f MB zip, %.1f MB zip by libarchive; CSV SIMD supported: %s; "
              "inflate auto: %s\n",
              rows, static_cast<double>(csv.size()) / 1e6, static_cast<double>(gz.size()) / 1e6,
              static_cast<double>(zip.size()) / 1e6, static_cast<double>(la_zip.size()) / 1e6,
              csv_parser::simd_supported() ? "yes" : "no",
              to_string(inflate_backend::automatic));

  csv_parser simd({}, csv_path::simd), scalar({}, csv_path::scalar);
  auto gz_isal = make_gzip_decoder(inflate_backend::isal);
  auto gz_zlib = make_gzip_decoder(inflate_backend::zlib);
  auto zip_auto = make_zip_decoder(inflate_backend::automatic);
  auto zip_zlib = make_zip_decoder(inflate_backend::zlib);
  csv_parser parser;  // automatic path, as the engine uses it

  // Best of `runs` for every measurement, interleaved so all see the same machine state.
  timing t_simd, t_scalar, t_lines, t_isal, t_gzip_dc, t_zlib, t_inflate, t_zip, t_gz_auto;
  timing t_la_rows, t_la_bytes, t_ours_zlib_rows, t_ours_zlib_bytes, t_ours_auto_rows, t_ours_auto_bytes;
  const auto check = [&](std::uint64_t got, const char* what) {
    if (got != rows) {
      std::fprintf(stderr, "%s: %llu rows, expected %zu\n", what, static_cast<unsigned long long>(got), rows);
      std::exit(1);
    }
  };
  for (int i = 0; i < runs; ++i) {
    measure(t_simd, [&] { check(parse_stream(simd, csv), "simd"); });
    measure(t_scalar, [&] { check(parse_stream(scalar, csv), "scalar"); });
    measure(t_lines, [&] {
      if (count_lines(csv) < rows) std::exit(1);
    });
    measure(t_isal, [&] { check(decode_to_rows(*gz_isal, parser, gz), "gzip isa-l"); });
    measure(
        t_gzip_dc,
        [&] {
          if (std::system(gzip_dc.c_str()) != 0) std::exit(1);
        },
        true);
    measure(t_zlib, [&] { check(decode_to_rows(*gz_zlib, parser, gz), "gzip zlib"); });
    measure(t_inflate, [&] {
      if (zlib_inflate_only(gz) != csv.size()) std::exit(1);
    });
    auto gz_auto = make_gzip_decoder();
    measure(t_gz_auto, [&] { check(decode_to_rows(*gz_auto, parser, gz), "gzip auto"); });
    measure(t_zip, [&] { check(decode_to_rows(*zip_auto, parser, zip), "zip"); });
    measure(t_la_rows, [&] { check(libarchive_to_rows(parser, la_zip), "libarchive zip"); });
    measure(t_ours_zlib_rows, [&] { check(decode_to_rows(*zip_zlib, parser, la_zip), "zip zlib"); });
    measure(t_ours_auto_rows, [&] { check(decode_to_rows(*zip_auto, parser, la_zip), "zip auto"); });
    measure(t_la_bytes, [&] {
      std::uint64_t n = 0;
      libarchive_read(la_zip, [&](std::string_view b) { n += b.size(); });
      if (n != csv.size()) std::exit(1);
    });
    measure(t_ours_zlib_bytes, [&] {
      if (decode_bytes(*zip_zlib, la_zip) != csv.size()) std::exit(1);
    });
    measure(t_ours_auto_bytes, [&] {
      if (decode_bytes(*zip_auto, la_zip) != csv.size()) std::exit(1);
    });
  }
  std::remove(path);

  const double total = static_cast<double>(csv.size()) / 1e6;
  const std::vector<row> table = {
      {"CSV parse, SIMD path", "memchr line count", t_simd, t_lines, 1000, true},
      {"CSV parse, scalar path", "memchr line count", t_scalar, t_lines, 500, true},
      {"gzip -> rows, ISA-L", "`gzip -dc file > /dev/null`", t_isal, t_gzip_dc, 2.0, false},
      {"gzip -> rows, zlib", "zlib inflate alone", t_zlib, t_inflate, 0.85, false},
      {std::string("zip -> rows (") + to_string(inflate_backend::automatic) + ")",
       std::string("gzip -> rows (") + to_string(inflate_backend::automatic) + ")", t_zip, t_gz_auto, 0.9, false},
      {"libarchive's zip -> rows, ours (zlib)", "libarchive streaming reader -> rows", t_ours_zlib_rows, t_la_rows, 1.0, false},
      {std::string("libarchive's zip -> rows, ours (") + to_string(inflate_backend::automatic) + ")",
       "libarchive streaming reader -> rows", t_ours_auto_rows, t_la_rows, 1.0, false},
      {"libarchive's zip -> bytes, ours (zlib)", "libarchive streaming reader -> bytes", t_ours_zlib_bytes, t_la_bytes, 1.0,
       false},
      {std::string("libarchive's zip -> bytes, ours (") + to_string(inflate_backend::automatic) + ")",
       "libarchive streaming reader -> bytes", t_ours_auto_bytes, t_la_bytes, 1.0, false},
  };
  std::printf("\n| what | MB/s | baseline (same run) | baseline MB/s | ratio | target | met | wall MB/s (ours / baseline) |\n"
              "|---|---|---|---|---|---|---|---|\n");
  bool all = true;
  for (const row& r : table) {
    const double ours = total / r.ours.cpu, base = total / r.base.cpu;
    const double ratio = ours / base;
    const bool met = r.absolute ? ours >= r.target : ratio >= r.target;
    all = all && met;
    char target[64];
    if (r.absolute) std::snprintf(target, sizeof target, ">= %.0f MB/s", r.target);
    else std::snprintf(target, sizeof target, ">= %.2fx", r.target);
    std::printf("| %s | %.0f | %s | %.0f | %.2fx | %s | %s | %.0f / %.0f |\n", r.what.c_str(), ours, r.baseline.c_str(),
                base, ratio, target, met ? "yes" : "NO", total / r.ours.wall, total / r.base.wall);
  }
  std::printf("\nMB/s per CPU second; rows/s through gzip -> rows (ISA-L): %.0f\n", static_cast<double>(rows) / t_isal.cpu);
  std::printf("all targets met: %s\n", all ? "yes" : "no");
  return 0;
}

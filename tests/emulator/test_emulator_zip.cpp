// The emulator's zip results (libarchive's writer) read back by three
// independent readers: the client's push decoder (decode/zip_decoder.cpp) at
// many chunk splits, libarchive's seekable reader (which goes by the central
// directory) and `unzip -t`. Both layouts (sizes in the local header;
// --zip-stream data descriptors), deflated and stored, and with the Zip64 end
// records an archive over 4 GiB carries, forced on a small one.
#include "emulator/result_writer.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <doctest/doctest.h>

#include "decode/content_decoder.hpp"
#include "emulator/tenant_state.hpp"
#include "emulator/test_emulator_data_support.hpp"
#include "fuzz/fuzz_support.hpp"
#include "support/temp_dir.hpp"

using namespace aquaduct::emulator;
using namespace emu_data_test;
using aquaduct::test::temp_dir;

namespace {

std::uint64_t le(const std::string& s, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(s.at(at + i));
  return v;
}

// The one entry's name and bytes as libarchive reads them from the file
// (seekable: the central directory decides); throws on a refusal.
std::pair<std::string, std::string> libarchive_read(const std::string& path) {
  archive* a = archive_read_new();
  archive_read_support_format_zip(a);
  std::pair<std::string, std::string> got;
  archive_entry* e = nullptr;
  std::string error;
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) != ARCHIVE_OK || archive_read_next_header(a, &e) != ARCHIVE_OK) {
    error = archive_error_string(a);
  } else {
    got.first = archive_entry_pathname(e);
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) got.second.append(buf, static_cast<std::size_t>(n));
    if (n < 0) error = archive_error_string(a);
    else if (archive_read_next_header(a, &e) != ARCHIVE_EOF) error = "more than one entry";
  }
  archive_read_free(a);
  if (!error.empty()) throw std::runtime_error("libarchive: " + error);
  return got;
}

}  // namespace

TEST_CASE("zip results: both layouts, Zip64 size fields, read alike by our decoder, libarchive and unzip") {
  const tenant_snapshot t = make_tenant(6, 40);
  temp_dir dir;
  export_spec spec = spec_for("select * from Invoice");
  spec.segment_rows = 150;
  const auto csv = write_result_files(t, spec, dir.path(), "c");
  REQUIRE(csv.size() == 3);
  spec.format = result_format::zip;
  int n = 0;
  for (const bool stream : {false, true})
    for (const int level : {1, 0})
      for (const bool end_records : {false, true}) {
        CAPTURE(stream);
        CAPTURE(level);
        CAPTURE(end_records);
        spec.zip_stream = stream;
        spec.gzip_level = level;
        spec.zip64_end_records = end_records;
        const auto zip = write_result_files(t, spec, dir.path(), "z" + std::to_string(++n));
        REQUIRE(zip.size() == 3);
        for (std::size_t i = 0; i < zip.size(); ++i) {
          const std::string plain = slurp(csv[i].path.string());
          const std::string bytes = slurp(zip[i].path.string());
          CHECK(zip[i].bytes == bytes.size());
          // The local header: flag bit 3 only when streaming, method, Zip64 sizes
          // (0xFFFFFFFF, then the extra field), filled in unless streaming.
          CHECK(le(bytes, 0, 4) == 0x04034b50);
          CHECK(((le(bytes, 6, 2) & 8) != 0) == stream);
          CHECK(le(bytes, 8, 2) == (level == 0 ? 0u : 8u));
          CHECK(le(bytes, 18, 4) == 0xFFFFFFFF);
          CHECK(le(bytes, 22, 4) == 0xFFFFFFFF);
          const std::size_t name_len = le(bytes, 26, 2);
          std::size_t at = 30 + name_len;
          const std::size_t end = at + le(bytes, 28, 2);
          while (at + 4 <= end && le(bytes, at, 2) != 1) at += 4 + le(bytes, at + 2, 2);
          REQUIRE(at + 20 <= end);
          CHECK(le(bytes, at + 4, 8) == (stream ? 0 : plain.size()));
          const bool has_end_records = bytes.find(std::string("PK\x06\x06", 4)) != std::string::npos;
          const bool has_descriptor = bytes.find(std::string("PK\x07\x08", 4)) != std::string::npos;
          CHECK(has_end_records == end_records);
          CHECK(has_descriptor == stream);

          for (const auto backend : {aquaduct::decode::inflate_backend::zlib, aquaduct::decode::inflate_backend::isal}) {
            const auto d = aquaduct::decode::make_zip_decoder(backend);
            for (const std::size_t step : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, bytes.size()}) {
              CAPTURE(step);
              const auto r = aquaduct::fuzz::run_decoder(*d, bytes, step, step == 1 ? 3 : 1 << 16);
              CHECK_FALSE(r.ec);
              CHECK(r.out == plain);
            }
          }
          const auto [name, content] = libarchive_read(zip[i].path.string());
          CHECK(name == "Q.csv");
          CHECK(content == plain);
          CHECK(run("unzip -tq '" + zip[i].path.string() + "' >/dev/null 2>&1") == 0);
        }
      }
}

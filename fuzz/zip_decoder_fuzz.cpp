// Fuzz target: the streaming zip decoder against libarchive's streaming zip
// reader (archive_read_support_format_zip_streamable over memory: it reads
// local headers in order, as our decoder does, and never looks at the
// central directory, which our decoder skips too).
//
// The agreement rule, for any input:
//  1. Whatever our decoder accepts, libarchive accepts, with the same bytes
//     (our output = the data of every entry libarchive returns, in order).
//  2. Where libarchive accepts and ours refuses as zip_unsupported,
//     libarchive returned more than one regular-file entry (a result archive
//     holds one file), or an entry is encrypted or has a method other than
//     stored (0) or deflate (8), read from the raw header (libarchive keeps
//     only the method's low byte: 0x0100 reads as stored).
//  3. Where libarchive accepts and ours refuses as zip_corrupt or
//     zip_truncated, ours is stricter by design, and the target does not
//     re-derive why per input (that would take a third zip reader). The known
//     cases: libarchive's streaming reader skips any bytes up to the next "PK"
//     signature (before the first header and between records), and it checks
//     an entry's CRC only over bytes it reads, never the header's or the
//     descriptor's sizes (a header saying 0 compressed bytes gives an empty
//     entry whatever follows); ours requires each record right after the last
//     and every CRC and size to match. What keeps this narrow: when libarchive
//     reads one stored or deflated file, its name and bytes packed as a tidy
//     archive (every layout below) must decode with ours to the same bytes.
//  Refusals of any other kind while libarchive accepts are a finding.
//  4. Also: the same verdict and output at any chunking and output size, and
//     between the ISA-L and zlib backends; and the input packed as an archive
//     (stored or deflated, with or without a descriptor, Zip64 or not) comes
//     back exactly from ours and from libarchive.
// Input: byte 0 picks the chunking, output size and archive layout; the rest
// is the archive (and the payload).
#include "fuzz/fuzz_support.hpp"

#include "decode/decode_error.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#ifndef AQUADUCT_FUZZ_ENTRY
#define AQUADUCT_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

using aquaduct::decode::errc;
using aquaduct::decode::inflate_backend;
using aquaduct::decode::make_zip_decoder;
using aquaduct::fuzz::run_decoder;

namespace {

struct oracle_read {
  bool ok = false;
  std::string out;        // every entry's data, in order
  unsigned files = 0;     // regular-file entries
  std::string name;       // the last one's
  bool exotic = false;    // an encrypted entry, or a method other than stored or deflate
  std::string error;
};

std::uint64_t le(std::string_view s, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

oracle_read libarchive_read(std::string_view in) {
  oracle_read r;
  archive* a = archive_read_new();
  archive_read_support_format_zip_streamable(a);
  if (archive_read_open_memory(a, in.data(), in.size()) != ARCHIVE_OK) {
    r.error = archive_error_string(a) != nullptr ? archive_error_string(a) : "open";
    archive_read_free(a);
    return r;
  }
  for (;;) {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) {
      r.ok = true;
      break;
    }
    if (rc < ARCHIVE_WARN) break;
    if (archive_entry_filetype(e) == AE_IFREG) {
      ++r.files;
      r.name = archive_entry_pathname(e) != nullptr ? archive_entry_pathname(e) : "";
    }
    // The raw header, found as libarchive finds it (the next "PK\3\4"):
    // libarchive keeps only the low byte of the method (0x0100 reads as stored).
    const std::size_t at = in.find("PK\x03\x04", static_cast<std::size_t>(archive_read_header_position(a)));
    const std::uint64_t method = at + 30 <= in.size() ? le(in, at + 8, 2) : 0;
    const std::uint64_t flags = at + 30 <= in.size() ? le(in, at + 6, 2) : 0;
    if (archive_entry_is_encrypted(e) || (flags & 1) != 0 || (method != 0 && method != 8)) r.exotic = true;
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) r.out.append(buf, static_cast<std::size_t>(n));
    if (n < 0) break;
  }
  if (!r.ok && archive_error_string(a) != nullptr) r.error = archive_error_string(a);
  archive_read_free(a);
  return r;
}

[[noreturn]] void disagree(const char* what, const aquaduct::fuzz::decoded& ours, const oracle_read& lib) {
  std::fprintf(stderr, "zip oracle: %s (ours: %s, %zu bytes; libarchive: %s, %zu bytes, %u files%s; %s)\n", what,
               ours.ec ? ours.ec.message().c_str() : "ok", ours.out.size(), lib.ok ? "ok" : "refused", lib.out.size(),
               lib.files, lib.exotic ? ", exotic" : "", lib.error.c_str());
  std::abort();
}

}  // namespace

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 29;
  const std::size_t out_size = 1 + data[0] % 11;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  static auto isal = make_zip_decoder(inflate_backend::isal);
  static auto zlib = make_zip_decoder(inflate_backend::zlib);

  // Arbitrary bytes: the same verdict and output at any chunking, and between backends.
  aquaduct::fuzz::check_consistent(*isal, *zlib, in, step, out_size);

  // Arbitrary bytes against libarchive.
  const auto ours = run_decoder(*zlib, in, in.size() + 1, 4096);
  const oracle_read lib = libarchive_read(in);
  if (!ours.ec) {
    if (!lib.ok) disagree("ours accepts what libarchive refuses", ours, lib);
    if (ours.out != lib.out) disagree("different bytes", ours, lib);
  } else if (lib.ok) {
    if (ours.ec == errc::zip_unsupported) {
      if (lib.files <= 1 && !lib.exotic) disagree("unsupported, but one stored or deflated file", ours, lib);
    } else if (ours.ec != errc::zip_corrupt && ours.ec != errc::zip_truncated) {
      disagree("refused for an unexpected reason", ours, lib);
    } else if (lib.files == 1 && !lib.exotic && !lib.name.empty() && lib.name.back() != '/') {
      for (int layout = 0; layout < 8; ++layout) {
        const aquaduct::fuzz::zip_options o{.deflated = (layout & 1) != 0, .descriptor = (layout & 2) != 0, .zip64 = (layout & 4) != 0};
        if (!o.deflated && o.descriptor && lib.out.find("PK\x07\x08") != std::string::npos) continue;  // see below
        const auto tidy = run_decoder(*zlib, aquaduct::fuzz::zip_bytes(lib.name, lib.out, o), 4096, 4096);
        if (tidy.ec || tidy.out != lib.out) disagree("libarchive's reading, packed tidily, does not decode", tidy, lib);
      }
    }
  }

  aquaduct::fuzz::zip_options o;
  o.deflated = (data[0] & 0x20) != 0;
  o.descriptor = (data[0] & 0x40) != 0;
  o.zip64 = (data[0] & 0x80) != 0;
  // A stored entry of unknown size ends at the first descriptor whose CRC and
  // sizes match: a payload holding such a lookalike is ambiguous by design.
  if (!o.deflated && o.descriptor && in.find("PK\x07\x08") != std::string_view::npos) return 0;
  const std::string archive = aquaduct::fuzz::zip_bytes("q.csv", in, o);
  for (auto* d : {isal.get(), zlib.get()}) {
    const auto c = run_decoder(*d, archive, step, out_size);
    if (c.ec || c.out != in) std::abort();
  }
  const oracle_read packed = libarchive_read(archive);
  if (!packed.ok || packed.out != in || packed.files != 1) disagree("a packed payload", {}, packed);
  return 0;
}

#include "emulator/result_writer.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <zlib.h>

namespace aquaduct::emulator {

namespace {

constexpr std::size_t flush_bytes = 1 << 18;

// Names that are safe as a file or zip entry name.
std::string safe_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || c == '/' || c == '\\' || c == ':') ? '_' : c;
  }
  if (out.empty() || out == "." || out == "..") out = "result";
  return out;
}

std::uint64_t get_le(std::string_view s, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
void set_le(std::string& s, std::size_t at, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

struct archive_free {
  void operator()(archive* a) const noexcept { archive_write_free(a); }
};
struct entry_free {
  void operator()(archive_entry* e) const noexcept { archive_entry_free(e); }
};

// One result file being written: "<path>.part", renamed to `path` by
// finish(); removed if destroyed unfinished. Takes uncompressed CSV bytes.
//
// Zip goes through libarchive's zip writer (one deflated entry, stored at
// gzip_level 0). Its size is unknown when the header is written, so
// libarchive gives the entry Zip64 size fields (entries over 4 GiB work) and,
// having no CRC yet, flag bit 3 and a data descriptor: that is --zip-stream.
// libarchive never seeks back, so the default mode (sizes in the local
// header, no descriptor) is made from its output here: the descriptor is
// held back, its CRC and sizes go into the local header, and the trailer's
// flag bit and offsets are corrected (finish_zip_header_mode).
class output_file {
 public:
  output_file(std::filesystem::path path, const export_spec& spec, const std::string& entry_name)
      : path_(std::move(path)), part_(path_.string() + ".part"), format_(spec.format), zip_stream_(spec.zip_stream) {
    f_ = std::fopen(part_.c_str(), "wb");
    if (f_ == nullptr) fail("cannot create");
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
    if (format_ == result_format::gzip) {
      if (deflateInit2(&zs_, spec.gzip_level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) fail("deflateInit2 failed for");
      deflating_ = true;
      out_.resize(1 << 18);
    } else if (format_ == result_format::zip) {
      open_zip(spec, entry_name);
    }
  }
  ~output_file() {
    if (deflating_) deflateEnd(&zs_);
    abandoned_ = true;  // archive_write_free closes the archive: nothing more to write
    ar_.reset();
    if (f_ != nullptr) std::fclose(f_);
    if (!finished_) {
      std::error_code ec;
      std::filesystem::remove(part_, ec);
    }
  }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;

  void write(std::string_view data) {
    if (ar_) {
      while (!data.empty()) {
        const la_ssize_t n = archive_write_data(ar_.get(), data.data(), data.size());
        if (n <= 0) zip_fail("cannot write");
        data.remove_prefix(static_cast<std::size_t>(n));
      }
    } else if (deflating_) {
      deflate_some(data, Z_NO_FLUSH);
    } else {
      raw(data);
    }
  }

  // Completes the file and moves it to its final name; returns its size.
  std::uint64_t finish() {
    if (deflating_) {
      deflate_some({}, Z_FINISH);
      deflateEnd(&zs_);
      deflating_ = false;
    }
    if (ar_) finish_zip();
    if (std::fflush(f_) != 0) fail("cannot write");
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      fail("cannot write");
    }
    f_ = nullptr;
    std::error_code ec;
    std::filesystem::rename(part_, path_, ec);
    if (ec) fail("cannot rename");
    finished_ = true;
    return written_;
  }

 private:
  // What libarchive is writing, so its output can be taken apart in header mode.
  enum class zip_phase { header, data, finish_entry, close };

  [[noreturn]] void fail(std::string_view what) const {
    throw std::runtime_error(fmt::format("{} result file {} (at byte {})", what, part_.string(), written_));
  }
  [[noreturn]] void zip_fail(std::string_view what) const {
    const char* why = ar_ ? archive_error_string(ar_.get()) : nullptr;
    throw std::runtime_error(fmt::format("{} result file {} (at byte {}): libarchive: {}", what, part_.string(),
                                         written_, why != nullptr ? why : "no detail"));
  }

  void raw(std::string_view data) {
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f_) != data.size()) fail("cannot write");
    written_ += data.size();
  }

  void deflate_some(std::string_view data, int flush) {
    // zlib's API is not const-correct; deflate never writes through next_in.
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs_.avail_in = static_cast<uInt>(data.size());
    for (;;) {
      zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
      zs_.avail_out = static_cast<uInt>(out_.size());
      const int rc = deflate(&zs_, flush);
      if (rc == Z_STREAM_ERROR) fail("deflate failed for");
      raw(std::string_view(out_.data(), out_.size() - zs_.avail_out));
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (zs_.avail_in == 0 && zs_.avail_out != 0)) break;
    }
  }

  void open_zip(const export_spec& spec, const std::string& entry_name) {
    ar_.reset(archive_write_new());
    if (!ar_) fail("archive_write_new failed for");
    const std::string options = fmt::format("zip:hdrcharset=UTF-8,zip:compression-level={}{}", std::clamp(spec.gzip_level, 0, 9),
                                            spec.zip64_end_records ? ",zip:zip64" : "");
    // Block size 0: every record reaches on_zip_bytes as libarchive writes it, unpadded.
    if (archive_write_set_format_zip(ar_.get()) != ARCHIVE_OK || archive_write_set_bytes_per_block(ar_.get(), 0) != ARCHIVE_OK ||
        archive_write_set_options(ar_.get(), options.c_str()) != ARCHIVE_OK ||
        archive_write_open(ar_.get(), this, nullptr, &output_file::on_zip_bytes, nullptr) != ARCHIVE_OK)
      zip_fail("cannot start zip");
    const std::unique_ptr<archive_entry, entry_free> e(archive_entry_new());
    if (!e) fail("archive_entry_new failed for");
    archive_entry_set_pathname_utf8(e.get(), entry_name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_mtime(e.get(), static_cast<time_t>(spec.now_unix_s), 0);
    zip_phase_ = zip_phase::header;
    if (archive_write_header(ar_.get(), e.get()) != ARCHIVE_OK) zip_fail("cannot write the zip header of");
    zip_phase_ = zip_phase::data;
  }

  static la_ssize_t on_zip_bytes(archive* a, void* self, const void* buf, std::size_t n) {
    auto* me = static_cast<output_file*>(self);
    try {
      me->take_zip_bytes(std::string_view(static_cast<const char*>(buf), n));
    } catch (const std::exception& e) {
      archive_set_error(a, EIO, "%s", e.what());
      return -1;
    }
    return static_cast<la_ssize_t>(n);
  }

  void take_zip_bytes(std::string_view b) {
    if (abandoned_) return;
    switch (zip_phase_) {
      case zip_phase::header:
        local_header_.append(b);
        raw(b);
        break;
      case zip_phase::data:
        raw(b);
        break;
      case zip_phase::finish_entry:  // the last deflate output, then the descriptor: hold the latest
        raw(held_);
        held_.assign(b);
        break;
      case zip_phase::close:
        if (zip_stream_) raw(b);
        else trailer_.append(b);  // one entry: the central directory and end records are small
        break;
    }
  }

  void finish_zip() {
    zip_phase_ = zip_phase::finish_entry;
    if (archive_write_finish_entry(ar_.get()) != ARCHIVE_OK) zip_fail("cannot finish the zip entry of");
    // libarchive ends every entry with a signed descriptor, 8-byte sizes for Zip64.
    const std::string descriptor = std::move(held_);
    held_.clear();
    if (get_le(descriptor, 0, 4) != 0x08074b50 || (descriptor.size() != 16 && descriptor.size() != 24))
      fail("libarchive wrote no data descriptor to");
    const int w = descriptor.size() == 24 ? 8 : 4;
    const std::uint64_t crc = get_le(descriptor, 4, 4);
    const std::uint64_t csize = get_le(descriptor, 8, w), usize = get_le(descriptor, 8 + w, w);
    if (zip_stream_) raw(descriptor);
    const std::uint64_t cd_offset = written_;
    zip_phase_ = zip_phase::close;
    if (archive_write_close(ar_.get()) != ARCHIVE_OK) zip_fail("cannot finish zip");
    ar_.reset();
    if (!zip_stream_) finish_zip_header_mode(crc, csize, usize, cd_offset);
  }

  // Sizes in the local header: bit 3 cleared in the local and central
  // headers, the descriptor's values in the local header (its Zip64 extra
  // field when it has one), and the central directory's offset, which moved
  // back by the descriptor's length, corrected in the end records.
  void finish_zip_header_mode(std::uint64_t crc, std::uint64_t csize, std::uint64_t usize, std::uint64_t cd_offset) {
    std::string& h = local_header_;
    std::string& t = trailer_;
    if (h.size() < 30 || get_le(h, 0, 4) != 0x04034b50 || t.size() < 46 + 22 || get_le(t, 0, 4) != 0x02014b50 ||
        get_le(t, t.size() - 22, 4) != 0x06054b50)
      fail("libarchive wrote an unexpected zip layout to");
    set_le(h, 6, get_le(h, 6, 2) & ~0x8u, 2);
    set_le(h, 14, crc, 4);
    if (get_le(h, 18, 4) == 0xFFFFFFFF) {  // Zip64: both sizes in the extra field, uncompressed first
      std::size_t at = 30 + get_le(h, 26, 2);
      const std::size_t end = at + get_le(h, 28, 2);
      while (at + 4 <= end && get_le(h, at, 2) != 1) at += 4 + get_le(h, at + 2, 2);
      if (at + 20 > end || get_le(h, at + 2, 2) < 16) fail("libarchive wrote no Zip64 sizes to");
      set_le(h, at + 4, usize, 8);
      set_le(h, at + 12, csize, 8);
    } else {
      set_le(h, 18, csize, 4);
      set_le(h, 22, usize, 4);
    }
    set_le(t, 8, get_le(t, 8, 2) & ~0x8u, 2);
    const std::size_t eocd = t.size() - 22;
    set_le(t, eocd + 16, std::min<std::uint64_t>(cd_offset, 0xFFFFFFFF), 4);
    if (eocd >= 20 + 56 && get_le(t, eocd - 20, 4) == 0x07064b50) {  // the Zip64 locator and end record
      const std::size_t z64 = eocd - 20 - 56;
      if (get_le(t, z64, 4) != 0x06064b50) fail("libarchive wrote an unexpected Zip64 end record to");
      set_le(t, z64 + 48, cd_offset, 8);
      set_le(t, eocd - 20 + 8, cd_offset + z64, 8);
    }
    raw(t);
    if (std::fflush(f_) != 0 || std::fseek(f_, 0, SEEK_SET) != 0 || std::fwrite(h.data(), 1, h.size(), f_) != h.size())
      fail("cannot write");
  }

  std::filesystem::path path_;
  std::filesystem::path part_;
  result_format format_;
  bool zip_stream_;
  std::FILE* f_ = nullptr;
  z_stream zs_{};
  bool deflating_ = false;
  bool finished_ = false;
  std::vector<char> out_;
  std::uint64_t written_ = 0;
  std::unique_ptr<archive, archive_free> ar_;
  zip_phase zip_phase_ = zip_phase::header;
  bool abandoned_ = false;
  std::string local_header_;  // as libarchive wrote it, patched in header mode
  std::string held_;          // finish_entry: the latest record, the descriptor at the end
  std::string trailer_;       // header mode: the central directory and end records
};

const char* extension(result_format f) {
  switch (f) {
    case result_format::csv: return "csv";
    case result_format::gzip: return "csv.gz";
    case result_format::zip: return "zip";
  }
  return "csv";
}

// Appends one value as a CSV cell; null and "" both become null_replacement.
void append_cell(std::string& out, const field_value& v, const export_spec& spec, std::string& scratch) {
  if (v.is_null() || (v.k == field_value::kind::text && v.s.empty())) {
    append_csv_field(out, spec.null_replacement);
  } else if (v.k == field_value::kind::text) {
    append_csv_field(out, v.s);
  } else {
    scratch.clear();
    render_value(v, spec.tz, scratch, spec.zone);
    out += scratch;
  }
}

}  // namespace

void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::vector<std::string> result_header(const export_spec& spec) {
  const zoql_query& q = spec.query;
  std::vector<std::string> h;
  // The deleted column is first and uses the API name in both modes (§4.3).
  if (spec.deleted) h.push_back(fmt::format("{}.{}", q.object->name, spec.deleted->column));
  for (const select_column& c : q.columns) {
    if (!c.alias.empty()) {
      h.push_back(c.alias);
      continue;
    }
    const field_def& f = c.column.object->fields[c.column.field];
    const relation_def* rel = c.column.slot == 0 ? nullptr : q.joins[c.column.slot - 1];
    if (spec.use_query_labels)
      h.push_back(fmt::format("{}.{}", rel != nullptr ? rel->name : q.object->name, f.name));
    else
      h.push_back(fmt::format("{}: {}", rel != nullptr ? rel->label : q.object->label, f.label));
  }
  return h;
}

std::vector<written_file> write_result_files(const tenant_snapshot& snapshot, const export_spec& spec,
                                             const std::filesystem::path& dir, std::string_view stem) {
  const std::string eol = spec.crlf ? "\r\n" : "\n";
  std::string head = spec.bom ? "\xEF\xBB\xBF" : "";
  {
    bool sep = false;
    for (const std::string& h : result_header(spec)) {
      if (sep) head += ',';
      sep = true;
      append_csv_field(head, h);
    }
    head += eol;
  }
  const std::string deleted_true = spec.deleted && spec.deleted->numeric ? "1" : "true";
  const std::string deleted_false = spec.deleted && spec.deleted->numeric ? "0" : "false";
  const std::string base_name = safe_name(spec.name);
  const std::uint64_t per_file = spec.segment_rows == 0 ? UINT64_MAX : spec.segment_rows;

  std::vector<written_file> files;
  std::unique_ptr<output_file> cur;
  std::string buf, scratch;
  const auto open_next = [&] {
    written_file w;
    w.path = dir / fmt::format("{}-{}.{}", stem, files.size() + 1, extension(spec.format));
    cur = std::make_unique<output_file>(w.path, spec, base_name + ".csv");
    files.push_back(std::move(w));
    buf = head;
  };
  const auto close_cur = [&] {
    cur->write(buf);
    buf.clear();
    files.back().bytes = cur->finish();
    cur.reset();
  };
  std::uint64_t total = 0;
  try {
    for_each_result_row(snapshot, spec, dir, [&](const result_row& r) {
      if (spec.max_rows != 0 && ++total > spec.max_rows)
        throw export_too_long(fmt::format("query '{}' exports more than {} rows", spec.name, spec.max_rows));
      if (!cur || files.back().rows == per_file) {
        if (cur) close_cur();
        open_next();
      }
      bool sep = false;
      if (spec.deleted) {
        buf += r.deleted ? deleted_true : deleted_false;
        sep = true;
      }
      for (const select_column& c : spec.query.columns) {
        if (sep) buf += ',';
        sep = true;
        append_cell(buf, column_value(c.column, r.slots), spec, scratch);
      }
      buf += eol;
      ++files.back().rows;
      if (buf.size() >= flush_bytes) {
        cur->write(buf);
        buf.clear();
      }
    });
    if (!cur && files.empty()) open_next();  // an empty result: the header only
    if (cur) close_cur();
  } catch (...) {
    cur.reset();  // removes its .part
    for (const written_file& w : files) {
      std::error_code ec;
      std::filesystem::remove(w.path, ec);
    }
    throw;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string n = files.size() > 1 ? fmt::format("{}_{}", base_name, i + 1) : base_name;
    files[i].name = spec.format == result_format::zip ? n + ".zip" : n + "." + extension(spec.format);
  }
  return files;
}

std::string gzip_compress(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const auto produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  out.resize(produced);
  return out;
}

}  // namespace aquaduct::emulator

#include "emulator/result_writer.hpp"

#include <cstdio>
#include <stdexcept>

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

void put16(std::string& s, unsigned v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// One result file being written: "<path>.part", renamed to `path` by
// finish(); removed if destroyed unfinished. Takes uncompressed CSV bytes.
class output_file {
 public:
  output_file(std::filesystem::path path, const export_spec& spec, std::string entry_name)
      : path_(std::move(path)), part_(path_.string() + ".part"), format_(spec.format), zip_stream_(spec.zip_stream) {
    f_ = std::fopen(part_.c_str(), "wb");
    if (f_ == nullptr) fail("cannot create");
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
    if (format_ != result_format::csv) {
      const int bits = format_ == result_format::gzip ? 31 : -15;
      if (deflateInit2(&zs_, spec.gzip_level, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) fail("deflateInit2 failed for");
      deflating_ = true;
      out_.resize(1 << 18);
    }
    if (format_ == result_format::zip) {
      entry_ = std::move(entry_name);
      dos_time_date(spec.now_unix_s);
      raw(local_header(0, 0, 0));
    }
  }
  ~output_file() {
    if (deflating_) deflateEnd(&zs_);
    if (f_ != nullptr) std::fclose(f_);
    if (!finished_) {
      std::error_code ec;
      std::filesystem::remove(part_, ec);
    }
  }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;

  void write(std::string_view data) {
    usize_ += data.size();
    if (format_ == result_format::zip) crc_ = crc32_z(crc_, reinterpret_cast<const Bytef*>(data.data()), data.size());
    if (!deflating_) {
      raw(data);
      return;
    }
    deflate_some(data, Z_NO_FLUSH);
  }

  // Completes the file and moves it to its final name; returns its size.
  std::uint64_t finish() {
    if (deflating_) {
      deflate_some({}, Z_FINISH);
      deflateEnd(&zs_);
      deflating_ = false;
    }
    if (format_ == result_format::zip) finish_zip();
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
  [[noreturn]] void fail(std::string_view what) const {
    throw std::runtime_error(fmt::format("{} result file {} (at byte {})", what, part_.string(), written_));
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
      const std::size_t produced = out_.size() - zs_.avail_out;
      csize_ += produced;
      raw(std::string_view(out_.data(), produced));
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (zs_.avail_in == 0 && zs_.avail_out != 0)) break;
    }
  }

  void dos_time_date(std::int64_t unix_s) {
    const std::string t = format_datetime(unix_s, time_zone::utc);  // YYYY-MM-DDThh:mm:ss+0000
    const auto num = [&t](std::size_t at, std::size_t n) { return static_cast<unsigned>(std::stoi(t.substr(at, n))); };
    const unsigned year = num(0, 4);
    dos_date_ = ((year < 1980 ? 0 : year - 1980) << 9) | (num(5, 2) << 5) | num(8, 2);
    dos_time_ = (num(11, 2) << 11) | (num(14, 2) << 5) | (num(17, 2) / 2);
  }

  unsigned flags() const { return 0x0800u | (zip_stream_ ? 0x0008u : 0u); }  // UTF-8 name, data descriptor

  std::string local_header(std::uint64_t crc, std::uint64_t csize, std::uint64_t usize) const {
    std::string h;
    put32(h, 0x04034b50);
    put16(h, 20);
    put16(h, flags());
    put16(h, 8);
    put16(h, dos_time_);
    put16(h, dos_date_);
    put32(h, crc);
    put32(h, csize);
    put32(h, usize);
    put16(h, static_cast<unsigned>(entry_.size()));
    put16(h, 0);
    h += entry_;
    return h;
  }

  void finish_zip() {
    if (csize_ > 0xfffffffeULL || usize_ > 0xfffffffeULL)
      fail("zip64 is not supported (entry over 4 GiB; use smaller segments) for");
    if (zip_stream_) {
      std::string d;
      put32(d, 0x08074b50);
      put32(d, crc_);
      put32(d, csize_);
      put32(d, usize_);
      raw(d);
    }
    const std::uint64_t cd_offset = written_;
    std::string cd;
    put32(cd, 0x02014b50);
    put16(cd, 0x0314);  // made by: unix, 2.0
    put16(cd, 20);
    put16(cd, flags());
    put16(cd, 8);
    put16(cd, dos_time_);
    put16(cd, dos_date_);
    put32(cd, crc_);
    put32(cd, csize_);
    put32(cd, usize_);
    put16(cd, static_cast<unsigned>(entry_.size()));
    put16(cd, 0);  // extra
    put16(cd, 0);  // comment
    put16(cd, 0);  // disk
    put16(cd, 0);  // internal attributes
    put32(cd, 0100644u << 16);
    put32(cd, 0);  // local header offset
    cd += entry_;
    std::string eocd;
    put32(eocd, 0x06054b50);
    put16(eocd, 0);
    put16(eocd, 0);
    put16(eocd, 1);
    put16(eocd, 1);
    put32(eocd, cd.size());
    put32(eocd, cd_offset);
    put16(eocd, 0);
    raw(cd);
    raw(eocd);
    if (!zip_stream_) {  // patch the local header now that sizes are known
      const std::string h = local_header(crc_, csize_, usize_);
      if (std::fflush(f_) != 0 || std::fseek(f_, 0, SEEK_SET) != 0 || std::fwrite(h.data(), 1, h.size(), f_) != h.size())
        fail("cannot write");
    }
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
  std::uint64_t usize_ = 0, csize_ = 0;
  std::uint64_t crc_ = 0;
  std::string entry_;
  unsigned dos_time_ = 0, dos_date_ = 0;
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

#include "emulator/result_writer.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <zlib.h>

namespace aquaduct::emulator {

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

std::vector<std::string> result_header(const result_spec& spec) {
  std::vector<std::string> h;
  const object_def& obj = *spec.object;
  // The deleted column is first and uses the API name in both modes (§4.3).
  if (spec.deleted) h.push_back(fmt::format("{}.{}", obj.name, spec.deleted->column));
  for (std::size_t i : spec.fields) {
    const field_def& f = obj.fields[i];
    h.push_back(spec.use_query_labels ? fmt::format("{}.{}", obj.name, f.name)
                                      : fmt::format("{}: {}", obj.label, f.label));
  }
  return h;
}

std::string gzip_compress(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  // zlib's API is not const-correct; deflate never writes through next_in.
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

std::vector<result_file> write_result(const tenant& t, const result_spec& spec) {
  const object_def& obj = *spec.object;
  const std::uint64_t total = t.row_count(obj);
  const std::uint64_t first = std::min(spec.offset, total);
  std::uint64_t last = total;
  if (spec.limit && *spec.limit < last - first) last = first + *spec.limit;

  std::string header_line;
  {
    bool sep = false;
    for (const std::string& h : result_header(spec)) {
      if (sep) header_line += ',';
      sep = true;
      append_csv_field(header_line, h);
    }
    header_line += '\n';
  }
  const std::string deleted_text = spec.deleted ? (spec.deleted->numeric ? "0" : "false") : "";

  std::vector<result_file> files;
  const std::uint64_t per_file = spec.segment_rows == 0 ? UINT64_MAX : spec.segment_rows;
  std::vector<std::string> texts;
  std::uint64_t row = first;
  do {
    std::string csv = header_line;
    std::uint64_t n = 0;
    for (; row < last && n < per_file; ++row, ++n) {
      t.row_texts(obj, row, spec.fields, spec.tz, texts);
      bool sep = false;
      if (spec.deleted) {
        csv += deleted_text;
        sep = true;
      }
      for (const std::string& f : texts) {
        if (sep) csv += ',';
        sep = true;
        append_csv_field(csv, f.empty() ? std::string_view{spec.null_replacement} : std::string_view{f});
      }
      csv += '\n';
    }
    result_file rf;
    rf.rows = n;
    rf.bytes = std::make_shared<const std::string>(spec.gzip ? gzip_compress(csv) : std::move(csv));
    files.push_back(std::move(rf));
  } while (row < last);
  return files;
}

}  // namespace aquaduct::emulator

#include "sinks/csv_sink.hpp"

#include "sinks/file_sink.hpp"
#include "sinks/sink_common.hpp"

#include <array>
#include <filesystem>
#include <fstream>

namespace aquaduct::sinks {

namespace {

constexpr std::array<bool, 256> make_needs_quotes() {
  std::array<bool, 256> t{};
  for (unsigned char c : {',', '"', '\r', '\n'}) t[c] = true;
  return t;
}
constexpr std::array<bool, 256> needs_quotes = make_needs_quotes();

// Appends `field`, quoted only when it contains a separator, a quote or a
// line break. Bytes are otherwise passed through unchanged.
void append_field(std::string& out, std::string_view field) {
  // A table scan: find_first_of would call memchr once per byte.
  bool plain = true;
  for (char c : field) plain &= !needs_quotes[static_cast<unsigned char>(c)];
  if (plain) {
    out.append(field);
    return;
  }
  out += '"';
  for (std::size_t start = 0;;) {
    const auto q = field.find('"', start);
    if (q == std::string_view::npos) {
      out.append(field.substr(start));
      break;
    }
    out.append(field.substr(start, q + 1 - start));
    out += '"';
    start = q + 1;
  }
  out += '"';
}

class csv_encoder final : public row_encoder {
 public:
  explicit csv_encoder(const stream_schema& schema) : columns_(schema.columns) {}
  void begin(std::string& out) override {
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i) out += ',';
      append_field(out, columns_[i]);
    }
    out += '\n';
  }
  // The file's first record (quotes may hold line breaks), with its '\n'.
  std::string kept_header(const std::filesystem::path& file) override {
    std::ifstream in(file, std::ios::binary);
    std::string out;
    bool quoted = false;
    char chunk[64 * 1024];
    while (in && out.size() < max_header) {
      in.read(chunk, sizeof chunk);
      const auto n = static_cast<std::size_t>(in.gcount());
      for (std::size_t i = 0; i < n; ++i) {
        if (chunk[i] == '"') quoted = !quoted;
        else if (chunk[i] == '\n' && !quoted) return out.append(chunk, i + 1);
      }
      out.append(chunk, n);
    }
    return {};  // no file, or no complete first line: nothing to keep
  }

  void rows(atomic_file& file, const row_batch& rows) override {
    std::string& out = file.buffer();
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const std::size_t n = rows.field_count(r);
      for (std::size_t c = 0; c < n; ++c) {
        if (c) out += ',';
        append_field(out, rows.field(r, c));
      }
      out += '\n';
      file.maybe_flush();
    }
  }

 private:
  static constexpr std::size_t max_header = 16u << 20;
  std::vector<std::string> columns_;
};

}  // namespace

std::unique_ptr<sink> make_csv_sink(csv_sink_options opts) {
  return make_file_sink({"csv", std::move(opts.path),
                         [](const stream_schema& s) { return std::make_unique<csv_encoder>(s); }, opts.columns});
}

}  // namespace aquaduct::sinks

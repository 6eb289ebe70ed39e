#include "sinks/file_sink.hpp"

#include "sinks/sink_names.hpp"

#include <aquaduct/error.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

namespace aquaduct::sinks {

namespace fs = std::filesystem;

namespace {

class file_stream final : public sink_stream {
 public:
  file_stream(const stream_schema& schema, const file_sink_spec& spec, const fs::path& dir)
      : schema_(schema), spec_(spec), dir_(dir), encoder_(spec.make_encoder(schema)) {
    if (schema.columns.empty()) {
      if (schema.load == load_kind::incremental) return;  // no changes: no file
      const fs::path final_path = dir / stream_file_name(schema, spec.type);
      std::string header = encoder_->kept_header(final_path);
      out_.emplace(final_path);
      out_->buffer() = std::move(header);
      return;
    }
    out_.emplace(dir / stream_file_name(schema, spec.type));
    encoder_->begin(out_->buffer());
  }
  ~file_stream() override { abort(); }

  void write(const row_batch& rows) override {
    if (rows.empty()) return;
    if (schema_.columns.empty())
      throw std::system_error(sink_errc::io_error, spec_.type + ": " + where(schema_) + ": rows for a stream that has no columns");
    encoder_->rows(*out_, rows);
  }

  void commit(const file_token&) override {
    if (!out_) return;
    // A replay rewrites the same final name with the same rows: nothing is added.
    out_->commit();
    if (schema_.load == load_kind::full) remove_incremental_files(dir_, schema_, spec_.type);
  }

  void abort() noexcept override {
    if (out_) out_->abort();
  }

 private:
  stream_schema schema_;
  const file_sink_spec& spec_;
  fs::path dir_;
  std::unique_ptr<row_encoder> encoder_;
  std::optional<atomic_file> out_;  // none: an incremental stream with no columns
};

class file_sink final : public sink {
 public:
  explicit file_sink(file_sink_spec spec) : spec_(std::move(spec)) {}
  std::string_view type() const noexcept override { return spec_.type; }

  std::unique_ptr<sink_stream> open(const stream_schema& schema) override {
    return std::make_unique<file_stream>(with_column_names(schema, spec_.columns, spec_.type), spec_, job_dir(schema));
  }

  void close() override {}

  std::string health_check() override {
    try {
      // Creating (and dropping) a temporary proves the root is writable.
      atomic_file probe(fs::path(spec_.root) / ".aquaduct-health-check");
      probe.abort();
      return {};
    } catch (const std::exception& e) {
      return "cannot write under " + spec_.root + ": " + e.what();
    }
  }

  std::string destination() const override { return absolute_path(spec_.root); }

  // The full load's file, which an incremental one goes beside.
  bool holds(const stream_schema& schema) override {
    stream_schema full = schema;
    full.load = load_kind::full;
    std::error_code ec;
    return fs::is_regular_file(job_dir(schema) / stream_file_name(full, spec_.type), ec);
  }

 private:
  fs::path job_dir(const stream_schema& schema) const { return fs::path(spec_.root) / safe_file_name(schema.job); }

  file_sink_spec spec_;
};

}  // namespace

file_sink_options file_sink_options::from(const sink_config& cfg, std::vector<std::string>& problems) {
  file_sink_options o;
  option_reader r(cfg, problems);
  r.text("path", o.path, option_reader::need::required);
  read_column_names(r, o.columns);
  r.finish();
  return o;
}

std::unique_ptr<sink> make_file_sink(file_sink_spec spec) { return std::make_unique<file_sink>(std::move(spec)); }

}  // namespace aquaduct::sinks

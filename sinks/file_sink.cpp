#include "sinks/file_sink.hpp"

#include "sinks/sink_names.hpp"

#include <aquaduct/error.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

namespace aquaduct::sinks {

namespace fs = std::filesystem;

namespace {

class file_stream final : public sink_stream {
 public:
  file_stream(const stream_schema& schema, const file_sink_spec& spec, const fs::path& dir)
      : schema_(schema), spec_(spec), dir_(dir), out_(dir / stream_file_name(schema, spec.type)),
        encoder_(spec.make_encoder(schema)) {
    encoder_->begin(out_.buffer());
  }
  ~file_stream() override { abort(); }

  void write(const row_batch& rows) override { encoder_->rows(out_, rows); }

  void commit(const file_token&) override {
    // A replay rewrites the same final name with the same rows: nothing is added.
    out_.commit();
    if (schema_.load == load_kind::full) remove_incremental_files(dir_, schema_, spec_.type);
  }

  void abort() noexcept override { out_.abort(); }

 private:
  stream_schema schema_;
  const file_sink_spec& spec_;
  fs::path dir_;
  atomic_file out_;
  std::unique_ptr<row_encoder> encoder_;
};

class file_sink final : public sink {
 public:
  explicit file_sink(file_sink_spec spec) : spec_(std::move(spec)) {}
  std::string_view type() const noexcept override { return spec_.type; }

  std::unique_ptr<sink_stream> open(const stream_schema& schema) override {
    return std::make_unique<file_stream>(schema, spec_, fs::path(spec_.root) / safe_file_name(schema.job));
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

 private:
  file_sink_spec spec_;
};

}  // namespace

file_sink_options file_sink_options::from(const sink_config& cfg, std::vector<std::string>& problems) {
  file_sink_options o;
  option_reader r(cfg, problems);
  r.text("path", o.path, option_reader::need::required);
  r.finish();
  return o;
}

std::unique_ptr<sink> make_file_sink(file_sink_spec spec) { return std::make_unique<file_sink>(std::move(spec)); }

}  // namespace aquaduct::sinks

#include "sinks/ndjson_sink.hpp"

#include "sinks/file_sink.hpp"
#include "sinks/sink_common.hpp"

namespace aquaduct::sinks {

namespace {

class ndjson_encoder final : public row_encoder {
 public:
  explicit ndjson_encoder(const stream_schema& schema) : json_(schema, json_row_encoder::values::typed, "ndjson") {}
  void begin(std::string&) override {}
  void rows(atomic_file& file, const row_batch& rows) override {
    std::string& out = file.buffer();
    for (std::size_t r = 0; r < rows.size(); ++r) {
      json_.append(out, rows, r, ++rows_);
      out += '\n';
      file.maybe_flush();
    }
  }

 private:
  json_row_encoder json_;
  std::uint64_t rows_ = 0;
};

}  // namespace

std::unique_ptr<sink> make_ndjson_sink(ndjson_sink_options opts) {
  return make_file_sink({"ndjson", std::move(opts.path),
                         [](const stream_schema& s) { return std::make_unique<ndjson_encoder>(s); }, opts.columns});
}

}  // namespace aquaduct::sinks

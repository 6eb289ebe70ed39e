#include "sinks/ndjson_sink.hpp"

#include "sinks/file_sink.hpp"
#include "sinks/sink_common.hpp"

namespace aquaduct::sinks {

namespace {

class ndjson_encoder final : public row_encoder {
 public:
  explicit ndjson_encoder(const stream_schema& schema) : null_value_(schema.null_value) {
    // Each key, escaped once: "{\"Id\":" then ",\"Name\":" ...
    for (std::size_t i = 0; i < schema.columns.size(); ++i) {
      std::string k = i ? ",\"" : "{\"";
      append_json_escaped(k, schema.columns[i]);
      k += "\":";
      keys_.push_back(std::move(k));
    }
  }
  void begin(std::string&) override {}
  void rows(atomic_file& file, const row_batch& rows) override {
    std::string& out = file.buffer();
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const std::size_t n = std::min(rows.field_count(r), keys_.size());
      if (n == 0) out += '{';
      for (std::size_t c = 0; c < n; ++c) {
        out += keys_[c];
        const std::string_view v = rows.field(r, c);
        if (null_value_ && v == *null_value_) {
          out += "null";
          continue;
        }
        out += '"';
        append_json_escaped(out, v);
        out += '"';
      }
      out += "}\n";
      file.maybe_flush();
    }
  }

 private:
  std::vector<std::string> keys_;
  std::optional<std::string> null_value_;
};

}  // namespace

ndjson_sink_options ndjson_sink_options::from(const sink_config& cfg, std::vector<std::string>& problems) {
  ndjson_sink_options o;
  option_reader r(cfg, problems);
  r.text("path", o.path, option_reader::need::required);
  r.finish();
  return o;
}

std::unique_ptr<sink> make_ndjson_sink(ndjson_sink_options opts) {
  return make_file_sink({"ndjson", "ndjson", std::move(opts.path),
                         [](const stream_schema& s) { return std::make_unique<ndjson_encoder>(s); }});
}

}  // namespace aquaduct::sinks

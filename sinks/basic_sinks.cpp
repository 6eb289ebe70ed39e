// The two sinks with no storage of their own: callback (for embedders) and
// null (for benchmarks: counts rows and bytes).
#include "sinks/basic_sinks.hpp"

#include <mutex>

namespace aquaduct {

namespace {

// The engine writes streams on its sink threads; an embedder's callbacks are
// called one at a time all the same (one mutex per sink), so they need no
// locking of their own.
class callback_stream final : public sink_stream {
 public:
  callback_stream(const callback_handlers& h, std::mutex& m, const stream_schema& schema)
      : h_(h), m_(m), schema_(schema) {}
  void write(const row_batch& rows) override {
    std::lock_guard lock(m_);
    h_.on_rows(rows);
  }
  void commit(const file_token& token) override {
    std::lock_guard lock(m_);
    if (h_.on_commit) h_.on_commit(schema_, token);
  }
  void abort() noexcept override {
    if (!h_.on_abort) return;
    try {
      std::lock_guard lock(m_);
      h_.on_abort(schema_);
    } catch (...) {  // abort() must not throw; the embedder's failure changes nothing here
    }
  }

 private:
  const callback_handlers& h_;
  std::mutex& m_;
  stream_schema schema_;
};

class callback_sink final : public sink {
 public:
  explicit callback_sink(callback_handlers h) : h_(std::move(h)) {}
  std::string_view type() const noexcept override { return "callback"; }
  std::unique_ptr<sink_stream> open(const stream_schema& schema) override {
    return std::make_unique<callback_stream>(h_, m_, schema);
  }
  void close() override {}

 private:
  callback_handlers h_;
  std::mutex m_;
};

}  // namespace

std::unique_ptr<sink> make_callback_sink(std::function<void(const row_batch&)> on_rows) {
  return make_callback_sink(callback_handlers{std::move(on_rows), {}, {}});
}

std::unique_ptr<sink> make_callback_sink(callback_handlers handlers) {
  return std::make_unique<callback_sink>(std::move(handlers));
}

namespace sinks {

namespace {

class null_stream final : public sink_stream {
 public:
  explicit null_stream(null_sink_counters& c) : counters_(c) {}
  void write(const row_batch& rows) override {
    rows_ += rows.size();
    bytes_ += rows.data_bytes();
  }
  void commit(const file_token&) override {
    counters_.rows += rows_;
    counters_.bytes += bytes_;
  }
  void abort() noexcept override {}

 private:
  null_sink_counters& counters_;
  std::uint64_t rows_ = 0;
  std::uint64_t bytes_ = 0;
};

class null_sink final : public sink {
 public:
  explicit null_sink(null_sink_counters* c) : counters_(c ? c : &own_) {}
  std::string_view type() const noexcept override { return "null"; }
  std::unique_ptr<sink_stream> open(const stream_schema&) override {
    return std::make_unique<null_stream>(*counters_);
  }
  void close() override {}

 private:
  null_sink_counters own_;
  null_sink_counters* counters_;
};

}  // namespace

std::unique_ptr<sink> make_null_sink(null_sink_counters* counters) { return std::make_unique<null_sink>(counters); }

}  // namespace sinks
}  // namespace aquaduct

// The two sinks with no storage of their own: callback (for embedders) and
// null (for benchmarks: counts rows and bytes).
#include "sinks/basic_sinks.hpp"

namespace aquaduct {

namespace {

class callback_stream final : public sink_stream {
 public:
  explicit callback_stream(const std::function<void(const row_batch&)>& fn) : fn_(fn) {}
  void write(const row_batch& rows) override { fn_(rows); }
  void commit(const file_token&) override {}
  void abort() noexcept override {}

 private:
  const std::function<void(const row_batch&)>& fn_;
};

class callback_sink final : public sink {
 public:
  explicit callback_sink(std::function<void(const row_batch&)> fn) : fn_(std::move(fn)) {}
  std::string_view type() const noexcept override { return "callback"; }
  std::unique_ptr<sink_stream> open(const stream_schema&) override { return std::make_unique<callback_stream>(fn_); }
  void close() override {}

 private:
  std::function<void(const row_batch&)> fn_;
};

}  // namespace

std::unique_ptr<sink> make_callback_sink(std::function<void(const row_batch&)> on_rows) {
  return std::make_unique<callback_sink>(std::move(on_rows));
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
  std::string_view type() const noexcept override { return "null"; }
  std::unique_ptr<sink_stream> open(const stream_schema&) override { return std::make_unique<null_stream>(counters_); }
  void close() override {}

 private:
  null_sink_counters counters_;
};

}  // namespace

std::unique_ptr<sink> make_null_sink() { return std::make_unique<null_sink>(); }

}  // namespace sinks
}  // namespace aquaduct

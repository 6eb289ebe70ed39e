#pragma once
// The sink contract (docs/sinks.md).
//
// A sink receives the rows of every (job, query) stream of a run. For each
// stream the engine calls open(schema), which returns a sink_stream; the
// stream gets write(batch) any number of times, then exactly one of commit()
// or abort(). Only after commit() returns may the engine record the stream as
// delivered. abort() discards everything written since open(): nothing of an
// aborted stream may ever be visible under a final name or in a committed
// transaction. close() ends the sink after all its streams are finished.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct {

struct stream_schema {
  std::string job;                   // job name from the config
  std::string job_id;                // the service's job id
  std::string query;                 // query (batch) name
  std::vector<std::string> columns;  // header of the result file, exactly as written
};

// A batch of rows: views into the decoder's buffers.
//   field i   = data[field_offsets[i], field_offsets[i+1])
//   row r     = fields [row_offsets[r], row_offsets[r+1])
// THE VIEWS ARE VALID ONLY DURING the call that receives the batch
// (sink_stream::write or a callback). Copy what must outlive it.
class row_batch {
 public:
  row_batch(const stream_schema& schema, std::string_view data, std::span<const std::size_t> field_offsets,
            std::span<const std::size_t> row_offsets) noexcept
      : schema_(&schema), data_(data), field_offsets_(field_offsets), row_offsets_(row_offsets) {}

  const stream_schema& schema() const noexcept { return *schema_; }
  std::size_t size() const noexcept { return row_offsets_.empty() ? 0 : row_offsets_.size() - 1; }
  bool empty() const noexcept { return size() == 0; }
  std::size_t field_count(std::size_t row) const noexcept { return row_offsets_[row + 1] - row_offsets_[row]; }
  std::string_view field(std::size_t row, std::size_t col) const noexcept {
    const std::size_t i = row_offsets_[row] + col;
    return data_.substr(field_offsets_[i], field_offsets_[i + 1] - field_offsets_[i]);
  }
  // Bytes of field text in the batch (unescaped).
  std::size_t data_bytes() const noexcept { return data_.size(); }

 private:
  const stream_schema* schema_;
  std::string_view data_;
  std::span<const std::size_t> field_offsets_;
  std::span<const std::size_t> row_offsets_;
};

// What a commit covers: the service's files that made up the stream.
struct file_token {
  std::string job_id;
  std::string query;
  std::vector<std::string> file_ids;
  std::uint64_t rows = 0;
};

class sink_stream {
 public:
  virtual ~sink_stream() = default;
  virtual void write(const row_batch& rows) = 0;
  virtual void commit(const file_token& token) = 0;  // durable when it returns
  virtual void abort() noexcept = 0;
};

class sink {
 public:
  virtual ~sink() = default;
  virtual std::string_view type() const noexcept = 0;
  virtual std::unique_ptr<sink_stream> open(const stream_schema& schema) = 0;
  virtual void close() = 0;
};

// For embedders: calls `on_rows` for every batch of every stream. The
// callback runs on the engine's thread; see row_batch for view lifetimes.
std::unique_ptr<sink> make_callback_sink(std::function<void(const row_batch&)> on_rows);

}  // namespace aquaduct

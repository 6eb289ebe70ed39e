#pragma once
// The rows of a stream that may not be written anywhere before its commit
// (the singer sink's), held compactly: each write()'s rows as one block of
// field counts, field lengths (LEB128) and the field text, no JSON. Blocks
// stay in memory up to `memory_limit` bytes, then go to an unlinked
// temporary file (written behind and read back through as little page cache
// as it can: see write_behind.hpp); replay() hands them back as row_batches,
// in order.
//
// Holding the text rather than the encoded messages keeps what goes through
// the temporary file to a third of the messages' size for wide rows (their
// keys are repeated in every RECORD), and lets the messages be encoded once,
// straight into the output, at commit.
#include <aquaduct/sink.hpp>

#include "sinks/write_behind.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aquaduct::sinks {

class held_rows {
 public:
  explicit held_rows(std::size_t memory_limit = 8u << 20) : memory_limit_(memory_limit) {}
  ~held_rows() { clear(); }
  held_rows(const held_rows&) = delete;
  held_rows& operator=(const held_rows&) = delete;

  // Holds every row of `rows`. Throws std::system_error (sink_errc::io_error)
  // when the temporary file cannot be created or written.
  void append(const row_batch& rows);

  // Calls `f` with the held rows, in order, in batches over `schema` (the
  // stream's). Throws what `f` throws, or sink_errc::io_error when the
  // temporary file cannot be read back. The rows stay held.
  void replay(const stream_schema& schema, const std::function<void(const row_batch&)>& f);

  std::uint64_t rows() const noexcept { return rows_; }
  // Bytes that went to the temporary file so far.
  std::uint64_t spilled_bytes() const noexcept { return file_bytes_; }

  // Drops every held row and the temporary file.
  void clear() noexcept;

 private:
  void spill();

  std::size_t memory_limit_;
  std::string memory_;  // blocks not yet in the file
  int fd_ = -1;         // the unlinked temporary file, once memory_ outgrew the limit
  std::optional<write_behind> file_;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t rows_ = 0;
};

}  // namespace aquaduct::sinks

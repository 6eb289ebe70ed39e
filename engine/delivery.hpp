#pragma once
// Delivery: a completed batch's result files on their way into the sinks, and
// the one path by which rows become durable.
//   spool_file    a result file parked on disk (unlinked at once), counted in
//                 the run's spool budget
//   stream_files  a batch's files into a pipeline in order, the next few
//                 downloading ahead into spool files while there is room
//   spool_batch   every file of a batch into spool files before any of it
//                 reaches a sink; a file that cannot resume is fetched again
//                 from byte 0 (the sinks have seen none of it)
//   feed_spools   spooled files into a pipeline
//   commit_path   open -> write -> commit -> cursor, in that order
#include "engine/result_pipeline.hpp"
#include "engine/run_context.hpp"

#include <asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aquaduct::engine_detail {

enum class batch_outcome { delivered, failed, file_gone, file_too_large };

// The outcome a delivery error asks for: a purged file (404) or one over the
// service's maximum object size (403) can be fixed by running the job again
// or by a smaller window; anything else fails.
batch_outcome outcome_of(const std::error_code& ec) noexcept;

// "job J, query Q[, file F]" prefixes; an error that already says where it
// happened keeps its text.
located_error locate(const std::string& where, const std::system_error& e);

class spool_file {
 public:
  // Creates an unlinked temporary file; `budget` (may be null) counts its bytes.
  explicit spool_file(spool_budget* budget);
  ~spool_file();
  spool_file(const spool_file&) = delete;
  spool_file& operator=(const spool_file&) = delete;

  void append(std::string_view bytes);
  // Feeds [offset, offset + max) to `put`; returns the bytes fed, 0 at the end.
  std::size_t feed(std::uint64_t offset, std::size_t max, std::vector<char>& buf,
                   const std::function<void(std::string_view)>& put);
  std::uint64_t size() const noexcept { return size_; }

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
  spool_budget* budget_;
};

using spools = std::vector<std::unique_ptr<spool_file>>;

// Streams a batch's `files` into `pipe`, in order (each under a download slot).
asio::awaitable<void> stream_files(run_context& ctx, aqua_client& client, result_pipeline& pipe,
                                   const std::vector<std::string>& files);

// Downloads every file of a batch into spool files at once (each under a
// download slot), before any of it reaches a sink. The first failure stops
// the others and is rethrown; a file that cannot resume (restart_needed) is
// downloaded again from byte 0, up to 3 times. `where` is "job J, query Q".
// The files spool whatever the budget says: the caller decided there was
// room (spool_budget::has_room) or that they must (a backfill's catch-up).
asio::awaitable<spools> spool_batch(run_context& ctx, aqua_client& client, std::string job, std::string where,
                                    std::vector<std::string> files);

// Feeds spooled files (one per id in `files`) into `pipe`, each a whole file.
asio::awaitable<void> feed_spools(run_context& ctx, result_pipeline& pipe, const std::vector<std::string>& files,
                                  spools& spooled);

// The schema of a query's streams: names, the job's null replacement, the
// deleted column, and the start of the service's job (`start_time`, its
// startTime; our clock when it is not a time), which names incremental files.
stream_schema schema_for(const run_context& ctx, const job_config& job, std::string job_id,
                         const std::string& start_time, const query_config& q, load_kind load);

// The one order in which rows become durable: the result_pipeline opens
// every sink stream at the first header and writes the rows; commit() checks
// the row count, commits every stream, and only after the last commit saves
// the cursor. A failure before the cursor is saved leaves it where it was; the
// streams are then aborted (abort(), or the destructor), so nothing of them is
// ever visible.
class commit_path {
 public:
  // The streams of `q`'s result: the sinks learn the row key from its select
  // list (the base object's Id), never from a guess at the header.
  commit_path(run_context& ctx, const job_config& job, const query_config& q, stream_schema schema);
  result_pipeline& pipe() noexcept { return pipe_; }

  // Runs on a sink thread. `expect_rows`: the rows parsed must be this many
  // (the batch's recordCount). `next`: the cursor to save after the commit.
  // A full load that got no file at all (the service completed the batch
  // with no fileId and no segments) still replaces: its streams open with
  // no columns (sink.hpp); with rows expected and no file it fails instead.
  // The arguments are the caller's: it awaits the call directly (g++ 12 destroys
  // brace-built temporaries passed to a coroutine twice, so name them).
  asio::awaitable<void> commit(const file_token& token, std::optional<std::uint64_t> expect_rows,
                               const std::optional<cursor>& next);
  asio::awaitable<void> abort();

 private:
  run_context& ctx_;
  result_pipeline pipe_;
};

// Runs pipeline work on a sink thread and adds the rows and decoded bytes it
// produced to the progress counters.
asio::awaitable<void> pipeline_work(run_context& ctx, result_pipeline& pipe, const job_meter& m,
                                    std::function<void()> work);

}  // namespace aquaduct::engine_detail

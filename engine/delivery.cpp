// Result files into the sinks (delivery.hpp).
#include "engine/delivery.hpp"
#include "engine/fleet.hpp"

#include <aquaduct/error.hpp>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <cerrno>
#include <filesystem>

#include <unistd.h>

namespace aquaduct::engine_detail {

namespace {

[[noreturn]] void throw_interrupted(const std::string& where) {
  throw located_error(aqua_errc::interrupted, where + ": interrupted");
}

// "job J, query Q, file F", for a file that is not the pipeline's current one.
std::string location_of(const result_pipeline& pipe, const std::string& file_id) {
  return "job " + pipe.schema().job + ", query " + pipe.schema().query + ", file " + file_id;
}

// Counts a download in flight while it lives.
struct download_count {
  job_meter meter;
  explicit download_count(job_meter m) : meter(m) { meter.add(&run_counters::downloads_active, 1u); }
  ~download_count() { meter.sub(&run_counters::downloads_active, 1u); }
  download_count(const download_count&) = delete;
  download_count& operator=(const download_count&) = delete;
};

// Files of one batch load in order (rows keep the service's order), but
// their downloads overlap: the file whose turn it is streams straight into
// the pipeline, while up to `prefetch_files` after it download into spool
// files while the spool budget has room, each under a download slot, and are
// fed when their turn comes. Without room a file waits for its turn and
// streams.
constexpr std::size_t prefetch_files = 3;

struct batch_turns {
  explicit batch_turns(asio::any_io_executor ex) : moved(ex, asio::steady_timer::time_point::max()) {}
  std::size_t turn = 0;  // the file that goes into the pipeline now
  bool stop = false;     // a file failed: the others give up
  std::exception_ptr first_error;  // the failure that stopped them (not their "gave up")
  asio::steady_timer moved;  // cancelled whenever turn or stop changes: wakes every waiter

  asio::awaitable<void> wait_until(std::function<bool()> ready) {
    std::error_code ec;
    while (!stop && !ready()) co_await moved.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  void advance() {
    ++turn;
    moved.cancel();
  }
  void halt() {
    stop = true;
    moved.cancel();
  }
};

// Streams one file into `pipe` as it arrives (its turn has come).
asio::awaitable<void> stream_file(run_context& ctx, aqua_client& client, result_pipeline& pipe, const job_meter& m,
                                  const std::string& file_id, const batch_turns& turns) {
  pipe.begin_file(file_id);  // no sink call: it only resets the decoder and parser
  std::optional<located_error> failure;
  try {
    co_await client.download_async(file_id, [&](std::string_view piece) -> asio::awaitable<void> {
      if (ctx.interrupted) throw_interrupted(pipe.location());
      if (turns.stop) throw std::system_error(aqua_errc::interrupted, pipe.location() + ": another file of the batch failed");
      m.add(&run_counters::bytes_downloaded, std::uint64_t{piece.size()});
      co_await pipeline_work(ctx, pipe, m, [&] { pipe.put(piece); });
    });
  } catch (const std::system_error& e) {
    failure = locate(pipe.location(), e);
  }
  if (failure) throw *failure;
}

// Downloads one file into a spool file; `where` names it in errors ("job J,
// query Q, file F"), `stop` turning true gives up at the next piece.
asio::awaitable<std::unique_ptr<spool_file>> prefetch_file(run_context& ctx, aqua_client& client,
                                                           const std::string& file_id, const std::string& where,
                                                           const job_meter& m, const bool& stop) {
  auto spool = std::make_unique<spool_file>(ctx.spools.get());
  std::optional<located_error> failure;
  try {
    co_await client.download_async(file_id, [&](std::string_view piece) -> asio::awaitable<void> {
      if (ctx.interrupted || stop) throw std::system_error(aqua_errc::interrupted, where + ": interrupted");
      m.add(&run_counters::bytes_downloaded, std::uint64_t{piece.size()});
      co_await on_sink_thread(ctx, [&] { spool->append(piece); });
    });
  } catch (const std::system_error& e) {
    failure = locate(where, e);
  }
  if (failure) throw *failure;
  co_return spool;
}

// Feeds one spooled file into the pipeline, a few MiB per trip to the sink threads.
asio::awaitable<void> feed_spool(run_context& ctx, result_pipeline& pipe, const job_meter& m,
                                 const std::string& file_id, spool_file& spool) {
  pipe.begin_file(file_id);
  std::vector<char> buf(256u << 10);
  for (std::uint64_t offset = 0;;) {
    if (ctx.interrupted) throw_interrupted(pipe.location());
    std::size_t n = 0;
    co_await pipeline_work(ctx, pipe, m,
                           [&] { n = spool.feed(offset, 4u << 20, buf, [&](std::string_view b) { pipe.put(b); }); });
    if (n == 0) break;
    offset += n;
  }
}

asio::awaitable<void> load_file(run_context& ctx, aqua_client& client, result_pipeline& pipe,
                                const std::vector<std::string>& files, std::size_t k, batch_turns& turns) {
  try {
    co_await turns.wait_until([&] { return k < turns.turn + 1 + prefetch_files; });
    if (turns.stop) co_return;
    // Ahead of its turn, a file downloads into a spool only while there is room.
    if (turns.turn != k && !ctx.spools->has_room()) co_await turns.wait_until([&] { return turns.turn == k; });
    if (turns.stop) co_return;
    async_limiter::permit slot = co_await ctx.downloads->acquire();
    if (!slot) throw_interrupted(location_of(pipe, files[k]));
    const download_count counted(ctx.meter(pipe.schema().job));
    if (turns.turn == k) {
      co_await stream_file(ctx, client, pipe, counted.meter, files[k], turns);
    } else {
      std::unique_ptr<spool_file> spool =
          co_await prefetch_file(ctx, client, files[k], location_of(pipe, files[k]), counted.meter, turns.stop);
      slot.release();
      co_await turns.wait_until([&] { return turns.turn == k; });
      if (turns.stop) co_return;
      co_await feed_spool(ctx, pipe, counted.meter, files[k], *spool);
    }
    co_await pipeline_work(ctx, pipe, counted.meter, [&] { pipe.end_file(); });
    turns.advance();
  } catch (...) {
    if (!turns.stop) turns.first_error = std::current_exception();
    turns.halt();
    throw;
  }
}

struct spooled_batch {
  spools files;
  bool stop = false;
  std::exception_ptr first_error;
};

asio::awaitable<void> spool_one(run_context& ctx, aqua_client& client, const std::string& job,
                                const std::string& file_id, std::string where, spooled_batch& out, std::size_t k) {
  try {
    for (unsigned restart = 0;; ++restart) {
      async_limiter::permit slot = co_await ctx.downloads->acquire();
      if (!slot) throw_interrupted(where);
      if (out.stop) co_return;
      const download_count counted(ctx.meter(job));
      std::optional<located_error> failure;
      try {
        out.files[k] = co_await prefetch_file(ctx, client, file_id, where, counted.meter, out.stop);
      } catch (const std::system_error& e) {
        failure = locate(where, e);
      }
      if (!failure) co_return;
      // Nothing of this file reached a sink yet: a download that cannot resume starts over.
      if (failure->code() != transport_errc::restart_needed || restart >= 3 || ctx.interrupted) throw *failure;
      ctx.log.warning({.message = std::string(failure->what()) + "; downloading the file again from its first byte",
                       .job = job,
                       .file = file_id,
                       .attempt = restart + 2});
    }
  } catch (...) {
    if (!out.stop) out.first_error = std::current_exception();
    out.stop = true;
    throw;
  }
}

}  // namespace

batch_outcome outcome_of(const std::error_code& ec) noexcept {
  if (ec == aqua_errc::file_gone) return batch_outcome::file_gone;
  if (ec == aqua_errc::file_too_large) return batch_outcome::file_too_large;
  return batch_outcome::failed;
}

located_error locate(const std::string& where, const std::system_error& e) {
  if (auto* l = dynamic_cast<const located_error*>(&e)) return *l;
  return located_error(e.code(), where + ": " + e.what());
}

spool_file::spool_file(spool_budget* budget) : budget_(budget) {
  std::string name = (std::filesystem::temp_directory_path() / "aquaduct-spool-XXXXXX").string();
  fd_ = ::mkstemp(name.data());
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot create a spool file " + name);
  ::unlink(name.c_str());
  if (budget_) budget_->take_file();
}

spool_file::~spool_file() {
  ::close(fd_);
  if (budget_) {
    budget_->release(size_);
    budget_->give_back_file();
  }
}

void spool_file::append(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::system_error(errno, std::generic_category(), "writing a spool file");
    bytes.remove_prefix(static_cast<std::size_t>(n));
    size_ += static_cast<std::uint64_t>(n);
    if (budget_) budget_->add(static_cast<std::uint64_t>(n));
  }
}

std::size_t spool_file::feed(std::uint64_t offset, std::size_t max, std::vector<char>& buf,
                             const std::function<void(std::string_view)>& put) {
  std::size_t total = 0;
  while (total < max && offset + total < size_) {
    const ssize_t n = ::pread(fd_, buf.data(), buf.size(), static_cast<off_t>(offset + total));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::system_error(errno ? errno : EIO, std::generic_category(), "reading a spool file");
    put(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    total += static_cast<std::size_t>(n);
  }
  return total;
}

asio::awaitable<void> pipeline_work(run_context& ctx, result_pipeline& pipe, const job_meter& m,
                                    std::function<void()> work) {
  const std::uint64_t rows = pipe.rows(), decoded = pipe.bytes_decoded();
  co_await on_sink_thread(ctx, std::move(work));
  m.add(&run_counters::rows, pipe.rows() - rows);
  m.add(&run_counters::bytes_decoded, pipe.bytes_decoded() - decoded);
}

asio::awaitable<void> stream_files(run_context& ctx, aqua_client& client, result_pipeline& pipe,
                                   const std::vector<std::string>& files) {
  auto ex = co_await asio::this_coro::executor;
  batch_turns turns(ex);
  task_group all;
  for (std::size_t k = 0; k < files.size(); ++k) all.spawn(ex, load_file(ctx, client, pipe, files, k, turns));
  std::exception_ptr failure;
  try {
    co_await all.wait();
  } catch (...) {
    failure = turns.first_error ? turns.first_error : std::current_exception();
  }
  if (failure) std::rethrow_exception(failure);
}

asio::awaitable<spools> spool_batch(run_context& ctx, aqua_client& client, std::string job, std::string where,
                                    std::vector<std::string> files) {
  auto ex = co_await asio::this_coro::executor;
  spooled_batch out;
  out.files.resize(files.size());
  task_group all;
  for (std::size_t k = 0; k < files.size(); ++k)
    all.spawn(ex, spool_one(ctx, client, job, files[k], where + ", file " + files[k], out, k));
  std::exception_ptr failure;
  try {
    co_await all.wait();
  } catch (...) {
    failure = out.first_error ? out.first_error : std::current_exception();
  }
  if (failure) std::rethrow_exception(failure);
  co_return std::move(out.files);
}

asio::awaitable<void> feed_spools(run_context& ctx, result_pipeline& pipe, const std::vector<std::string>& files,
                                  spools& spooled) {
  const job_meter m = ctx.meter(pipe.schema().job);
  for (std::size_t k = 0; k < files.size(); ++k) {
    co_await feed_spool(ctx, pipe, m, files[k], *spooled[k]);
    spooled[k].reset();
    co_await pipeline_work(ctx, pipe, m, [&] { pipe.end_file(); });
  }
}

commit_path::commit_path(run_context& ctx, const job_config& job, const query_config& q, stream_schema schema)
    : ctx_(ctx), pipe_(job.format, std::move(schema), ctx.sinks) {
  if (job.encrypted == "pgp") pipe_.decrypt_with(ctx.pgp_key);
  std::string error;
  if (std::optional<select_shape> shape = read_select(q.query, error)) pipe_.key_by(std::move(*shape));
  if (auto it = ctx.columns.find({job.name, q.name}); it != ctx.columns.end())
    pipe_.type_by([cols = it->second, log = ctx.log](const std::vector<std::string>& header) {
      std::vector<std::string> warnings;
      std::vector<column_type> types = types_for(*cols, header, warnings);
      for (auto& w : warnings) log.warning({.message = std::move(w), .job = cols->job, .query = cols->query});
      return types;
    });
}

stream_schema schema_for(const run_context& ctx, const job_config& job, std::string job_id,
                         const std::string& start_time, const query_config& q, load_kind load) {
  stream_schema schema;
  schema.job = job.name;
  schema.job_id = std::move(job_id);
  schema.query = q.name;
  schema.table = q.table;
  std::string not_select;
  if (const auto shape = read_select(q.query, not_select)) schema.object = shape->object;
  schema.load = load;
  if (auto t = parse_start_time(start_time, ctx.tenant)) schema.started_at = *t;
  else schema.started_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  if (!job.null_replacement.empty()) schema.null_value = job.null_replacement;
  if (q.deleted) schema.deleted = deleted_column{q.deleted->column, q.deleted->format};
  return schema;
}

asio::awaitable<void> commit_path::commit(const file_token& token, std::optional<std::uint64_t> expect_rows,
                                          const std::optional<cursor>& next) {
  co_await on_sink_thread(ctx_, [&] {
    if (expect_rows) pipe_.expect_rows(*expect_rows);
    if (!pipe_.opened() && pipe_.schema().load == load_kind::full) pipe_.open_without_file();
    // A stateful session cannot replay a window exactly (rows created and
    // deleted inside it never come back): should this stop between the sinks'
    // commits and the cursor, the next run must know (state_store::pending).
    if (next && ctx_.state && next->mode == "stateful") ctx_.state->begin_commit(*next);
    file_token sealed = token;
    if (next && next->position) sealed.cursor = next->position;
    // A fleet worker commits only while it holds the unit; the sinks check the
    // token again against the newest they committed (docs/fleet.md, fencing).
    if (ctx_.fleet) {
      ctx_.fleet->check();
      sealed.fence = ctx_.fleet->token();
    }
    pipe_.commit(sealed);
    if (next && ctx_.state) ctx_.state->save(*next);
  });
  ctx_.meter(pipe_.schema().job).add(&run_counters::rows_committed, pipe_.rows_written());
}

asio::awaitable<void> commit_path::abort() {
  co_await on_sink_thread(ctx_, [&] { pipe_.abort(); });
}

}  // namespace aquaduct::engine_detail

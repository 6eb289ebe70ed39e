#include "engine/job_runner.hpp"

#include "engine/json_writer.hpp"
#include "engine/result_pipeline.hpp"
#include "engine/task_group.hpp"

#include <aquaduct/error.hpp>

#include <asio/async_result.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <random>

#include <unistd.h>
#include <cerrno>
#include <cstdlib>

namespace aquaduct::engine_detail {

using clock = std::chrono::steady_clock;

async_limiter& run_context::session(const job_config& job) {
  auto& turn = sessions[job.partner + "/" + job.project];
  if (!turn) turn = std::make_unique<async_limiter>(1);
  return *turn;
}

progress_counters run_counters::read() const {
  progress_counters p;
  p.jobs_total = jobs_total;
  p.jobs_submitted = jobs_submitted;
  p.jobs_active = jobs_active;
  p.jobs_done = jobs_done;
  p.jobs_failed = jobs_failed;
  p.downloads_active = downloads_active;
  p.rows = rows;
  p.rows_committed = rows_committed;
  p.bytes_downloaded = bytes_downloaded;
  p.bytes_decoded = bytes_decoded;
  return p;
}

job_meter run_context::meter(std::string_view job) const {
  auto it = job_counters.find(job);
  return job_meter(counters, it == job_counters.end() ? other_jobs : *it->second);
}

void run_context::wake(std::string_view job_id) {
  if (auto it = pollers.find(std::string(job_id)); it != pollers.end()) it->second->cancel();
}

void run_context::interrupt() {
  if (interrupted) return;
  interrupted = true;
  for (auto* l : {stateless_jobs.get(), stateful_jobs.get(), downloads.get(), json_batches.get()})
    if (l) l->interrupt();
  for (auto& stop : on_interrupt) stop();
  for (auto& [key, turn] : sessions) turn->interrupt();
  for (auto& [id, timer] : pollers) timer->cancel();
}

window_group::~window_group() = default;

asio::awaitable<void> on_sink_thread(run_context& ctx, std::function<void()> work) {
  // Posted by hand, not co_spawn'ed with a capturing lambda: g++ 12 destroys a
  // coroutine parameter moved into a lambda's init-capture twice.
  const asio::any_io_executor io = co_await asio::this_coro::executor;
  std::exception_ptr error;
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [&ctx, &work, &error, io](auto resume) {
        asio::post(*ctx.sink_pool, [&work, &error, io, resume = std::move(resume)]() mutable {
          try {
            work();
          } catch (const std::system_error&) {
            error = std::current_exception();
          } catch (const std::exception& e) {
            // An embedder's sink throws what it likes: as an error code it is
            // reported against its job, query and file like any other failure.
            error = std::make_exception_ptr(std::system_error(sink_errc::failed, e.what()));
          } catch (...) {
            error = std::make_exception_ptr(std::system_error(sink_errc::failed, "an exception that is not a std::exception"));
          }
          asio::post(io, std::move(resume));
        });
      },
      asio::use_awaitable);
  if (error) std::rethrow_exception(error);
}

namespace {

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

std::string random_key() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string key;
  for (int i = 0; i < 2; ++i) {
    const std::uint64_t v = rng();
    for (int b = 0; b < 16; ++b) key += hex[(v >> (b * 4)) & 15];
  }
  return key;
}

double unit_random() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

bool terminal(const std::string& status) {
  return status == "completed" || status == "aborted" || status == "cancelled" || status == "error" ||
         status == "failed";
}

const decode::aqua_batch* find_batch(const decode::aqua_job& job, const std::string& name) {
  const auto b = std::find_if(job.batches.begin(), job.batches.end(),
                              [&](const decode::aqua_batch& x) { return x.name == name; });
  return b == job.batches.end() ? nullptr : &*b;
}

// The batches' messages, for a job that did not complete.
std::string batch_messages(const decode::aqua_job& job) {
  std::string out;
  for (const auto& b : job.batches)
    if (!b.message.empty()) out += (out.empty() ? "" : "; ") + b.name + ": " + b.message;
  return out.empty() ? job.message : out;
}

// A query that ran out of the service's processing time (90027, 90029):
// a smaller window may make it.
bool timed_out(const std::string& message) {
  for (const char* sign : {"90027", "90029", "max processing time", "timed out", "timeout"})
    if (message.find(sign) != std::string::npos) return true;
  return false;
}

[[noreturn]] void throw_interrupted(const std::string& what) {
  throw located_error(aqua_errc::interrupted, what + ": interrupted");
}

// An error from below the pipeline, located at `where` ("job J, query Q[, file F]")
// unless it already says where it happened.
located_error locate(const std::string& where, const std::system_error& e) {
  if (auto* l = dynamic_cast<const located_error*>(&e)) return *l;
  return located_error(e.code(), where + ": " + e.what());
}
located_error locate(const result_pipeline& pipe, const std::system_error& e) { return locate(pipe.location(), e); }

enum class batch_outcome { delivered, failed, file_gone, file_too_large };

// "job J, query Q, file F", for a file that is not the pipeline's current one.
std::string location_of(const result_pipeline& pipe, const std::string& file_id) {
  return "job " + pipe.schema().job + ", query " + pipe.schema().query + ", file " + file_id;
}

// A result file parked on disk while an earlier file of its batch is still
// going into the sinks. Unlinked at once: nothing is left behind, whatever
// happens to the process.
class spool_file {
 public:
  spool_file() {
    std::string name = (std::filesystem::temp_directory_path() / "aquaduct-spool-XXXXXX").string();
    fd_ = ::mkstemp(name.data());
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot create a spool file " + name);
    ::unlink(name.c_str());
  }
  ~spool_file() { ::close(fd_); }
  spool_file(const spool_file&) = delete;
  spool_file& operator=(const spool_file&) = delete;

  void append(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::system_error(errno, std::generic_category(), "writing a spool file");
      bytes.remove_prefix(static_cast<std::size_t>(n));
      size_ += static_cast<std::uint64_t>(n);
    }
  }
  // Feeds [offset, offset + max) to `put`; returns the bytes fed, 0 at the end.
  template <class Put>
  std::size_t feed(std::uint64_t offset, std::size_t max, std::vector<char>& buf, Put&& put) {
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

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Files of one batch load in order (rows keep the service's order), but
// their downloads overlap: the file whose turn it is streams straight into
// the pipeline, while up to `prefetch_files` after it download into spool
// files, each under a download slot, and are fed when their turn comes.
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

// Counts a download in flight while it lives.
struct download_count {
  job_meter meter;
  explicit download_count(job_meter m) : meter(m) { meter.add(&run_counters::downloads_active, 1u); }
  ~download_count() { meter.sub(&run_counters::downloads_active, 1u); }
  download_count(const download_count&) = delete;
  download_count& operator=(const download_count&) = delete;
};

// Runs pipeline work on a sink thread and adds the rows and decoded bytes it
// produced to the progress counters (the caller looked its job's meter up once).
asio::awaitable<void> pipeline_work(run_context& ctx, result_pipeline& pipe, const job_meter& m,
                                    std::function<void()> work) {
  const std::uint64_t rows = pipe.rows(), decoded = pipe.bytes_decoded();
  co_await on_sink_thread(ctx, std::move(work));
  m.add(&run_counters::rows, pipe.rows() - rows);
  m.add(&run_counters::bytes_decoded, pipe.bytes_decoded() - decoded);
}

// Streams one file into `pipe` as it arrives (its turn has come).
asio::awaitable<void> stream_file(run_context& ctx, aqua_client& client, result_pipeline& pipe,
                                  const job_meter& m, const std::string& file_id, const batch_turns& turns) {
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
    failure = locate(pipe, e);
  }
  if (failure) throw *failure;
}

// Downloads one file into a spool file; `where` names it in errors ("job J,
// query Q, file F"), `stop` turning true gives up at the next piece.
asio::awaitable<std::unique_ptr<spool_file>> prefetch_file(run_context& ctx, aqua_client& client,
                                                           const std::string& file_id, const std::string& where,
                                                           const job_meter& m, const bool& stop) {
  auto spool = std::make_unique<spool_file>();
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

// Feeds a spooled file into the pipeline, a few MiB per trip to the sink threads.
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

// Streams a batch's `files` into `pipe`, in order.
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

// Downloads every file of a batch into spool files at once (each under a
// download slot), before any of it reaches a sink. The first failure stops
// the others and is rethrown.
struct spooled_batch {
  std::vector<std::unique_ptr<spool_file>> files;
  bool stop = false;
  std::exception_ptr first_error;
};

asio::awaitable<void> spool_one(run_context& ctx, aqua_client& client, const std::string& job,
                                const std::string& file_id, std::string where, spooled_batch& out, std::size_t k) {
  try {
    async_limiter::permit slot = co_await ctx.downloads->acquire();
    if (!slot) throw_interrupted(where);
    if (out.stop) co_return;
    const download_count counted(ctx.meter(job));
    out.files[k] = co_await prefetch_file(ctx, client, file_id, where, counted.meter, out.stop);
  } catch (...) {
    if (!out.stop) out.first_error = std::current_exception();
    out.stop = true;
    throw;
  }
}

asio::awaitable<std::vector<std::unique_ptr<spool_file>>> spool_files(run_context& ctx, aqua_client& client,
                                                                      const std::string& job, const std::string& where,
                                                                      const std::vector<std::string>& files) {
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

stream_schema schema_for(const run_context& ctx, const job_config& job, const decode::aqua_job& remote,
                         const query_config& q, load_kind load) {
  stream_schema schema;
  schema.job = job.name;
  schema.job_id = remote.id;
  schema.query = q.name;
  schema.load = load;
  if (auto t = parse_start_time(remote.start_time, ctx.zone)) schema.started_at = *t;
  else schema.started_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  if (!job.null_replacement.empty()) schema.null_value = job.null_replacement;
  if (q.deleted) schema.deleted = deleted_column{q.deleted->column, q.deleted->format};
  return schema;
}

const query_config& configured_query(const work_unit& unit, const std::string& name) {
  for (const auto& q : unit.queries)
    if (q.name == name) return q;
  throw std::logic_error("no query " + name);
}

// Records where a committed plain query stands. A stateful query's cursor is
// the job's transaction start minus the offset: the next run's incrementalTime.
void save_plain_cursor(run_context& ctx, const work_unit& unit, const decode::aqua_job& remote,
                       const query_config& q, std::uint64_t rows) {
  if (!ctx.state) return;
  const job_config& job = *unit.job;
  cursor c;
  c.job = job.name;
  c.query = q.name;
  c.mode = job.stateful() ? "stateful" : "full";
  c.fingerprint = fingerprint_of(q);
  c.last_job_id = remote.id;
  c.rows = rows;
  if (job.stateful()) {
    const auto start = parse_start_time(remote.start_time, ctx.zone);
    if (!start) {
      // The rows are committed; without a position the next run fetches them again (never skips).
      ctx.log.warning({.message = "startTime \"" + remote.start_time + "\" is not a time; the cursor is not moved",
                       .job = job.name,
                       .job_id = remote.id,
                       .query = q.name});
      return;
    }
    c.position = *start - std::chrono::seconds(job.offset_s);
  }
  ctx.state->save(c);
}

// The start of the job whose rows a stateful query last committed (its cursor
// plus the offset), when `remote` started in that same second: AQuA's start
// times have whole seconds, and an incremental file is <query>.<start>.<ext>,
// so `remote`'s would replace that job's file and lose its rows.
std::optional<std::chrono::sys_seconds> committed_job_started_alike(const run_context& ctx, const work_unit& unit,
                                                                    const decode::aqua_job& remote) {
  if (!ctx.state || !unit.job->stateful()) return std::nullopt;
  const auto start = parse_start_time(remote.start_time, ctx.zone);
  if (!start) return std::nullopt;
  for (const auto& b : remote.batches) {
    if (b.full) continue;  // a full load has a name of its own
    const std::optional<cursor> c = ctx.state->load(unit.job->name, b.name);
    if (c && c->mode == "stateful" && c->position && *c->position + std::chrono::seconds(unit.job->offset_s) == *start)
      return start;
  }
  return std::nullopt;
}

// One completed batch of a plain unit: its own sink streams, committed once.
// A download that cannot resume restarts the batch from its first byte with
// fresh streams (the aborted ones leave nothing behind).
asio::awaitable<batch_outcome> run_batch(run_context& ctx, aqua_client& client, const work_unit& unit,
                                         const decode::aqua_job& remote, const decode::aqua_batch& batch,
                                         query_report& q) {
  const job_config& job = *unit.job;
  const query_config& qc = configured_query(unit, batch.name);
  q.full = batch.full;
  const stream_schema schema = schema_for(ctx, job, remote, qc, batch.full ? load_kind::full : load_kind::incremental);
  const auto started = clock::now();
  for (unsigned restart = 0;; ++restart) {
    result_pipeline pipe(job.format, schema, ctx.sinks);
    std::optional<located_error> failure;
    try {
      co_await stream_files(ctx, client, pipe, batch.files);
      const file_token token{remote.id, batch.name, batch.files, pipe.rows()};
      co_await on_sink_thread(ctx, [&] {
        pipe.expect_rows(batch.record_count);
        pipe.commit(token);
        save_plain_cursor(ctx, unit, remote, qc, pipe.rows());
      });
      ctx.meter(job.name).add(&run_counters::rows_committed, pipe.rows());
      ctx.log.info({.message = fmt::format("committed {} rows from {} file(s), {} bytes", pipe.rows(), pipe.files(),
                                           pipe.bytes_in()),
                    .job = unit.display_name,
                    .job_id = remote.id,
                    .query = batch.name,
                    .batch = batch.batch_id});
      q.status = "completed";
      q.error.reset();
    } catch (const std::system_error& e) {
      failure = locate(pipe, e);
    }
    if (failure) co_await on_sink_thread(ctx, [&] { pipe.abort(); });
    q.bytes_downloaded += pipe.bytes_in();
    q.rows = pipe.rows();
    q.files = pipe.files();
    q.bytes_decoded = pipe.bytes_decoded();
    q.download_s = seconds_since(started);
    if (!failure) co_return batch_outcome::delivered;
    const std::error_code ec = failure->code();
    if (ec == transport_errc::restart_needed && restart < 3 && !ctx.interrupted) {
      ctx.log.warning({.message = std::string(failure->what()) + "; fetching the batch again from its first byte",
                       .job = unit.display_name,
                       .job_id = remote.id,
                       .query = batch.name,
                       .batch = batch.batch_id,
                       .attempt = restart + 2});
      continue;
    }
    q.status = ec == aqua_errc::interrupted ? "cancelled" : "failed";
    q.error = failure->what();
    // Purged: the streams were aborted above, so the rerun starts clean.
    if (ec == aqua_errc::file_gone) co_return batch_outcome::file_gone;
    co_return batch_outcome::failed;
  }
}

void fail_group(window_group& g, const std::string& why) {
  if (g.failed) return;
  g.failed = true;
  g.error = why;
}

// One completed window. Its files are all downloaded (spooled) first, while
// other windows do the same; only then does it take the group's turn and
// feed them into the query's shared streams. A window the service could not
// serve whole (403 max-object-size) or purged (404) leaves the streams
// untouched: the caller splits it or runs it again. A failure while feeding
// fails the whole query (its streams are aborted).
asio::awaitable<batch_outcome> feed_window(run_context& ctx, aqua_client& client, const work_unit& unit,
                                           const decode::aqua_job& remote, const decode::aqua_batch& batch,
                                           query_report& q) {
  window_group& g = *unit.group;
  q.full = g.load == load_kind::full;
  const std::string where = "job " + unit.display_name + " (" + remote.id + "), query " + g.query.name;
  const auto started = clock::now();
  std::vector<std::unique_ptr<spool_file>> spools;
  std::optional<located_error> failure;
  try {
    spools = co_await spool_files(ctx, client, unit.job->name, where, batch.files);
  } catch (const std::system_error& e) {
    failure = locate(where, e);
  }
  if (failure) {
    q.status = failure->code() == aqua_errc::interrupted ? "cancelled" : "failed";
    q.error = failure->what();
    q.download_s = seconds_since(started);
    const std::error_code ec = failure->code();
    if (ec == aqua_errc::file_too_large) co_return batch_outcome::file_too_large;
    if (ec == aqua_errc::file_gone) co_return batch_outcome::file_gone;
    fail_group(g, failure->what());
    co_return batch_outcome::failed;
  }

  async_limiter::permit turn = co_await g.feed->acquire();
  if (!turn) throw_interrupted(where);
  if (g.failed) {
    q.status = "failed";
    q.error = "not loaded: " + g.error;
    co_return batch_outcome::failed;
  }
  if (!g.pipe)
    g.pipe = std::make_unique<result_pipeline>(unit.job->format, schema_for(ctx, *unit.job, remote, g.query, g.load),
                                               ctx.sinks);
  result_pipeline& pipe = *g.pipe;
  const job_meter m = ctx.meter(unit.job->name);
  const std::uint64_t rows0 = pipe.rows(), in0 = pipe.bytes_in(), decoded0 = pipe.bytes_decoded(), files0 = pipe.files();
  try {
    for (std::size_t k = 0; k < batch.files.size(); ++k) {
      co_await feed_spool(ctx, pipe, m, batch.files[k], *spools[k]);
      spools[k].reset();
      co_await pipeline_work(ctx, pipe, m, [&] { pipe.end_file(); });
    }
    if (pipe.rows() - rows0 != batch.record_count)
      throw located_error(aqua_errc::record_count_mismatch,
                          where + ": " + std::to_string(pipe.rows() - rows0) + " rows in " +
                              std::to_string(batch.files.size()) + " file(s), the batch's recordCount says " +
                              std::to_string(batch.record_count));
  } catch (const std::system_error& e) {
    failure = locate(pipe, e);
  }
  q.rows = pipe.rows() - rows0;
  q.bytes_downloaded = pipe.bytes_in() - in0;
  q.bytes_decoded = pipe.bytes_decoded() - decoded0;
  q.files = pipe.files() - files0;
  q.download_s = seconds_since(started);
  if (!failure) {
    g.job_ids.push_back(remote.id);
    g.file_ids.insert(g.file_ids.end(), batch.files.begin(), batch.files.end());
    q.status = "fed";  // final once the group commits (engine::run settles it)
    co_return batch_outcome::delivered;
  }
  q.status = failure->code() == aqua_errc::interrupted ? "cancelled" : "failed";
  q.error = failure->what();
  fail_group(g, failure->what());
  co_await on_sink_thread(ctx, [&] { pipe.abort(); });
  co_return batch_outcome::failed;
}

// The last window of a group is in: commit the query's streams once, then
// move its cursor.
asio::awaitable<void> finish_group(run_context& ctx, window_group& g) {
  g.summary.name = g.query.name;
  g.summary.full = g.load == load_kind::full;
  if (g.failed || ctx.interrupted) {
    if (g.pipe) co_await on_sink_thread(ctx, [&] { g.pipe->abort(); });
    g.summary.status = "failed";
    g.summary.error = g.failed ? g.error : "interrupted";
    co_return;
  }
  std::optional<std::string> error;
  try {
    co_await on_sink_thread(ctx, [&] {
      if (g.pipe) {
        std::string ids;
        for (const auto& id : g.job_ids) ids += (ids.empty() ? "" : ",") + id;
        g.pipe->commit(file_token{ids, g.query.name, g.file_ids, g.pipe->rows()});
      }
      if (g.next_cursor && ctx.state) {
        g.next_cursor->rows = g.pipe ? g.pipe->rows() : 0;
        if (!g.job_ids.empty()) g.next_cursor->last_job_id = g.job_ids.back();
        ctx.state->save(*g.next_cursor);
      }
    });
  } catch (const std::system_error& e) {
    error = e.what();
  }
  if (error) {
    co_await on_sink_thread(ctx, [&] { g.pipe->abort(); });
    g.failed = true;
    g.error = *error;
    g.summary.status = "failed";
    g.summary.error = *error;
    co_return;
  }
  if (g.pipe) {
    ctx.meter(g.job->name).add(&run_counters::rows_committed, g.pipe->rows());
    ctx.log.info({.message = fmt::format("committed {} rows of {} window job(s), {} file(s)", g.pipe->rows(),
                                         g.job_ids.size(), g.pipe->files()),
                  .job = g.job->name,
                  .query = g.query.name});
    g.summary.rows = g.pipe->rows();
    g.summary.files = g.pipe->files();
    g.summary.bytes_downloaded = g.pipe->bytes_in();
    g.summary.bytes_decoded = g.pipe->bytes_decoded();
  }
  g.summary.status = "completed";
}

// One completed batch, as a task of its own (a plain function: a lambda
// coroutine's captures would die with the lambda).
asio::awaitable<void> deliver_batch(run_context& ctx, aqua_client& client, const work_unit& unit,
                                    const decode::aqua_job& remote, const decode::aqua_batch& batch, query_report& q,
                                    batch_outcome& outcome) {
  if (unit.group) outcome = co_await feed_window(ctx, client, unit, remote, batch, q);
  else outcome = co_await run_batch(ctx, client, unit, remote, batch, q);
}

}  // namespace

work_unit window_unit(const job_config& job, window_group& g, time_window w, std::string& error) {
  work_unit u;
  u.job = &job;
  u.group = &g;
  u.window = w;
  u.display_name = job.name + " [" + window_label(w) + "]";
  query_config q = g.query;
  q.query = windowed_query(g.query.query, g.by, w, error);
  u.queries.push_back(std::move(q));
  return u;
}

std::chrono::milliseconds poll_delay(const poll_config& poll, unsigned attempt, double unit) {
  const double exp = static_cast<double>(poll.initial_ms) * std::pow(poll.multiplier, static_cast<double>(attempt));
  const double capped = std::min(exp, static_cast<double>(poll.max_ms));
  // Full jitter keeps many jobs from polling in lockstep; never below 1 ms.
  const double ms = poll.full_jitter ? std::max(1.0, capped * unit) : capped;
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::string submit_body(const job_config& job, const std::vector<query_config>& queries, const submit_extras& extras) {
  std::string b = "{\"format\":" + json_quote(job.format) + ",\"version\":" + json_quote(job.version) +
                  ",\"name\":" + json_quote(job.name) + ",\"encrypted\":" + json_quote(job.encrypted) +
                  ",\"useQueryLabels\":" + (job.use_query_labels ? "true" : "false") +
                  ",\"dateTimeUtc\":" + (job.date_time_utc ? "true" : "false");
  if (!job.null_replacement.empty()) b += ",\"nullReplacement\":" + json_quote(job.null_replacement);
  if (job.stateful()) b += ",\"partner\":" + json_quote(job.partner) + ",\"project\":" + json_quote(job.project);
  if (job.offset_s) b += ",\"offset\":" + std::to_string(job.offset_s);
  if (extras.incremental_time) b += ",\"incrementalTime\":" + json_quote(*extras.incremental_time);
  if (!job.source_data.empty()) b += ",\"sourceData\":" + json_quote(job.source_data);
  if (job.use_last_completed_job_queries) b += ",\"useLastCompletedJobQueries\":true";
  // A job's own notify_url replaces the callout listener's (polling still finds the end).
  const std::string& notify = job.notify_url.empty() ? extras.notify_url : job.notify_url;
  if (!notify.empty()) b += ",\"notifyUrl\":" + json_quote(notify);
  b += ",\"queries\":[";
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const auto& q = queries[i];
    if (i) b += ',';
    b += "{\"name\":" + json_quote(q.name) + ",\"query\":" + json_quote(q.query) + ",\"type\":" + json_quote(q.type);
    if (!q.api_version.empty()) b += ",\"apiVersion\":" + json_quote(q.api_version);
    if (!q.convert_to_currencies.empty()) b += ",\"convertToCurrencies\":" + json_quote(q.convert_to_currencies);
    if (q.deleted)
      b += ",\"deleted\":{\"column\":" + json_quote(q.deleted->column) + ",\"format\":" +
           json_quote(q.deleted->format) + (q.deleted->force_export ? ",\"forceExport\":true" : "") + "}";
    b += '}';
  }
  b += "]}";
  return b;
}

namespace {

// Submits one job. Over the tenant's job limit (90028: other clients' jobs
// count too) the job was not created: wait and try again with a new key.
asio::awaitable<decode::aqua_job> submit_job(run_context& ctx, aqua_client& client, const work_unit& unit,
                                             const std::string& body, clock::time_point give_up,
                                             asio::steady_timer& timer) {
  for (unsigned attempt = 0;; ++attempt) {
    try {
      co_return co_await client.submit(body, random_key());
    } catch (const std::system_error& e) {
      if (e.code() != aqua_errc::job_limit || clock::now() >= give_up) throw;
    }
    timer.expires_after(poll_delay(ctx.source.poll, attempt, unit_random()));
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ctx.interrupted) throw_interrupted("job " + unit.display_name);
  }
}

// Polls until the job is terminal; a callout (ctx.wake) or an interrupt cuts
// a wait short. Interrupted or out of time, the job is cancelled on the
// server (its slot freed) and the wait throws.
asio::awaitable<decode::aqua_job> wait_for_job(run_context& ctx, aqua_client& client, const work_unit& unit,
                                               decode::aqua_job remote, clock::time_point give_up,
                                               asio::steady_timer& timer) {
  ctx.pollers[remote.id] = &timer;
  struct unregister {
    run_context& c;
    std::string id;
    ~unregister() { c.pollers.erase(id); }
  } unreg{ctx, remote.id};
  std::optional<std::string> timeout;
  for (unsigned attempt = 0; !terminal(remote.status) && !ctx.interrupted; ++attempt) {
    if (clock::now() >= give_up) {
      timeout = "job " + unit.display_name + " (" + remote.id + ") still " + remote.status + " after " +
                std::to_string(ctx.source.poll.timeout_s) + " s";
      break;
    }
    timer.expires_after(std::min<clock::duration>(poll_delay(ctx.source.poll, attempt, unit_random()),
                                                  give_up - clock::now() + std::chrono::milliseconds(1)));
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ctx.interrupted) break;
    remote = co_await client.get_job(remote.id);
  }
  if (terminal(remote.status)) co_return remote;
  std::string note;
  try {
    remote = co_await client.cancel_job(remote.id);
  } catch (const std::system_error& e) {
    note = " (cancelling it on the server failed: " + std::string(e.what()) + ")";
  }
  if (timeout) throw std::system_error(aqua_errc::job_timeout, *timeout + note);
  throw located_error(aqua_errc::interrupted,
                      "job " + unit.display_name + " (" + remote.id + ") interrupted: cancelled on the server" + note);
}

// A window the service could not serve goes on as two halves, when it may
// still be split; `why` is logged.
bool split_in_two(run_context& ctx, const work_unit& unit, const std::function<void(work_unit)>& spawn,
                  const std::string& why) {
  if (!unit.group || !unit.window || !can_split(*unit.window, unit.group->min_step)) return false;
  std::string error;
  const auto [a, b] = split_window(*unit.window);
  work_unit first = window_unit(*unit.job, *unit.group, a, error);
  work_unit second = window_unit(*unit.job, *unit.group, b, error);
  if (!error.empty()) return false;
  ctx.log.warning({.message = why + ": splitting the window in two", .job = unit.display_name});
  unit.group->pending += 1;  // two halves replace this window
  spawn(std::move(first));
  spawn(std::move(second));
  return true;
}

// A unit that did not complete: one record per failed query, naming it,
// else one for the job.
void log_failure(const run_context& ctx, const work_unit& unit, const job_report& report) {
  const log_level level = report.status == "cancelled" ? log_level::warning : log_level::error;
  bool named = false;
  for (const auto& q : report.queries) {
    if (q.status == "completed" || q.status == "fed" || !q.error) continue;
    ctx.log({.level = level, .message = q.status + ": " + *q.error, .job = unit.display_name, .job_id = report.job_id,
             .query = q.name});
    named = true;
  }
  if (!named)
    ctx.log({.level = level,
             .message = report.status + ": " + report.error.value_or("no query completed"),
             .job = unit.display_name,
             .job_id = report.job_id});
}

}  // namespace

asio::awaitable<job_report> run_unit(run_context& ctx, work_unit unit, std::function<void(work_unit)> spawn) {
  const job_config& job = *unit.job;
  job_report report;
  report.name = unit.display_name;
  if (unit.window) report.window = window_label(*unit.window);
  for (const auto& q : unit.queries) {
    query_report qr;
    qr.name = q.name;
    report.queries.push_back(std::move(qr));
  }
  auto ex = co_await asio::this_coro::executor;
  aqua_client client(ctx.aqua, unit.display_name);
  const auto started = clock::now();
  bool split = false;  // the window went on as two halves
  std::optional<std::system_error> failure;
  try {
    // A stateful session runs one job at a time, from submit to the cursor.
    async_limiter::permit turn;
    if (job.stateful()) {
      turn = co_await ctx.session(job).acquire();
      if (!turn) throw_interrupted("job " + unit.display_name);
    }
    // The floor (set by the plan): what a session that moved on without our
    // commit must be asked from.
    const std::optional<std::string> floor_time = unit.incremental_time;
    bool expect_full = false;  // incrementalTime left out: the service must load in full
    unsigned same_second = 0;  // jobs that started in the second of the last committed one
    if (unit.session_may_be_new) {
      // Nothing committed by us: a brand-new session loads in full by itself,
      // while one that moved on without our commit must be asked from the floor.
      const std::optional<decode::aqua_job> last = co_await client.last_completed(job.partner, job.project);
      if (!last) {
        unit.incremental_time.reset();
        expect_full = true;
      }
    }
    std::vector<std::string> pending;  // queries still to deliver
    for (const auto& q : unit.queries) pending.push_back(q.name);
    for (;;) {  // one round per submission; a purged file (404) runs its queries again
      if (ctx.interrupted) throw_interrupted("job " + unit.display_name);
      async_limiter& jobs = job.stateful() ? *ctx.stateful_jobs : *ctx.stateless_jobs;
      async_limiter::permit slot = co_await jobs.acquire();
      if (!slot) throw_interrupted("job " + unit.display_name);

      std::vector<query_config> round;
      for (const auto& q : unit.queries)
        if (std::find(pending.begin(), pending.end(), q.name) != pending.end()) round.push_back(q);
      const std::string body = submit_body(job, round, submit_extras{unit.incremental_time, ctx.notify_url});
      const auto give_up = clock::now() + std::chrono::seconds(ctx.source.poll.timeout_s);
      asio::steady_timer timer(ex);
      decode::aqua_job remote = co_await submit_job(ctx, client, unit, body, give_up, timer);
      report.job_id = remote.id;
      report.submit_s = seconds_since(started);
      const job_meter m = ctx.meter(job.name);
      m.add(&run_counters::jobs_submitted, 1u);
      m.add(&run_counters::jobs_active, 1u);
      ctx.log.info({.message = "submitted", .job = unit.display_name, .job_id = remote.id});
      struct active_job {  // counted from submit until the service no longer counts it
        std::optional<job_meter> m;
        void done() {
          if (m) m->sub(&run_counters::jobs_active, 1u);
          m.reset();
        }
        ~active_job() { done(); }
      } active{m};

      const auto waiting = clock::now();
      remote = co_await wait_for_job(ctx, client, unit, std::move(remote), give_up, timer);
      active.done();
      slot.release();  // the service no longer counts the job
      report.wait_s = seconds_since(waiting);

      if (remote.status != "completed") {
        const std::string why = batch_messages(remote);
        // Out of processing time (90027/90029): the two halves may each make it.
        if (timed_out(why) && split_in_two(ctx, unit, spawn, "ran out of time (" + why + ")")) {
          split = true;
          report.status = "split";
          break;
        }
        report.status = remote.status == "error" ? "failed" : remote.status;
        report.error = "job " + unit.display_name + " (" + remote.id + ") ended " + remote.status +
                       (why.empty() ? "" : ": " + why);
        for (auto& q : report.queries) {
          const decode::aqua_batch* b = find_batch(remote, q.name);
          q.status = b && !b->status.empty() && b->status != "completed" ? b->status : remote.status;
          if (b && !b->message.empty()) q.error = b->message;
        }
        if (unit.group) fail_group(*unit.group, *report.error);
        break;
      }

      // Asked for a full load, answered with an incremental one: the session had
      // a job running (a killed run's) that completed before ours. Its rows were
      // never committed by us, so ours must start from the floor, or they are lost.
      if (expect_full && std::any_of(remote.batches.begin(), remote.batches.end(),
                                     [](const decode::aqua_batch& b) { return !b.full; })) {
        expect_full = false;
        unit.incremental_time = floor_time;
        ctx.log.warning({.message = "the session's last job completed just before ours (another run's?), so ours was "
                                    "incremental from it; submitting again from " + floor_time.value_or("the floor"),
                         .job = unit.display_name,
                         .job_id = remote.id});
        continue;
      }

      // Started in the second of the job whose rows we committed last: submit
      // again (from the same incrementalTime) a second later. A service whose
      // clock does not move fails the job rather than replace that job's files.
      if (const auto start = committed_job_started_alike(ctx, unit, remote)) {
        const std::string when = "started in " + iso_utc(*start) + ", the second of the last committed job";
        if (++same_second == 3)
          throw std::system_error(aqua_errc::bad_response,
                                  "job " + unit.display_name + " (" + remote.id + "): 3 jobs in a row " + when +
                                      " (the service's clock stands still?); none was loaded, as their incremental "
                                      "files would replace that job's");
        ctx.log.warning({.message = when + ": its incremental files would replace that job's; submitting again "
                                           "in a second",
                         .job = unit.display_name,
                         .job_id = remote.id});
        timer.expires_after(std::chrono::seconds(1));
        std::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }

      // The batches of a job deliver at once, each into its own streams; the
      // download slots bound how many files stream together.
      std::vector<batch_outcome> outcomes(report.queries.size(), batch_outcome::delivered);
      task_group batches;
      for (std::size_t i = 0; i < report.queries.size(); ++i) {
        query_report& q = report.queries[i];
        if (std::find(pending.begin(), pending.end(), q.name) == pending.end()) continue;
        const decode::aqua_batch* b = find_batch(remote, q.name);
        if (!b) {
          q.status = "failed";
          q.error = "the service's job " + remote.id + " has no batch named " + q.name;
          outcomes[i] = batch_outcome::failed;
          if (unit.group) fail_group(*unit.group, *q.error);
        } else if (b->status != "completed") {
          q.status = b->status.empty() ? "failed" : b->status;
          q.error = "batch " + b->status + (b->message.empty() ? "" : ": " + b->message);
          outcomes[i] = batch_outcome::failed;
          if (unit.group) fail_group(*unit.group, "job " + unit.display_name + ", query " + q.name + ": " + *q.error);
        } else {
          batches.spawn(ex, deliver_batch(ctx, client, unit, remote, *b, q, outcomes[i]));
        }
      }
      co_await batches.wait();

      std::vector<std::string> gone;
      for (std::size_t i = 0; i < report.queries.size(); ++i) {
        query_report& q = report.queries[i];
        if (outcomes[i] == batch_outcome::file_too_large) {
          if (split_in_two(ctx, unit, spawn, q.error.value_or("file too large"))) {
            split = true;
            report.status = "split";
            break;
          }
          if (unit.group) fail_group(*unit.group, q.error.value_or("file too large"));
        }
        if (outcomes[i] == batch_outcome::file_gone) gone.push_back(q.name);
      }
      if (split) break;
      if (!gone.empty() && unit.reruns < 2 && !ctx.interrupted) {
        // Purged before we committed it: the data is still in Zuora, ask again.
        ++unit.reruns;
        ctx.log.warning({.message = "result files purged before they were committed; submitting the job again",
                         .job = unit.display_name,
                         .job_id = remote.id,
                         .attempt = unit.reruns + 1});
        pending = std::move(gone);
        continue;
      }
      for (const auto& name : gone)
        if (unit.group) fail_group(*unit.group, "job " + unit.display_name + ", query " + name + ": result file purged");
      report.status = "completed";
      for (const auto& q : report.queries)
        if (q.status != "completed" && q.status != "fed") report.status = "failed";
      if (report.status != "completed") report.error = "one or more queries failed";
      break;
    }
  } catch (const std::system_error& e) {
    failure = e;
  }
  if (failure) {
    const bool interrupted = failure->code() == aqua_errc::interrupted;
    report.status = interrupted ? "cancelled" : "failed";
    // Name the job: a failed poll's message names only the service's job id.
    const std::string what = failure->what();
    const std::string job_name = "job " + unit.display_name;
    report.error = what.find(job_name) == std::string::npos ? job_name + ": " + what : what;
    report.auth_refused = failure->code() == make_error_condition(condition::auth);
    for (auto& q : report.queries)
      if (q.status == "pending" || q.status == "fed") {
        q.status = interrupted ? "cancelled" : "failed";
        if (!q.error) q.error = "job " + unit.display_name + ", query " + q.name + ": " + what;
      }
    if (unit.group) fail_group(*unit.group, *report.error);
  }
  const job_meter m = ctx.meter(job.name);
  if (split) {
    m.sub(&run_counters::jobs_total, 1u);  // its two halves count instead
  } else {
    m.add(&run_counters::jobs_done, 1u);
    if (report.status != "completed") m.add(&run_counters::jobs_failed, 1u);
    if (report.status == "completed")
      ctx.log.info({.message = fmt::format("completed in {:.1f} s", seconds_since(started)),
                    .job = unit.display_name,
                    .job_id = report.job_id});
    else
      log_failure(ctx, unit, report);
  }
  if (unit.group && !split && --unit.group->pending == 0) co_await finish_group(ctx, *unit.group);
  co_return report;
}

}  // namespace aquaduct::engine_detail

// A windowed query's one logical result (window_group.hpp).
#include "engine/window_group.hpp"

#include "engine/zoql_text.hpp"

#include <aquaduct/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <unordered_set>

namespace aquaduct::engine_detail {

using clock = std::chrono::steady_clock;

namespace {

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

std::chrono::sys_seconds now_utc() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

work_unit catch_up_unit(const job_config& job, window_group& g, std::string& error) {
  const time_window w{g.planned_at - g.catch_up_lag, now_utc() + std::chrono::days{1}};
  work_unit u = window_unit(job, g, w, error);
  u.catch_up = true;
  u.display_name = job.name + " [catch-up " + window_label(w) + "]";
  return u;
}

// The keys of the catch-up's rows: a first pass over its spooled files,
// through a pipeline that opens no sink.
void collect_catch_up_keys(const run_context& ctx, const window_group& g, const window_result& r,
                           std::unordered_set<std::string>& keys) {
  stream_schema schema;
  schema.job = g.job->name;
  schema.query = g.query.name;
  if (g.query.deleted) schema.deleted = deleted_column{g.query.deleted->column, g.query.deleted->format};
  result_pipeline keys_of(g.job->format, std::move(schema), {});
  if (g.job->encrypted == "pgp") keys_of.decrypt_with(ctx.pgp_key);
  std::string error;
  if (std::optional<select_shape> shape = read_select(g.query.query, error)) keys_of.key_by(std::move(*shape));
  keys_of.collect_keys(&keys);
  std::vector<char> buf(256u << 10);
  for (std::size_t k = 0; k < r.batch.files.size(); ++k) {
    keys_of.begin_file(r.batch.files[k]);
    for (std::uint64_t offset = 0;;) {
      const std::size_t n = r.spooled[k]->feed(offset, 4u << 20, buf, [&](std::string_view b) { keys_of.put(b); });
      if (n == 0) break;
      offset += n;
    }
    keys_of.end_file();
  }
  if (!keys_of.schema().key_column && keys_of.rows() > 0)
    throw located_error(aqua_errc::bad_response, "job " + g.job->name + ", query " + g.query.name +
                                                     ": the catch-up's header has no Id of the query's object, "
                                                     "so its rows cannot replace older ones");
}

// The windows in the order their rows go out: by time, the catch-up last.
void sort_results(std::vector<window_result>& results) {
  std::stable_sort(results.begin(), results.end(), [](const window_result& a, const window_result& b) {
    if (a.catch_up != b.catch_up) return !a.catch_up;
    return a.window.from < b.window.from;
  });
}

// Every window into the query's streams, then one commit and the cursor.
asio::awaitable<void> deliver_group(run_context& ctx, window_group& g) {
  g.summary.name = g.query.name;
  g.summary.full = g.load == load_kind::full;
  if (g.failed || ctx.interrupted) {
    g.summary.status = g.failed ? outcome::failed : outcome::cancelled;
    g.summary.error = g.failed ? g.error : "interrupted";
    g.results.clear();
    co_return;
  }
  sort_results(g.results);
  const std::size_t windows = g.results.size();
  const auto started = clock::now();
  const window_result& first = g.results.front();
  commit_path out(ctx, *g.job, g.query, schema_for(ctx, *g.job, first.job_id, first.start_time, g.query, g.load));
  result_pipeline& pipe = out.pipe();
  aqua_client client(ctx.aqua, g.job->name);
  std::unordered_set<std::string> superseded;  // the catch-up's keys: older windows' copies are dropped
  std::optional<located_error> failure;
  try {
    if (g.catch_up)
      for (const window_result& r : g.results)
        if (r.catch_up) co_await on_sink_thread(ctx, [&] { collect_catch_up_keys(ctx, g, r, superseded); });
    std::string job_ids;
    std::vector<std::string> file_ids;
    for (window_result& r : g.results) {
      const std::string where = "job " + r.display_name + " (" + r.job_id + "), query " + g.query.name;
      if (r.spooled.size() != r.batch.files.size())  // its files waited on the service
        r.spooled = co_await spool_batch(ctx, client, g.job->name, where, r.batch.files);
      pipe.drop_keys(r.catch_up ? nullptr : &superseded);
      const std::uint64_t rows0 = pipe.rows(), written0 = pipe.rows_written(), decoded0 = pipe.bytes_decoded();
      co_await feed_spools(ctx, pipe, r.batch.files, r.spooled);
      r.spooled.clear();
      g.delivered_by_job[r.job_id] = {pipe.rows_written() - written0, pipe.bytes_decoded() - decoded0};
      if (pipe.rows() - rows0 != r.batch.record_count)
        throw located_error(aqua_errc::record_count_mismatch,
                            fmt::format("{}: {} rows in {} file(s), the batch's recordCount says {}", where,
                                        pipe.rows() - rows0, r.batch.files.size(), r.batch.record_count));
      job_ids += (job_ids.empty() ? "" : ",") + r.job_id;
      file_ids.insert(file_ids.end(), r.batch.files.begin(), r.batch.files.end());
    }
    std::optional<cursor> next = g.next_cursor;
    if (next) {
      next->rows = pipe.rows_written();
      next->last_job_id = g.results.back().job_id;
    }
    const file_token token{job_ids, g.query.name, file_ids, pipe.rows_written()};
    co_await out.commit(token, std::nullopt, next);
  } catch (const std::system_error& e) {
    failure = locate("job " + g.job->name + ", query " + g.query.name, e);
  }
  g.results.clear();
  if (failure) {
    co_await out.abort();
    fail_group(g, failure->what());
    g.summary.status = failure->code() == aqua_errc::interrupted ? outcome::cancelled : outcome::failed;
    g.summary.error = failure->what();
    co_return;
  }
  const std::uint64_t dropped = pipe.rows() - pipe.rows_written();
  ctx.log.info({.message = fmt::format("committed {} rows of {} window job(s), {} file(s), {} bytes downloaded, {} bytes "
                                       "decoded{}",
                                       pipe.rows_written(), windows, pipe.files(), pipe.bytes_in(), pipe.bytes_decoded(),
                                       dropped ? fmt::format("; {} older copies of rows the catch-up brought were "
                                                             "left out", dropped)
                                               : std::string()),
                .job = g.job->name,
                .query = g.query.name});
  g.summary.status = outcome::completed;
  g.summary.rows = pipe.rows_written();
  g.summary.files = pipe.files();
  g.summary.bytes_downloaded = pipe.bytes_in();
  g.summary.bytes_decoded = pipe.bytes_decoded();
  g.summary.download_s = seconds_since(started);
}

}  // namespace

void fail_group(window_group& g, const std::string& why) {
  if (g.failed) return;
  g.failed = true;
  g.error = why;
}

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

asio::awaitable<batch_outcome> take_window(run_context& ctx, aqua_client& client, const work_unit& unit,
                                           const decode::aqua_job& remote, const decode::aqua_batch& batch,
                                           query_report& q) {
  window_group& g = *unit.group;
  q.full = g.load == load_kind::full;
  if (g.failed) {
    q.status = outcome::failed;
    q.error = "not loaded: " + g.error;
    co_return batch_outcome::failed;
  }
  const std::string where = "job " + unit.display_name + " (" + remote.id + "), query " + g.query.name;
  const auto started = clock::now();
  window_result r;
  r.window = *unit.window;
  r.catch_up = unit.catch_up;
  r.display_name = unit.display_name;
  r.job_id = remote.id;
  r.start_time = remote.start_time;
  r.batch = batch;
  // A catch-up always spools: every other window waits for it.
  if (!batch.files.empty() && (unit.catch_up || ctx.spools->has_room())) {
    std::optional<located_error> failure;
    try {
      r.spooled = co_await spool_batch(ctx, client, unit.job->name, where, batch.files);
    } catch (const std::system_error& e) {
      failure = locate(where, e);
    }
    q.download_s = seconds_since(started);
    if (failure) {
      q.status = failure->code() == aqua_errc::interrupted ? outcome::cancelled : outcome::failed;
      q.error = failure->what();
      const batch_outcome outcome = outcome_of(failure->code());
      if (outcome == batch_outcome::failed) fail_group(g, failure->what());
      co_return outcome;
    }
    for (const auto& s : r.spooled) q.bytes_downloaded += s->size();
  }
  q.rows = batch.record_count;
  q.files = batch.files.size();
  q.status = outcome::pending;  // handed to the group: its commit settles it (engine::run)
  g.results.push_back(std::move(r));
  co_return batch_outcome::delivered;
}

bool split_window_unit(run_context& ctx, const work_unit& unit, const std::function<void(work_unit)>& spawn,
                       const std::string& why) {
  if (!unit.group || !unit.window || !can_split(*unit.window, unit.group->min_step)) return false;
  window_group& g = *unit.group;
  std::string error;
  const auto [a, b] = split_window(*unit.window);
  work_unit first = window_unit(*unit.job, g, a, error);
  work_unit second = window_unit(*unit.job, g, b, error);
  if (!error.empty()) return false;
  for (work_unit* half : {&first, &second}) {
    half->catch_up = unit.catch_up;
    if (unit.catch_up) half->display_name = unit.job->name + " [catch-up " + window_label(*half->window) + "]";
  }
  ctx.log.warning({.message = why + ": splitting the window in two", .job = unit.display_name});
  (unit.catch_up ? g.pending_catch_up : g.pending_windows) += 2;  // the caller settles `unit` itself
  spawn(std::move(first));
  spawn(std::move(second));
  return true;
}

asio::awaitable<void> settle_window(run_context& ctx, work_unit unit, std::function<void(work_unit)> spawn) {
  window_group& g = *unit.group;
  --(unit.catch_up ? g.pending_catch_up : g.pending_windows);
  if (g.catch_up && !g.catch_up_started && g.pending_windows == 0 && !g.failed && !ctx.interrupted) {
    g.catch_up_started = true;
    std::string error;
    work_unit c = catch_up_unit(*unit.job, g, error);
    if (error.empty()) {
      ++g.pending_catch_up;
      ctx.log.info({.message = "every window is in: the catch-up fetches the rows that changed during the backfill",
                    .job = c.display_name});
      spawn(std::move(c));
    } else {
      fail_group(g, "job " + unit.job->name + ", query " + g.query.name + ": the catch-up window: " + error);
    }
  }
  if (g.pending_windows == 0 && g.pending_catch_up == 0) co_await deliver_group(ctx, g);
}

}  // namespace aquaduct::engine_detail

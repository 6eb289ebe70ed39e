// A windowed query's one logical result (window_group.hpp).
#include "engine/window_group.hpp"

#include "engine/zoql_text.hpp"

#include <aquaduct/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
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

// A pipeline that opens no sink and collects the keys (base Ids) of the rows
// it is fed into `keys` (decrypting them first for an encrypted job).
std::unique_ptr<result_pipeline> key_pipeline(const run_context& ctx, const window_group& g,
                                              std::unordered_set<std::string>& keys) {
  stream_schema schema;
  schema.job = g.job->name;
  schema.query = g.query.name;
  if (g.query.deleted) schema.deleted = deleted_column{g.query.deleted->column, g.query.deleted->format};
  auto keys_of = std::make_unique<result_pipeline>(g.job->format, std::move(schema), std::vector<sink*>{});
  if (g.job->encrypted == "pgp") keys_of->decrypt_with(ctx.pgp_key);
  std::string error;
  if (std::optional<select_shape> shape = read_select(g.query.query, error)) keys_of->key_by(std::move(*shape));
  keys_of->collect_keys(&keys);
  return keys_of;
}

void check_keys(const window_group& g, const result_pipeline& keys_of, const char* what) {
  if (!keys_of.schema().key_column && keys_of.rows() > 0)
    throw located_error(aqua_errc::bad_response, "job " + g.job->name + ", query " + g.query.name + ": " + what +
                                                     "'s header has no Id of the query's object");
}

// The keys of a spooled window's rows: a pass over its spool files. `what`
// names the window in an error.
void collect_keys(const run_context& ctx, const window_group& g, const window_result& r,
                  std::unordered_set<std::string>& keys,
                  const char* what) {
  const std::unique_ptr<result_pipeline> keys_of = key_pipeline(ctx, g, keys);
  std::vector<char> buf(256u << 10);
  for (std::size_t k = 0; k < r.batch.files.size(); ++k) {
    keys_of->begin_file(r.batch.files[k]);
    for (std::uint64_t offset = 0;;) {
      const std::size_t n = r.spooled[k]->feed(offset, 4u << 20, buf, [&](std::string_view b) { keys_of->put(b); });
      if (n == 0) break;
      offset += n;
    }
    keys_of->end_file();
  }
  check_keys(g, *keys_of, what);
}

// The windows in the order their rows go out: by time, the catch-up last.
void sort_results(std::vector<window_result>& results) {
  std::stable_sort(results.begin(), results.end(), [](const window_result& a, const window_result& b) {
    if (a.catch_up != b.catch_up) return !a.catch_up;
    if (a.window.from != b.window.from) return a.window.from < b.window.from;
    return a.page < b.page;
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
        if (r.catch_up) co_await on_sink_thread(ctx, [&] { collect_keys(ctx, g, r, superseded, "the catch-up"); });
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
  const std::string note = g.split_note();
  ctx.log.info({.message = fmt::format("committed {} rows of {} window job(s){}, {} file(s), {} bytes downloaded, {} bytes "
                                       "decoded{}",
                                       pipe.rows_written(), windows, note.empty() ? "" : " (" + note + ")", pipe.files(),
                                       pipe.bytes_in(), pipe.bytes_decoded(),
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

std::string window_group::split_note() const {
  if (time_splits == 0 && pages == 0) return {};
  std::string n = automatic ? "split by the engine: " : "split: ";
  n += fmt::format("{} time split(s)", time_splits);
  if (pages) n += fmt::format(", {} Id page(s) ({} retried smaller)", pages, page_retries);
  if (!split_why.empty()) n += "; why: " + split_why;
  return n;
}

work_unit window_unit(const job_config& job, window_group& g, time_window w, std::string& error) {
  work_unit u;
  u.job = &job;
  u.group = &g;
  u.adopted = g.weak_from_this().lock();
  u.window = w;
  u.display_name = job.name + " [" + window_label(w) + "]";
  query_config q = g.query;
  q.query = windowed_query(g.query.query, g.by, w, error);
  u.queries.push_back(std::move(q));
  return u;
}

work_unit page_unit(const job_config& job, window_group& g, time_window w, id_page p, bool catch_up,
                    std::string& error) {
  work_unit u = window_unit(job, g, w, error);
  std::string& text = u.queries.front().query;
  while (!text.empty() && (text.back() == ';' || std::isspace(static_cast<unsigned char>(text.back()))))
    text.pop_back();
  // Ids are read back from the service, never made up: they need no escaping
  // beyond the quote ZOQL doubles.
  std::string after;
  for (char c : p.after) after += c == '\'' ? std::string("''") : std::string(1, c);
  if (!p.after.empty()) text += " and Id > '" + after + "'";
  text += fmt::format(" order by Id asc limit {}", p.size);
  u.catch_up = catch_up;
  u.display_name = job.name + " [" + (catch_up ? "catch-up " : "") + window_label(w) +
                   fmt::format(" Id page {}]", p.number);
  u.page = std::move(p);
  return u;
}

std::shared_ptr<window_group> window_plain_query(const job_config& job, const query_config& q,
                                                 std::optional<cursor> next, std::string& why_not) {
  if (job.stateful()) {
    why_not = "a stateful session's query is not split";
    return nullptr;
  }
  if (std::string why = keyset_page_problem(q.query); !why.empty()) {
    why_not = "it cannot be split, as " + why;
    return nullptr;
  }
  if (std::string why = base_id_problem(q.query, job.use_query_labels); !why.empty()) {
    why_not = "it cannot be split: " + why;
    return nullptr;
  }
  auto g = std::make_shared<window_group>();
  g->job = &job;
  g->query = q;
  g->by = "UpdatedDate";
  g->min_step = std::chrono::seconds{1};
  g->load = load_kind::full;
  g->next_cursor = std::move(next);
  g->catch_up = true;  // rows move along UpdatedDate while the pieces run
  g->planned_at = now_utc();
  g->automatic = true;
  return g;
}

work_unit first_window_unit(const std::shared_ptr<window_group>& g, std::string& error) {
  ++g->pending_windows;
  return window_unit(*g->job, *g, time_window{sys_seconds{}, g->planned_at}, error);
}

asio::awaitable<batch_outcome> take_window(run_context& ctx, aqua_client& client, const work_unit& unit,
                                           const decode::aqua_job& remote, const decode::aqua_batch& batch,
                                           query_report& q, std::optional<work_unit>& next_page) {
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
  r.page = unit.page ? unit.page->number : 0;
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
  if (unit.page) {
    ++g.pages;
    ctx.meter(unit.job->name).add(&run_counters::id_pages, 1u);
    if (++g.page_streak >= 2 && g.page_rows < max_page_rows) {  // two in a row: try bigger pages again
      g.page_rows = std::min(max_page_rows, g.page_rows * 2);
      g.page_streak = 0;
    }
    if (batch.record_count >= unit.page->size) {  // a full page: there may be more
      std::unordered_set<std::string> keys;
      std::optional<located_error> failure;
      try {
        if (r.spooled.size() == batch.files.size()) {
          co_await on_sink_thread(ctx, [&] { collect_keys(ctx, g, r, keys, "a page"); });
        } else {  // no room to spool: read its Ids now, download it again when the group delivers
          const std::unique_ptr<result_pipeline> keys_of = key_pipeline(ctx, g, keys);
          co_await stream_files(ctx, client, *keys_of, batch.files);
          check_keys(g, *keys_of, "a page");
        }
      } catch (const std::system_error& e) {
        failure = locate(where, e);
      }
      if (failure || keys.empty()) {
        const std::string why = failure ? failure->what() : where + ": a full page without Ids";
        q.status = outcome::failed;
        q.error = why;
        fail_group(g, why);
        co_return batch_outcome::failed;
      }
      id_page p{*std::max_element(keys.begin(), keys.end()), g.page_rows, unit.page->number + 1};
      std::string error;
      work_unit next = page_unit(*unit.job, g, *unit.window, std::move(p), unit.catch_up, error);
      if (error.empty()) next_page = std::move(next);
      else fail_group(g, where + ": " + error);
    }
  }
  q.rows = batch.record_count;
  q.files = batch.files.size();
  q.status = outcome::pending;  // handed to the group: its commit settles it (engine::run)
  g.results.push_back(std::move(r));
  co_return batch_outcome::delivered;
}

bool split_window_unit(run_context& ctx, const work_unit& unit, const std::function<void(work_unit)>& spawn,
                       const std::string& why, const std::string& job_id) {
  if (!unit.group || !unit.window) return false;
  window_group& g = *unit.group;
  if (g.split_why.empty()) g.split_why = why;
  std::string error;
  if (!unit.page && can_split(*unit.window, g.min_step)) {
    // Halves; a plain query's own group, whose first window spans decades,
    // halves four times at once (16 pieces) so that it reaches a dense second
    // in a quarter of the rounds.
    std::vector<time_window> pieces{*unit.window};
    for (int level = 0; level < (g.automatic ? 4 : 1); ++level) {
      std::vector<time_window> finer;
      for (const time_window& w : pieces) {
        if (!can_split(w, g.min_step)) {
          finer.push_back(w);
          continue;
        }
        const auto [a, b] = split_window(w);
        finer.push_back(a);
        finer.push_back(b);
      }
      pieces = std::move(finer);
    }
    std::vector<work_unit> units;
    for (const time_window& w : pieces) {
      work_unit& u = units.emplace_back(window_unit(*unit.job, g, w, error));
      u.catch_up = unit.catch_up;
      if (unit.catch_up) u.display_name = unit.job->name + " [catch-up " + window_label(w) + "]";
    }
    if (!error.empty()) return false;
    ++g.time_splits;
    ctx.log.warning({.message = why + (units.size() == 2 ? std::string(": splitting the window in two")
                                                         : fmt::format(": splitting the window in {}", units.size())),
                     .job = unit.display_name,
                     .job_id = job_id,
                     .query = g.query.name});
    (unit.catch_up ? g.pending_catch_up : g.pending_windows) += units.size();  // the caller settles `unit` itself
    for (work_unit& u : units) spawn(std::move(u));
    return true;
  }
  const std::string where = "job " + unit.display_name + ", query " + g.query.name;
  if (std::string problem = keyset_page_problem(g.query.query); !problem.empty()) {
    fail_group(g, fmt::format("{}: {}; the window {} cannot be split in time any further (min_step {} s), nor cut "
                              "into pages by Id, as {}",
                              where, why, window_label(*unit.window), g.min_step.count(), problem));
    return false;
  }
  id_page p;
  if (unit.page) {
    if (unit.page->size <= 1) {
      fail_group(g, fmt::format("{}: {}; cannot be split any further: a single row ({} in the window {}, which "
                                "time cannot split below {} s) is over the service's limit",
                                where, why,
                                unit.page->after.empty() ? std::string("the first")
                                                         : "the first after Id '" + unit.page->after + "'",
                                window_label(*unit.window), std::max<std::int64_t>(1, g.min_step.count())));
      return false;
    }
    p = *unit.page;
    p.size /= 2;
    g.page_rows = std::min(g.page_rows, p.size);
    g.page_streak = 0;
    ++g.page_retries;
  } else {
    p.size = g.page_rows;
  }
  work_unit piece = page_unit(*unit.job, g, *unit.window, p, unit.catch_up, error);
  if (!error.empty()) return false;
  ctx.log.warning({.message = fmt::format("{}: {} by Id, {} rows a page", why,
                                          unit.page ? "asking for the page again" : "cutting the window into pages",
                                          p.size),
                   .job = unit.display_name,
                   .job_id = job_id,
                   .query = g.query.name});
  ++(unit.catch_up ? g.pending_catch_up : g.pending_windows);
  spawn(std::move(piece));
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

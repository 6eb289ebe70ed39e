#pragma once
// Window coordination: a windowed (partitioned or incremental) query's one
// logical result. Its windows run as AQuA jobs in parallel. A completed window
// spools its files while the run's spool budget has room (else its files wait
// on the service, which keeps them for 72 h) and hands them to its group.
// When the last window is in, the group feeds every window into one set of
// sink streams, in window order, and commits once; then the query's cursor
// moves.
//
// The catch-up. A full load cut into windows on a column that rows move along
// (UpdatedDate; any column but CreatedDate) loses the rows updated during the
// backfill: their new value lies past the plan's `now`, outside every window.
// Such a group runs one more window once every other window's job has ended,
// [plan time - catch_up_lag_s, the catch-up's own now + 1 day), and delivers
// it with the rest: a row the catch-up has is taken from it, never from an
// older window (its key, the base object's Id, decides). docs/architecture.md,
// "Delivery guarantee".
#include "engine/delivery.hpp"
#include "engine/job_runner.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aquaduct::engine_detail {

// The largest keyset page asked for (window_group::page_rows).
inline constexpr std::uint64_t max_page_rows = 50'000;

// A completed window, handed to its group.
struct window_result {
  time_window window;
  unsigned page = 0;  // its keyset page number, 0 when not a page
  bool catch_up = false;
  std::string display_name;
  std::string job_id;
  std::string start_time;   // the job's startTime
  decode::aqua_batch batch;  // its files and recordCount
  spools spooled;           // one per file, or none: the files wait on the service
};

struct window_group : std::enable_shared_from_this<window_group> {
  const job_config* job = nullptr;
  query_config query;                 // as configured (not windowed)
  std::string by;                     // the window column
  std::chrono::seconds min_step{3600};
  load_kind load = load_kind::full;
  std::optional<cursor> next_cursor;  // saved after the commit (incremental mode)

  bool catch_up = false;                   // a full load windowed on a column rows move along
  std::chrono::sys_seconds planned_at{};   // the plan's now: where the windows end
  std::chrono::seconds catch_up_lag{3600};

  std::size_t pending_windows = 0;   // windows (not the catch-up) whose units have not ended
  std::size_t pending_catch_up = 0;  // catch-up units not ended
  bool catch_up_started = false;
  std::vector<window_result> results;
  bool failed = false;
  bool refused = false;  // the service refused the query for good: no other window is submitted
  std::string error;
  query_report summary;  // the whole query, for the report
  // What each window job put into the streams (by job id; a row the catch-up
  // brought again counts for the catch-up only): engine::run settles the
  // windows' reports with it, so that they add up to the commit.
  struct delivered {
    std::uint64_t rows = 0, bytes_decoded = 0;
  };
  std::map<std::string, delivered> delivered_by_job;

  // Splitting to finish (docs/architecture.md, "Huge objects"). A plain query
  // the service could not export in one piece becomes a group of its own
  // (`automatic`), windowed on UpdatedDate. A window is split in time halves
  // down to min_step, then cut into keyset pages by Id, whose size halves when
  // a page fails and doubles after two pages in a row succeed.
  bool automatic = false;
  std::uint64_t page_rows = max_page_rows;
  unsigned page_streak = 0;
  std::size_t time_splits = 0, pages = 0, page_retries = 0;
  std::string split_why;  // the first reason a piece had to be split
  // "" when nothing was split, else what was split and why (logs, report).
  std::string split_note() const;
};

// The unit of one window of `g`: the query restricted to `w` (an error from
// windowed_query goes to `error`). The caller counts it as pending.
work_unit window_unit(const job_config& job, window_group& g, time_window w, std::string& error);

// The unit of keyset page `p` of window `w` of `g`.
work_unit page_unit(const job_config& job, window_group& g, time_window w, id_page p, bool catch_up,
                    std::string& error);

// A group for plain query `q` of `job` that the service could not export in
// one piece: windowed on UpdatedDate from 1970 to now, with a catch-up, loaded
// in full, its cursor `next` saved after the one commit. nullptr and
// `why_not` when it cannot be split (a stateful job, a query with order by,
// group by or limit, or without its object's Id). The caller spawns
// first_window_unit(*g) and counts it as pending.
std::shared_ptr<window_group> window_plain_query(const job_config& job, const query_config& q,
                                                 std::optional<cursor> next, std::string& why_not);
work_unit first_window_unit(const std::shared_ptr<window_group>& g, std::string& error);

// A window's job completed with `batch`: its files spool when there is room
// (a catch-up's always) and the window joins the group's results. A page
// that came back full sets `next_page` to the page after its last Id (read
// from its spool files, or from its files streamed once when they wait on
// the service).
// Outcomes: delivered (handed over), file_gone or file_too_large (the caller
// runs the window again or splits it), failed (the group fails).
asio::awaitable<batch_outcome> take_window(run_context& ctx, aqua_client& client, const work_unit& unit,
                                           const decode::aqua_job& remote, const decode::aqua_batch& batch,
                                           query_report& q, std::optional<work_unit>& next_page);

// `unit`'s window runs again in smaller pieces, when it can: two time halves
// while both are at least min_step long, else keyset pages by Id (a page
// that failed runs again at half its size). `why` is logged. The caller then
// settles `unit` as usual. False when it cannot be split: the group is then
// failed, saying why (a single row over the limit). `job_id`, the service's
// job that could not finish, goes into the log records.
bool split_window_unit(run_context& ctx, const work_unit& unit, const std::function<void(work_unit)>& spawn,
                       const std::string& why, const std::string& job_id);

// Marks the group failed (the first reason wins).
void fail_group(window_group& g, const std::string& why);

// A window unit ended, whatever happened to it: the group counts it, starts
// the catch-up after the last other window, and after the last window of all
// delivers every window and commits.
asio::awaitable<void> settle_window(run_context& ctx, work_unit unit, std::function<void(work_unit)> spawn);

}  // namespace aquaduct::engine_detail

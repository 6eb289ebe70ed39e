#pragma once
// The life of one AQuA job, as a coroutine that reads like the protocol:
//   wait for a job slot (and the session's turn) -> submit (one Idempotency-Key)
//   -> poll with backoff, woken early by a callout -> give the slot back
//   -> per completed batch: a plain query's files stream into its own sink
//      streams and commit; a window's files go to its group (window_group.hpp)
//   -> the cursor moves after the commit (delivery.hpp, commit_path).
// Failures end up in the job_report, never as an exception.
//
// What a run is made of (engine/job_plan.hpp builds it from the config):
//   work_unit    one AQuA job to submit: a config job's plain queries together,
//                or one window of a windowed (partitioned or incremental) query
//   window_group a windowed query's one logical result (window_group.hpp)
#include "engine/run_context.hpp"

#include <asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aquaduct::engine_detail {

struct window_group;

// A page of a window that time cannot split further, cut by the base
// object's Id (a keyset page): `<window> and Id > 'after' order by Id limit size`.
struct id_page {
  std::string after;       // the last Id of the page before; "" for the first page
  std::uint64_t size = 0;  // rows asked for
  unsigned number = 1;     // 1, 2, ... within its window
};

// One AQuA job to submit.
struct work_unit {
  const job_config* job = nullptr;
  std::vector<query_config> queries;  // as sent: a window's query text is already windowed
  std::string display_name;           // the job's name, plus the window for a window
  std::optional<std::string> incremental_time;  // stateful: from our own committed cursors
  // Stateful, and none of the queries has a cursor: when the service's session
  // is new too (no completed job), incrementalTime is left out for a full load.
  bool session_may_be_new = false;
  // Stateful queries without a trusted cursor (job_plan.hpp, cursor_trust):
  // asked from the floor, their rows replace what the sinks hold (a full
  // load, the rows flagged deleted left out) even though the service calls
  // the load incremental.
  std::set<std::string> reload;
  // Of `reload`, the queries that changed or are new, which the service loads
  // in full by itself (contract §4.2) while the others stay incremental from
  // incremental_time. Answered incrementally instead (a session that saw the
  // change in a job we never committed), the job is submitted again from
  // floor_time.
  std::set<std::string> expect_full;
  std::optional<std::string> floor_time;  // stateful: 2000-01-01 in the data centre's zone
  window_group* group = nullptr;      // set for a window of a windowed query
  std::optional<time_window> window;
  bool catch_up = false;              // the window is its group's catch-up
  std::optional<id_page> page;        // a keyset page of `window`
  // A group the engine made for a plain query it had to split (window_group.hpp,
  // window_plain_query): owned by its units and, once spawned, by the run.
  std::shared_ptr<window_group> adopted;
  unsigned reruns = 0;                // times this unit was submitted again (purged files)
};

// How a unit ended: its report, unless it went on as two halves, which
// report in its place.
struct unit_result {
  job_report report;
  bool split = false;
};

// Runs one unit to its end; a window may add units (its halves, its group's
// catch-up) through `spawn`.
asio::awaitable<unit_result> run_unit(run_context& ctx, work_unit unit, std::function<void(work_unit)> spawn);

}  // namespace aquaduct::engine_detail

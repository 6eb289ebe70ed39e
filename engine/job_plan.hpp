#pragma once
// From the config and the committed cursors to the AQuA jobs of one run
// (engine/job_runner.hpp explains work_unit and window_group):
//   - a config job's plain queries go together in one unit; a stateful job's
//     unit carries incrementalTime from our own cursors, never the server's;
//   - a partitioned query becomes one unit per window, all feeding one group
//     that loads in full;
//   - an incremental query becomes one window [high-water mark, now - lag),
//     a group that loads in full the first time and incrementally after.
#include "engine/job_runner.hpp"

#include <deque>

namespace aquaduct::engine_detail {

struct run_plan {
  std::deque<work_unit> units;
  std::deque<window_group> groups;     // stable addresses: units point into it
  std::vector<job_report> nothing_to_do;  // queries whose window is empty this run
};

// Throws config_error when the plan needs state and there is no store, or a
// windowed query cannot be rewritten; std::system_error from a bad cursor file.
run_plan plan_run(const pipeline_config& cfg, state_store* state, data_center_zone zone,
                  std::chrono::sys_seconds now);

// A stateful job's incrementalTime: the oldest committed cursor of its
// queries, or the floor (2000-01-01) when any query has none, so that nothing
// the service's session moved past without our commit is skipped.
std::string stateful_incremental_time(const job_config& job, const state_store& state, data_center_zone zone);

}  // namespace aquaduct::engine_detail

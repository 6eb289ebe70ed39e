#pragma once
// From the config and the committed cursors to the AQuA jobs of one run
// (engine/job_runner.hpp explains work_unit and window_group):
//   - a config job's plain queries go together in one unit; a stateful job's
//     unit carries incrementalTime from our own cursors, never the server's;
//   - a partitioned query becomes one unit per window, all feeding one group
//     that loads in full; on a column rows move along, with `to = "now"`, the
//     group runs a catch-up window after the others (window_group.hpp);
//   - an incremental query becomes one window [high-water mark, now - lag),
//     a group that loads in full the first time and incrementally after.
#include "engine/job_runner.hpp"
#include "engine/window_group.hpp"

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aquaduct::engine_detail {

// Which committed cursors a run may use. A cursor is trusted only for the
// source it was read from and the sinks it was committed to, while every sink
// still holds its target, unless a full refresh sets it aside. A query whose
// cursor is not trusted loads in full (a stateful one is asked from the floor,
// and what comes back replaces the sinks' content), and the plan says why.
struct cursor_trust {
  std::string source;  // source_identity() of this run; empty: not checked
  // The destinations of this run's sinks, sorted; nullopt: not checked.
  std::optional<std::vector<std::string>> destinations;
  // The sink that no longer holds (job, query)'s target, else "" (a dropped
  // table, a removed file); empty function: not checked. May block.
  std::function<std::string(const std::string& job, const std::string& query)> lost_by;
  std::vector<std::string> full_refresh;  // "JOB" or "JOB/QUERY"; "*" for every query
};

// Where a run reads from, as cursors remember it: the service's base URL (an
// environment resolved to its URL) and who reads (OAuth client id, API access
// key id or user name), never a secret.
std::string source_identity(const source_config& src);
// Whether a full_refresh entry names (job, query): "*", "JOB" or "JOB/QUERY".
bool refresh_names(const std::vector<std::string>& full_refresh, std::string_view job, std::string_view query);

struct run_plan {
  std::deque<work_unit> units;
  std::deque<window_group> groups;     // stable addresses: units point into it
  std::vector<job_report> nothing_to_do;  // queries whose window is empty this run
  std::vector<log_record> notes;          // warnings: cursors set aside, and why
};

// Throws config_error when the plan needs state and there is no store, or a
// windowed query cannot be rewritten; std::system_error from a bad cursor file.
run_plan plan_run(const pipeline_config& cfg, state_store* state, const wall_zone& zone,
                  std::chrono::sys_seconds now, const cursor_trust& trust = {});

// A stateful job's incrementalTime: the oldest trusted cursor of its queries,
// or the floor (2000-01-01) when any query has none, so that nothing the
// service's session moved past without our commit is skipped.
std::string stateful_incremental_time(const job_config& job, const state_store& state, const wall_zone& zone,
                                      const cursor_trust& trust = {});

}  // namespace aquaduct::engine_detail

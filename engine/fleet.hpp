#pragma once
// A fleet's run in the state database (issue 21, docs/fleet.md): N `aquaduct
// worker` processes on any machines share one run of a pipeline through the
// tables of schema version 2 (engine/state_database.cpp creates them):
//
//   runs(run, pipeline, planned_by)   one row per run id; whoever inserts it plans
//   units(run, unit, ...)             one per [[jobs]] entry: pending -> running
//                                     (owner, lease_until, fence) -> completed | failed
//   job_slots(pool, slot, ...)        the tenant's limits across the fleet: a pool
//                                     of N leased slots per limit, each with the
//                                     AQuA job it covers
//
// Claims use FOR UPDATE SKIP LOCKED, as Postgres-backed queues do. A claim sets a
// lease (renewed by renew() every lease/3) and a new fencing token from one
// sequence, so a unit taken over after its lease expired has a higher token
// than any before it. Everything that makes the unit's work durable carries the
// token: the cursor's transaction locks the unit's row and checks it
// (fenced_state), the sinks check it against the highest they committed
// (file_token::fence), and the engine checks it before the sinks commit
// (fleet_unit::check). A worker that was paused past its lease, or cut off
// from the database, therefore cannot commit once another holds its unit.
//
// A job slot taken over from a holder whose lease expired names the AQuA job
// that holder had on the service (`orphan`): the taker cancels it first, so a
// killed worker's jobs do not push the tenant past its limit.
#include "engine/pg_connection.hpp"
#include "engine/state_store.hpp"

#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aquaduct::engine_detail {

class state_database;

struct fleet_settings {
  std::string url;                 // the state database (postgres://...)
  std::string run;                 // the run's id, the same for all its workers
  std::chrono::seconds lease{30};  // a holder that does not renew for this long loses its unit and slots
};

// A unit this worker holds.
struct claimed_unit {
  std::string unit;         // the [[jobs]] name
  std::uint64_t fence = 0;  // its fencing token
  unsigned attempt = 1;     // 1 for the first claim, 2 after a takeover or a release, ...
  std::string taken_from;   // the holder whose lease had expired; "" when the unit was pending
};

// A unit as the state database has it (run-status).
struct unit_row {
  std::string unit, state, owner;
  std::uint64_t fence = 0;
  unsigned attempts = 0;
  int exit_code = 0;          // of its engine run, once it ended
  std::string report;         // the run_report JSON of its last engine run, once it ended
  double lease_left_s = 0;    // while running: seconds before its lease expires (negative: expired)
};

struct run_row {
  std::string run, pipeline, planned_by, planned_at;
  std::vector<unit_row> units;  // in the pipeline's order
  bool finished() const;        // every unit completed or failed
  int exit_code() const;        // 0 all completed; else the worst unit's (3 > 2 > 1); 1 while not finished
};

// A leased slot of a pool (job_slots).
struct fleet_slot {
  std::string pool;
  int number = -1;
  std::string orphan;  // the job id its expired holder had on the service, to cancel; "" if none
};

class fleet {
 public:
  // Connects (the state database, one connection for claims and one for
  // renewals); throws std::system_error naming the database on failure.
  explicit fleet(fleet_settings s);
  ~fleet();
  fleet(const fleet&) = delete;
  fleet& operator=(const fleet&) = delete;

  // Plans the run from `cfg` (one unit per [[jobs]] entry, in order) unless a
  // worker already did; true when this one did. A run planned from another
  // pipeline (its file's SHA-256 differs) is refused: std::system_error
  // (invalid_argument) naming both.
  bool plan(const pipeline_config& cfg);
  // A unit that is pending, or running under a lease that expired; nullopt when none is.
  std::optional<claimed_unit> claim();
  // How the unit's engine run ended; false when its token is stale (another
  // worker holds the unit now): nothing is recorded.
  bool finish(const claimed_unit& u, int exit_code, const std::string& report_json);
  // Gives the unit back (an interrupted worker): pending, for any worker at once.
  void release(const claimed_unit& u) noexcept;
  // Renews the leases of every unit and slot this worker holds. Returns the
  // units it no longer holds (their token is stale): their work must stop.
  // Throws std::system_error when the database cannot be reached.
  std::vector<std::string> renew();
  // Throws std::system_error(sink_errc::stale_fence) unless `unit` still has `fence`.
  void check(const std::string& unit, std::uint64_t fence) const;

  // A free slot of `pool` (slots 0..size-1), or one whose holder's lease expired.
  std::optional<fleet_slot> try_slot(const std::string& pool, unsigned size);
  // The AQuA job the slot now covers (cancelled by whoever takes the slot over).
  void note_job(const fleet_slot& s, const std::string& job_id);
  void free_slot(const fleet_slot& s) noexcept;

  run_row status() const;
  const std::string& run() const noexcept { return settings_.run; }
  const std::string& worker() const noexcept { return worker_; }
  std::chrono::seconds lease() const noexcept { return settings_.lease; }
  // The cursors, shared by this worker's units (each through its fenced_state).
  state_database& state() noexcept { return *state_; }

 private:
  fleet_settings settings_;
  std::string worker_;  // "aquaduct pid N on HOST #RANDOM": unique even where every pod's pid is 1
  std::unique_ptr<state_database> state_;
  std::unique_ptr<pg_connection> conn_, renewals_;
  mutable std::mutex m_, renew_m_;
  std::set<std::pair<std::string, std::uint64_t>> held_;  // (unit, fence) claimed and not finished
  std::set<std::string> pools_;                         // pools whose slot rows exist
};

// The cursors of one claimed unit: state_database's, with every commit
// checked against the unit's fencing token in the same transaction.
class fenced_state final : public state_store {
 public:
  fenced_state(state_database& db, std::string run, claimed_unit unit);
  std::optional<cursor> load(std::string_view job, std::string_view query) const override;
  void save(const cursor& c) override;
  void begin_commit(const cursor& next) override;
  std::optional<cursor> pending(std::string_view job, std::string_view query) const override;
  std::vector<cursor> list() const override;
  bool remove(std::string_view job, std::string_view query) override;
  void lock() override {}  // the unit's lease is the lock
  std::string where() const override;

 private:
  state_database& db_;
  std::string run_;
  claimed_unit unit_;
};

// One claimed unit's engine run (engine_options::fleet).
struct fleet_unit {
  fleet* coordinator = nullptr;
  claimed_unit claim;
  std::unique_ptr<state_store> state;  // a fenced_state

  fencing_token token() const { return {claim.unit, claim.fence}; }
  // Before the sinks commit: throws sink_errc::stale_fence once another holds the unit.
  void check() const { coordinator->check(claim.unit, claim.fence); }
};

}  // namespace aquaduct::engine_detail

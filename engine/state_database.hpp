#pragma once
// The cursors in a PostgreSQL database (`--state postgres://…`, or `[state]
// url`), so that the machines of a fleet share them (issue 21; docs/fleet.md).
// Schema `aquaduct`, created and migrated by aquaduct under an advisory lock,
// its version in aquaduct.schema_version:
//   1  cursors(job, query, cursor)          the committed cursor, to_json() text
//      pending_commits(job, query, cursor)  a commit begun (begin_commit)
//   2  runs, units, job_slots, the fences sequence: a fleet's runs (engine/fleet.hpp)
// save() replaces the cursor and ends its pending commit in one transaction.
// lock() is a session advisory lock: released when the connection closes,
// with the process or the store.
#include "engine/pg_connection.hpp"
#include "engine/state_store.hpp"

#include <memory>
#include <mutex>
#include <string>

namespace aquaduct::engine_detail {

class state_database final : public state_store {
 public:
  // The schema version this build writes; a database at a later one is refused.
  static constexpr int schema_version = 2;

  // Connects to `url` (libpq's URI form) and creates or migrates the schema.
  // Throws std::system_error naming where() and the server's reason.
  explicit state_database(const std::string& url);
  ~state_database() override;
  state_database(const state_database&) = delete;
  state_database& operator=(const state_database&) = delete;

  std::optional<cursor> load(std::string_view job, std::string_view query) const override;
  void save(const cursor& c) override;
  void begin_commit(const cursor& next) override;
  std::optional<cursor> pending(std::string_view job, std::string_view query) const override;
  std::vector<cursor> list() const override;
  bool remove(std::string_view job, std::string_view query) override;
  // The message of a refusal names the holder (its application_name: aquaduct,
  // its pid and host).
  void lock() override;
  std::string where() const override { return where_; }

  // A fleet unit's claim (engine/fleet.hpp): a save or a commit begun with it
  // locks the unit's row in its own transaction and throws
  // std::system_error(sink_errc::stale_fence) unless the unit still has `fence`.
  struct unit_fence {
    std::string run, unit;
    std::uint64_t fence = 0;
  };
  void save(const cursor& c, const unit_fence* fence);
  void begin_commit(const cursor& next, const unit_fence* fence);
  // Throws std::system_error(sink_errc::stale_fence) naming the unit's holder
  // unless it still has `f.fence`; `conn` runs the check (inside its transaction).
  static void check_fence(const pg_connection& conn, const unit_fence& f, bool lock_row);

 private:
  std::string where_;
  std::unique_ptr<pg_connection> conn_;
  mutable std::mutex m_;  // one libpq connection: one statement at a time
  bool locked_ = false;
};

}  // namespace aquaduct::engine_detail

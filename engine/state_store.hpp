#pragma once
// Crash-safe cursors (../shared/docs/interfaces.md §5): one small JSON file per
// (job, query) in the state directory, replaced atomically (temporary file,
// fsync, rename, fsync of the directory) only after the sinks committed. A
// rerun resumes from the last committed cursor; a file that cannot be read
// is an error naming it, never a silent full reload.
//
//   {"version":2,"job":"billing","query":"Account","mode":"stateful",
//    "position":"2026-11-29T10:00:00Z","fingerprint":"<sha256 hex>",
//    "source":"https://rest.zuora.com as client 7c1...","destinations":["csv:/data/out"],
//    "last_job_id":"2c9...","rows":1234,"committed_at":"2026-11-29T10:03:12Z"}
// A cursor belongs to what it describes: the query (fingerprint), the source
// it was read from and the sinks it was committed to (job_plan.hpp decides
// whether to trust it). Version 1 files (without source and destinations)
// still load.
#include "engine/windows.hpp"

#include <aquaduct/config.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::engine_detail {

struct cursor {
  std::string job, query;
  std::string mode;  // "stateful" | "incremental" | "partition" | "full"
  // stateful: the committed job's startTime (the next incrementalTime);
  // incremental: the committed window end (high-water mark).
  std::optional<std::chrono::sys_seconds> position;
  std::string fingerprint;  // fingerprint_of() the query it was made with: a changed query must not reuse it
  std::string source;       // source_identity() of the service it was read from; empty in version 1 files
  std::vector<std::string> destinations;  // sink::destination() of every sink it was committed to, sorted
  std::string last_job_id;
  std::uint64_t rows = 0;     // rows of the last committed load
  std::string committed_at;   // UTC ISO 8601, set by save()
};

// Where a run's cursors live: the interface the engine, `aquaduct state` and
// the tap see. Two backends: a directory (state_directory, the default) and a
// PostgreSQL database (state_database, engine/state_database.hpp), which
// several machines can share. open_state() picks one from a location.
class state_store {
 public:
  virtual ~state_store() = default;
  // nullopt: no cursor yet. A stored cursor that cannot be read or is not of
  // this (job, query) throws std::system_error naming where it is and why.
  virtual std::optional<cursor> load(std::string_view job, std::string_view query) const = 0;
  // Atomic, and safe from several threads at once. Sets committed_at (to
  // now) in what it stores. Throws std::system_error naming where on failure.
  virtual void save(const cursor& c) = 0;
  // A commit about to begin: `next` is the cursor it will save. Recorded
  // atomically and removed by save(next). Found by pending() when a run
  // stopped between the first sink's commit and the cursor: some sinks may
  // then hold rows that a replay from the older cursor cannot remove (a row
  // created and deleted inside the replayed window never comes back), so the
  // plan reloads the query.
  virtual void begin_commit(const cursor& next) = 0;
  // The commit begun and not finished for (job, query): its intended cursor.
  virtual std::optional<cursor> pending(std::string_view job, std::string_view query) const = 0;
  // Every cursor, sorted by job and query (one that cannot be read throws,
  // naming it, as load() does).
  virtual std::vector<cursor> list() const = 0;
  // Removes the cursor of (job, query) (and its pending commit); false when there was none.
  virtual bool remove(std::string_view job, std::string_view query) = 0;
  // Takes this state for one run until the process ends (or the store is
  // destroyed), so two runs never share it. Throws std::system_error
  // (device_or_resource_busy) naming it when another run holds it. Idempotent.
  virtual void lock() = 0;
  // Where it is, for messages: the directory, or the database's URL without
  // its password.
  virtual std::string where() const = 0;
};

// The state in `location`: a PostgreSQL database for a postgres:// or
// postgresql:// URL (connected, its schema created or migrated), else a
// directory (created). Throws std::system_error naming it (never the password).
std::unique_ptr<state_store> open_state(const std::string& location);
// Whether `location` names a database rather than a directory.
bool is_state_url(std::string_view location) noexcept;

// One small JSON file per (job, query) in a directory, replaced atomically
// (temporary file, fsync, rename, fsync of the directory); a commit begun is
// <cursor file>.pending beside it; the lock is a flock on DIR/.lock.
class state_directory final : public state_store {
 public:
  // Creates the directory (and parents); throws std::system_error naming it on failure.
  explicit state_directory(std::filesystem::path dir);
  ~state_directory() override;
  state_directory(state_directory&& other) noexcept;
  state_directory& operator=(state_directory&&) = delete;
  state_directory(const state_directory&) = delete;
  state_directory& operator=(const state_directory&) = delete;

  std::optional<cursor> load(std::string_view job, std::string_view query) const override;
  void save(const cursor& c) override;
  void begin_commit(const cursor& next) override;
  std::optional<cursor> pending(std::string_view job, std::string_view query) const override;
  std::vector<cursor> list() const override;
  bool remove(std::string_view job, std::string_view query) override;
  // An exclusive flock on DIR/.lock (released when the process ends); the
  // message names the holder's pid.
  void lock() override;
  std::string where() const override { return dir_.string(); }

  // DIR/"<job>.<query>.<hash>.json": letters, digits, '-' and '_' of the names
  // (60 bytes each at most, anything else becomes '_'), and 16 hex digits of
  // a hash of the exact pair, so distinct pairs never share a file.
  std::filesystem::path path_of(std::string_view job, std::string_view query) const;
  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  int lock_fd_ = -1;
};

// Hex SHA-256 of a canonical text of what decides a query's rows: type,
// query text, the deleted spec (column and format) and the window column
// (partition/incremental `by`). Stable across runs and builds.
std::string fingerprint_of(const query_config& q);
// Hex SHA-256 of `text` (64 lowercase digits).
std::string sha256_hex(std::string_view text);

// The cursor as its file (or row) holds it (one JSON object, no newline).
std::string to_json(const cursor& c);
// The cursor in `text`; throws std::system_error (bad_message) starting with
// `where` ("state file F") and ending with `remedy` when it is not one.
cursor parse_cursor(std::string_view text, const std::string& where, std::string_view remedy);
// Throws std::system_error (invalid_argument) starting with `where` when a
// save would store what load() refuses: an unknown mode, text not UTF-8.
void check_storable(const cursor& c, const std::string& where);
// Now, as committed_at holds it.
std::string committed_at_now();

// "YYYY-MM-DDTHH:MM:SSZ", and back (nullopt unless exactly that form and a valid date).
std::optional<std::chrono::sys_seconds> parse_iso_utc(std::string_view text);

}  // namespace aquaduct::engine_detail

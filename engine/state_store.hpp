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

class state_store {
 public:
  // Creates the directory (and parents); throws std::system_error naming it on failure.
  explicit state_store(std::filesystem::path dir);
  ~state_store();
  state_store(state_store&& other) noexcept;
  state_store& operator=(state_store&&) = delete;
  state_store(const state_store&) = delete;
  state_store& operator=(const state_store&) = delete;

  // nullopt: no cursor yet. A file that cannot be read or is not a cursor of
  // this (job, query) throws std::system_error naming the file and the reason.
  std::optional<cursor> load(std::string_view job, std::string_view query) const;
  // Atomic, and safe from several threads at once. Sets c.committed_at in the
  // file (to now). Throws std::system_error naming the file on I/O failure.
  void save(const cursor& c);
  // A commit about to begin: `next` is the cursor it will save. Recorded
  // atomically beside the cursor (<cursor file>.pending) and removed by
  // save(next). Found by pending() when a run stopped between the first
  // sink's commit and the cursor: some sinks may then hold rows that a replay
  // from the older cursor cannot remove (a row created and deleted inside the
  // replayed window never comes back), so the plan reloads the query.
  void begin_commit(const cursor& next);
  // The commit begun and not finished for (job, query): its intended cursor.
  std::optional<cursor> pending(std::string_view job, std::string_view query) const;

  // Every cursor in the directory, sorted by job and query (a file that is not
  // a cursor throws, naming it, as load() does).
  std::vector<cursor> list() const;
  // Removes the cursor of (job, query); false when there was none.
  bool remove(std::string_view job, std::string_view query);
  // DIR/"<job>.<query>.<hash>.json": letters, digits, '-' and '_' of the names
  // (60 bytes each at most, anything else becomes '_'), and 16 hex digits of
  // a hash of the exact pair, so distinct pairs never share a file.
  std::filesystem::path path_of(std::string_view job, std::string_view query) const;
  // Takes an exclusive lock on DIR/.lock (flock; released when the process
  // ends) so two runs never share a state directory. Throws std::system_error
  // (device_or_resource_busy) naming the directory and the holder's pid when
  // another process (or another state_store) holds it. Idempotent.
  void lock();

  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  int lock_fd_ = -1;
};

// Hex SHA-256 of a canonical text of what decides a query's rows: type,
// query text, the deleted spec (column and format) and the window column
// (partition/incremental `by`). Stable across runs and builds.
std::string fingerprint_of(const query_config& q);

// The cursor as its file holds it (one JSON object, no newline).
std::string to_json(const cursor& c);

// "YYYY-MM-DDTHH:MM:SSZ", and back (nullopt unless exactly that form and a valid date).
std::optional<std::chrono::sys_seconds> parse_iso_utc(std::string_view text);

}  // namespace aquaduct::engine_detail

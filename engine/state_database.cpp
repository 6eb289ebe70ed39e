#include "engine/state_database.hpp"

#include <aquaduct/error.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <initializer_list>
#include <system_error>
#include <tuple>
#include <vector>

namespace aquaduct::engine_detail {

namespace {

// pg_advisory locks: one key for the schema's migration, one for a run's lock().
// Positive 64-bit keys; pg_locks shows them as classid (high 32 bits) and objid.
constexpr std::int64_t schema_lock_key = 0x6171756100000001;
constexpr std::int64_t run_lock_key = 0x6171756100000002;

std::string remedy_for(std::string_view job, std::string_view query) {
  return "fix or remove it: aquaduct state reset " + std::string(job) + " " + std::string(query) + " --state URL";
}

}  // namespace

state_database::state_database(const std::string& url)
    : where_(redacted_state_url(url)),
      // Who holds a lock, in pg_stat_activity (lock()'s message).
      conn_(std::make_unique<pg_connection>(url, where_, process_name())) {
  conn_->transaction("creating or migrating the schema", [&] {
    conn_->exec("creating the schema", "SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(schema_lock_key)});
    conn_->exec("creating the schema",
                "CREATE SCHEMA IF NOT EXISTS aquaduct;"
                "CREATE TABLE IF NOT EXISTS aquaduct.schema_version (version integer NOT NULL)");
    const auto r = conn_->exec("reading the schema version", "SELECT max(version) FROM aquaduct.schema_version");
    const int at = PQgetisnull(r.get(), 0, 0) ? 0 : std::atoi(PQgetvalue(r.get(), 0, 0));
    if (at > schema_version)
      throw std::system_error(std::make_error_code(std::errc::protocol_not_supported),
                              "state database " + where_ + ": its schema is version " + std::to_string(at) +
                                  ", newer than this build's " + std::to_string(schema_version) +
                                  ": run a newer aquaduct (docs/fleet.md, upgrading)");
    if (at < 1) {
      conn_->exec("creating the schema (version 1)",
                  "CREATE TABLE aquaduct.cursors (job text NOT NULL, query text NOT NULL, cursor text NOT NULL,"
                  " committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (job, query));"
                  "CREATE TABLE aquaduct.pending_commits (job text NOT NULL, query text NOT NULL,"
                  " cursor text NOT NULL, PRIMARY KEY (job, query));"
                  "INSERT INTO aquaduct.schema_version VALUES (1)");
    }
    if (at < 2) {
      // A fleet's runs (engine/fleet.hpp). One sequence hands out every fencing
      // token, so a token is never reused, whatever the run or the unit.
      conn_->exec("migrating the schema to version 2",
                  "CREATE SEQUENCE aquaduct.fences;"
                  "CREATE TABLE aquaduct.runs (run text PRIMARY KEY, pipeline text NOT NULL, planned_by text NOT NULL,"
                  " planned_at timestamptz NOT NULL DEFAULT now());"
                  "CREATE TABLE aquaduct.units (run text NOT NULL REFERENCES aquaduct.runs ON DELETE CASCADE,"
                  " unit text NOT NULL, position integer NOT NULL,"
                  " state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'completed', 'failed')),"
                  " owner text, lease_until timestamptz, fence bigint NOT NULL DEFAULT 0,"
                  " attempts integer NOT NULL DEFAULT 0, exit_code integer, report text,"
                  " updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, unit));"
                  "CREATE TABLE aquaduct.job_slots (pool text NOT NULL, slot integer NOT NULL, owner text,"
                  " job_id text, lease_until timestamptz, PRIMARY KEY (pool, slot));"
                  "INSERT INTO aquaduct.schema_version VALUES (2)");
    }
  });
}

state_database::~state_database() = default;

std::optional<cursor> state_database::load(std::string_view job, std::string_view query) const {
  std::lock_guard lock(m_);
  const auto r = conn_->exec("reading a cursor", "SELECT cursor FROM aquaduct.cursors WHERE job = $1 AND query = $2",
                             {job, query});
  if (PQntuples(r.get()) == 0) return std::nullopt;
  const std::string where = "state database " + where_ + ", the cursor of job " + std::string(job) + ", query " +
                            std::string(query);
  cursor c = parse_cursor(PQgetvalue(r.get(), 0, 0), where, remedy_for(job, query));
  if (c.job != job || c.query != query)
    throw std::system_error(std::make_error_code(std::errc::bad_message),
                            where + ": holds the cursor of job \"" + c.job + "\", query \"" + c.query + "\" (" +
                                remedy_for(job, query) + ")");
  return c;
}

void state_database::check_fence(const pg_connection& conn, const unit_fence& f, bool lock_row) {
  const auto r = conn.exec("checking the unit's fencing token",
                           lock_row ? "SELECT fence, coalesce(owner, ''), state FROM aquaduct.units"
                                      " WHERE run = $1 AND unit = $2 FOR UPDATE"
                                    : "SELECT fence, coalesce(owner, ''), state FROM aquaduct.units"
                                      " WHERE run = $1 AND unit = $2",
                           {f.run, f.unit});
  if (PQntuples(r.get()) == 1 && std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10) == f.fence &&
      std::string_view(PQgetvalue(r.get(), 0, 2)) == "running")
    return;
  std::string now = "the unit is gone";
  if (PQntuples(r.get()) == 1)
    now = std::string("it has token ") + PQgetvalue(r.get(), 0, 0) + ", " + PQgetvalue(r.get(), 0, 2) +
          (*PQgetvalue(r.get(), 0, 1) ? std::string(" by ") + PQgetvalue(r.get(), 0, 1) : std::string());
  throw std::system_error(make_error_code(sink_errc::stale_fence),
                          "run " + f.run + ", unit " + f.unit + ": fencing token " + std::to_string(f.fence) +
                              " is stale (" + now + "): this worker's lease expired and another took the unit "
                              "over; nothing of this attempt is committed");
}

void state_database::save(const cursor& c) { save(c, nullptr); }

void state_database::save(const cursor& c, const unit_fence* fence) {
  check_storable(c, "state database " + where_ + ", the cursor of job " + c.job + ", query " + c.query);
  cursor stamped = c;
  stamped.committed_at = committed_at_now();
  const std::string text = to_json(stamped);
  std::lock_guard lock(m_);
  // The cursor and the end of its commit, together.
  conn_->transaction("saving a cursor", [&] {
    if (fence) check_fence(*conn_, *fence, true);
    conn_->exec("saving a cursor",
                "INSERT INTO aquaduct.cursors (job, query, cursor) VALUES ($1, $2, $3) ON CONFLICT (job, query)"
                " DO UPDATE SET cursor = excluded.cursor, committed_at = now()",
                {c.job, c.query, text});
    conn_->exec("saving a cursor", "DELETE FROM aquaduct.pending_commits WHERE job = $1 AND query = $2",
                {c.job, c.query});
  });
}

void state_database::begin_commit(const cursor& next) { begin_commit(next, nullptr); }

void state_database::begin_commit(const cursor& next, const unit_fence* fence) {
  check_storable(next, "state database " + where_ + ", the commit of job " + next.job + ", query " + next.query);
  std::lock_guard lock(m_);
  conn_->transaction("recording a commit begun", [&] {
    if (fence) check_fence(*conn_, *fence, true);
    conn_->exec("recording a commit begun",
                "INSERT INTO aquaduct.pending_commits (job, query, cursor) VALUES ($1, $2, $3) ON CONFLICT (job, query)"
                " DO UPDATE SET cursor = excluded.cursor",
                {next.job, next.query, to_json(next)});
  });
}

std::optional<cursor> state_database::pending(std::string_view job, std::string_view query) const {
  std::optional<cursor> p;
  {
    std::lock_guard lock(m_);
    const auto r = conn_->exec("reading a commit begun",
                               "SELECT cursor FROM aquaduct.pending_commits WHERE job = $1 AND query = $2", {job, query});
    if (PQntuples(r.get()) == 0) return std::nullopt;
    p = parse_cursor(PQgetvalue(r.get(), 0, 0),
                     "state database " + where_ + ", the commit begun of job " + std::string(job) + ", query " +
                         std::string(query),
                     remedy_for(job, query));
  }
  // Finished after all: the cursor it names was saved (save() removes it in the
  // same transaction, so only a row written by hand gets here).
  if (const std::optional<cursor> saved = load(job, query); saved && saved->last_job_id == p->last_job_id)
    return std::nullopt;
  return p;
}

std::vector<cursor> state_database::list() const {
  std::lock_guard lock(m_);
  const auto r = conn_->exec("listing the cursors", "SELECT job, query, cursor FROM aquaduct.cursors");
  std::vector<cursor> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    const std::string job = PQgetvalue(r.get(), i, 0), query = PQgetvalue(r.get(), i, 1);
    out.push_back(parse_cursor(PQgetvalue(r.get(), i, 2),
                               "state database " + where_ + ", the cursor of job " + job + ", query " + query,
                               remedy_for(job, query)));
  }
  std::sort(out.begin(), out.end(),
            [](const cursor& a, const cursor& b) { return std::tie(a.job, a.query) < std::tie(b.job, b.query); });
  return out;
}

bool state_database::remove(std::string_view job, std::string_view query) {
  std::lock_guard lock(m_);
  bool removed = false;
  conn_->transaction("removing a cursor", [&] {
    conn_->exec("removing a cursor", "DELETE FROM aquaduct.pending_commits WHERE job = $1 AND query = $2", {job, query});
    const auto r =
        conn_->exec("removing a cursor", "DELETE FROM aquaduct.cursors WHERE job = $1 AND query = $2", {job, query});
    removed = std::string_view(PQcmdTuples(r.get())) != "0";
  });
  return removed;
}

void state_database::lock() {
  std::lock_guard lock(m_);
  if (locked_) return;
  const std::string key = std::to_string(run_lock_key);
  const auto r = conn_->exec("locking the state", "SELECT pg_try_advisory_lock($1::bigint)", {key});
  if (std::string_view(PQgetvalue(r.get(), 0, 0)) == "t") {
    locked_ = true;
    return;
  }
  const auto h = conn_->exec("locking the state",
                             "SELECT coalesce(a.application_name, '') FROM pg_locks l JOIN pg_stat_activity a"
                             " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                             " AND ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint LIMIT 1",
                             {key});
  const std::string holder = PQntuples(h.get()) > 0 ? PQgetvalue(h.get(), 0, 0) : "";
  throw std::system_error(std::make_error_code(std::errc::device_or_resource_busy),
                          "state database " + where_ + " is in use by another aquaduct run" +
                              (holder.empty() ? std::string() : " (" + holder + ")") +
                              "; two runs must not share a state");
}

}  // namespace aquaduct::engine_detail

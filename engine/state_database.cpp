#include "engine/state_database.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
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

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string remedy_for(std::string_view job, std::string_view query) {
  return "fix or remove it: aquaduct state reset " + std::string(job) + " " + std::string(query) + " --state URL";
}

}  // namespace

std::string redacted_state_url(std::string_view url) {
  std::string out(url);
  // postgresql://user:password@host/db: the password in the user info.
  if (const std::size_t scheme = out.find("://"); scheme != std::string::npos) {
    const std::size_t start = scheme + 3;
    const std::size_t end = out.find_first_of("/?", start);
    const std::size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at != std::string::npos && at >= start) {
      const std::size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "[REDACTED]");
    }
  }
  // ...?password=secret&...: a parameter.
  for (std::size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
    if (p > 0 && out[p - 1] != '?' && out[p - 1] != '&' && out[p - 1] != ' ') continue;
    const std::size_t v = p + 9;
    const std::size_t e = out.find_first_of("& ", v);
    out.replace(v, (e == std::string::npos ? out.size() : e) - v, "[REDACTED]");
  }
  return out;
}

// One libpq connection; every failure names the database (redacted) and the server's words.
struct state_database::connection {
  using result = std::unique_ptr<PGresult, decltype(&PQclear)>;
  PGconn* c = nullptr;
  std::string where;

  ~connection() {
    if (c) PQfinish(c);
  }

  [[noreturn]] void fail(PGresult* r, std::string_view doing) const {
    std::string why = r ? trimmed(PQresultErrorMessage(r)) : std::string();
    if (why.empty()) why = trimmed(PQerrorMessage(c));
    if (r) PQclear(r);
    throw std::system_error(std::make_error_code(std::errc::io_error),
                            "state database " + where + ": " + std::string(doing) + ": " + why);
  }

  // One statement with text parameters ($1, $2, ...).
  result exec(std::string_view doing, const char* sql, std::initializer_list<std::string_view> params = {}) const {
    std::vector<std::string> held(params.begin(), params.end());
    std::vector<const char*> values;
    for (const std::string& h : held) values.push_back(h.c_str());
    PGresult* r = values.empty() ? PQexec(c, sql)
                                 : PQexecParams(c, sql, static_cast<int>(values.size()), nullptr, values.data(),
                                                nullptr, nullptr, 0);
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r, doing);
    return result(r, &PQclear);
  }

  // Runs `body` between BEGIN and COMMIT; a throw rolls back.
  template <class F>
  void transaction(std::string_view doing, F&& body) const {
    exec(doing, "BEGIN");
    try {
      body();
      exec(doing, "COMMIT");
    } catch (...) {
      PQclear(PQexec(c, "ROLLBACK"));
      throw;
    }
  }
};

state_database::state_database(const std::string& url)
    : where_(redacted_state_url(url)), conn_(std::make_unique<connection>()) {
  conn_->where = where_;
  conn_->c = PQconnectdb(url.c_str());
  if (!conn_->c) throw std::system_error(std::make_error_code(std::errc::not_enough_memory), "state database " + where_);
  if (PQstatus(conn_->c) != CONNECTION_OK) conn_->fail(nullptr, "cannot connect");
  PQsetNoticeProcessor(conn_->c, [](void*, const char*) {}, nullptr);
  // Who holds a lock, in pg_stat_activity (lock()'s message).
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string app = "aquaduct pid " + std::to_string(::getpid()) + " on " + host;
  conn_->exec("setting the session", "SELECT set_config('application_name', $1, false), set_config('TimeZone', 'UTC', false)",
              {app});
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

void state_database::save(const cursor& c) {
  check_storable(c, "state database " + where_ + ", the cursor of job " + c.job + ", query " + c.query);
  cursor stamped = c;
  stamped.committed_at = committed_at_now();
  const std::string text = to_json(stamped);
  std::lock_guard lock(m_);
  // The cursor and the end of its commit, together.
  conn_->transaction("saving a cursor", [&] {
    conn_->exec("saving a cursor",
                "INSERT INTO aquaduct.cursors (job, query, cursor) VALUES ($1, $2, $3) ON CONFLICT (job, query)"
                " DO UPDATE SET cursor = excluded.cursor, committed_at = now()",
                {c.job, c.query, text});
    conn_->exec("saving a cursor", "DELETE FROM aquaduct.pending_commits WHERE job = $1 AND query = $2",
                {c.job, c.query});
  });
}

void state_database::begin_commit(const cursor& next) {
  check_storable(next, "state database " + where_ + ", the commit of job " + next.job + ", query " + next.query);
  std::lock_guard lock(m_);
  conn_->exec("recording a commit begun",
              "INSERT INTO aquaduct.pending_commits (job, query, cursor) VALUES ($1, $2, $3) ON CONFLICT (job, query)"
              " DO UPDATE SET cursor = excluded.cursor",
              {next.job, next.query, to_json(next)});
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

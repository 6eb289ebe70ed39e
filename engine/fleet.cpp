#include "engine/fleet.hpp"

#include "engine/state_database.hpp"

#include <aquaduct/error.hpp>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

namespace aquaduct::engine_detail {

namespace {

std::string interval(std::chrono::seconds s) { return std::to_string(s.count()) + " seconds"; }

std::uint64_t to_u64(const char* text) { return std::strtoull(text, nullptr, 10); }

// Hex SHA-256 of the pipeline file's bytes: what a run was planned from.
std::string pipeline_digest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return sha256_hex(bytes.str());
}

// A transaction-scoped advisory lock per run: planning it happens once.
constexpr const char* plan_lock = "SELECT pg_advisory_xact_lock(hashtextextended('aquaduct run ' || $1, 0))";

}  // namespace

bool run_row::finished() const {
  for (const unit_row& u : units)
    if (u.state != "completed" && u.state != "failed") return false;
  return true;
}

int run_row::exit_code() const {
  if (!finished()) return 1;
  int worst = 0;
  for (const unit_row& u : units) {
    const int c = u.state == "completed" ? 0 : (u.exit_code == 0 ? 1 : u.exit_code);
    // 3 (credentials refused) > 2 (refused for good) > 1 (failed); 130 is never final here
    const auto rank = [](int x) { return x == 3 ? 3 : x == 2 ? 2 : x != 0 ? 1 : 0; };
    if (rank(c) > rank(worst)) worst = c == 130 ? 1 : c;
  }
  return worst;
}

fleet::fleet(fleet_settings s) : settings_(std::move(s)) {
  std::random_device rd;
  worker_ = process_name() + fmt::format(" #{:08x}", rd());
  state_ = std::make_unique<state_database>(settings_.url);  // creates or migrates the schema
  conn_ = std::make_unique<pg_connection>(settings_.url, state_->where(), worker_);
  renewals_ = std::make_unique<pg_connection>(settings_.url, state_->where(), worker_);
}

fleet::~fleet() = default;

bool fleet::plan(const pipeline_config& cfg) {
  const std::string digest = pipeline_digest(cfg.path);
  std::lock_guard lock(m_);
  bool planned = false;
  conn_->transaction("planning the run", [&] {
    conn_->exec("planning the run", plan_lock, {settings_.run});
    const auto r = conn_->exec("planning the run", "SELECT pipeline, planned_by FROM aquaduct.runs WHERE run = $1",
                               {settings_.run});
    if (PQntuples(r.get()) == 1) {
      if (std::string_view(PQgetvalue(r.get(), 0, 0)) != digest)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "state database " + state_->where() + ": run " + settings_.run +
                                    " was planned from another pipeline (" + PQgetvalue(r.get(), 0, 1) +
                                    " planned it from a file whose SHA-256 is " + PQgetvalue(r.get(), 0, 0) +
                                    "; " + cfg.path + "'s is " + digest +
                                    "): give every worker of a run the same file, or start a new run id");
      return;
    }
    conn_->exec("planning the run", "INSERT INTO aquaduct.runs (run, pipeline, planned_by) VALUES ($1, $2, $3)",
                {settings_.run, digest, worker_});
    int position = 0;
    for (const job_config& job : cfg.jobs)
      conn_->exec("planning the run", "INSERT INTO aquaduct.units (run, unit, position) VALUES ($1, $2, $3)",
                  {settings_.run, job.name, std::to_string(position++)});
    planned = true;
  });
  return planned;
}

std::optional<claimed_unit> fleet::claim() {
  std::lock_guard lock(m_);
  // The oldest pending unit first, then one whose holder stopped renewing.
  const auto r = conn_->exec(
      "claiming a unit",
      "WITH pick AS (SELECT run, unit, coalesce(owner, '') AS old_owner, state AS old_state FROM aquaduct.units"
      " WHERE run = $1 AND (state = 'pending' OR (state = 'running' AND lease_until < now()))"
      " ORDER BY state = 'running', position LIMIT 1 FOR UPDATE SKIP LOCKED)"
      " UPDATE aquaduct.units u SET state = 'running', owner = $2, lease_until = now() + $3::interval,"
      " fence = nextval('aquaduct.fences'), attempts = u.attempts + 1, updated_at = now()"
      " FROM pick WHERE u.run = pick.run AND u.unit = pick.unit"
      " RETURNING u.unit, u.fence, u.attempts, pick.old_owner, pick.old_state",
      {settings_.run, worker_, interval(settings_.lease)});
  if (PQntuples(r.get()) == 0) return std::nullopt;
  claimed_unit u;
  u.unit = PQgetvalue(r.get(), 0, 0);
  u.fence = to_u64(PQgetvalue(r.get(), 0, 1));
  u.attempt = static_cast<unsigned>(to_u64(PQgetvalue(r.get(), 0, 2)));
  if (std::string_view(PQgetvalue(r.get(), 0, 4)) == "running") u.taken_from = PQgetvalue(r.get(), 0, 3);
  held_.emplace(u.unit, u.fence);
  return u;
}

bool fleet::finish(const claimed_unit& u, int exit_code, const std::string& report_json) {
  std::lock_guard lock(m_);
  held_.erase({u.unit, u.fence});
  const auto r = conn_->exec("recording a unit's end",
                             "UPDATE aquaduct.units SET state = $4, exit_code = $5, report = $6, owner = NULL,"
                             " lease_until = NULL, updated_at = now()"
                             " WHERE run = $1 AND unit = $2 AND fence = $3 AND state = 'running'",
                             {settings_.run, u.unit, std::to_string(u.fence), exit_code == 0 ? "completed" : "failed",
                              std::to_string(exit_code), report_json});
  return std::string_view(PQcmdTuples(r.get())) == "1";
}

void fleet::release(const claimed_unit& u) noexcept {
  std::lock_guard lock(m_);
  held_.erase({u.unit, u.fence});
  try {
    conn_->exec("giving a unit back",
                "UPDATE aquaduct.units SET state = 'pending', owner = NULL, lease_until = NULL, updated_at = now()"
                " WHERE run = $1 AND unit = $2 AND fence = $3 AND state = 'running'",
                {settings_.run, u.unit, std::to_string(u.fence)});
  } catch (const std::exception&) {
    // The lease runs out instead: another worker takes the unit then.
  }
}

std::vector<std::string> fleet::renew() {
  std::set<std::pair<std::string, std::uint64_t>> held;
  {
    std::lock_guard lock(m_);
    held = held_;
  }
  std::vector<std::string> lost;
  std::lock_guard lock(renew_m_);
  for (const auto& [unit, fence] : held) {
    const auto r = renewals_->exec("renewing a lease",
                                   "UPDATE aquaduct.units SET lease_until = now() + $4::interval"
                                   " WHERE run = $1 AND unit = $2 AND fence = $3 AND state = 'running'",
                                   {settings_.run, unit, std::to_string(fence), interval(settings_.lease)});
    if (std::string_view(PQcmdTuples(r.get())) != "1") lost.push_back(unit);
  }
  renewals_->exec("renewing the job slots' leases",
                  "UPDATE aquaduct.job_slots SET lease_until = now() + $2::interval WHERE owner = $1",
                  {worker_, interval(settings_.lease)});
  if (!lost.empty()) {
    std::lock_guard held_lock(m_);
    for (const std::string& unit : lost) std::erase_if(held_, [&](const auto& h) { return h.first == unit; });
  }
  return lost;
}

void fleet::check(const std::string& unit, std::uint64_t fence) const {
  std::lock_guard lock(m_);
  state_database::check_fence(*conn_, {settings_.run, unit, fence}, false);
}

std::optional<fleet_slot> fleet::try_slot(const std::string& pool, unsigned size) {
  std::lock_guard lock(m_);
  if (pools_.insert(pool + "#" + std::to_string(size)).second)
    conn_->exec("making the job slots",
                "INSERT INTO aquaduct.job_slots (pool, slot) SELECT $1, s FROM generate_series(0, $2::integer - 1) s"
                " ON CONFLICT DO NOTHING",
                {pool, std::to_string(size)});
  const auto r = conn_->exec(
      "taking a job slot",
      "WITH pick AS (SELECT pool, slot, coalesce(job_id, '') AS orphan, owner IS NOT NULL AS taken_over"
      " FROM aquaduct.job_slots WHERE pool = $1 AND slot < $2::integer AND (owner IS NULL OR lease_until < now())"
      " ORDER BY owner IS NOT NULL, slot LIMIT 1 FOR UPDATE SKIP LOCKED)"
      " UPDATE aquaduct.job_slots s SET owner = $3, job_id = NULL, lease_until = now() + $4::interval"
      " FROM pick WHERE s.pool = pick.pool AND s.slot = pick.slot RETURNING s.slot, pick.orphan, pick.taken_over",
      {pool, std::to_string(size), worker_, interval(settings_.lease)});
  if (PQntuples(r.get()) == 0) return std::nullopt;
  fleet_slot s;
  s.pool = pool;
  s.number = std::atoi(PQgetvalue(r.get(), 0, 0));
  if (std::string_view(PQgetvalue(r.get(), 0, 2)) == "t") s.orphan = PQgetvalue(r.get(), 0, 1);
  return s;
}

void fleet::note_job(const fleet_slot& s, const std::string& job_id) {
  std::lock_guard lock(m_);
  conn_->exec("noting a slot's job", "UPDATE aquaduct.job_slots SET job_id = $4 WHERE pool = $1 AND slot = $2 AND owner = $3",
              {s.pool, std::to_string(s.number), worker_, job_id});
}

void fleet::free_slot(const fleet_slot& s) noexcept {
  std::lock_guard lock(m_);
  try {
    conn_->exec("freeing a job slot",
                "UPDATE aquaduct.job_slots SET owner = NULL, job_id = NULL, lease_until = NULL"
                " WHERE pool = $1 AND slot = $2 AND owner = $3",
                {s.pool, std::to_string(s.number), worker_});
  } catch (const std::exception&) {
    // Its lease runs out instead.
  }
}

run_row fleet::status() const {
  std::lock_guard lock(m_);
  run_row out;
  const auto r = conn_->exec("reading the run",
                             "SELECT run, pipeline, planned_by, to_char(planned_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                             " FROM aquaduct.runs WHERE run = $1",
                             {settings_.run});
  if (PQntuples(r.get()) == 0)
    throw std::system_error(std::make_error_code(std::errc::no_such_file_or_directory),
                            "state database " + state_->where() + ": no run " + settings_.run + " (not planned yet)");
  out.run = PQgetvalue(r.get(), 0, 0);
  out.pipeline = PQgetvalue(r.get(), 0, 1);
  out.planned_by = PQgetvalue(r.get(), 0, 2);
  out.planned_at = PQgetvalue(r.get(), 0, 3);
  const auto u = conn_->exec("reading the run's units",
                             "SELECT unit, state, coalesce(owner, ''), fence, attempts, coalesce(exit_code, 0),"
                             " coalesce(report, ''), coalesce(extract(epoch FROM lease_until - now()), 0)"
                             " FROM aquaduct.units WHERE run = $1 ORDER BY position",
                             {settings_.run});
  for (int i = 0; i < PQntuples(u.get()); ++i) {
    unit_row row;
    row.unit = PQgetvalue(u.get(), i, 0);
    row.state = PQgetvalue(u.get(), i, 1);
    row.owner = PQgetvalue(u.get(), i, 2);
    row.fence = to_u64(PQgetvalue(u.get(), i, 3));
    row.attempts = static_cast<unsigned>(to_u64(PQgetvalue(u.get(), i, 4)));
    row.exit_code = std::atoi(PQgetvalue(u.get(), i, 5));
    row.report = PQgetvalue(u.get(), i, 6);
    row.lease_left_s = std::atof(PQgetvalue(u.get(), i, 7));
    out.units.push_back(std::move(row));
  }
  return out;
}

fenced_state::fenced_state(state_database& db, std::string run, claimed_unit unit)
    : db_(db), run_(std::move(run)), unit_(std::move(unit)) {}

std::optional<cursor> fenced_state::load(std::string_view job, std::string_view query) const {
  return db_.load(job, query);
}
void fenced_state::save(const cursor& c) {
  const state_database::unit_fence f{run_, unit_.unit, unit_.fence};
  db_.save(c, &f);
}
void fenced_state::begin_commit(const cursor& next) {
  const state_database::unit_fence f{run_, unit_.unit, unit_.fence};
  db_.begin_commit(next, &f);
}
std::optional<cursor> fenced_state::pending(std::string_view job, std::string_view query) const {
  return db_.pending(job, query);
}
std::vector<cursor> fenced_state::list() const { return db_.list(); }
bool fenced_state::remove(std::string_view job, std::string_view query) { return db_.remove(job, query); }
std::string fenced_state::where() const { return db_.where() + " (run " + run_ + ", unit " + unit_.unit + ")"; }

}  // namespace aquaduct::engine_detail

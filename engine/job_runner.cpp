// One AQuA job from slot to cursor (job_runner.hpp).
#include "engine/job_runner.hpp"

#include "engine/aqua_job.hpp"
#include "engine/delivery.hpp"
#include "engine/fleet.hpp"
#include "engine/window_group.hpp"

#include <aquaduct/error.hpp>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace aquaduct::engine_detail {

using clock = std::chrono::steady_clock;

namespace {

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

[[noreturn]] void throw_interrupted(const std::string& what) {
  throw located_error(aqua_errc::interrupted, what + ": interrupted");
}

// A slot of one of the fleet's pools (engine/fleet.hpp), held by a unit's
// coroutine; empty outside a fleet. free() gives it back from a sink thread;
// a permit that goes without it (an exception unwinding) frees its slot at
// once, on the thread it goes on: a slot left held would be renewed with the
// worker's other leases for as long as the worker lives.
class fleet_permit {
 public:
  fleet_permit() = default;
  fleet_permit(run_context* ctx, fleet_slot s) : ctx_(ctx), slot_(std::move(s)) {}
  fleet_permit(fleet_permit&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)), slot_(std::move(o.slot_)) {}
  fleet_permit& operator=(fleet_permit&& o) noexcept {
    if (this != &o) {
      drop();
      ctx_ = std::exchange(o.ctx_, nullptr);
      slot_ = std::move(o.slot_);
    }
    return *this;
  }
  ~fleet_permit() { drop(); }
  // The AQuA job this slot covers now: whoever takes the slot over from an
  // expired lease cancels it.
  asio::awaitable<void> note(std::string job_id) {
    if (!ctx_) co_return;
    co_await on_sink_thread(*ctx_, [&] { ctx_->fleet->coordinator->note_job(slot_, job_id); });
  }
  asio::awaitable<void> free() {
    run_context* ctx = std::exchange(ctx_, nullptr);
    if (!ctx) co_return;
    co_await on_sink_thread(*ctx, [&] { ctx->fleet->coordinator->free_slot(slot_); });
  }

 private:
  void drop() noexcept {
    if (run_context* ctx = std::exchange(ctx_, nullptr)) ctx->fleet->coordinator->free_slot(slot_);
  }
  run_context* ctx_ = nullptr;
  fleet_slot slot_;
};

// A slot of `pool` (its `size` slots shared by every worker of the fleet),
// waited for in turns of about a tenth of a second; a job a dead holder left on the
// service is cancelled first. Empty when the run is no fleet's unit.
asio::awaitable<fleet_permit> fleet_slot_of(run_context& ctx, aqua_client& client, std::string pool, unsigned size,
                                            const std::string& who) {
  if (!ctx.fleet) co_return fleet_permit{};
  asio::steady_timer wait(co_await asio::this_coro::executor);
  for (;;) {
    if (ctx.interrupted) throw_interrupted(who);
    std::optional<fleet_slot> s;
    co_await on_sink_thread(ctx, [&] { s = ctx.fleet->coordinator->try_slot(pool, size); });
    if (s) {
      fleet_permit held(&ctx, *s);
      if (!s->orphan.empty()) {
        ctx.log.warning({.message = "cancelling the job a worker whose lease expired left on the service (" + pool + ")",
                         .job = who,
                         .job_id = s->orphan});
        try {
          co_await client.cancel_job(s->orphan);
        } catch (const std::system_error& e) {
          // Ended already (completed, or cancelled by its own worker): the slot is free.
          ctx.log.info({.message = std::string("the orphaned job could not be cancelled: ") + e.what(),
                        .job = who,
                        .job_id = s->orphan});
        }
      }
      co_return held;
    }
    // A tenth of a second, and a jitter so that a fleet's waiters do not ask in step.
    wait.expires_after(std::chrono::milliseconds(100 + std::rand() % 50));
    std::error_code ec;
    co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

// What the service's status of a job or batch means for our report.
outcome outcome_of_status(const std::string& status) {
  if (status == "completed") return outcome::completed;
  if (status == "aborted") return outcome::aborted;
  if (status == "cancelled") return outcome::cancelled;
  return outcome::failed;  // error, failed, and what the contract does not name
}

const decode::aqua_batch* find_batch(const decode::aqua_job& job, const std::string& name) {
  const auto b = std::find_if(job.batches.begin(), job.batches.end(),
                              [&](const decode::aqua_batch& x) { return x.name == name; });
  return b == job.batches.end() ? nullptr : &*b;
}

// The batches' messages, for a job that did not complete.
std::string batch_messages(const decode::aqua_job& job) {
  std::string out;
  for (const auto& b : job.batches)
    if (!b.message.empty()) out += (out.empty() ? "" : "; ") + b.name + ": " + b.message;
  return out.empty() ? job.message : out;
}

const query_config& configured_query(const work_unit& unit, const std::string& name) {
  for (const auto& q : unit.queries)
    if (q.name == name) return q;
  throw std::logic_error("no query " + name);
}

// How far a job's startTime may lie after our clock at submit (clock skew, a
// job queued behind another of its session) before the cursor stops trusting it.
constexpr std::chrono::seconds clock_margin{60};

// Where a committed plain query stands. A stateful query's cursor is the
// job's transaction start minus the offset: the next run's incrementalTime.
// startTime is a wall-clock time in the tenant's zone, so a wrong zone could
// put it hours ahead of the truth, and every row updated in between would be
// skipped by the next run: a startTime more than clock_margin after our own
// clock at submit is not trusted (the cursor is then our clock minus the
// margin), and a disagreement of more than an hour is said.
std::optional<cursor> plain_cursor(const run_context& ctx, const work_unit& unit, const decode::aqua_job& remote,
                                   const query_config& q, std::chrono::sys_seconds submitted_at) {
  if (!ctx.state) return std::nullopt;
  const job_config& job = *unit.job;
  cursor c;
  c.job = job.name;
  c.query = q.name;
  c.mode = job.stateful() ? "stateful" : "full";
  c.fingerprint = fingerprint_of(q);
  c.source = ctx.source_id;
  c.destinations = ctx.destinations;
  c.last_job_id = remote.id;
  if (!job.stateful()) return c;
  const auto start = parse_start_time(remote.start_time, ctx.tenant);
  if (!start) {
    // The rows are committed; without a position the next run fetches them again (never skips).
    ctx.log.warning({.message = "startTime \"" + remote.start_time + "\" is not a time; the cursor is not moved",
                     .job = job.name,
                     .job_id = remote.id,
                     .query = q.name});
    return std::nullopt;
  }
  using std::chrono::seconds;
  const seconds ahead = *start - submitted_at;
  if (ahead > std::chrono::hours(1) || ahead < -std::chrono::hours(1))
    ctx.log.warning({.message = fmt::format("the job's startTime \"{}\" read in the tenant's zone is {}, {:.1f} h {} "
                                            "our clock at submit ({}): is the time zone right?",
                                            remote.start_time, iso_utc(*start),
                                            static_cast<double>(std::abs(ahead.count())) / 3600.0,
                                            ahead.count() > 0 ? "after" : "before", iso_utc(submitted_at)),
                     .job = job.name,
                     .job_id = remote.id,
                     .query = q.name});
  // Later than our clock allows: the rows between are fetched again rather than skipped.
  const std::chrono::sys_seconds trusted = ahead > clock_margin ? submitted_at - clock_margin : *start;
  c.position = trusted - seconds(job.offset_s);
  return c;
}

// The start of the job whose rows a stateful query last committed (its cursor
// plus the offset), when `remote` started in that same second: AQuA's start
// times have whole seconds, and an incremental file is <query>.<start>.<ext>,
// so `remote`'s would replace that job's file and lose its rows.
std::optional<std::chrono::sys_seconds> committed_job_started_alike(const run_context& ctx, const work_unit& unit,
                                                                    const decode::aqua_job& remote) {
  if (!ctx.state || !unit.job->stateful()) return std::nullopt;
  const auto start = parse_start_time(remote.start_time, ctx.tenant);
  if (!start) return std::nullopt;
  for (const auto& b : remote.batches) {
    if (b.full) continue;  // a full load has a name of its own
    const std::optional<cursor> c = ctx.state->load(unit.job->name, b.name);
    if (c && c->mode == "stateful" && c->position && *c->position + std::chrono::seconds(unit.job->offset_s) == *start)
      return start;
  }
  return std::nullopt;
}

// One completed batch of a plain unit: its own sink streams, committed once.
// A download that cannot resume restarts the batch from its first byte with
// fresh streams (the aborted ones leave nothing behind).
asio::awaitable<batch_outcome> run_batch(run_context& ctx, aqua_client& client, const work_unit& unit,
                                         const decode::aqua_job& remote, const decode::aqua_batch& batch,
                                         query_report& q, std::chrono::sys_seconds submitted_at) {
  const job_config& job = *unit.job;
  const query_config& qc = configured_query(unit, batch.name);
  // Asked from the floor for want of a trusted cursor: every row there is, so
  // it replaces the sinks' content; the rows flagged deleted are no rows.
  const bool reload = !batch.full && unit.reload.count(batch.name) > 0;
  q.full = batch.full || reload;
  const load_kind load = q.full ? load_kind::full : load_kind::incremental;
  const auto started = clock::now();
  for (unsigned restart = 0;; ++restart) {
    commit_path out(ctx, job, qc, schema_for(ctx, job, remote.id, remote.start_time, qc, load));
    result_pipeline& pipe = out.pipe();
    pipe.drop_deleted(reload);
    std::optional<located_error> failure;
    try {
      co_await stream_files(ctx, client, pipe, batch.files);
      std::optional<cursor> next = plain_cursor(ctx, unit, remote, qc, submitted_at);
      if (next) next->rows = pipe.rows();
      const file_token token{remote.id, batch.name, batch.files, pipe.rows()};
      co_await out.commit(token, batch.record_count, next);
      ctx.log.info({.message = fmt::format("committed {} rows from {} file(s), {} bytes downloaded, {} bytes decoded",
                                           pipe.rows(), pipe.files(), pipe.bytes_in(), pipe.bytes_decoded()),
                    .job = unit.display_name,
                    .job_id = remote.id,
                    .query = batch.name,
                    .batch = batch.batch_id});
      q.status = outcome::completed;
      q.error.reset();
    } catch (const std::system_error& e) {
      failure = locate(pipe.location(), e);
    }
    if (failure) co_await out.abort();
    q.bytes_downloaded += pipe.bytes_in();
    q.rows = pipe.rows();
    q.files = pipe.files();
    q.bytes_decoded = pipe.bytes_decoded();
    q.download_s = seconds_since(started);
    if (!failure) co_return batch_outcome::delivered;
    const std::error_code ec = failure->code();
    if (ec == transport_errc::restart_needed && restart < 3 && !ctx.interrupted) {
      ctx.log.warning({.message = std::string(failure->what()) + "; fetching the batch again from its first byte",
                       .job = unit.display_name,
                       .job_id = remote.id,
                       .query = batch.name,
                       .batch = batch.batch_id,
                       .attempt = restart + 2});
      continue;
    }
    q.status = ec == aqua_errc::interrupted ? outcome::cancelled : outcome::failed;
    q.error = failure->what();
    // Purged, or over the size limit: the streams were aborted above, so a
    // rerun or the pieces of a split start clean.
    co_return outcome_of(ec);
  }
}

// One completed batch, as a task of its own (a plain function: a lambda
// coroutine's captures would die with the lambda).
asio::awaitable<void> deliver_batch(run_context& ctx, aqua_client& client, const work_unit& unit,
                                    const decode::aqua_job& remote, const decode::aqua_batch& batch, query_report& q,
                                    batch_outcome& outcome, std::chrono::sys_seconds submitted_at,
                                    std::optional<work_unit>& next_page) {
  if (unit.group) outcome = co_await take_window(ctx, client, unit, remote, batch, q, next_page);
  else outcome = co_await run_batch(ctx, client, unit, remote, batch, q, submitted_at);
}

// Plain queries `names` of `unit` that the service could not export in one
// piece (`why`) go on as window groups of their own (window_plain_query),
// and leave `unit` and its report. Returns those that did; a query that
// cannot be split keeps its place, and its error says why.
std::vector<std::string> window_plain_queries(const run_context& ctx, work_unit& unit, job_report& report,
                                              const std::vector<std::string>& names, const decode::aqua_job& remote,
                                              std::chrono::sys_seconds submitted_at,
                                              const std::function<void(work_unit)>& spawn, const std::string& why) {
  std::vector<std::string> moved;
  for (const std::string& name : names) {
    const query_config& q = configured_query(unit, name);
    std::string why_not;
    std::shared_ptr<window_group> g = window_plain_query(*unit.job, q, plain_cursor(ctx, unit, remote, q, submitted_at),
                                                         why_not);
    std::string error;
    std::optional<work_unit> first;
    if (g) first = first_window_unit(g, error);
    if (!g || !error.empty()) {
      for (auto& r : report.queries)
        if (r.name == name) r.error = why + "; " + (g ? error : why_not);
      continue;
    }
    g->split_why = why;
    ctx.log.warning({.message = why + ": the query goes on in pieces, windows of UpdatedDate then pages by Id, "
                                      "committed as one",
                     .job = unit.display_name,
                     .job_id = remote.id,
                     .query = name});
    spawn(std::move(*first));
    moved.push_back(name);
  }
  const auto gone = [&](const std::string& n) { return std::find(moved.begin(), moved.end(), n) != moved.end(); };
  std::erase_if(unit.queries, [&](const query_config& q) { return gone(q.name); });
  std::erase_if(report.queries, [&](const query_report& q) { return gone(q.name); });
  return moved;
}

// A unit that did not complete: one record per failed query, naming it,
// else one for the job.
void log_failure(const run_context& ctx, const work_unit& unit, const job_report& report) {
  const log_level level = report.status == outcome::cancelled ? log_level::warning : log_level::error;
  bool named = false;
  for (const auto& q : report.queries) {
    if (q.status == outcome::completed || q.status == outcome::pending || !q.error) continue;
    ctx.log({.level = level, .message = std::string(to_string(q.status)) + ": " + *q.error, .job = unit.display_name, .job_id = report.job_id,
             .query = q.name});
    named = true;
  }
  if (!named)
    ctx.log({.level = level,
             .message = std::string(to_string(report.status)) + ": " + report.error.value_or("no query completed"),
             .job = unit.display_name,
             .job_id = report.job_id});
}

// Counted from submit until the service no longer counts the job.
struct active_job {
  std::optional<job_meter> m;
  void done() {
    if (m) m->sub(&run_counters::jobs_active, 1u);
    m.reset();
  }
  ~active_job() { done(); }
};

}  // namespace

asio::awaitable<unit_result> run_unit(run_context& ctx, work_unit unit, std::function<void(work_unit)> spawn) {
  const job_config& job = *unit.job;
  job_report report;
  report.name = unit.display_name;
  if (unit.window)
    report.window = (unit.catch_up ? "catch-up " : "") + window_label(*unit.window) +
                    (unit.page ? fmt::format(" Id page {}", unit.page->number) : "");
  for (const auto& q : unit.queries) {
    query_report qr;
    qr.name = q.name;
    report.queries.push_back(std::move(qr));
  }
  auto ex = co_await asio::this_coro::executor;
  aqua_client client(ctx.aqua, unit.display_name);
  const auto started = clock::now();
  bool split = false;  // the window went on as two halves
  std::optional<std::system_error> failure;
  try {
    // A stateful session runs one job at a time, from submit to the cursor.
    async_limiter::permit turn;
    fleet_permit fleet_turn;  // the same across the fleet
    if (job.stateful()) {
      turn = co_await ctx.session(job).acquire();
      if (!turn) throw_interrupted("job " + unit.display_name);
      fleet_turn = co_await fleet_slot_of(ctx, client, "session " + job.partner + "/" + job.project + " @ " + ctx.source_id,
                                          1, unit.display_name);
    }
    // The floor (set by the plan): what a session that moved on without our
    // commit must be asked from.
    const std::optional<std::string> floor_time = unit.incremental_time;
    bool expect_full = false;  // incrementalTime left out: the service must load in full
    unsigned same_second = 0;  // jobs that started in the second of the last committed one
    if (unit.session_may_be_new) {
      // Nothing committed by us: a brand-new session loads in full by itself,
      // while one that moved on without our commit must be asked from the floor.
      const std::optional<decode::aqua_job> last = co_await client.last_completed(job.partner, job.project);
      if (!last) {
        unit.incremental_time.reset();
        expect_full = true;
      }
    }
    std::vector<std::string> pending;  // queries still to deliver
    for (const auto& q : unit.queries) pending.push_back(q.name);
    for (;;) {  // one round per submission; a purged file (404) runs its queries again
      if (ctx.interrupted) throw_interrupted("job " + unit.display_name);
      // Another window of the query was refused for good: it said so once.
      if (unit.group && unit.group->refused) throw std::system_error(aqua_errc::query_refused);
      async_limiter& jobs = job.stateful() ? *ctx.stateful_jobs : *ctx.stateless_jobs;
      async_limiter::permit slot = co_await jobs.acquire();
      if (!slot) throw_interrupted("job " + unit.display_name);
      // The tenant's limit holds across the fleet, not per worker.
      fleet_permit fleet_slot = co_await fleet_slot_of(
          ctx, client, std::string(job.stateful() ? "stateful" : "stateless") + " jobs @ " + ctx.source_id,
          ctx.source.max_active_jobs, unit.display_name);

      std::vector<query_config> round;
      for (const auto& q : unit.queries)
        if (std::find(pending.begin(), pending.end(), q.name) != pending.end()) round.push_back(q);
      const std::string body = submit_body(job, round, submit_extras{unit.incremental_time, ctx.notify_url});
      const auto give_up = clock::now() + std::chrono::seconds(ctx.source.poll.timeout_s);
      asio::steady_timer timer(ex);
      const auto submitted_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
      decode::aqua_job remote = co_await submit_job(ctx, client, unit.display_name, body, give_up, timer);
      remote_job on_service(ctx, remote.id, unit.display_name);  // cancelled there unless it ends
      report.job_id = remote.id;
      co_await fleet_slot.note(remote.id);
      co_await fleet_turn.note(remote.id);
      report.submit_s = seconds_since(started);
      const job_meter m = ctx.meter(job.name);
      m.add(&run_counters::jobs_submitted, 1u);
      m.add(&run_counters::jobs_active, 1u);
      ctx.log.info({.message = "submitted", .job = unit.display_name, .job_id = remote.id});
      active_job active{m};

      const auto waiting = clock::now();
      remote = co_await wait_for_job(ctx, client, unit.display_name, std::move(remote), on_service, give_up, timer);
      active.done();
      slot.release();  // the service no longer counts the job
      co_await fleet_slot.free();
      report.wait_s = seconds_since(waiting);

      if (remote.status != "completed") {
        const std::string why = batch_messages(remote);
        const bool group_failed = unit.group && unit.group->failed;
        // Out of processing time (90027/90029): the two halves may each make it.
        if (ran_out_of_time(remote) && split_window_unit(ctx, unit, spawn, "ran out of time (" + why + ")", remote.id)) {
          split = true;
          break;
        }
        // A plain query that ran out of time goes on in pieces; the job's
        // other queries (aborted with it) are submitted again.
        std::vector<std::string> unsplit;  // queries that could not be split: their errors say why
        if (ran_out_of_time(remote) && !unit.group) {
          std::vector<std::string> names;
          for (const auto& q : round) names.push_back(q.name);
          const auto moved = window_plain_queries(ctx, unit, report, names, remote, submitted_at, spawn,
                                                  "ran out of processing time (" + why + ")");
          for (const std::string& n : names)
            if (std::find(moved.begin(), moved.end(), n) == moved.end()) unsplit.push_back(n);
          if (!moved.empty()) {
            std::erase_if(pending, [&](const std::string& n) {
              return std::find(moved.begin(), moved.end(), n) != moved.end();
            });
            if (pending.empty()) {
              split = true;
              break;
            }
            continue;
          }
        }
        report.status = outcome_of_status(remote.status);
        report.error = "job " + unit.display_name + " (" + remote.id + ") ended " + remote.status +
                       (why.empty() ? "" : ": " + why);
        // The split refused (a single row over the limit): its reason says more.
        if (unit.group && !group_failed && unit.group->failed) report.error = unit.group->error;
        for (auto& q : report.queries) {
          const decode::aqua_batch* b = find_batch(remote, q.name);
          q.status = outcome_of_status(b && !b->status.empty() && b->status != "completed" ? b->status : remote.status);
          if (b && !b->message.empty() && std::find(unsplit.begin(), unsplit.end(), q.name) == unsplit.end())
            q.error = b->message;
          // The log names the failed query with its error: the split's refusal says why.
          if (unit.group && !group_failed && unit.group->failed) q.error = unit.group->error;
        }
        if (unit.group) fail_group(*unit.group, *report.error);
        break;
      }

      // Asked for a full load, answered with an incremental one: the session had
      // a job running (a killed run's) that completed before ours. Its rows were
      // never committed by us, so ours must start from the floor, or they are lost.
      if (expect_full && std::any_of(remote.batches.begin(), remote.batches.end(),
                                     [](const decode::aqua_batch& b) { return !b.full; })) {
        expect_full = false;
        unit.incremental_time = floor_time;
        ctx.log.warning({.message = "the session's last job completed just before ours (another run's?), so ours was "
                                    "incremental from it; submitting again from " + floor_time.value_or("the floor"),
                         .job = unit.display_name,
                         .job_id = remote.id});
        continue;
      }

      // A changed or new query that the service should have loaded in full came
      // back incremental: its session saw the change in a job whose rows we never
      // committed. Asked from the floor, nothing it moved past is lost.
      if (!unit.expect_full.empty()) {
        std::string missed;
        for (const auto& b : remote.batches)
          if (!b.full && unit.expect_full.count(b.name) > 0) missed += (missed.empty() ? "" : ", ") + b.name;
        unit.expect_full.clear();
        if (!missed.empty() && unit.floor_time) {
          unit.incremental_time = unit.floor_time;
          ctx.log.warning({.message = "the service loaded " + missed + " incrementally although it changed since "
                                      "its cursor (the session saw the change in a job we never committed); "
                                      "submitting the whole job again from " + *unit.floor_time,
                           .job = unit.display_name,
                           .job_id = remote.id});
          continue;
        }
      }

      // Started in the second of the job whose rows we committed last: submit
      // again (from the same incrementalTime) a second later. A service whose
      // clock does not move fails the job rather than replace that job's files.
      if (const auto start = committed_job_started_alike(ctx, unit, remote)) {
        const std::string when = "started in " + iso_utc(*start) + ", the second of the last committed job";
        if (++same_second == 3)
          throw std::system_error(aqua_errc::bad_response,
                                  "job " + unit.display_name + " (" + remote.id + "): 3 jobs in a row " + when +
                                      " (the service's clock stands still?); none was loaded, as their incremental "
                                      "files would replace that job's");
        ctx.log.warning({.message = when + ": its incremental files would replace that job's; submitting again "
                                           "in a second",
                         .job = unit.display_name,
                         .job_id = remote.id});
        timer.expires_after(std::chrono::seconds(1));
        std::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }

      // The batches of a job deliver at once, each into its own streams; the
      // download slots bound how many files stream together.
      std::vector<batch_outcome> outcomes(report.queries.size(), batch_outcome::delivered);
      std::optional<work_unit> next_page;  // a window's unit has one query: at most one next page
      task_group batches;
      for (std::size_t i = 0; i < report.queries.size(); ++i) {
        query_report& q = report.queries[i];
        if (std::find(pending.begin(), pending.end(), q.name) == pending.end()) continue;
        const decode::aqua_batch* b = find_batch(remote, q.name);
        if (!b) {
          q.status = outcome::failed;
          q.error = "the service's job " + remote.id + " has no batch named " + q.name;
          outcomes[i] = batch_outcome::failed;
          if (unit.group) fail_group(*unit.group, *q.error);
        } else if (b->status != "completed") {
          q.status = outcome_of_status(b->status);
          q.error = "batch " + b->status + (b->message.empty() ? "" : ": " + b->message);
          outcomes[i] = batch_outcome::failed;
          if (unit.group) fail_group(*unit.group, "job " + unit.display_name + ", query " + q.name + ": " + *q.error);
        } else {
          batches.spawn(ex, deliver_batch(ctx, client, unit, remote, *b, q, outcomes[i], submitted_at, next_page));
        }
      }
      co_await batches.wait();
      if (next_page) {  // a full page: the next one starts after its last Id
        window_group& g = *unit.group;
        ++(unit.catch_up ? g.pending_catch_up : g.pending_windows);
        spawn(std::move(*next_page));
      }

      std::vector<std::string> gone, too_large;
      for (std::size_t i = 0; i < report.queries.size(); ++i) {
        query_report& q = report.queries[i];
        if (outcomes[i] == batch_outcome::file_too_large) {
          const bool group_failed = unit.group && unit.group->failed;
          if (split_window_unit(ctx, unit, spawn, q.error.value_or("file too large"), remote.id)) {
            split = true;
            break;
          }
          if (unit.group && !group_failed && unit.group->failed) q.error = unit.group->error;
          if (unit.group) fail_group(*unit.group, q.error.value_or("file too large"));
          else too_large.push_back(q.name);
        }
        if (outcomes[i] == batch_outcome::file_gone) gone.push_back(q.name);
      }
      if (split) break;
      if (!too_large.empty() && !ctx.interrupted) {
        const auto moved = window_plain_queries(ctx, unit, report, too_large, remote, submitted_at, spawn,
                                                "a result file is over the service's maximum object size (403)");
        if (!moved.empty() && report.queries.empty()) {
          split = true;
          break;
        }
      }
      if (!gone.empty() && unit.reruns < 2 && !ctx.interrupted) {
        // Purged before we committed it: the data is still in Zuora, ask again.
        ++unit.reruns;
        ctx.log.warning({.message = "result files purged before they were committed; submitting the job again",
                         .job = unit.display_name,
                         .job_id = remote.id,
                         .attempt = unit.reruns + 1});
        pending = std::move(gone);
        continue;
      }
      for (const auto& name : gone)
        if (unit.group) fail_group(*unit.group, "job " + unit.display_name + ", query " + name + ": result file purged");
      // A window's query stays pending once its group has it: the group's commit settles it.
      report.status = outcome::completed;
      for (const auto& q : report.queries)
        if (q.status != outcome::completed && !(unit.group && q.status == outcome::pending)) report.status = outcome::failed;
      if (report.status != outcome::completed) report.error = "one or more queries failed";
      break;
    }
  } catch (const std::system_error& e) {
    failure = e;
  }
  if (failure) {
    const bool interrupted = failure->code() == aqua_errc::interrupted;
    report.status = interrupted ? outcome::cancelled : outcome::failed;
    // Name the job: a failed poll's message names only the service's job id.
    const std::string what = failure->what();
    const std::string job_name = "job " + unit.display_name;
    report.error = what.find(job_name) == std::string::npos ? job_name + ": " + what : what;
    report.auth_refused = failure->code() == make_error_condition(condition::auth);
    // A query refused for good is said once, by the job's error: the other
    // queries of the job were never run, and carry no copy of it.
    report.refused = failure->code() == aqua_errc::query_refused;
    bool quiet = false;  // a window of a query already refused: its first window said it
    if (report.refused && unit.group) {
      quiet = unit.group->refused;
      unit.group->refused = true;
      if (quiet) report.error.reset();
    }
    for (auto& q : report.queries)
      if (q.status == outcome::pending) {
        q.status = interrupted ? outcome::cancelled : outcome::failed;
        if (!q.error && !report.refused) q.error = "job " + unit.display_name + ", query " + q.name + ": " + what;
      }
    if (unit.group) fail_group(*unit.group, report.error.value_or(what));
  }
  const job_meter m = ctx.meter(job.name);
  if (split) {
    m.sub(&run_counters::jobs_total, 1u);  // its pieces count instead
    m.add(&run_counters::jobs_split, 1u);
  } else {
    m.add(&run_counters::jobs_done, 1u);
    if (report.status != outcome::completed) m.add(&run_counters::jobs_failed, 1u);
    if (report.status == outcome::completed)
      ctx.log.info({.message = fmt::format("completed in {:.1f} s", seconds_since(started)),
                    .job = unit.display_name,
                    .job_id = report.job_id});
    else if (!(report.refused && !report.error))
      log_failure(ctx, unit, report);
  }
  if (unit.group) co_await settle_window(ctx, unit, spawn);
  co_return unit_result{std::move(report), split};
}

}  // namespace aquaduct::engine_detail

#include "engine/job_plan.hpp"

#include "engine/result_pipeline.hpp"
#include "engine/zoql_text.hpp"

#include <aquaduct/error.hpp>

#include "transport/url.hpp"

#include <set>

#include <fmt/format.h>

namespace aquaduct::engine_detail {

namespace {

using std::chrono::sys_seconds;

// Before any data in Zuora: the window start when we have committed nothing.
constexpr sys_seconds floor_time{std::chrono::seconds(946684800)};  // 2000-01-01T00:00:00Z

std::string listed(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& d : v) out += (out.empty() ? "" : ", ") + d;
  return out.empty() ? std::string("no sink that keeps data") : out;
}

// The committed cursors a plan may use (cursor_trust), with a note for each
// one set aside.
class cursor_reader {
 public:
  cursor_reader(const state_store& state, const cursor_trust& trust, std::vector<log_record>* notes)
      : state_(state), trust_(trust), notes_(notes) {}

  std::optional<cursor> trusted(const job_config& job, const query_config& q) {
    assessment a = assess(job, q);
    if (!a.why.empty() && a.had_cursor) note(job, q, a.why + ": it loads in full");
    return std::move(a.c);
  }

  // A query's committed cursor, trusted or not, and why not. `changed`: the
  // query is not the one its cursor was committed for, or has none yet, so a
  // stateful session (§4.2: a changed or new query) loads it in full by itself.
  struct assessment {
    std::optional<cursor> c;  // trusted
    std::string why;          // why not trusted; empty when trusted or absent
    bool had_cursor = false;
    bool changed = false;
  };
  assessment assess(const job_config& job, const query_config& q) const {
    assessment a;
    std::optional<cursor> c = state_.load(job.name, q.name);
    if (!c) {
      a.changed = true;
      return a;
    }
    a.had_cursor = true;
    a.why = distrust(job, q, *c);
    if (a.why.empty()) a.c = std::move(c);
    else a.changed = c->fingerprint != fingerprint_of(q);
    return a;
  }

  // A warning in the run's log (and --dry-run), once per query.
  void note(const job_config& job, const query_config& q, std::string message) {
    if (notes_ && noted_.insert({job.name, q.name}).second)
      notes_->push_back({.level = log_level::warning, .message = std::move(message), .job = job.name, .query = q.name});
  }

 private:
  std::string distrust(const job_config& job, const query_config& q, const cursor& c) const {
    if (c.fingerprint != fingerprint_of(q)) return "the query changed since its cursor was committed";
    if (refresh_names(trust_.full_refresh, job.name, q.name)) return "--full-refresh sets its cursor aside";
    if (!trust_.source.empty() && c.source != trust_.source)
      return c.source.empty() ? "its cursor was written by an older aquaduct, without the source it was read from"
                              : "its cursor was committed from " + c.source + ", this run reads " + trust_.source;
    if (trust_.destinations && c.destinations != *trust_.destinations)
      return "its cursor was committed to " + listed(c.destinations) + ", this run's sinks are " +
             listed(*trust_.destinations);
    if (const std::optional<cursor> p = state_.pending(job.name, q.name))
      return "a run stopped between committing job " + p->last_job_id + " and saving its cursor, so a sink may "
             "hold rows deleted since, which a replay from the cursor cannot remove";
    if (trust_.lost_by)
      if (std::string sink = trust_.lost_by(job.name, q.name); !sink.empty())
        return "the " + sink + " sink no longer holds what its cursor was committed to (a dropped table or a "
               "removed file)";
    return {};
  }

  const state_store& state_;
  const cursor_trust& trust_;
  std::vector<log_record>* notes_;
  std::set<std::pair<std::string, std::string>> noted_;
};

[[noreturn]] void refuse(const pipeline_config& cfg, const query_config& q, const std::string& why) {
  const std::string at = q.where.file.empty() ? cfg.path : q.where.to_string();
  throw config_error(config_errc::bad_value, {at + ": " + why});
}

work_unit planned_window(const job_config& job, window_group& g, time_window w, const pipeline_config& cfg) {
  std::string error;
  work_unit u = window_unit(job, g, w, error);
  if (!error.empty()) refuse(cfg, g.query, "query " + g.query.name + ": " + error);
  ++g.pending_windows;
  return u;
}

}  // namespace

std::string source_identity(const source_config& src) {
  std::string url = src.base_url;
  if (!src.environment.empty())
    if (std::string u = transport::environment_base_url(src.environment); !u.empty()) url = std::move(u);
  while (!url.empty() && url.back() == '/') url.pop_back();
  switch (src.auth.type) {
    case auth_type::oauth: return url + " as client " + src.auth.client_id;
    case auth_type::api_key: return url + " as key " + src.auth.access_key_id;
    case auth_type::basic: return url + " as user " + src.auth.username;
    case auth_type::none: break;
  }
  return url;
}

bool refresh_names(const std::vector<std::string>& full_refresh, std::string_view job, std::string_view query) {
  for (const auto& r : full_refresh) {
    if (r == "*" || r == job) return true;
    if (r.size() == job.size() + 1 + query.size() && r.compare(0, job.size(), job) == 0 && r[job.size()] == '/' &&
        r.compare(job.size() + 1, std::string::npos, query) == 0)
      return true;
  }
  return false;
}

namespace {

// A stateful job's incrementalTime and the queries that load in full. A query
// without a trusted cursor because it changed (or is new) is reloaded in full
// by the service itself (contract §4.2), while the others stay incremental
// from the oldest trusted cursor; the runner checks that the service did so
// (work_unit::expect_full). Any other distrust (--full-refresh, other sinks, a
// stopped run) leaves the service nothing to notice: the whole job is asked
// from the floor.
struct session_cursors {
  sys_seconds from = floor_time;
  bool from_floor = true;
  std::set<std::string> reload;       // no trusted cursor: their rows replace the sinks'
  std::set<std::string> expect_full;  // of those, the ones the service must load in full
};

session_cursors session_cursors_of(const job_config& job, cursor_reader& cursors, const wall_zone& zone,
                                   bool with_notes) {
  session_cursors out;
  std::optional<sys_seconds> oldest;
  std::vector<std::pair<const query_config*, std::string>> floor_reasons, reloads;
  for (const auto& q : job.queries) {
    const cursor_reader::assessment a = cursors.assess(job, q);
    if (a.c && a.c->position && a.c->mode == "stateful") {
      if (!oldest || *a.c->position < *oldest) oldest = a.c->position;
      continue;
    }
    out.reload.insert(q.name);
    if (a.c) floor_reasons.emplace_back(&q, "its cursor holds no stateful position");
    else if (a.changed) reloads.emplace_back(&q, a.had_cursor ? a.why : "it has no cursor yet (a new query)");
    else floor_reasons.emplace_back(&q, a.why);
  }
  out.from_floor = !oldest || !floor_reasons.empty();
  out.from = out.from_floor ? floor_time : *oldest;
  if (!out.from_floor)
    for (const auto& [q, why] : reloads) out.expect_full.insert(q->name);
  if (!with_notes) return out;
  const std::string floor_text = format_incremental_time(floor_time, zone);
  std::string because;
  for (const auto& [q, why] : floor_reasons) because += (because.empty() ? "" : "; ") + q->name + ": " + why;
  for (const auto& [q, why] : floor_reasons)
    cursors.note(job, *q,
                 fmt::format("full reload of the whole job: {}, so this query loads in full and the job is asked "
                             "from the floor (incrementalTime {}): all its {} queries re-read every row ({})",
                             why, floor_text, job.queries.size(), because));
  for (const auto& [q, why] : reloads) {
    if (!oldest && why.starts_with("it has no cursor")) continue;  // a first run: nothing to warn about
    cursors.note(job, *q,
                 out.from_floor
                     ? fmt::format("full reload: {}; the job is asked from the floor (incrementalTime {})", why,
                                   floor_text)
                     : fmt::format("full reload of this query only: {}, so the service loads it in full (a changed "
                                   "or new query, contract §4.2); the job's other queries stay incremental from "
                                   "{}",
                                   why, format_incremental_time(out.from, zone)));
  }
  return out;
}

}  // namespace

std::string stateful_incremental_time(const job_config& job, const state_store& state, const wall_zone& zone,
                                      const cursor_trust& trust) {
  cursor_reader cursors(state, trust, nullptr);
  return format_incremental_time(session_cursors_of(job, cursors, zone, false).from, zone);
}

run_plan plan_run(const pipeline_config& cfg, state_store* state, const wall_zone& zone, sys_seconds now,
                  const cursor_trust& trust) {
  run_plan plan;
  std::optional<cursor_reader> cursors;
  if (state) cursors.emplace(*state, trust, &plan.notes);
  for (const auto& job : cfg.jobs) {
    if (job.kind != job_kind::aqua) continue;  // batch_results jobs are run by the engine directly
    const bool needs_state =
        job.stateful() || std::any_of(job.queries.begin(), job.queries.end(),
                                      [](const query_config& q) { return q.incremental.has_value(); });
    if (needs_state && !state)
      throw config_error(config_errc::bad_value,
                         {cfg.path + ": job " + job.name +
                          " keeps a cursor (stateful or incremental) but the run has no state directory"});
    work_unit plain;
    plain.job = &job;
    plain.display_name = job.name;
    for (const auto& q : job.queries) {
      if (q.partition) {
        window_group& g = plan.groups.emplace_back();
        g.job = &job;
        g.query = q;
        g.by = q.partition->by;
        g.load = load_kind::full;
        std::string error;
        if (auto step = parse_iso_duration(q.partition->min_step, error)) g.min_step = *step;
        // Rows updated during the backfill move past `now`, out of every window.
        g.catch_up = q.partition->to == "now" && rows_move_along(q.partition->by);
        g.planned_at = now;
        g.catch_up_lag = std::chrono::seconds(q.partition->catch_up_lag_s);
        if (std::string why = catch_up_key_problem(q, job.use_query_labels); !why.empty()) refuse(cfg, q, why);
        for (const time_window& w : plan_partition(*q.partition, now))
          plan.units.push_back(planned_window(job, g, w, cfg));
        if (g.pending_windows == 0) refuse(cfg, q, "query " + q.name + ": the partition has no window");
      } else if (q.incremental) {
        const std::optional<cursor> c = cursors->trusted(job, q);
        const std::optional<sys_seconds> high_water = c && c->mode == "incremental" ? c->position : std::nullopt;
        const std::optional<time_window> w = incremental_window(*q.incremental, high_water, now);
        if (!w) {
          job_report r;
          r.name = job.name;
          r.status = outcome::completed;
          query_report qr;
          qr.name = q.name;
          qr.status = outcome::completed;
          qr.full = false;
          r.queries.push_back(qr);
          plan.nothing_to_do.push_back(std::move(r));
          continue;
        }
        window_group& g = plan.groups.emplace_back();
        g.job = &job;
        g.query = q;
        g.by = q.incremental->by;
        // The first window reaches back to the start: it is the whole object.
        g.load = high_water ? load_kind::incremental : load_kind::full;
        std::string error;
        if (auto step = parse_iso_duration(q.incremental->min_step, error)) g.min_step = *step;
        cursor next;
        next.job = job.name;
        next.query = q.name;
        next.mode = "incremental";
        next.fingerprint = fingerprint_of(q);
        next.source = trust.source;
        next.destinations = trust.destinations.value_or(std::vector<std::string>{});
        next.position = w->to;
        g.next_cursor = next;
        plan.units.push_back(planned_window(job, g, *w, cfg));
      } else {
        plain.queries.push_back(q);
      }
    }
    if (plain.queries.empty()) continue;
    if (job.stateful()) {
      session_cursors sc = session_cursors_of(job, *cursors, zone, true);
      plain.incremental_time = format_incremental_time(sc.from, zone);
      plain.floor_time = format_incremental_time(floor_time, zone);
      plain.reload = std::move(sc.reload);
      plain.expect_full = std::move(sc.expect_full);
      plain.session_may_be_new = plain.reload.size() == job.queries.size();
    }
    plan.units.push_back(std::move(plain));
  }
  return plan;
}

}  // namespace aquaduct::engine_detail

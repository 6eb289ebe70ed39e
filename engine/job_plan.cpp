#include "engine/job_plan.hpp"

#include "engine/result_pipeline.hpp"

#include <aquaduct/error.hpp>

namespace aquaduct::engine_detail {

namespace {

using std::chrono::sys_seconds;

// Before any data in Zuora: the window start when we have committed nothing.
constexpr sys_seconds floor_time{std::chrono::seconds(946684800)};  // 2000-01-01T00:00:00Z

std::optional<cursor> matching_cursor(const state_store& state, const job_config& job, const query_config& q) {
  std::optional<cursor> c = state.load(job.name, q.name);
  if (c && c->fingerprint != fingerprint_of(q)) return std::nullopt;  // the query changed: start again
  return c;
}

[[noreturn]] void refuse(const pipeline_config& cfg, const query_config& q, const std::string& why) {
  const std::string at = q.where.file.empty() ? cfg.path : q.where.to_string();
  throw config_error(config_errc::bad_value, {at + ": " + why});
}

work_unit planned_window(const job_config& job, window_group& g, time_window w, const pipeline_config& cfg) {
  std::string error;
  work_unit u = window_unit(job, g, w, error);
  if (!error.empty()) refuse(cfg, g.query, "query " + g.query.name + ": " + error);
  ++g.pending;
  return u;
}

}  // namespace

std::string stateful_incremental_time(const job_config& job, const state_store& state, data_center_zone zone) {
  std::optional<sys_seconds> oldest;
  for (const auto& q : job.queries) {
    const std::optional<cursor> c = matching_cursor(state, job, q);
    if (!c || !c->position || c->mode != "stateful") {
      oldest = floor_time;
      break;
    }
    if (!oldest || *c->position < *oldest) oldest = c->position;
  }
  return format_incremental_time(oldest.value_or(floor_time), zone);
}

run_plan plan_run(const pipeline_config& cfg, state_store* state, data_center_zone zone, sys_seconds now) {
  run_plan plan;
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
        for (const time_window& w : plan_partition(*q.partition, now))
          plan.units.push_back(planned_window(job, g, w, cfg));
        if (g.pending == 0) refuse(cfg, q, "query " + q.name + ": the partition has no window");
      } else if (q.incremental) {
        const std::optional<cursor> c = matching_cursor(*state, job, q);
        const std::optional<sys_seconds> high_water = c && c->mode == "incremental" ? c->position : std::nullopt;
        const std::optional<time_window> w = incremental_window(*q.incremental, high_water, now);
        if (!w) {
          job_report r;
          r.name = job.name;
          r.status = "completed";
          query_report qr;
          qr.name = q.name;
          qr.status = "completed";
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
        next.position = w->to;
        g.next_cursor = next;
        plan.units.push_back(planned_window(job, g, *w, cfg));
      } else {
        plain.queries.push_back(q);
      }
    }
    if (plain.queries.empty()) continue;
    if (job.stateful()) {
      plain.incremental_time = stateful_incremental_time(job, *state, zone);
      plain.session_may_be_new = std::none_of(job.queries.begin(), job.queries.end(), [&](const query_config& q) {
        return matching_cursor(*state, job, q).has_value();
      });
    }
    plan.units.push_back(std::move(plain));
  }
  return plan;
}

}  // namespace aquaduct::engine_detail

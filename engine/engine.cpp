// The scheduler: every work unit of the plan is a coroutine on one io_context;
// the limiters in run_context keep the tenant's limits (stateless and stateful
// job slots, download slots, one job at a time per session), and the sink
// work runs on a thread pool. See docs/architecture.md "How a row travels".
#include <aquaduct/engine.hpp>
#include <aquaduct/error.hpp>

#include "engine/batch_results_job.hpp"
#include "engine/callout_listener.hpp"
#include "engine/column_types.hpp"
#include "engine/fleet.hpp"
#include "engine/job_plan.hpp"
#include "engine/job_runner.hpp"
#include "engine/window_group.hpp"
#include "engine/result_pipeline.hpp"
#include "sinks/registry.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <mutex>
#include <thread>

namespace aquaduct {

using engine_detail::run_context;
using engine_detail::work_unit;

namespace {

std::uint64_t peak_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  std::uint64_t kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lu kB", &kb) == 1) break;
  std::fclose(f);
  return kb * 1024;
}

// One run: everything it owns, kept alive by the coroutines that use it.
struct run_state : std::enable_shared_from_this<run_state> {
  asio::io_context* io = nullptr;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  run_report report;
  std::vector<std::unique_ptr<sink>> built;
  std::vector<sink*> extra;
  std::unique_ptr<engine_detail::state_store> state;
  std::unique_ptr<asio::thread_pool> pool;
  std::unique_ptr<engine_detail::callout_listener> callout;
  run_context ctx;
  engine_detail::run_plan plan;
  std::deque<job_report> reports;
  std::vector<engine_detail::window_group*> report_group;  // per report: its window group, if any
  // Groups the engine made for plain queries it had to split (kept for the report).
  std::vector<std::shared_ptr<engine_detail::window_group>> adopted;
  std::vector<bool> split;  // per report: the unit went on as two halves, which report instead
  std::size_t outstanding = 0;  // units and batch-results jobs not yet settled, started or not
  // Units start in plan order, at most `unit_cap` at once: a unit waiting on
  // a limiter still holds a coroutine frame (~9 KB), and a partition may plan
  // 10,000 windows. Twice both tenant job limits keeps every slot busy.
  std::deque<std::pair<std::size_t, work_unit>> waiting;
  std::size_t running_units = 0;
  std::size_t unit_cap = 200;
  std::function<void(run_report)> done;
  std::vector<std::string> job_order;  // the configured jobs, for progress()

  // What a configured job is doing, from its counters.
  static job_state state_of(const progress_counters& c) {
    if (c.jobs_total > 0 && c.jobs_done >= c.jobs_total) return c.jobs_failed ? job_state::failed : job_state::done;
    if (c.downloads_active) return job_state::downloading;
    if (c.jobs_active) return job_state::running;
    if (c.jobs_total == 0) return job_state::done;  // nothing planned: every window was empty
    return job_state::queued;
  }

  void track(job_report r, engine_detail::window_group* g) {
    reports.push_back(std::move(r));
    report_group.push_back(g);
    split.push_back(false);
  }

  // Plans a unit (its report keeps its place) and starts it when there is room.
  void spawn(work_unit unit) {
    const std::size_t index = reports.size();
    job_report placeholder;
    placeholder.name = unit.display_name;
    engine_detail::window_group* g = unit.group;
    if (unit.adopted && (adopted.empty() || adopted.back() != unit.adopted)) adopted.push_back(unit.adopted);
    track(std::move(placeholder), g);
    ++outstanding;
    ctx.meter(unit.job->name).add(&engine_detail::run_counters::jobs_total, 1u);
    waiting.emplace_back(index, std::move(unit));
    start_waiting();
  }

  void start_waiting() {
    while (running_units < unit_cap && !waiting.empty()) {
      auto [index, unit] = std::move(waiting.front());
      waiting.pop_front();
      ++running_units;
      auto self = shared_from_this();
      asio::co_spawn(*io,
                     engine_detail::run_unit(ctx, std::move(unit), [self](work_unit u) { self->spawn(std::move(u)); }),
                     [self, i = index](std::exception_ptr e, engine_detail::unit_result r) {
                       --self->running_units;
                       self->start_waiting();
                       if (r.split) self->split[i] = true;
                       self->settle(i, e, std::move(r.report));
                     });
    }
  }

  // Before any job is submitted: every sink's health check (on the sink
  // pool: it may block) and describe of every object a query uses, for the
  // column types. A failure ends the run here, every job failed with it.
  struct start_failure {
    std::string error;
    bool auth = false;     // credentials refused: exit 3
    bool refused = false;  // an object describe does not know: exit 2
  };
  static asio::awaitable<std::optional<start_failure>> prepare(std::shared_ptr<run_state> self,
                                                               const pipeline_config& cfg) {
    run_context& ctx = self->ctx;
    std::vector<std::string> unhealthy;
    co_await engine_detail::on_sink_thread(ctx, [&] {
      for (sink* s : ctx.sinks)
        if (std::string why = s->health_check(); !why.empty())
          unhealthy.push_back(std::string(s->type()) + " sink: " + why);
    });
    if (!unhealthy.empty()) {
      std::string all;
      for (const auto& u : unhealthy) all += (all.empty() ? "" : "; ") + u;
      co_return start_failure{"before any job was submitted: " + all};
    }
    if (!cfg.source.describe) co_return std::nullopt;
    engine_detail::aqua_client client(ctx.aqua);
    engine_detail::tenant_schema schema(client);
    try {
      for (const auto& job : cfg.jobs) {
        if (job.kind != job_kind::aqua) continue;
        for (const auto& q : job.queries) {
          auto cols = std::make_shared<engine_detail::query_columns>(
              co_await engine_detail::describe_query(schema, job, q));
          for (const auto& p : cols->problems) ctx.log.warning({.message = p, .job = job.name, .query = q.name});
          ctx.columns[{job.name, q.name}] = std::move(cols);
        }
      }
    } catch (const std::system_error& e) {
      start_failure f;
      f.error = std::string("before any job was submitted: ") + e.what();
      f.auth = e.code() == make_error_condition(condition::auth);
      f.refused = e.code() == aqua_errc::unknown_object;
      co_return f;
    }
    if (!schema.requests().empty())
      ctx.log.info({.message = "describe: " + std::to_string(schema.requests().size()) +
                               " request(s) for the column types of " + std::to_string(ctx.columns.size()) +
                               " queries"});
    co_return std::nullopt;
  }

  // Every configured job fails with `f` (or is cancelled): nothing was submitted.
  void fail_all(const pipeline_config& cfg, const start_failure& f) {
    plan.nothing_to_do.clear();
    for (const auto& job : cfg.jobs) {
      job_report r;
      r.name = job.name;
      r.status = ctx.interrupted ? outcome::cancelled : outcome::failed;
      r.error = f.error;
      r.auth_refused = f.auth;
      r.refused = f.refused;
      for (const auto& q : job.queries) {
        query_report qr;
        qr.name = q.name;
        qr.status = r.status;
        r.queries.push_back(std::move(qr));
      }
      track(std::move(r), nullptr);
    }
    ctx.log.error({.message = f.error});
    finish();
  }

  void spawn_batch_results(const job_config& job) {
    const std::size_t index = reports.size();
    job_report placeholder;
    placeholder.name = job.name;
    track(std::move(placeholder), nullptr);
    ++outstanding;
    ctx.meter(job.name).add(&engine_detail::run_counters::jobs_total, 1u);
    auto self = shared_from_this();
    // run_batch_results_job stops (and cancels its batch on the service) on
    // the terminal cancellation of its slot: the run's interrupt emits it.
    auto stop = std::make_shared<asio::cancellation_signal>();
    ctx.on_interrupt.push_back([stop] { stop->emit(asio::cancellation_type::terminal); });
    asio::co_spawn(*io, limited_batch_results_job(self, job),
                   asio::bind_cancellation_slot(stop->slot(), [self, index, stop, name = job.name](std::exception_ptr e,
                                                                                                     job_report r) {
                     const engine_detail::job_meter m = self->ctx.meter(name);
                     m.add(&engine_detail::run_counters::jobs_done, 1u);
                     if (e || r.status != outcome::completed) m.add(&engine_detail::run_counters::jobs_failed, 1u);
                     self->settle(index, e, std::move(r));
                   }));
  }

  // A batch_results job under the run's limit of them at once.
  static asio::awaitable<job_report> limited_batch_results_job(std::shared_ptr<run_state> self, const job_config& job) {
    engine_detail::async_limiter::permit slot = co_await self->ctx.json_batches->acquire();
    if (!slot) {
      job_report r;
      r.name = job.name;
      r.status = outcome::cancelled;
      r.error = "job " + job.name + ": interrupted before it started";
      for (const auto& q : job.queries) {
        query_report qr;
        qr.name = q.name;
        qr.status = outcome::cancelled;
        r.queries.push_back(std::move(qr));
      }
      co_return r;
    }
    engine_detail::sink_delivery deliver = [self](std::function<void()> work) {
      return engine_detail::on_sink_thread(self->ctx, std::move(work));
    };
    co_return co_await engine_detail::run_batch_results_job(self->ctx, job, std::move(deliver));
  }

  progress_snapshot snapshot() const {
    progress_snapshot p;
    static_cast<progress_counters&>(p) = ctx.counters.read();
    for (const std::string& name : job_order) {
      job_progress j;
      static_cast<progress_counters&>(j) = ctx.job_counters.at(name)->read();
      j.name = name;
      j.state = state_of(j);
      p.jobs.push_back(std::move(j));
    }
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return p;
  }

  void settle(std::size_t index, std::exception_ptr e, job_report r) {
    if (e) {
      // The coroutines report failures themselves; anything else is a bug worth seeing.
      r.name = reports[index].name;
      r.status = outcome::failed;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        r.error = std::string("internal error: ") + ex.what();
      }
    }
    reports[index] = std::move(r);
    if (--outstanding == 0) asio::co_spawn(*io, end_run(shared_from_this()), [](std::exception_ptr) {});
  }

  // Every unit has settled: the jobs they left on the service are cancelled
  // (ctx.cleanup) before the run ends.
  static asio::awaitable<void> end_run(std::shared_ptr<run_state> self) {
    try {
      co_await self->ctx.cleanup.wait();
    } catch (const std::exception& e) {
      self->ctx.log.warning({.message = std::string("cancelling jobs left on the service: ") + e.what()});
    }
    self->ctx.cleanup_executor = {};
    self->finish();
  }

  void finish() {
    if (callout) callout->stop();  // no callout wakes anything from here on
    ctx.cleanup_executor = {};
    // A sink that throws from close() is reported, never thrown out of io.run().
    std::vector<std::string> close_errors;
    const auto close = [&](sink& s) {
      try {
        s.close();
      } catch (const std::exception& e) {
        close_errors.push_back(std::string(s.type()) + " sink: " + e.what());
      } catch (...) {
        close_errors.push_back(std::string(s.type()) + " sink: close() threw something that is not a std::exception");
      }
    };
    for (auto& s : built) close(*s);
    for (sink* s : extra) close(*s);
    pool->join();
    // What is bound to the io_context goes now, on its thread: the run_state
    // itself may outlive the io_context (engine::progress() reads it later).
    ctx.aqua.http->close();
    ctx.aqua.http.reset();
    ctx.aqua.auth.reset();
    callout.reset();

    for (std::size_t i = 0; i < reports.size(); ++i) {
      job_report& r = reports[i];
      if (split[i]) continue;  // its halves report for it
      if (engine_detail::window_group* g = report_group[i]) {
        // A window's rows count once its query's streams committed.
        for (auto& q : r.queries) {
          if (q.status != outcome::pending) continue;  // handed to the group
          q.status = g->summary.status;
          q.split = g->split_note();
          if (auto it = g->delivered_by_job.find(r.job_id); it != g->delivered_by_job.end()) {
            q.rows = it->second.rows;
            q.bytes_decoded = it->second.bytes_decoded;
          }
          if (g->summary.status != outcome::completed) q.error = "not committed: " + g->summary.error.value_or("");
        }
        if (r.status == outcome::completed)
          for (const auto& q : r.queries)
            if (q.status != outcome::completed) {
              r.status = outcome::failed;
              r.error = "one or more queries failed";
            }
      }
      report.jobs.push_back(std::move(r));
    }
    for (auto& r : plan.nothing_to_do) report.jobs.push_back(std::move(r));
    for (const auto& e : close_errors) {
      job_report r;
      r.name = "(sinks)";
      r.status = outcome::failed;
      r.error = e;
      report.jobs.push_back(std::move(r));
    }
    report.interrupted = ctx.interrupted;
    report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report.peak_rss_bytes = peak_rss_bytes();
    report.status = report.interrupted          ? run_status::interrupted
                    : report.exit_code() == 0 ? run_status::ok
                                              : run_status::failed;
    auto d = std::move(done);
    d(std::move(report));
  }
};

}  // namespace

struct engine::impl {
  pipeline_config cfg;
  engine_options opts;
  std::vector<std::unique_ptr<sink>> extra_sinks;
  mutable std::mutex m;
  // The cancel flag of the run being set up or in progress: a cancel() that
  // comes before the run is under way still stops it, and none outlives it.
  std::shared_ptr<std::atomic<bool>> cancelling;
  std::shared_ptr<run_state> current;  // the run in progress, for progress() and cancel()
  progress_snapshot last;              // the counters of the last run, once it ended
};

engine::engine(pipeline_config cfg, engine_options opts) : impl_(std::make_unique<impl>()) {
  impl_->cfg = std::move(cfg);
  impl_->opts = std::move(opts);
}
engine::~engine() = default;

void engine::add_sink(std::unique_ptr<sink> s) { impl_->extra_sinks.push_back(std::move(s)); }

void engine::async_run(asio::io_context& io, std::function<void(run_report)> done) {
  const pipeline_config& cfg = impl_->cfg;
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(impl_->m);
    impl_->cancelling = cancelled;
  }
  auto rs = std::make_shared<run_state>();
  rs->io = &io;
  rs->report.started_at = engine_detail::iso_utc(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  // When the run ends (on the io_context's thread) the engine lets go of it:
  // cancel() has nothing left to post to, progress() keeps the last counters.
  rs->done = [this, raw = rs.get(), cancelled, user_done = std::move(done)](run_report r) {
    {
      std::lock_guard lock(impl_->m);
      impl_->last = raw->snapshot();
      impl_->current.reset();
      if (impl_->cancelling == cancelled) impl_->cancelling.reset();
    }
    user_done(std::move(r));
  };
  run_context& ctx = rs->ctx;
  ctx.config_path = cfg.path;
  ctx.source = cfg.source;
  ctx.zone = engine_detail::resolve_zone(cfg.source);
  ctx.tenant = engine_detail::tenant_zone(cfg.source);
  ctx.log = engine_detail::run_log(impl_->opts.log);
  ctx.log.hide(engine_detail::secrets_of(cfg.source));
  ctx.pgp_key = engine_detail::load_pgp_key(cfg);
  for (const auto& job : cfg.jobs) {
    ctx.job_counters.emplace(job.name, std::make_unique<engine_detail::run_counters>());
    rs->job_order.push_back(job.name);
  }

  for (const auto& sc : cfg.sinks) rs->built.push_back(sinks::make_sink(sc));
  for (auto& s : rs->built) ctx.sinks.push_back(s.get());
  for (auto& s : impl_->extra_sinks) {
    ctx.sinks.push_back(s.get());
    rs->extra.push_back(s.get());
  }
  if (ctx.sinks.empty()) throw config_error(config_errc::missing_key, {cfg.path + ": the pipeline has no [[sinks]]"});

  if (impl_->opts.fleet) {
    // A fleet's unit: its fenced state, and its lease instead of the lock.
    ctx.fleet = impl_->opts.fleet.get();
    ctx.state = ctx.fleet->state.get();
  } else if (!impl_->opts.state_dir.empty()) {
    rs->state = engine_detail::open_state(impl_->opts.state_dir);
    rs->state->lock();
    ctx.state = rs->state.get();
  }
  // A cursor belongs to the source it was read from and the sinks it was
  // committed to, while they still hold its target (job_plan.hpp).
  ctx.source_id = engine_detail::source_identity(cfg.source);
  for (sink* s : ctx.sinks)
    if (std::string d = s->destination(); !d.empty()) ctx.destinations.push_back(std::string(s->type()) + ":" + d);
  std::sort(ctx.destinations.begin(), ctx.destinations.end());
  engine_detail::cursor_trust trust;
  trust.source = ctx.source_id;
  trust.destinations = ctx.destinations;
  trust.lost_by = [&ctx](const std::string& job, const std::string& query) -> std::string {
    stream_schema target;
    target.job = job;
    target.query = query;
    for (sink* s : ctx.sinks)
      if (!s->holds(target)) return std::string(s->type());
    return {};
  };
  trust.full_refresh = impl_->opts.full_refresh;
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  rs->plan = engine_detail::plan_run(cfg, ctx.state, ctx.zone, now, trust);
  for (const log_record& note : rs->plan.notes) ctx.log(note);

  ctx.aqua = engine_detail::make_aqua_session(io.get_executor(), ctx.source, cfg.path, ctx.log);
  ctx.on_interrupt.push_back([gate = ctx.aqua.gate] { gate->interrupt(); });  // no request waits out a pause
  ctx.stateless_jobs = std::make_unique<engine_detail::async_limiter>(ctx.source.max_active_jobs);
  ctx.stateful_jobs = std::make_unique<engine_detail::async_limiter>(ctx.source.max_active_jobs);
  ctx.downloads = std::make_unique<engine_detail::async_limiter>(ctx.source.max_downloads);
  ctx.spools = std::make_unique<engine_detail::spool_budget>(ctx.source.max_spool_bytes, 512);
  rs->unit_cap = 4 * std::size_t{ctx.source.max_active_jobs};
  ctx.json_batches = std::make_unique<engine_detail::async_limiter>(10);
  unsigned threads = impl_->opts.sink_threads ? impl_->opts.sink_threads : std::thread::hardware_concurrency();
  rs->pool = std::make_unique<asio::thread_pool>(std::max(1u, threads));
  ctx.sink_pool = rs->pool.get();
  ctx.cleanup_executor = io.get_executor();

  if (!ctx.source.callout.listen.empty()) {
    rs->callout = std::make_unique<engine_detail::callout_listener>(io.get_executor(), ctx.source.callout);
    std::weak_ptr<run_state> weak = rs;
    rs->callout->on_callout([weak](std::string_view job_id, std::string_view) {
      if (auto self = weak.lock()) self->ctx.wake(job_id);
    });
    rs->callout->start();
    ctx.notify_url = rs->callout->notify_url();
  }

  {
    std::lock_guard lock(impl_->m);
    impl_->current = rs;
  }
  // Everything from here on happens on the io_context's thread.
  asio::post(io, [rs, cancelled, this] {
    if (*cancelled) rs->ctx.interrupt();
    asio::co_spawn(*rs->io, run_state::prepare(rs, impl_->cfg),
                   [rs, this](std::exception_ptr e, std::optional<run_state::start_failure> failed) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         failed = run_state::start_failure{std::string("before any job was submitted: ") + ex.what()};
                       }
                     }
                     if (!failed && rs->ctx.interrupted) failed = run_state::start_failure{"interrupted before any job was submitted"};
                     if (failed) return rs->fail_all(impl_->cfg, *failed);
                     for (auto& unit : rs->plan.units) rs->spawn(std::move(unit));
                     rs->plan.units.clear();
                     for (const auto& job : impl_->cfg.jobs)
                       if (job.kind == job_kind::batch_results) rs->spawn_batch_results(job);
                     if (rs->outstanding == 0) rs->finish();
                   });
  });
}

run_report engine::run() {
  asio::io_context io;
  run_report out;
  async_run(io, [&out](run_report r) { out = std::move(r); });
  io.run();
  return out;
}

void engine::cancel() noexcept {
  std::lock_guard lock(impl_->m);
  if (impl_->cancelling) *impl_->cancelling = true;
  if (auto rs = impl_->current) asio::post(*rs->io, [rs] { rs->ctx.interrupt(); });
}

progress_snapshot engine::progress() const {
  std::lock_guard lock(impl_->m);
  return impl_->current ? impl_->current->snapshot() : impl_->last;
}

}  // namespace aquaduct

#include "engine/fleet_worker.hpp"

#include "engine/state_database.hpp"
#include "fileio/atomic_file.hpp"
#include "text/json_text.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

namespace aquaduct::engine_detail {

namespace {

using steady = std::chrono::steady_clock;

// The probes' files (worker_options::health_dir), written whole, never half.
// A directory that cannot be written leaves them stale: the liveness probe,
// not this worker, is what acts on that.
void write_health(const std::string& dir, const char* name, const std::string& text) {
  if (dir.empty()) return;
  try {
    std::filesystem::create_directories(dir);
    fileio::atomic_file f(std::filesystem::path(dir) / name);
    f.buffer() = text + '\n';
    f.commit();
  } catch (const std::exception&) {
  }
}

}  // namespace

struct fleet_worker::impl {
  pipeline_config cfg;
  pipeline_config without_jobs;  // cfg but its jobs: each unit's engine run gets its one job added
  worker_options opts;
  std::unique_ptr<fleet> coordinator;
  asio::io_context io;

  struct running_unit {
    claimed_unit claim;
    std::unique_ptr<engine> eng;
    bool lost = false;  // its lease was found taken: nothing of it is recorded
  };
  std::map<std::string, running_unit> running;  // on the io thread only
  std::atomic<bool> stopping{false};
  std::unique_ptr<asio::steady_timer> next_claim;

  // The renewal thread.
  std::mutex m;
  std::condition_variable wake;
  bool done = false;

  void log(log_level level, std::string message, std::string job = {}) {
    if (opts.log) opts.log({.level = level, .message = std::move(message), .job = std::move(job)});
  }

  unsigned capacity() const {
    return opts.units_at_once ? opts.units_at_once : std::max(1u, cfg.source.max_active_jobs);
  }

  const job_config* job_named(const std::string& name) const {
    for (const job_config& j : cfg.jobs)
      if (j.name == name) return &j;
    return nullptr;
  }

  // Claims units while there is room; when none is left to claim and none
  // runs here, the run is over once every unit has ended, else it tries again
  // later (another worker's lease may expire).
  void fill() {
    if (stopping) return maybe_end();
    while (running.size() < capacity()) {
      std::optional<claimed_unit> u;
      try {
        u = coordinator->claim();
      } catch (const std::system_error& e) {
        log(log_level::warning, std::string("cannot claim a unit now: ") + e.what());
        break;
      }
      if (!u) break;
      start(std::move(*u));
    }
    if (running.empty()) {
      bool finished = false;
      try {
        finished = coordinator->status().finished();
      } catch (const std::system_error& e) {
        log(log_level::warning, std::string("cannot read the run now: ") + e.what());
      }
      if (finished) return maybe_end();
    }
    // Look again in a while: a unit another worker holds may come free (its
    // lease expires), or the run ends. An idle worker looks every second, so
    // that it exits with the run rather than up to a lease later.
    const auto again = running.empty()
                           ? std::chrono::seconds(1)
                           : std::clamp(coordinator->lease() / 3, std::chrono::seconds(1), std::chrono::seconds(10));
    next_claim->expires_after(again);
    next_claim->async_wait([this](std::error_code ec) {
      if (!ec) fill();
    });
  }

  void maybe_end() {
    if (!running.empty()) return;
    next_claim->cancel();
    {
      std::lock_guard lock(m);
      done = true;
    }
    wake.notify_all();
  }

  void start(claimed_unit u) {
    const job_config* job = job_named(u.unit);
    if (!u.taken_from.empty())
      log(log_level::warning,
          fmt::format("took the unit over from {} (its lease expired); attempt {}, fencing token {}", u.taken_from,
                      u.attempt, u.fence),
          u.unit);
    else
      log(log_level::info, fmt::format("claimed the unit; attempt {}, fencing token {}", u.attempt, u.fence), u.unit);
    if (!job) {
      // The run was planned from this file (same SHA-256): cannot happen but by hand.
      coordinator->finish(u, 2, "{\"error\":\"no such job in the pipeline\"}");
      return;
    }
    pipeline_config one = without_jobs;  // not a copy of every job per unit: a run may have thousands
    one.jobs = {*job};
    engine_options eo;
    eo.log = opts.log;
    eo.sink_threads = 1;
    auto unit = std::make_shared<fleet_unit>();
    unit->coordinator = coordinator.get();
    unit->claim = u;
    unit->state = std::make_unique<fenced_state>(coordinator->state(), coordinator->run(), u);
    eo.fleet = unit;
    running_unit& r = running[u.unit];
    r.claim = u;
    try {
      r.eng = std::make_unique<engine>(std::move(one), std::move(eo));
      r.eng->async_run(io, [this, name = u.unit](run_report report) { ended(name, std::move(report)); });
    } catch (const std::exception& e) {
      // The unit cannot start here (a sink that cannot be built): it fails, as
      // the same pipeline would under `aquaduct run`.
      const bool usage = dynamic_cast<const config_error*>(&e) != nullptr;
      coordinator->finish(u, usage ? 2 : 1, "{\"error\":" + text::json_quote(e.what()) + "}");
      log(log_level::error, std::string("the unit cannot start: ") + e.what(), u.unit);
      running.erase(u.unit);
    }
  }

  void ended(const std::string& name, run_report report) {
    auto it = running.find(name);
    if (it == running.end()) return;
    running_unit& r = it->second;
    if (r.lost) {
      log(log_level::warning,
          fmt::format("stopped: another worker holds the unit now (fencing token {} is stale); nothing of this "
                      "attempt was recorded",
                      r.claim.fence),
          name);
    } else if (report.interrupted && stopping) {
      coordinator->release(r.claim);
      log(log_level::info, "interrupted: the unit is given back for another worker", name);
    } else if (coordinator->finish(r.claim, report.exit_code(), report.to_json())) {
      log(report.exit_code() == 0 ? log_level::info : log_level::error,
          report.exit_code() == 0 ? "completed" : "failed (exit code " + std::to_string(report.exit_code()) + ")",
          name);
    } else {
      log(log_level::warning,
          fmt::format("another worker took the unit over (fencing token {} is stale); its end is not recorded",
                      r.claim.fence),
          name);
    }
    // The engine goes after its own callback has returned.
    asio::post(io, [this, name, eng = std::shared_ptr<engine>(std::move(r.eng))]() mutable {
      eng.reset();
      running.erase(name);
      fill();
    });
  }

  // The renewal loop (its own thread): every lease/3, or at once when woken.
  void renewals() {
    const auto every = std::max(std::chrono::milliseconds(coordinator->lease()) / 3, std::chrono::milliseconds(200));
    steady::time_point last_ok = steady::now();
    std::unique_lock lock(m);
    while (!done) {
      wake.wait_for(lock, every);
      if (done) break;
      lock.unlock();
      try {
        const std::vector<std::string> lost = coordinator->renew();
        last_ok = steady::now();
        write_health(opts.health_dir, "heartbeat", iso_utc(std::chrono::floor<std::chrono::seconds>(
                                                       std::chrono::system_clock::now())));
        if (!lost.empty()) asio::post(io, [this, lost] { lose(lost); });
      } catch (const std::system_error& e) {
        log(log_level::warning, std::string("cannot renew the leases: ") + e.what());
        // Past the lease, every unit may have been taken over: stop them all.
        if (steady::now() - last_ok > coordinator->lease())
          asio::post(io, [this] {
            std::vector<std::string> all;
            for (const auto& [name, r] : running) all.push_back(name);
            lose(all);
          });
      }
      lock.lock();
    }
  }

  void lose(const std::vector<std::string>& units) {
    for (const std::string& name : units) {
      auto it = running.find(name);
      if (it == running.end() || it->second.lost) continue;
      it->second.lost = true;
      log(log_level::warning,
          fmt::format("lost the unit's lease (fencing token {}): stopping its work, another worker takes it",
                      it->second.claim.fence),
          name);
      if (it->second.eng) it->second.eng->cancel();
    }
  }
};

fleet_worker::fleet_worker(pipeline_config cfg, worker_options opts) : impl_(std::make_unique<impl>()) {
  impl_->cfg = std::move(cfg);
  impl_->without_jobs = impl_->cfg;
  impl_->without_jobs.jobs.clear();
  impl_->opts = std::move(opts);
}

fleet_worker::~fleet_worker() = default;

worker_result fleet_worker::run() {
  impl& w = *impl_;
  w.coordinator = std::make_unique<fleet>(w.opts.fleet);
  const bool planned = w.coordinator->plan(w.cfg);
  w.log(log_level::info, planned ? fmt::format("planned run {}: {} units, one per [[jobs]] entry", w.opts.fleet.run,
                                               w.cfg.jobs.size())
                                 : fmt::format("joined run {}", w.opts.fleet.run));
  write_health(w.opts.health_dir, "ready", w.coordinator->worker());
  write_health(w.opts.health_dir, "heartbeat", "start");
  w.next_claim = std::make_unique<asio::steady_timer>(w.io);
  auto guard = asio::make_work_guard(w.io);
  std::thread renewer([&w] { w.renewals(); });
  std::thread io_thread([&w] { w.io.run(); });
  asio::post(w.io, [&w] { w.fill(); });
  {
    std::unique_lock lock(w.m);
    w.wake.wait(lock, [&w] { return w.done; });
  }
  renewer.join();
  guard.reset();
  asio::post(w.io, [&w] { w.next_claim.reset(); });
  io_thread.join();
  worker_result out;
  out.run = w.coordinator->status();
  out.interrupted = w.stopping;
  return out;
}

void fleet_worker::cancel() noexcept {
  impl& w = *impl_;
  w.stopping = true;
  asio::post(w.io, [&w] {
    for (auto& [name, r] : w.running)
      if (r.eng) r.eng->cancel();
    w.maybe_end();
  });
}

std::string run_table(const run_row& run, bool every_unit) {
  std::string out = fmt::format("run {}: planned by {} at {}\n", run.run, run.planned_by, run.planned_at);
  const bool listed = every_unit || std::any_of(run.units.begin(), run.units.end(),
                                                [](const unit_row& u) { return u.state != "completed"; });
  if (listed)
    out += fmt::format("{:<32} {:<10} {:>6} {:>8} {:>9}  {}\n", "unit", "state", "token", "attempts", "lease s", "owner");
  int completed = 0, failed = 0, running = 0, pending = 0;
  for (const unit_row& u : run.units) {
    completed += u.state == "completed";
    failed += u.state == "failed";
    running += u.state == "running";
    pending += u.state == "pending";
    if (!every_unit && u.state == "completed") continue;
    out += fmt::format("{:<32} {:<10} {:>6} {:>8} {:>9}  {}\n", u.unit, u.state, u.fence, u.attempts,
                       u.state == "running" ? fmt::format("{:.0f}", u.lease_left_s) : std::string("-"), u.owner);
  }
  out += fmt::format("{} units: {} completed, {} failed, {} running, {} pending{}\n", run.units.size(), completed,
                     failed, running, pending, run.finished() ? " (the run has ended)" : "");
  return out;
}

std::string run_json(const run_row& run) {
  using text::json_quote;
  std::string out = fmt::format(
      "{{\"run\":{},\"planned_by\":{},\"planned_at\":{},\"pipeline_sha256\":{},\"finished\":{},\"exit_code\":{},"
      "\"units\":[",
      json_quote(run.run), json_quote(run.planned_by), json_quote(run.planned_at), json_quote(run.pipeline),
      run.finished() ? "true" : "false", run.exit_code());
  for (std::size_t i = 0; i < run.units.size(); ++i) {
    const unit_row& u = run.units[i];
    out += fmt::format("{}{{\"unit\":{},\"state\":{},\"fence\":{},\"attempts\":{},\"owner\":{},\"exit_code\":{},"
                       "\"report\":{}}}",
                       i ? "," : "", json_quote(u.unit), json_quote(u.state), u.fence, u.attempts,
                       u.owner.empty() ? std::string("null") : json_quote(u.owner), u.exit_code,
                       u.report.empty() ? std::string("null") : u.report);
  }
  out += "]}";
  return out;
}

}  // namespace aquaduct::engine_detail

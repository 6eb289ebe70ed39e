#include <aquaduct/engine.hpp>
#include <aquaduct/error.hpp>

#include "engine/job_runner.hpp"
#include "sinks/registry.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <ctime>

namespace aquaduct {

using engine_detail::run_context;

struct engine::impl {
  pipeline_config cfg;
  engine_options opts;
  std::vector<std::unique_ptr<sink>> extra_sinks;
};

engine::engine(pipeline_config cfg, engine_options opts) : impl_(std::make_unique<impl>()) {
  impl_->cfg = std::move(cfg);
  impl_->opts = std::move(opts);
}
engine::~engine() = default;

void engine::add_sink(std::unique_ptr<sink> s) { impl_->extra_sinks.push_back(std::move(s)); }

namespace {

std::string utc_now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Runs the jobs with at most `limit` in flight; each finished job starts the next.
class scheduler {
 public:
  scheduler(asio::io_context& io, std::shared_ptr<const run_context> ctx, const std::vector<job_config>& jobs,
            std::size_t limit)
      : io_(io), ctx_(std::move(ctx)), jobs_(jobs), reports_(jobs.size()) {
    for (std::size_t i = 0; i < std::min(limit, jobs_.size()); ++i) start_next();
  }
  std::vector<job_report> take() { return std::move(reports_); }

 private:
  void start_next() {
    if (next_ >= jobs_.size()) return;
    const std::size_t i = next_++;
    asio::co_spawn(io_, engine_detail::run_job(ctx_, jobs_[i]), [this, i](std::exception_ptr e, job_report r) {
      if (e) {
        // run_job reports failures itself; anything else is a bug worth seeing.
        r.name = jobs_[i].name;
        r.status = "failed";
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          r.error = std::string("internal error: ") + ex.what();
        }
      }
      reports_[i] = std::move(r);
      start_next();
    });
  }

  asio::io_context& io_;
  std::shared_ptr<const run_context> ctx_;
  const std::vector<job_config>& jobs_;
  std::vector<job_report> reports_;
  std::size_t next_ = 0;
};

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

}  // namespace

run_report engine::run() {
  const auto started = std::chrono::steady_clock::now();
  run_report report;
  report.started_at = utc_now_iso();

  std::vector<std::unique_ptr<sink>> built;
  for (const auto& sc : impl_->cfg.sinks) built.push_back(sinks::make_sink(sc));

  asio::io_context io;
  auto ctx = std::make_shared<run_context>();
  ctx->source = impl_->cfg.source;
  ctx->aqua = engine_detail::make_aqua_session(io.get_executor(), ctx->source, impl_->cfg.path);
  for (auto& s : built) ctx->sinks.push_back(s.get());
  for (auto& s : impl_->extra_sinks) ctx->sinks.push_back(s.get());
  if (ctx->sinks.empty())
    throw config_error(config_errc::missing_key, {impl_->cfg.path + ": the pipeline has no [[sinks]]"});

  scheduler sched(io, ctx, impl_->cfg.jobs, ctx->source.max_active_jobs);
  io.run();
  report.jobs = sched.take();

  for (auto& s : built) s->close();
  for (auto& s : impl_->extra_sinks) s->close();
  report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report.peak_rss_bytes = peak_rss_bytes();
  report.status = report.exit_code() == 0 ? "ok" : "failed";
  return report;
}

}  // namespace aquaduct

// What every job of a run shares (run_context.hpp).
#include "engine/run_context.hpp"

#include <aquaduct/error.hpp>

#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace aquaduct::engine_detail {

progress_counters run_counters::read() const {
  progress_counters p;
  p.jobs_total = jobs_total;
  p.jobs_submitted = jobs_submitted;
  p.jobs_active = jobs_active;
  p.jobs_done = jobs_done;
  p.jobs_failed = jobs_failed;
  p.jobs_split = jobs_split;
  p.id_pages = id_pages;
  p.downloads_active = downloads_active;
  p.rows = rows;
  p.rows_committed = rows_committed;
  p.bytes_downloaded = bytes_downloaded;
  p.bytes_decoded = bytes_decoded;
  return p;
}

async_limiter& run_context::session(const job_config& job) {
  auto& turn = sessions[job.partner + "/" + job.project];
  if (!turn) turn = std::make_unique<async_limiter>(1);
  return *turn;
}

job_meter run_context::meter(std::string_view job) const {
  auto it = job_counters.find(job);
  return job_meter(counters, it == job_counters.end() ? other_jobs : *it->second);
}

void run_context::wake(std::string_view job_id) {
  if (auto it = pollers.find(std::string(job_id)); it != pollers.end()) it->second->cancel();
}

void run_context::interrupt() {
  if (interrupted) return;
  interrupted = true;
  for (auto* l : {stateless_jobs.get(), stateful_jobs.get(), downloads.get(), json_batches.get()})
    if (l) l->interrupt();
  for (auto& stop : on_interrupt) stop();
  for (auto& [key, turn] : sessions) turn->interrupt();
  for (auto& [id, timer] : pollers) timer->cancel();
}

asio::awaitable<void> on_sink_thread(run_context& ctx, std::function<void()> work) {
  // Posted by hand, not co_spawn'ed with a capturing lambda: g++ 12 destroys a
  // coroutine parameter moved into a lambda's init-capture twice.
  const asio::any_io_executor io = co_await asio::this_coro::executor;
  std::exception_ptr error;
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [&ctx, &work, &error, io](auto resume) {
        asio::post(*ctx.sink_pool, [&work, &error, io, resume = std::move(resume)]() mutable {
          try {
            work();
          } catch (const std::system_error&) {
            error = std::current_exception();
          } catch (const std::exception& e) {
            // An embedder's sink throws what it likes: as an error code it is
            // reported against its job, query and file like any other failure.
            error = std::make_exception_ptr(std::system_error(sink_errc::failed, e.what()));
          } catch (...) {
            error = std::make_exception_ptr(std::system_error(sink_errc::failed, "an exception that is not a std::exception"));
          }
          asio::post(io, std::move(resume));
        });
      },
      asio::use_awaitable);
  if (error) std::rethrow_exception(error);
}

}  // namespace aquaduct::engine_detail

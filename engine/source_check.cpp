// `validate --connect`'s source check (engine.hpp check_source): the
// credentials and every query's fields against describe.
#include <aquaduct/engine.hpp>
#include <aquaduct/error.hpp>

#include "engine/column_types.hpp"
#include "engine/tenant_schema.hpp"
#include "sinks/registry.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

namespace aquaduct {

namespace {

// Sinks with columns = "fields": the renamed columns of every query must not
// collide (Account.Name and Name both become Name).
void check_field_names(const pipeline_config& cfg, const std::string& at, const engine_detail::query_columns& cols,
                       std::vector<std::string>& problems) {
  std::vector<std::string> header;
  for (const auto& c : cols.columns) header.push_back(c.header);
  for (const sink_config& sink : cfg.sinks) {
    const std::string why = sinks::check_sink_columns(sink, header, cols.object);
    if (!why.empty()) problems.push_back(at + ": job " + cols.job + ", query " + cols.query + ": " + why);
  }
}

asio::awaitable<void> check(const pipeline_config& cfg, engine_detail::aqua_client& client, source_check& out) {
  engine_detail::tenant_schema schema(client);
  try {
    co_await schema.objects();  // the credentials: one cheap authenticated call
    for (const auto& job : cfg.jobs) {
      if (job.kind != job_kind::aqua) continue;
      for (const auto& q : job.queries) {
        const std::string at = q.where.file.empty() ? cfg.path : q.where.to_string();
        try {
          const engine_detail::query_columns cols = co_await engine_detail::describe_query(schema, job, q);
          for (const auto& p : cols.problems) out.problems.push_back(at + ": " + p);
          check_field_names(cfg, at, cols, out.problems);
        } catch (const std::system_error& e) {
          if (e.code() != aqua_errc::unknown_object) throw;
          out.problems.push_back(at + ": " + e.what());
        }
      }
    }
  } catch (const std::system_error& e) {
    out.auth_refused = e.code() == make_error_condition(condition::auth);
    out.error = e.what();
  }
  out.requests = schema.requests();
}

}  // namespace

source_check check_source(const pipeline_config& cfg) {
  source_check out;
  if (!cfg.source.describe) return out;
  asio::io_context io;
  engine_detail::aqua_client client(engine_detail::make_aqua_session(io.get_executor(), cfg.source, cfg.path));
  std::exception_ptr failed;
  asio::co_spawn(io, check(cfg, client, out), [&](std::exception_ptr e) { failed = e; });
  io.run();
  if (failed) std::rethrow_exception(failed);
  return out;
}

}  // namespace aquaduct

#include "engine/job_ops.hpp"

#include "engine/aqua_client.hpp"
#include "transport/redact.hpp"
#include "transport/url.hpp"

#include <aquaduct/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <algorithm>

namespace aquaduct::engine_detail {

namespace {

using outcome = job_op_result::outcome;

job_op_result failed(outcome o, std::string message) {
  job_op_result r;
  r.result = o;
  r.message = std::move(message);
  return r;
}

// Job ids are Zuora object ids (32 hex digits); anything that could leave the
// path segment is refused before a request is made.
bool plausible_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
  });
}

asio::awaitable<std::string> call(aqua_client& client, const job_op& op) {
  switch (op.what) {
    case job_op::kind::get: co_return co_await client.get_json(aqua_client::job_target(op.job_id));
    case job_op::kind::cancel: co_return co_await client.delete_json(aqua_client::job_target(op.job_id));
    case job_op::kind::last_completed:
      co_return co_await client.get_json(aqua_client::last_completed_target(op.partner, op.project));
  }
  co_return std::string();
}

}  // namespace

job_op_result run_job_op(const pipeline_config& cfg, const job_op& op) {
  if (cfg.source.base_url.empty())
    return failed(outcome::usage, cfg.path + ": [source] has no base_url or environment: there is no service to ask "
                                             "(`aquaduct emulate` prints a base_url for a local one)");
  if (op.what != job_op::kind::last_completed && !plausible_id(op.job_id))
    return failed(outcome::usage, "job id " + transport::redact(op.job_id) +
                                      ": not a job id (letters, digits, - and _; AQuA's are 32 hex digits)");
  if (op.what == job_op::kind::last_completed && (op.partner.empty() || op.project.empty()))
    return failed(outcome::usage, "jobs last needs a partner and a project");

  asio::io_context io;
  std::future<std::string> answer;
  try {
    aqua_session session = make_aqua_session(io.get_executor(), cfg.source, cfg.path);
    answer = asio::co_spawn(
        io,
        [](aqua_session s, job_op o) -> asio::awaitable<std::string> {
          aqua_client client(std::move(s));
          co_return co_await call(client, o);
        }(std::move(session), op),
        asio::use_future);
  } catch (const config_error& e) {
    return failed(outcome::usage, e.what());
  }
  io.run();
  job_op_result r;
  try {
    r.json = answer.get();
  } catch (const std::system_error& e) {
    return failed(e.code() == make_error_condition(condition::auth) ? outcome::auth : outcome::refused,
                  transport::redact(e.what()));
  } catch (const std::exception& e) {
    return failed(outcome::refused, transport::redact(e.what()));
  }
  // AQuA answers some refusals with HTTP 200 and an errorCode (cancelling a
  // completed job: 90003).
  const decode::error_reply reply = decode::json_reader().parse_error(r.json);
  if (!reply.code.empty() || reply.status == "error") {
    const char* verb = op.what == job_op::kind::cancel ? "DELETE " : "GET ";
    const std::string target = op.what == job_op::kind::last_completed
                                   ? aqua_client::last_completed_target(op.partner, op.project)
                                   : aqua_client::job_target(op.job_id);
    return failed(outcome::refused, transport::redact(verb + target + ": errorCode " + reply.code +
                                                      (reply.message.empty() ? "" : ": " + reply.message)));
  }
  return r;
}

}  // namespace aquaduct::engine_detail

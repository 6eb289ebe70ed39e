#include "cli/jobs_command.hpp"

#include "engine/job_ops.hpp"

#include <aquaduct/config.hpp>

#include <iostream>

namespace aquaduct::cli {

namespace {

constexpr const char* exit_codes =
    "Exit codes: 0 ok (the job JSON on stdout); 1 the service refused or failed (its errorCode and\n"
    "message on stderr); 2 usage or config error, nothing contacted; 3 authentication refused.";

CLI::App* add_op(CLI::App& jobs, const char* name, const std::string& what, const std::string& example,
                 std::string& config) {
  CLI::App* op = jobs.add_subcommand(name, what);
  op->footer("Example:\n  " + example + "\n" + exit_codes);
  op->add_option("--config", config,
                 "The pipeline file whose [source] (base_url or environment, auth, headers) names the tenant")
      ->required()
      ->check(CLI::ExistingFile);
  return op;
}

}  // namespace

jobs_command::jobs_command(CLI::App& app) {
  jobs_ = app.add_subcommand("jobs", "Look at or cancel one AQuA job of a tenant; the job JSON goes to stdout.\n" +
                                         std::string(exit_codes));
  jobs_->require_subcommand(1);
  jobs_->footer(
      "Examples:\n"
      "  aquaduct jobs get 2c92c0f84b58a2bd014b59e7eb460b3c --config pipeline.toml\n"
      "  aquaduct jobs cancel 2c92c0f84b58a2bd014b59e7eb460b3c --config pipeline.toml\n"
      "  aquaduct jobs last acme warehouse --config pipeline.toml | jq .batches\n"
      "The tenant and credentials are the [source] of the pipeline file; its jobs and sinks are not used.");
  get_ = add_op(*jobs_, "get", "Print a job as the service reports it (status, batches, file ids)",
                "aquaduct jobs get 2c92c0f84b58a2bd014b59e7eb460b3c --config pipeline.toml", config_);
  get_->add_option("JOB_ID", job_id_, "The job id (32 hex digits)")->required();
  cancel_ = add_op(*jobs_, "cancel",
                   "Cancel a job that has not completed (a completed one: errorCode 90003, exit 1)",
                   "aquaduct jobs cancel 2c92c0f84b58a2bd014b59e7eb460b3c --config pipeline.toml", config_);
  cancel_->add_option("JOB_ID", job_id_, "The job id (32 hex digits)")->required();
  last_ = add_op(*jobs_, "last",
                 "Print a stateful session's most recent completed job (none: exit 1)",
                 "aquaduct jobs last acme warehouse --config pipeline.toml", config_);
  last_->add_option("PARTNER", partner_, "The partner id of the session")->required();
  last_->add_option("PROJECT", project_, "The project id of the session")->required();
}

bool jobs_command::chosen() const { return jobs_->parsed(); }

int jobs_command::run() const {
  pipeline_config cfg;
  try {
    cfg = load_pipeline(config_);
  } catch (const config_error& e) {
    for (const auto& p : e.problems()) std::cerr << p << '\n';
    return 2;
  }
  engine_detail::job_op op;
  op.job_id = job_id_;
  op.partner = partner_;
  op.project = project_;
  op.what = cancel_->parsed() ? engine_detail::job_op::kind::cancel
            : last_->parsed() ? engine_detail::job_op::kind::last_completed
                              : engine_detail::job_op::kind::get;
  const engine_detail::job_op_result r = engine_detail::run_job_op(cfg, op);
  using outcome = engine_detail::job_op_result::outcome;
  switch (r.result) {
    case outcome::ok: std::cout << r.json << '\n'; return std::cout.flush() ? 0 : 1;
    case outcome::usage: std::cerr << "error: " << r.message << '\n'; return 2;
    case outcome::refused: std::cerr << "error: " << r.message << '\n'; return 1;
    case outcome::auth: std::cerr << "error: authentication refused: " << r.message << '\n'; return 3;
  }
  return 1;
}

}  // namespace aquaduct::cli

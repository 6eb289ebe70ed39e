#pragma once
// One-off operations on a tenant's AQuA jobs, outside any run (the CLI's
// `aquaduct jobs get|cancel|last`): one request, synchronously, over the same
// client a run uses (credentials, retries, redaction: engine/aqua_client.hpp).
// The answer is the service's JSON text exactly as it sent it.
#include <aquaduct/config.hpp>

#include <string>

namespace aquaduct::engine_detail {

struct job_op {
  enum class kind { get, cancel, last_completed };
  kind what = kind::get;
  std::string job_id;            // get, cancel
  std::string partner, project;  // last_completed
};

struct job_op_result {
  enum class outcome {
    ok,        // `json` is the service's answer
    usage,     // nothing was contacted: no base_url/environment, a malformed job id...
    refused,   // the service refused or failed (HTTP error, AQuA errorCode, unreachable)
    auth,      // the credentials were refused
  };
  outcome result = outcome::ok;
  std::string json;     // ok: the job JSON
  std::string message;  // not ok: what went wrong, redacted: the request, and the service's
                        // errorCode and message when it gave them ("... errorCode 90003: ...")
};

// Runs `op` against cfg.source; never throws for remote or config trouble.
job_op_result run_job_op(const pipeline_config& cfg, const job_op& op);

}  // namespace aquaduct::engine_detail

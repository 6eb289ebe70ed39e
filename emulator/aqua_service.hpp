#pragma once
// The AQuA service proper: auth, rate limits, batch-query jobs and stateful
// sessions, result files, describe, the JSON batch endpoints (/v4/batch) and
// the /_emulator/* control endpoints with fault selection.
//
// Threading: handle() and every member run on the emulator's single I/O
// thread, so the state needs no lock. Result files are written by
// write_result_files on a worker pool; a worker touches nothing of the
// service but an immutable tenant snapshot and its job's cancel flag, and
// posts its outcome back to the I/O thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <simdjson.h>

#include <aquaduct/emulator.hpp>
#include "emulator/faults.hpp"
#include "emulator/http_server.hpp"
#include "emulator/job_request.hpp"
#include "emulator/result_writer.hpp"
#include "emulator/tenant_history.hpp"
#include "emulator/tenant_state.hpp"

namespace aquaduct::emulator {

class json_writer;

// The bursts of `opts` resolved against the schema; throws
// std::invalid_argument naming an unknown object.
std::vector<burst_rows> bursts_of(const options& opts);

class aqua_service final : public request_handler {
 public:
  // `io` is the executor of the thread that calls handle(). Throws
  // std::invalid_argument when opts.faults_json is not a valid rule set, and
  // std::system_error when the data directory cannot be made. Also
  // std::invalid_argument for an unknown time zone or a bad churn rate.
  aqua_service(options opts, asio::any_io_executor io);
  ~aqua_service() override;

  http_response handle(const http_request& req) override;
  http_response malformed(int status, std::string_view message) override;
  void on_body_bytes_sent(std::uint64_t n) override { bytes_served_ += n; }

  // Cancels running exports and joins the workers. Call after the I/O thread
  // stopped and before its io_context is destroyed (workers post to it).
  void stop_workers();

 private:
  using clock = std::chrono::steady_clock;

  struct batch {
    std::string batch_id;
    query_request q;
    bool full = true;
    std::string status = "pending";
    std::string message;
    std::uint64_t record_count = 0;
    std::vector<std::string> file_ids;
  };

  struct job {
    std::string id;
    job_request req;
    std::vector<batch> batches;
    std::string session_key;  // empty: stateless
    std::string entity;       // Zuora-Entity-Ids it was submitted in; empty: not a multi-entity tenant
    clock::time_point submitted_at;
    clock::time_point started_at;  // the latency counts from here
    std::int64_t submit_unix_s = 0;
    bool start_pending = false;    // waiting for the second after a POST /_emulator/mutate (see start_job)
    std::optional<std::int64_t> start_unix_s;  // transaction start, set when the export starts
    std::string status = "submitted";
    bool generated = false;  // the export finished (files exist or failed)
    std::optional<std::string> abort_message;
    std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  };

  struct stored_file {
    std::filesystem::path path;
    std::string name;  // download name
    std::string content_type;
    bool gzip = false;
    std::uint64_t bytes = 0;
    std::chrono::system_clock::time_point created;
  };

  // Remembered per query of a session (§4.2): a change forces a full load.
  struct query_memo {
    std::string text;
    std::string deleted_json;
  };

  struct session {
    std::optional<std::int64_t> window_start_s;  // last completed job's transaction start
    std::int64_t last_request_s = 0;
    std::map<std::string, query_memo> queries;
    std::vector<query_request> last_queries;  // of the last completed job
    std::optional<std::string> running;        // job id
    std::deque<std::string> waiting;           // job ids, submit order
    std::string last_completed;                // job id
  };

  // One /v4/batch JSON batch (contract §6).
  struct json_batch {
    std::int64_t id = 0;
    std::string status = "Created";
    std::optional<std::string> file_id;
    std::string error;
    std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  };

  struct idempotent_submit {
    std::string body;
    std::string response;
  };

  // A batch's generated files, or the error that stopped its export.
  struct export_outcome {
    std::vector<std::vector<written_file>> files;  // per batch
    std::optional<std::string> error;
    std::optional<std::string> too_long;  // export_too_long: out of processing time
    bool cancelled = false;
  };

  http_response route(const http_request& req, const std::string& path, const std::string& body);
  http_response control(const http_request& req, const std::string& path, const std::string& body);
  http_response oauth_token(const http_request& req, const std::string& body);
  http_response submit(const http_request& req, const std::string& path, const std::string& body);
  http_response get_job(const std::string& id);
  http_response cancel_job(const std::string& id);
  http_response last_completed(const std::string& session_key);
  http_response download(const http_request& req, const std::string& path, const std::string& file_id);
  http_response describe(const http_request& req, const std::string& object);
  http_response json_batch_create(const std::string& body);
  http_response json_batch_get(const http_request& req, const std::string& id);
  http_response json_batch_cancel(const std::string& id);
  http_response mutate(const std::string& body);
  http_response truth(const http_request& req);
  http_response churn(const http_request& req, const std::string& body);
  http_response stats();
  http_response reset();
  http_response purge(const std::string& body);

  bool authorized(const http_request& req);
  // Counts the request against the rate window; the 429 to answer when over.
  std::optional<http_response> rate_limited();
  void add_rate_headers(http_response& r) const;

  // The job machine: start (export on a worker) -> generated -> finalize.
  void start_job(job& j);
  void plan_batches(job& j, const session* s) const;
  void on_generated(const std::string& job_id, export_outcome outcome);
  void refresh(job& j);
  void finalize(job& j);
  void end_job(job& j);  // leaves the session; starts the next waiting job; callout
  asio::awaitable<void> finalize_later(std::string job_id, clock::time_point when);
  asio::awaitable<void> start_later(std::string job_id, std::chrono::milliseconds after);
  asio::awaitable<void> callout(std::string url);
  // The jobs active now (not completed, aborted or cancelled), by kind, and
  // of them those of `session_key`'s stateful session ("": none): the 90028
  // limit, /_emulator/stats and the peaks below all count with it.
  struct active_count {
    std::uint64_t stateless = 0, stateful = 0, in_session = 0;
  };
  active_count count_active(const std::string& session_key = {}) const;
  // Raises the peaks below with the jobs active now; called after each
  // accepted submit, the only step that adds an active job.
  void note_active(const job& submitted);
  std::string job_json(const job& j) const;
  void drop_files(const std::vector<std::string>& file_ids);
  bool purge_if_expired(const std::string& file_id);

  // Multi-entity and multi-org tenants (--entity, --org; docs/emulator.md
  // "Entities and orgs"). The error answer when the request's
  // Zuora-Entity-Ids or Zuora-Org-Ids do not fit the tenant, else none.
  std::optional<http_response> scope_error(const http_request& req) const;
  // The entity the request acts in (after scope_error passed); empty when the
  // tenant has no entities.
  std::string entity_of(const http_request& req) const;
  // A session is per entity, partner and project.
  static std::string session_key_of(const std::string& entity, const std::string& partner, const std::string& project);
  // Job metadata is deleted 180 days after the job was created (contract
  // §3.1): such a job is then unknown, as one that never existed.
  void forget_old_jobs();
  http_response clock_control(const http_request& req, const std::string& body);

  // Mutations (POST /_emulator/mutate and churn) and the snapshots jobs take.
  // Every change is stamped with a whole second that never goes back. A job
  // starting at T exports the changes stamped before T and none stamped at
  // or after T: tenant_before_second_ is the state before the first change
  // stamped last_mutation_s_, so a job starting in that second takes it.
  std::int64_t mutation_stamp() const { return std::max(now_unix_s(), last_mutation_s_); }
  void commit(tenant_editor& ed);  // makes the editor's snapshot current and logs its changes
  tenant_snapshot snapshot_at(std::int64_t start_s) const;  // start_s >= last_mutation_s_

  // Churn (--churn, POST /_emulator/churn): ticks of churn_ticks_per_second.
  void set_churn(double rate, std::uint64_t seed, bool restart_sequence);
  asio::awaitable<void> churn_loop(std::uint64_t generation);
  void churn_tick();
  void churn_json(json_writer& w) const;

  std::string new_id();
  std::int64_t now_unix_s() const;
  std::string base_url(const http_request& req) const;

  static bool terminal(std::string_view job_status);
  // Content type of a result file by its download name; `gzip` for .gz.
  static std::string extension_type(const std::string& name, bool& gzip);
  static http_response json(int status, std::string body);
  static http_response aqua_error(int http_status, std::string_view code, std::string_view message);
  static http_response reasons_error(int http_status, std::int64_t code, std::string_view message);
  http_response auth_error();

  options opts_;
  asio::any_io_executor io_;
  std::filesystem::path data_dir_;
  bool own_data_dir_ = false;
  std::unique_ptr<asio::thread_pool> workers_;
  tenant_zone tenant_tz_;  // --tz
  tenant_zone center_tz_;  // the data centre's zone: incrementalTime
  std::string pgp_public_key_;  // --pgp-public-key's bytes; empty: encrypted "pgp" is refused
  tenant_snapshot tenant_;
  tenant_snapshot tenant_before_second_;  // see mutation_stamp()
  std::int64_t last_mutation_s_ = 0;           // stamp of the last change
  std::int64_t last_explicit_mutation_s_ = 0;  // stamp of the last POST /_emulator/mutate
  tenant_history history_;
  struct churn_counts {
    std::uint64_t created = 0, updated = 0, deleted = 0;
  };
  struct churn_state {
    double rate = 0;                 // mutations per second; 0 = none
    std::uint64_t seed = 0;
    std::uint64_t first = 0;         // sequence number of the current rate's first mutation
    std::uint64_t next = 0;          // next sequence number
    std::uint64_t ticks = 0;         // ticks done at the current rate
    clock::time_point since;         // when the current rate began
    std::uint64_t generation = 0;    // a rate change or a reset ends the older loop
    std::uint64_t skipped = 0;       // steps that found no live row
    std::map<std::string_view, churn_counts> counts;  // by object
  } churn_;
  fault_set faults_;
  simdjson::dom::parser json_parser_;
  std::uint64_t id_counter_ = 0;
  std::unordered_map<std::string, clock::time_point> tokens_;
  std::map<std::string, job> jobs_;
  std::deque<std::pair<std::int64_t, std::string>> job_order_;  // (submit_unix_s, id), submit order
  std::int64_t clock_offset_s_ = 0;  // POST /_emulator/clock: the service's calendar runs this far ahead
  std::map<std::string, session> sessions_;
  std::unordered_map<std::string, stored_file> files_;
  std::map<std::string, idempotent_submit> idempotency_;
  std::map<std::int64_t, json_batch> json_batches_;
  std::int64_t next_json_batch_ = 4711;
  // Fixed rate window.
  clock::time_point rate_window_start_;
  std::uint64_t rate_count_ = 0;
  std::size_t downloads_in_flight_ = 0;
  // Stats.
  std::map<std::string, std::map<int, std::uint64_t>> requests_;
  std::uint64_t bytes_served_ = 0;
  std::uint64_t callouts_sent_ = 0, callouts_failed_ = 0;
  std::vector<std::string> callout_log_;  // "<status> <url>", last 100
  // The most jobs active at once (submitted or executing, queued behind a
  // session's running job included), since start or reset: a test checks a
  // client (or a fleet of them) never had more running than it may. Counted
  // from jobs_ at each submit rather than kept as counters, so no path that
  // ends a job (finalize, cancel, abort, reset, the 180-day forgetting) can
  // leave them off.
  struct active_peaks {
    std::uint64_t all = 0, stateless = 0, stateful = 0;
    std::uint64_t session = 0;  // within one stateful session (entity, partner, project)
  } peaks_;
};

}  // namespace aquaduct::emulator

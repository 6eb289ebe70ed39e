#pragma once
// Running a pipeline: every job of the config, with its sinks, to completion.
//
//   aquaduct::pipeline_config cfg = aquaduct::load_pipeline("pipeline.toml");
//   aquaduct::engine eng{cfg};
//   eng.add_sink(aquaduct::make_callback_sink([](const aquaduct::row_batch& rows) { ... }));
//   aquaduct::run_report report = eng.run();
#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace asio {
class io_context;
}

namespace aquaduct {

struct query_report {
  std::string name;
  std::string status = "pending";  // completed | failed | aborted | cancelled | pending
  bool full = true;
  std::uint64_t rows = 0;
  std::uint64_t files = 0;
  std::uint64_t bytes_downloaded = 0;  // as sent by the service (compressed)
  std::uint64_t bytes_decoded = 0;     // CSV bytes after decompression
  double download_s = 0;               // first file request to last sink commit
  std::optional<std::string> error;
};

struct job_report {
  std::string name;
  std::string job_id;
  std::string status = "pending";  // completed | failed | aborted | cancelled | error | pending
  double submit_s = 0;
  double wait_s = 0;
  std::vector<query_report> queries;
  std::optional<std::string> error;
  bool auth_refused = false;
};

struct run_report {
  std::string status = "ok";  // ok | failed | interrupted
  std::string started_at;     // UTC, ISO 8601
  double wall_s = 0;
  std::uint64_t peak_rss_bytes = 0;
  std::vector<job_report> jobs;

  bool interrupted = false;    // engine::cancel() (SIGINT/SIGTERM): in-flight jobs were cancelled

  // 0 all committed; 1 a job or batch failed; 3 authentication refused; 130 interrupted.
  int exit_code() const noexcept;
  std::string to_json() const;   // the --report FILE format
  std::string to_table() const;  // the human table printed on stderr
};

// What the engine is doing now: the CLI's progress display and embedders'
// metrics read it with engine::progress(), from any thread.
struct progress_snapshot {
  std::uint32_t jobs_total = 0;      // jobs planned (windows of partitioned queries count one each)
  std::uint32_t jobs_submitted = 0;  // accepted by the service so far
  std::uint32_t jobs_active = 0;     // submitted and not yet finished
  std::uint32_t jobs_done = 0;       // finished, whatever their outcome
  std::uint32_t jobs_failed = 0;
  std::uint32_t downloads_active = 0;
  std::uint64_t rows = 0;              // rows handed to the sinks
  std::uint64_t rows_committed = 0;    // rows the sinks committed
  std::uint64_t bytes_downloaded = 0;  // as sent by the service
  std::uint64_t bytes_decoded = 0;
  double elapsed_s = 0;
};

struct engine_options {
  // Where cursors live (interfaces.md §5). Empty: the engine keeps no state,
  // and stateful or incremental queries are refused before any job starts.
  std::string state_dir;
  // Threads that run sink writes and commits off the I/O thread; 0: one per core.
  unsigned sink_threads = 0;
  // Warnings and retries, one line each, already redacted. Empty: stderr.
  std::function<void(std::string_view)> log;
};

class engine {
 public:
  // Sinks named in cfg.sinks are built when run() starts.
  explicit engine(pipeline_config cfg, engine_options opts = {});
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  void add_sink(std::unique_ptr<sink> s);

  // Runs every job to completion; blocking. Throws std::system_error only for
  // problems that stop the run before any job starts (e.g. a sink that cannot
  // be built); job failures are reported in the run_report.
  run_report run();

  // The same inside the embedder's io_context: returns at once; `done` runs on
  // that context when every job has finished. The io_context must outlive it.
  void async_run(asio::io_context& io, std::function<void(run_report)> done);

  // Thread-safe (the CLI calls it from its signal thread): every in-flight job is cancelled on the server (DELETE),
  // nothing uncommitted reaches a sink, and the report says interrupted.
  void cancel() noexcept;

  progress_snapshot progress() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// --- Dry run (`aquaduct run --dry-run`) -------------------------------------

// One request a run would send, SECRETS REDACTED (client_secret, tokens,
// Authorization, apiSecretAccessKey, passwords in URLs, and every configured
// secret wherever it appears).
struct planned_request {
  std::string job;     // the job it belongs to, with its window for a windowed query
  std::string method;  // "POST", "GET"...; empty: a note without a request (nothing to do)
  std::string url;     // absolute; http://<embedded emulator> when the pipeline has no base_url
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;    // as sent (JSON for a job, a form for the token), secrets cut out
  std::string note;    // when it is sent, and what the run asks the service before deciding
};

// Every request a run of `cfg` would start with now: the token request, and
// per planned job (each window of a partitioned or incremental query, each
// stateful session with the incrementalTime of the cursors in
// opts.state_dir) its submit, built by the code a run submits with. Reads the
// state directory without locking or creating it, contacts nothing, builds
// no sink. Throws config_error as a run would (a windowed query that cannot
// be rewritten, a cursor job without a state directory).
std::vector<planned_request> plan_requests(const pipeline_config& cfg, const engine_options& opts);

// The plan as text for a terminal: one block per request (a comment line,
// METHOD URL, headers, a blank line, the body on one line).
std::string to_text(const std::vector<planned_request>& plan);

}  // namespace aquaduct

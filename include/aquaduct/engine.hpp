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
#include <string_view>
#include <utility>
#include <vector>

namespace asio {
class io_context;
}
namespace aquaduct::engine_detail {
struct fleet_unit;
}

namespace aquaduct {

// What became of an AQuA job, or of one of its queries. The JSON report and
// the stderr table spell them as to_string() does.
enum class outcome {
  pending,    // not ended: a report never holds it once run() returned
  completed,  // every row committed
  failed,     // the job or query failed: `error` says why
  aborted,    // the service aborted the job (or its batch)
  cancelled,  // interrupted (engine::cancel, SIGINT/SIGTERM), or cancelled on the service
};
std::string_view to_string(outcome o) noexcept;

// How a whole run ended.
enum class run_status {
  ok,           // every job and query completed
  failed,       // at least one job or query did not (exit code 1, or 3 for refused credentials)
  interrupted,  // engine::cancel() (exit code 130)
};
std::string_view to_string(run_status s) noexcept;

// What a configured job is doing now (progress()).
enum class job_state {
  queued,       // waiting for a job slot or its session's turn
  running,      // on the service
  downloading,  // its result files are on their way into the sinks
  done,         // every AQuA job of it ended, none failed
  failed,       // every AQuA job of it ended, one or more failed
};
std::string_view to_string(job_state s) noexcept;

struct query_report {
  std::string name;
  outcome status = outcome::pending;
  bool full = true;
  std::uint64_t rows = 0;
  std::uint64_t files = 0;
  std::uint64_t bytes_downloaded = 0;  // as sent by the service (compressed)
  std::uint64_t bytes_decoded = 0;     // CSV bytes after decompression
  double download_s = 0;               // first file request to last sink commit
  std::optional<std::string> error;
  // How the query was split to finish (time windows, Id pages) and why; empty
  // when it was not. A window's or a page's report carries its whole query's.
  std::string split;
};

struct job_report {
  std::string name;                   // the config's job name; a window's adds " [window]"
  std::string window;                 // a window of a partitioned or incremental query, else empty
  std::string job_id;
  outcome status = outcome::pending;
  double submit_s = 0;
  double wait_s = 0;
  std::vector<query_report> queries;
  std::optional<std::string> error;
  bool auth_refused = false;
  // The service (or describe) refused a query for good: an unknown field or
  // object, a ZOQL syntax error. Running it again cannot help (exit code 2).
  bool refused = false;
};

struct run_report {
  run_status status = run_status::ok;
  std::string started_at;     // UTC, ISO 8601
  double wall_s = 0;
  std::uint64_t peak_rss_bytes = 0;
  std::vector<job_report> jobs;

  bool interrupted = false;    // engine::cancel() (SIGINT/SIGTERM): in-flight jobs were cancelled

  // 0 all committed; 1 a job or batch failed; 2 a query refused for good
  // (job_report::refused: retrying cannot help); 3 authentication refused;
  // 130 interrupted.
  int exit_code() const noexcept;
  std::string to_json() const;   // the --report FILE format
  std::string to_table() const;  // the human table printed on stderr
};

// Counters of a run, or of one of its configured jobs.
struct progress_counters {
  std::uint32_t jobs_total = 0;      // AQuA jobs planned (windows of partitioned queries count one each)
  std::uint32_t jobs_submitted = 0;  // accepted by the service so far
  std::uint32_t jobs_active = 0;     // submitted and not yet finished on the service
  std::uint32_t jobs_done = 0;       // finished, whatever their outcome
  std::uint32_t jobs_failed = 0;
  // Jobs the service could not finish in one piece (out of processing time, a
  // file too large) that went on as smaller ones: time halves, pages by Id.
  // Their pieces count in jobs_total instead.
  std::uint32_t jobs_split = 0;
  std::uint32_t id_pages = 0;  // of those pieces, keyset pages by Id that completed
  std::uint32_t downloads_active = 0;
  std::uint64_t rows = 0;              // rows handed to the sinks
  std::uint64_t rows_committed = 0;    // rows the sinks committed
  std::uint64_t bytes_downloaded = 0;  // as sent by the service
  std::uint64_t bytes_decoded = 0;
};

// One [[jobs]] entry of the config, however many AQuA jobs it became.
struct job_progress : progress_counters {
  std::string name;
  job_state state = job_state::queued;
};

// What the engine is doing now: the CLI's progress display and embedders'
// metrics read it with engine::progress(), from any thread.
struct progress_snapshot : progress_counters {
  double elapsed_s = 0;
  std::vector<job_progress> jobs;  // in config order
};

// One log line of a run, with where it happened. Every text is already
// redacted: no token, secret or password ever reaches a log_record.
enum class log_level { info, warning, error };
struct log_record {
  log_level level = log_level::info;
  std::string message = {};
  std::string job = {};      // the config's job name (a window adds its range)
  std::string job_id = {};   // the service's job id, once submitted
  std::string query = {};    // the query (AQuA batch) name
  std::string batch = {};    // the service's batch id
  std::string file = {};     // the result file id
  unsigned attempt = 0;      // a retry: the attempt about to be made (2 = the first retry); 0: not a retry
};
std::string_view to_string(log_level level) noexcept;
// `2026-11-22T03:00:00Z warning job=billing query=Account attempt=2: message`
std::string to_text(const log_record& r);
// One JSON object (no newline): {"ts":…,"level":…,"msg":…,"job":…,…}; empty fields are left out.
std::string to_json(const log_record& r);

struct engine_options {
  // Where cursors live (interfaces.md §5): a directory, or a PostgreSQL
  // database's postgres:// or postgresql:// URL (docs/fleet.md). Empty: the
  // engine keeps no state, and stateful or incremental queries are refused
  // before any job starts.
  std::string state_dir;
  // Threads that run sink writes and commits off the I/O thread; 0: one per core.
  unsigned sink_threads = 0;
  // Every log record of the run: jobs submitted and finished, queries
  // committed, retries, warnings. Called from the run's threads, one call at a
  // time. Empty: warnings and errors go to stderr as to_text() lines.
  std::function<void(const log_record&)> log;
  // Cursors to set aside this run (`aquaduct run --full-refresh`): "JOB" for
  // every query of a job, "JOB/QUERY" for one, "*" for all. Their queries
  // load in full, as on a first run, and commit new cursors.
  std::vector<std::string> full_refresh;
  // Set by `aquaduct worker` only (engine/fleet.hpp): the run is one unit of
  // a fleet's run, whose lease, fenced state and fleet-wide job slots replace
  // state_dir and its lock. Embedders leave it empty.
  std::shared_ptr<engine_detail::fleet_unit> fleet;
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

// --- Source check (`aquaduct validate --connect`) ----------------------------

// What the source said to `validate --connect`: the credentials (one
// authenticated GET /v1/describe) and every field and relation of every
// query against describe, with "did you mean" for near misses.
struct source_check {
  bool auth_refused = false;          // the credentials were refused (exit 3)
  std::string error;                  // the source could not be checked (unreachable, 500...): exit 1
  std::vector<std::string> problems;  // "FILE:LINE:COL: job J, query Q: Account has no field Nmae (did you mean Name?)"
  std::vector<std::string> requests;  // the describe requests sent
};
// Blocking; contacts cfg.source (its base_url must be set). With
// [source] describe = false it checks nothing and says so in `error`-free
// silence (requests stays empty).
source_check check_source(const pipeline_config& cfg);

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

#pragma once
// The pipeline configuration (docs/config.md, ../shared/docs/interfaces.md §3).
// load_pipeline() reads TOML, checks every key, interpolates ${VAR} from the
// environment and reports every problem it finds as FILE:LINE:COL: message.
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace aquaduct {

struct source_position {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;

  // "FILE:LINE:COL", the prefix of every config message.
  std::string to_string() const {
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
  }
};

enum class auth_type { none, oauth, api_key, basic };

struct auth_config {
  auth_type type = auth_type::none;
  std::string client_id;          // oauth
  std::string client_secret;      // oauth           SECRET: never logged
  std::string access_key_id;      // api_key
  std::string secret_access_key;  // api_key         SECRET: never logged
  std::string username;           // basic
  std::string password;           // basic           SECRET: never logged
};

struct poll_config {
  std::uint32_t initial_ms = 500;
  std::uint32_t max_ms = 30000;
  double multiplier = 2.0;
  bool full_jitter = true;  // jitter = "full" | "none"
  std::uint32_t timeout_s = 10800;
};

struct tls_config {
  std::string ca_file;                // PEM file of extra trusted CAs; the system store stays trusted
  bool insecure_skip_verify = false;  // DANGEROUS: no certificate check; warned about on every run
};

// Extra request headers (aqua-contract.md §2.3); empty ones are not sent.
struct headers_config {
  std::string track_id;    // Zuora-Track-Id: <= 64 US-ASCII characters, none of : ; " '
  std::string entity_ids;  // Zuora-Entity-Ids
  std::string org_ids;     // Zuora-Org-Ids
  std::string user_agent;  // User-Agent; empty: aquaduct/<version>
};

// Retries of one request (submit, poll, cancel, token, and resumed downloads).
struct retry_config {
  std::uint32_t max_attempts = 5;  // failed attempts in all, the first included (429s do not count)
  std::uint32_t initial_ms = 250;  // first backoff's upper bound (full jitter)
  std::uint32_t max_ms = 30000;    // backoff cap
  std::uint32_t budget_s = 300;    // one request's own attempts and waits (waits for its turn: pauses, the window, excluded)
  std::uint32_t max_pause_s = 3600;  // the longest tenant-wide pause a Retry-After beyond the budget may ask for
};

// A local listener whose URL goes to AQuA as notifyUrl (aqua-contract.md §1.8):
// a callout wakes the job's poller at once; polling stays as the fallback.
struct callout_config {
  std::string listen;      // "HOST:PORT" to bind, e.g. "127.0.0.1:0"; empty: no listener
  std::string public_url;  // the URL Zuora calls; empty: http://<bound address>/callout
};

// The time zone the data centre reads incrementalTime in (aqua-contract.md §1.3):
// Pacific for US hosts, UTC for EU hosts.
enum class data_center_zone { automatic, pacific, utc };

// The private key that decrypts PGP-encrypted result files (jobs with
// encrypted = "pgp"; docs/config.md). The passphrase is a secret: give it as
// "${VAR}", it never appears in a log, report or --dry-run.
struct pgp_config {
  std::string private_key_file;  // binary or armoured, as `gpg --export-secret-keys` writes it
  std::string passphrase;        // empty: the key has none
};

struct source_config {
  std::string base_url;     // empty: the CLI serves the run from the embedded emulator
  std::string environment;  // a Zuora environment name (aqua-contract.md §1.1); sets base_url
  std::uint32_t connect_timeout_ms = 10000;    // resolve + connect (+ proxy CONNECT)
  std::uint32_t handshake_timeout_ms = 10000;  // TLS handshake
  std::uint32_t write_timeout_ms = 30000;      // sending a request
  std::uint32_t idle_timeout_ms = 30000;       // longest wait for the next byte of a response
  std::uint32_t pool_idle_timeout_ms = 60000;  // an unused pooled connection is closed after this
  std::string proxy;                // "" = HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment; "none"; or a URL
  bool gzip_request_bodies = false;  // Content-Encoding: gzip on request bodies over 1 KiB
  // Fetch describe at plan time for the column types (false: every column is
  // text, for tenants where describe is forbidden; validate --connect then
  // checks the credentials only).
  bool describe = true;
  tls_config tls;
  headers_config headers;
  retry_config retry;
  std::uint32_t max_active_jobs = 50;  // per tenant, stateless and stateful each
  std::uint32_t max_downloads = 20;    // result files downloading at once (the tenant's "Big Data" limit)
  // Disk that downloaded result files may take while they wait for their turn
  // to go into the sinks (a batch's next files, a backfill's windows). Past
  // it, files wait on the service and stream when their turn comes.
  std::uint64_t max_spool_bytes = 8ull << 30;
  std::uint32_t max_connections = 16;
  // The data centre's zone, which reads incrementalTime: automatic is UTC when
  // environment or base_url names an EU data centre, else Pacific.
  data_center_zone time_zone = data_center_zone::automatic;
  // The tenant's own zone (any IANA name, "Asia/Tokyo"), in which the service
  // writes a job's startTime; empty: the data centre's.
  std::string tenant_time_zone;
  std::uint32_t request_timeout_ms = 30000;  // total for one JSON request
  auth_config auth;
  poll_config poll;
  callout_config callout;
  pgp_config pgp;
};

struct deleted_config {
  std::string column;
  std::string format = "Boolean";  // Boolean | Numeric
  bool force_export = false;
};

// One query split into windowed jobs over a datetime column:
//   partition = { by = "UpdatedDate", from = "2020-01-01", to = "now", step = "P30D" }
// from/to: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ" (UTC) or "now"; step: ISO 8601
// duration of days, hours, minutes, seconds ("P30D", "PT6H", "P1DT12H").
struct partition_config {
  std::string by;
  std::string from;
  std::string to = "now";
  std::string step;
  std::string min_step = "PT1H";  // adaptive splitting halves a window down to this
  // A full load up to "now" on a column rows move along (any but CreatedDate)
  // ends with a catch-up window from the plan's now minus this: the rows
  // updated while the backfill ran (docs/architecture.md, "Delivery guarantee").
  std::uint32_t catch_up_lag_s = 3600;
};

// Stateless high-water-mark windows: [last committed window end, now - lag).
//   incremental = { by = "UpdatedDate", lag_s = 7200 }
struct incremental_config {
  std::string by;
  std::uint32_t lag_s = 7200;
  std::string start = "2000-01-01";  // the first run's window start
  std::string min_step = "PT1H";     // adaptive splitting halves a window down to this
};

struct query_config {
  std::string name;
  std::string type = "zoqlexport";  // zoqlexport | zoql
  std::string query;
  std::string api_version;          // empty: the service's latest
  std::optional<deleted_config> deleted;
  std::optional<partition_config> partition;
  std::optional<incremental_config> incremental;
  // AQuA convertToCurrencies: extra currency-converted columns, "EUR,GBP"
  // (TOML: that string or ["EUR", "GBP"]); empty: not sent.
  std::string convert_to_currencies;
  // The name its table (SQL sinks) or file (file sinks) takes instead of
  // <job>__<query> / <job>/<query>.<ext>; empty: that default.
  std::string table;
  source_position where;  // the [[jobs.queries]] table, for messages
};

enum class job_kind {
  aqua,           // an AQuA batch-query job (aqua-contract.md §1)
  batch_results,  // JSON batch results (aqua-contract.md §6): each query is one batch
};

struct job_config {
  std::string name;
  job_kind kind = job_kind::aqua;  // TOML kind = "aqua" | "batch_results"
  std::string partner;             // partner and project both set (version 1.1/1.2): stateful session
  std::string project;
  std::uint32_t offset_s = 0;      // AQuA offset: the incremental window ends now - offset (0..3600)
  std::string format = "gzip";  // csv | gzip | zip
  std::string version = "1.1";
  bool use_query_labels = true;
  bool date_time_utc = true;
  std::string null_replacement;
  std::string encrypted = "none";  // AQuA encrypted: "none" or "pgp" (needs [source.pgp])
  std::string source_data;         // AQuA sourceData: LIVE | WAREHOUSE; empty: not sent (the service's LIVE)
  bool use_last_completed_job_queries = false;  // stateful only: the service reuses the last job's queries
  // AQuA notifyUrl for this job, ${JOBID}/${STATUS} placeholders kept (written
  // $${JOBID} in TOML); replaces the [source.callout] listener's URL for it.
  std::string notify_url;
  std::vector<query_config> queries;

  bool stateful() const noexcept { return !partner.empty() && !project.empty(); }
};

// A sink's options stay as text until the sink's factory checks them
// (sinks/registry.cpp): each sink's options struct is its documentation.
struct option_value {
  std::string text;
  source_position where;
};

struct sink_config {
  std::string type;
  std::map<std::string, option_value> options;
  source_position where;
};

struct pipeline_config {
  std::string path;  // the TOML file it came from
  source_config source;
  std::vector<job_config> jobs;
  std::vector<sink_config> sinks;
  // [state] url: a PostgreSQL database that holds the cursors (postgres:// or
  // postgresql://, "${VAR}" expanded); empty: the state directory. --state-dir
  // (engine_options::state_dir) overrides it.
  std::string state_url;
};

// Thrown by load_pipeline(): every problem found, each "FILE:LINE:COL: message".
class config_error : public std::system_error {
 public:
  config_error(std::error_code ec, std::vector<std::string> problems)
      : std::system_error(ec, problems.empty() ? std::string("invalid pipeline") : problems.front()),
        problems_(std::move(problems)) {}
  const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// What the file must hold: a whole pipeline, or only what reaches the
// tenant and the sinks (`aquaduct discover --config`: [[jobs]] optional).
enum class pipeline_needs { jobs, source };

pipeline_config load_pipeline(const std::string& path, pipeline_needs needs = pipeline_needs::jobs);
// The same from TOML text; `path` only names it in messages.
pipeline_config parse_pipeline(const std::string& toml_text, const std::string& path,
                               pipeline_needs needs = pipeline_needs::jobs);

}  // namespace aquaduct

#pragma once
// The local AQuA service. Follows ../shared/docs/aqua-contract.md; see
// docs/emulator.md. Runs on its own thread with its own io_context, so an
// in-process client (tests, the demo) and the emulator never share a thread.
//
// The emulator shares no code with the client modules (engine/, transport/,
// decode/): it catches the client's bugs instead of repeating them.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::emulator {

struct credentials {
  std::string client_id = "aquaduct";      // OAuth client credentials
  std::string client_secret = "aquaduct";
  std::string access_key_id = "aquaduct";  // apiAccessKeyId / apiSecretAccessKey, and Basic user:pass
  std::string secret_access_key = "aquaduct";
};

// Reads credentials from a JSON file: {"client_id": ..., "client_secret": ...,
// "access_key_id": ..., "secret_access_key": ...}; absent keys keep the
// defaults. Throws std::invalid_argument naming the file (never a secret).
credentials load_credentials(const std::string& path);

// The data centre the tenant lives in: it reads incrementalTime in its zone
// (contract §1.3). us: America/Los_Angeles; eu: UTC.
enum class data_center { us, eu };

struct options {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;                     // 0 = ephemeral
  std::uint64_t seed = 1;
  std::uint64_t scale = 200;                  // number of accounts in the tenant
  std::chrono::milliseconds latency{300};     // submit -> completed; half of it in `submitted`
  std::chrono::seconds token_lifetime{3599};
  credentials creds;
  std::string faults_json;                    // initial fault rules, same JSON as POST /_emulator/faults
  std::uint64_t segment_rows = 500'000;       // rows per result file; more rows => batch `segments`
  // Time zones (contract §7, docs/emulator.md "Time zones"). The tenant's
  // zone governs startTime, result datetimes without dateTimeUtc and ZOQL
  // date/datetime literals without an offset; the data centre's zone reads
  // incrementalTime. `tz` is any IANA zone name ("Asia/Tokyo"), or "UTC";
  // empty = the data centre's zone. An unknown zone makes start() throw
  // std::invalid_argument naming it.
  data_center region = data_center::us;
  std::string tz;
  bool utc_tenant = false;                    // older spelling of region = data_center::eu
  // Continuous churn (--churn RATE[:SEED]): about churn_rate creates, updates
  // and deletes per second over Account, Contact, Subscription, Invoice,
  // InvoiceItem and Payment; 0 = none. The sequence is a function of
  // churn_seed (default: seed). POST /_emulator/churn changes it at run time.
  double churn_rate = 0;
  std::optional<std::uint64_t> churn_seed;
  bool iso_start_time = false;                // job startTime as "YYYY-MM-DDThh:mm:ss+0000" instead of
                                              // "YYYY-MM-DD hh:mm:ss" (tenant time)
  // TLS: both set => the server speaks only HTTPS (PEM files; the cert file may hold a chain).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string data_dir;                       // result files; empty = a fresh temporary directory,
                                              // removed by stop()
  // Partner ids Zuora knows (contract §1.3: an unknown one is 90019). Empty:
  // every partner is accepted.
  std::vector<std::string> partners;
  // A multi-entity tenant (--entity, repeatable): the entity ids it has.
  // Zuora-Entity-Ids must then name one of them (it may be left out when
  // there is only one); each entity has its own jobs and stateful sessions.
  // Empty: not multi-entity, the header is ignored. A multi-org tenant
  // (--org): every id of Zuora-Org-Ids must be one of these. Decisions, not
  // confirmed: docs/emulator.md "Entities and orgs".
  std::vector<std::string> entities;
  std::vector<std::string> orgs;
  std::size_t max_active_jobs = 50;           // per tenant, stateless and stateful each (90028 beyond)
  std::uint64_t rate_limit = 50'000;          // requests per rate_window per tenant; 0 = unlimited
  std::chrono::seconds rate_window{60};
  // File downloads in flight at once (contract §3.2, "Big Data" 20); beyond:
  // 429, code 50000070, Retry-After 120. 0 = unlimited (the default, so the
  // client's own tests are not slowed by 2-minute waits).
  std::size_t max_concurrent_downloads = 0;
  std::uint64_t max_file_bytes = 2047ull << 20;  // larger result files answer 403 (max-object-size)
  // A batch that would export more rows than this aborts its job, as the real
  // service does when a job runs out of processing time (90027, contract
  // §3.1): a stand-in for the 3-hour limit at test scale. 0 = no limit.
  std::uint64_t max_job_rows = 0;
  // A bill run's burst (--burst OBJECT:COUNT[:TIME]): the first COUNT rows of
  // OBJECT (in id order) share one UpdatedDate second, `at_unix_s` (default:
  // 12 hours before the tenant's epoch, after every generated CreatedDate).
  // A row created after that second keeps UpdatedDate = CreatedDate.
  struct burst {
    std::string object;
    std::uint64_t count = 0;
    std::optional<std::int64_t> at_unix_s;
  };
  std::vector<burst> bursts;
  std::chrono::seconds file_retention{72 * 3600};  // result files purged after this (404 then)
  bool range_requests = true;                 // false: Range is ignored, files always sent whole
  std::size_t worker_threads = 1;             // threads generating result files
  // DECISION (contract §7): a stateful run with an explicit incrementalTime
  // does not move the session's window start; true makes it move.
  bool incremental_time_moves_window = false;
  // --pgp-public-key: a public key file (binary or armoured); jobs with
  // encrypted "pgp" get their result files encrypted for it. Empty: the
  // tenant has no key, and such jobs are refused (90005).
  std::string pgp_public_key;
  // CSV dialect switches to test clients (contract §7): CRLF line ends, a
  // UTF-8 BOM, zip entries with data descriptors (streamed zip).
  bool crlf = false;
  bool bom = false;
  bool zip_stream = false;
};

// True when `name` is a zone options::tz accepts: "UTC", "utc", or an IANA
// name the system's tzdata knows.
bool known_time_zone(std::string_view name);

// "RATE[:SEED]" as --churn takes it ("50", "0.5", "50:7"): sets
// o.churn_rate (0..10000 per second) and, when given, o.churn_seed. False,
// changing nothing, when `text` is not of that form.
bool parse_churn_option(std::string_view text, options& o);

// "OBJECT:COUNT[:TIME]" as --burst takes it ("InvoiceItem:30000",
// "Invoice:500:2025-06-30T12:00:00Z"): appends to o.bursts. False, changing
// nothing, when `text` is not of that form (the object is checked by start()).
bool parse_burst_option(std::string_view text, options& o);

class server {
 public:
  explicit server(options opts);
  ~server();  // stops if running
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and starts serving on a background thread. Throws std::system_error
  // when the address cannot be bound. port() is valid after start() returns.
  void start();
  // Stops accepting, closes connections, joins the thread. Idempotent.
  void stop();

  std::uint16_t port() const noexcept;
  std::string base_url() const;  // "http://127.0.0.1:PORT", or "https://..." with TLS

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The emulated tenant's data, for tests that compare a client's output with
// what the emulator holds. Deterministic from (seed, scale).
struct table {
  std::vector<std::string> columns;              // API field names, e.g. "Id", "Name"
  std::vector<std::vector<std::string>> rows;    // field text exactly as written to result CSVs
};
// All rows of `object` ("Account") with the given fields (API names), in id
// order, rendered as the CSV result writer renders them (dateTimeUtc=true).
table tenant_rows(const options& opts, const std::string& object, const std::vector<std::string>& fields);

}  // namespace aquaduct::emulator

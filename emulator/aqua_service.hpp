#pragma once
// The AQuA service proper: auth, batch-query jobs, result files, the
// /_emulator/* control endpoints and fault selection. Synchronous: every
// request is answered without suspending, so all state lives on the
// emulator's single I/O thread and needs no lock. NOT thread-safe.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

#include "emulator/emulator.hpp"
#include "emulator/faults.hpp"
#include "emulator/http_server.hpp"
#include "emulator/tenant.hpp"
#include "emulator/zoql.hpp"

namespace aquaduct::emulator {

class aqua_service final : public request_handler {
 public:
  // Throws std::invalid_argument when opts.faults_json is not a valid rule set.
  explicit aqua_service(options opts);

  http_response handle(const http_request& req) override;
  http_response malformed(int status, std::string_view message) override;
  void on_body_bytes_sent(std::uint64_t n) override { bytes_served_ += n; }

 private:
  using clock = std::chrono::steady_clock;

  struct batch {
    std::string batch_id;
    std::string name;
    std::string query;
    std::string type;         // zoqlexport | zoql
    std::string api_version;  // echoed
    std::string deleted_json;  // the request's "deleted" object, minified; empty if none
    zoql_query parsed;
    std::optional<std::string> deleted_column;
    bool deleted_numeric = false;
    std::string status = "pending";
    std::string message;
    std::uint64_t record_count = 0;
    std::vector<std::string> file_ids;
  };

  struct job {
    std::string id;
    std::string name;
    std::string format;  // "CSV" | "GZIP"
    std::string version;
    std::string encrypted = "none";
    std::string partner, project;
    std::optional<std::int64_t> offset;
    std::optional<std::int64_t> incremental_time_ms;
    std::string notify_url;
    std::string source_data = "LIVE";
    bool use_last_completed = false;
    bool use_query_labels = false;
    bool date_time_utc = false;
    std::string null_replacement;
    clock::time_point submitted_at;
    std::int64_t start_unix_s = 0;
    std::string status = "submitted";
    std::optional<std::string> abort_message;
    std::vector<batch> batches;
  };

  struct stored_file {
    std::shared_ptr<const std::string> bytes;
    bool gzip = false;
    std::string name;
  };

  http_response route(const http_request& req, const std::string& path);
  http_response control(const http_request& req, const std::string& path);
  http_response oauth_token(const http_request& req);
  http_response submit(const http_request& req, const std::string& path);
  http_response get_job(const std::string& id);
  http_response cancel_job(const std::string& id);
  http_response last_completed(const std::string& partner, const std::string& project);
  http_response download(const http_request& req, const std::string& path, const std::string& file_id);
  http_response stats();

  bool authorized(const http_request& req) const;
  void refresh(job& j);
  void complete(job& j);
  std::string job_json(const job& j) const;
  std::string new_id();
  std::string request_id();

  static http_response json(int status, std::string body);
  static http_response aqua_error(int http_status, std::string_view code, std::string_view message);
  http_response auth_error();

  options opts_;
  tenant tenant_;
  fault_set faults_;
  simdjson::dom::parser json_parser_;
  std::uint64_t id_counter_ = 0;
  std::unordered_map<std::string, clock::time_point> tokens_;
  std::map<std::string, job> jobs_;
  std::vector<std::string> job_order_;  // submit order, for "last completed"
  std::unordered_map<std::string, stored_file> files_;
  std::map<std::string, std::map<int, std::uint64_t>> requests_;
  std::uint64_t bytes_served_ = 0;
};

}  // namespace aquaduct::emulator

#pragma once
// Running a pipeline: every job of the config, with its sinks, to completion.
//
//   aquaduct::pipeline_config cfg = aquaduct::load_pipeline("pipeline.toml");
//   aquaduct::engine eng{cfg};
//   eng.add_sink(aquaduct::make_callback_sink([](const aquaduct::row_batch& rows) { ... }));
//   aquaduct::run_report report = eng.run();
#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  std::string status = "ok";  // ok | failed
  std::string started_at;     // UTC, ISO 8601
  double wall_s = 0;
  std::uint64_t peak_rss_bytes = 0;
  std::vector<job_report> jobs;

  // 0 all committed; 1 a job or batch failed; 3 authentication refused.
  int exit_code() const noexcept;
  std::string to_json() const;   // the --report FILE format
  std::string to_table() const;  // the human table printed on stderr
};

class engine {
 public:
  // Sinks named in cfg.sinks are built when run() starts.
  explicit engine(pipeline_config cfg);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  void add_sink(std::unique_ptr<sink> s);

  // Runs every job to completion; blocking. Throws std::system_error only for
  // problems that stop the run before any job starts (e.g. a sink that cannot
  // be built); job failures are reported in the run_report.
  run_report run();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace aquaduct

// crash_child PIPELINE.toml STATE_DIR DB_PATH [commit|write]
//
// Runs the pipeline with the state store in STATE_DIR and one sink: the real
// sqlite sink at DB_PATH, wrapped so that the first commit() (or, with
// `write`, the first write()) ends the process with _exit(77) BEFORE the
// sqlite sink commits. The job has completed on the server by then: a crash
// at the worst moment. At commit() the engine has already recorded the cursor
// it was about to save as pending (state_store::begin_commit); at write() it
// has not. engine_state_test.cpp reruns the pipeline afterwards.
//
// Exit codes: 77 the crash happened; 2 the pipeline was refused; otherwise
// 10 + the run's exit code (the run finished without reaching a commit).
#include <aquaduct/engine.hpp>

#include "sinks/sqlite_sink.hpp"

#include <cstdio>
#include <memory>
#include <string>
#include <unistd.h>

namespace {

constexpr int crashed = 77;

enum class crash_point { commit, write };

[[noreturn]] void die(const char* where, const std::string& job, const std::string& query) {
  std::fprintf(stderr, "crash_child: dying at %s of job %s query %s\n", where, job.c_str(), query.c_str());
  std::fflush(stderr);
  _exit(crashed);
}

class crashing_stream : public aquaduct::sink_stream {
 public:
  crashing_stream(std::unique_ptr<aquaduct::sink_stream> real, crash_point at, const aquaduct::stream_schema& schema)
      : real_(std::move(real)), at_(at), job_(schema.job), query_(schema.query) {}
  void write(const aquaduct::row_batch& rows) override {
    if (at_ == crash_point::write) die("the first write", job_, query_);
    real_->write(rows);
  }
  void commit(const aquaduct::file_token& token) override { die("the commit", token.job_id, token.query); }
  void abort() noexcept override { real_->abort(); }

 private:
  std::unique_ptr<aquaduct::sink_stream> real_;
  crash_point at_;
  std::string job_;
  std::string query_;
};

class crashing_sink : public aquaduct::sink {
 public:
  crashing_sink(std::unique_ptr<aquaduct::sink> real, crash_point at) : real_(std::move(real)), at_(at) {}
  std::string_view type() const noexcept override { return real_->type(); }
  std::unique_ptr<aquaduct::sink_stream> open(const aquaduct::stream_schema& schema) override {
    return std::make_unique<crashing_stream>(real_->open(schema), at_, schema);
  }
  void close() override { real_->close(); }

 private:
  std::unique_ptr<aquaduct::sink> real_;
  crash_point at_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string point = argc == 5 ? argv[4] : "commit";
  if ((argc != 4 && argc != 5) || (point != "commit" && point != "write")) {
    std::fprintf(stderr, "usage: crash_child PIPELINE.toml STATE_DIR DB_PATH [commit|write]\n");
    return 2;
  }
  const crash_point at = point == "write" ? crash_point::write : crash_point::commit;
  try {
    aquaduct::engine_options options;
    options.state_dir = argv[2];
    aquaduct::engine eng{aquaduct::load_pipeline(argv[1]), options};
    aquaduct::sinks::sqlite_sink_options db;
    db.path = argv[3];
    eng.add_sink(std::make_unique<crashing_sink>(aquaduct::sinks::make_sqlite_sink(db), at));
    const aquaduct::run_report report = eng.run();
    std::fprintf(stderr, "%s", report.to_table().c_str());
    return 10 + report.exit_code();
  } catch (const aquaduct::config_error& e) {
    for (const auto& p : e.problems()) std::fprintf(stderr, "%s\n", p.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash_child: %s\n", e.what());
    return 2;
  }
}

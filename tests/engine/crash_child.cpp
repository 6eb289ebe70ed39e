// crash_child PIPELINE.toml STATE_DIR DB_PATH
//
// Runs the pipeline with the state store in STATE_DIR and one sink: the real
// sqlite sink at DB_PATH, wrapped so that the first commit() ends the process
// with _exit(77) BEFORE the sqlite sink commits. The job has completed on the
// server by then and its rows are staged in the sink: a crash at the worst
// moment. engine_state_test.cpp reruns the pipeline afterwards.
//
// Exit codes: 77 the crash happened; 2 the pipeline was refused; otherwise
// 10 + the run's exit code (the run finished without reaching a commit).
#include <aquaduct/engine.hpp>

#include "sinks/sqlite_sink.hpp"

#include <cstdio>
#include <memory>
#include <unistd.h>

namespace {

constexpr int crashed = 77;

class crash_at_commit_stream : public aquaduct::sink_stream {
 public:
  explicit crash_at_commit_stream(std::unique_ptr<aquaduct::sink_stream> real) : real_(std::move(real)) {}
  void write(const aquaduct::row_batch& rows) override { real_->write(rows); }
  void commit(const aquaduct::file_token& token) override {
    std::fprintf(stderr, "crash_child: dying before the commit of job %s query %s\n", token.job_id.c_str(),
                 token.query.c_str());
    std::fflush(stderr);
    _exit(crashed);
  }
  void abort() noexcept override { real_->abort(); }

 private:
  std::unique_ptr<aquaduct::sink_stream> real_;
};

class crash_at_commit_sink : public aquaduct::sink {
 public:
  explicit crash_at_commit_sink(std::unique_ptr<aquaduct::sink> real) : real_(std::move(real)) {}
  std::string_view type() const noexcept override { return real_->type(); }
  std::unique_ptr<aquaduct::sink_stream> open(const aquaduct::stream_schema& schema) override {
    return std::make_unique<crash_at_commit_stream>(real_->open(schema));
  }
  void close() override { real_->close(); }

 private:
  std::unique_ptr<aquaduct::sink> real_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: crash_child PIPELINE.toml STATE_DIR DB_PATH\n");
    return 2;
  }
  try {
    aquaduct::engine_options options;
    options.state_dir = argv[2];
    aquaduct::engine eng{aquaduct::load_pipeline(argv[1]), options};
    aquaduct::sinks::sqlite_sink_options db;
    db.path = argv[3];
    eng.add_sink(std::make_unique<crash_at_commit_sink>(aquaduct::sinks::make_sqlite_sink(db)));
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

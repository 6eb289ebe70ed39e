#pragma once
// The stderr of `aquaduct run`: log lines (text or JSON lines) and the
// progress display, which never garble each other.
//
//   live   (a TTY, or --progress always on a TTY): a block redrawn in place
//          every 250 ms, one line per configured job (state, AQuA jobs done,
//          rows, MB, MB/s) and a totals line; log lines print above it.
//   plain  (--progress always off a TTY): a totals line every 5 s, as a log record.
//   off    (--progress never, or auto off a TTY): logs only.
#include <aquaduct/engine.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace aquaduct::cli {

enum class progress_style { off, live, plain };
enum class log_format { text, json };

// --progress auto|always|never on this stderr. `auto` is live on a TTY whose
// TERM is not "dumb", else off; `always` is live on a TTY, else plain.
progress_style choose_progress(const std::string& mode, int fd);

// The display's lines for one snapshot; `rate` gives each job's MB/s
// (bytes_downloaded per second) or a negative value when not yet known.
// Each line is cut to `width` columns; at most `height` lines (the jobs
// that do not fit are summed up in one line).
std::vector<std::string> progress_lines(const progress_snapshot& p, const std::vector<double>& job_rates,
                                        double total_rate, std::size_t width, std::size_t height);

class run_console {
 public:
  run_console(progress_style style, log_format format, log_level min_level, std::FILE* out = stderr);
  ~run_console();
  run_console(const run_console&) = delete;
  run_console& operator=(const run_console&) = delete;

  // Thread-safe. Records below the minimum level are dropped.
  void log(const log_record& r);
  // A message that is not a record (the interrupt notice), printed as is;
  // a warning record under JSON.
  void note(const std::string& text);
  // An error the run ends on (a config problem, an exception), whatever the
  // level: `text` as is, or an error record under JSON.
  void error(const std::string& text);
  // The run report, whatever the level: the table (run_report::to_table), or
  // under JSON one record whose "report" is run_report::to_json()'s object,
  // so that every stderr line stays one JSON object.
  void report(const run_report& r);

  // Shows `eng`'s progress until stop(); the engine must outlive stop().
  void start(const engine& eng);
  // Erases the live block (the run report follows it).
  void stop();

 private:
  void loop();
  void render_locked();
  void erase_locked();
  void write_locked(const std::string& text);

  progress_style style_;
  log_format format_;
  log_level min_level_;
  std::FILE* out_;
  const engine* eng_ = nullptr;
  std::mutex m_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  std::vector<std::string> shown_;  // the live block on screen now

  // Rates over the last samples: bytes_downloaded per job and in all.
  struct sample {
    double t = 0;
    std::uint64_t total = 0;
    std::vector<std::uint64_t> jobs;
  };
  std::vector<sample> samples_;
};

}  // namespace aquaduct::cli

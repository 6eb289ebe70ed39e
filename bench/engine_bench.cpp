// The engine under load, against `aquaduct emulate` started as a separate process, each
// figure beside a baseline measured in the same run:
//
//  1. Many jobs in flight: JOBS [[jobs]] of one small query each, the emulator answering
//     every job after LATENCY ms. Wall time beside the ideal ceil(JOBS/50) x latency, the
//     engine process's peak RSS, and the emulator's active jobs sampled from
//     GET /_emulator/stats (the 50-job limit held when it never exceeds 50 and every job
//     was submitted once).
//  2. One large gzip extraction (`select * from InvoiceItem`, ~50 rows an account) to the
//     null sink: the engine's rows/s and MB/s from the start of the delivery to commit (the
//     run report's download_s) beside `gzip -dc > /dev/null` of the same result files fetched
//     with curl, and the engine process's peak RSS.
//  3. The sink thread pool: one job of four queries of ROWS/4 rows each, delivered with one
//     sink thread and then with one per core; the ratio is what the pool buys.
//  4. Two cores: big files delivered at once (one job of 1, 2, 4... queries of ROWS/4 rows
//     each, a file each), throughput against concurrency; the scaling is 2 files against 1.
//     Beside it, the CPU seconds of the engine, the emulator and other processes during each
//     delivery, and the CPU-bound ceiling those allow on this machine's cores; files grow
//     until one takes --cores-min-s.
//  5. Memory: the same null-sink extraction for each result size in --memory-gb; the engine's
//     peak RSS must not grow with the result.
//
// The extraction also runs to the csv, singer and postgres sinks (--sinks), beside
// `curl URL | gzip -dc > /dev/null` and `psql \copy` of the same files (a private server).
// Every scenario adds rows to one summary: a markdown table on stdout at the end, and with
// --json FILE a JSON record (bench/harness.sh names it by date and commit in bench/results/,
// and bench/plot.py draws it with gnuplot).
//
// The engine runs through the public API (parse_pipeline, aquaduct::engine) in a child
// process of its own (this binary re-executed), so its RSS is measured alone.
//
//   engine_bench [--aquaduct PATH] [--jobs N] [--latency-ms N] [--rows N] [--only LIST]
//                [--sinks LIST] [--concurrency LIST] [--cores-min-s S] [--memory-gb LIST] [--json FILE]
//   defaults: ../aquaduct beside this binary, 1000 jobs, 2000 ms, 10,000,000 rows,
//   --only jobs,extract,pool (also: cores, memory)  --sinks null (also: csv, singer, postgres)
//   --concurrency 1,2,4  --cores-min-s 3 (one file's delivery at least this long, else larger files)
//   --memory-gb 1,5; bench/harness.sh runs jobs,extract,cores,memory
//   to every sink.
#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

#include "support/postgres_server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <ctime>
#include <functional>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
constexpr double mib = 1024.0 * 1024.0;
constexpr std::uint32_t tenant_job_limit = 50;  // the AQuA active-job limit (contract)

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Thrown on any failure; main() reports it after the emulator has been stopped.
struct bench_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& what) { throw bench_error(what); }

// One row of the summary: a figure beside its same-run baseline, the ratio, the target.
struct summary_row {
  std::string scenario;
  std::string figure;    // e.g. "2.83 s: 3.54M rows/s"
  std::string baseline;  // e.g. "`gzip -dc` 10.49 s"
  double ratio = 0;
  std::string ratio_means;  // e.g. "speed", "wall/ideal", "RSS 5 GB / 1 GB"
  std::string target;
  std::optional<bool> met;  // none: no target
  std::vector<std::pair<std::string, double>> values;  // raw numbers for the JSON record
};

// Everything the run measured, printed and written at the end.
struct summary {
  std::vector<summary_row> rows;
  std::vector<std::pair<double, double>> concurrency;  // (files at once, MB/s of CSV)
  std::vector<std::pair<double, double>> memory;       // (GB of CSV, peak RSS MiB)
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> failures;
};
summary results;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string rate(double per_s) {
  if (per_s >= 1e6) return fmt("%.2fM", per_s / 1e6);
  if (per_s >= 1e3) return fmt("%.0fk", per_s / 1e3);
  return fmt("%.0f", per_s);
}

// A child process with its stdout on a pipe.
struct child {
  pid_t pid = -1;
  int out = -1;
};

child spawn(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  child c;
  const int rc = posix_spawn(&c.pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) fail("cannot start " + argv[0] + ": " + std::strerror(rc));
  c.out = fds[0];
  return c;
}

std::string read_line(int fd) {
  std::string line;
  char ch = 0;
  while (::read(fd, &ch, 1) == 1 && ch != '\n') line += ch;
  return line;
}

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) s.append(buf, static_cast<std::size_t>(n));
  return s;
}

// Runs a shell command and returns its stdout; a failure stops the bench.
std::string capture(const std::string& cmd) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) fail("cannot run: " + cmd);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  if (::pclose(p) != 0) fail("command failed: " + cmd);
  return out;
}

std::string load_average() {  // "1.23 0.98 0.75"
  std::string load = capture("cut -d' ' -f1-3 /proc/loadavg");
  if (!load.empty() && load.back() == '\n') load.pop_back();
  return load;
}

double time_command(const std::string& cmd) {
  const auto t0 = clock_type::now();
  if (std::system(cmd.c_str()) != 0) fail("baseline command failed: " + cmd);
  return seconds_since(t0);
}

// Every number after `"key":` in a JSON text.
std::vector<std::uint64_t> json_numbers(const std::string& json, const std::string& key) {
  std::vector<std::uint64_t> v;
  const std::string pat = "\"" + key + "\":";
  for (auto p = json.find(pat); p != std::string::npos; p = json.find(pat, p + 1))
    v.push_back(std::strtoull(json.c_str() + p + pat.size(), nullptr, 10));
  return v;
}

// The result file ids of a completed job's JSON: each batch's `fileId`, or its
// `segments` (an array of file ids) when the result was split.
std::vector<std::string> result_file_ids(const std::string& json) {
  std::vector<std::string> v;
  const auto strings_until = [&](std::size_t from, std::size_t to) {
    for (auto b = json.find('"', from); b < to; b = json.find('"', b + 1)) {
      const auto e = json.find('"', b + 1);
      v.push_back(json.substr(b + 1, e - b - 1));
      b = e;
    }
  };
  for (auto p = json.find("\"fileId\":\""); p != std::string::npos; p = json.find("\"fileId\":\"", p + 1))
    strings_until(p + 9, json.find('"', p + 10) + 1);
  for (auto p = json.find("\"segments\":["); p != std::string::npos; p = json.find("\"segments\":[", p + 1))
    strings_until(p + 12, json.find(']', p));
  return v;
}

// `aquaduct emulate` in its own process; SIGTERM at the end.
class emulator {
 public:
  emulator(const std::string& bin, const std::vector<std::string>& flags) {
    std::vector<std::string> argv{bin, "emulate", "--port", "0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    proc_ = spawn(argv);
    const std::string line = read_line(proc_.out);
    const std::string prefix = "listening on ";
    if (line.rfind(prefix, 0) != 0) {
      ::kill(proc_.pid, SIGTERM);
      ::waitpid(proc_.pid, nullptr, 0);
      fail("the emulator did not start: '" + line + "'");
    }
    url_ = line.substr(prefix.size());
    drain_ = std::thread([fd = proc_.out] { read_all(fd); });
  }
  ~emulator() {
    ::kill(proc_.pid, SIGTERM);
    int status = 0;
    ::waitpid(proc_.pid, &status, 0);
    drain_.join();
    ::close(proc_.out);
  }
  emulator(const emulator&) = delete;
  emulator& operator=(const emulator&) = delete;

  const std::string& url() const { return url_; }
  pid_t pid() const { return proc_.pid; }
  std::string stats() const { return capture("curl -sf " + url_ + "/_emulator/stats"); }
  std::string get(const std::string& path) const { return capture("curl -sf -u aquaduct:aquaduct " + url_ + path); }

 private:
  child proc_;
  std::string url_;
  std::thread drain_;
};

// What the engine child reports on one stdout line.
struct engine_result {
  double wall_s = 0;
  std::uint64_t vmhwm_bytes = 0;  // run_report.peak_rss_bytes (VmHWM)
  std::uint64_t maxrss_bytes = 0;  // wait4 ru_maxrss of the child
  std::uint64_t jobs_completed = 0, jobs_total = 0, rows = 0, files = 0, bytes_downloaded = 0, bytes_decoded = 0;
  double download_s = 0;  // the largest query's (first file request to last commit)
  double wait_s = 0;      // the largest job's submit -> completed
  std::string first_job_id;
  std::string first_error;
  // CPU seconds (user + sys) spent during the delivery window, the last download_s
  // before the engine exited: the engine's, the watched emulator's, and everything
  // else on the machine (other processes: /proc/stat busy time minus those two).
  double engine_cpu_s = 0, emulator_cpu_s = 0, others_cpu_s = 0;
};

// CPU time, in seconds, from /proc: one process (all its threads) and the whole machine.
double clock_tick_s() {
  static const double tick = 1.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return tick;
}

double process_cpu_s(pid_t pid) {  // utime + stime; 0 once the process is gone
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)  // fields 14 and 15: utime, stime
    if (i >= 14) ticks += std::stod(field);
  return ticks * clock_tick_s();
}

double machine_busy_cpu_s() {  // every CPU's non-idle time since boot
  std::ifstream f("/proc/stat");
  std::string cpu;
  f >> cpu;
  double busy = 0, v = 0;
  for (int i = 0; i < 10 && f >> v; ++i)
    if (i != 3 && i != 4) busy += v;  // not idle, not iowait
  return busy * clock_tick_s();
}

unsigned cores_online() { return static_cast<unsigned>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN))); }

// Samples of cumulative CPU seconds against time; `at` interpolates linearly.
struct cpu_series {
  std::vector<std::pair<double, double>> points;  // (seconds since start, CPU seconds)
  void add(double t, double cpu) { points.emplace_back(t, cpu); }
  double at(double t) const {
    if (points.empty()) return 0;
    if (t <= points.front().first) return points.front().second;
    for (std::size_t i = 1; i < points.size(); ++i)
      if (t <= points[i].first) {
        const auto [t0, c0] = points[i - 1];
        const auto [t1, c1] = points[i];
        return t1 > t0 ? c0 + (c1 - c0) * (t - t0) / (t1 - t0) : c1;
      }
    return points.back().second;
  }
};

// The engine side: runs in the re-executed child.
int engine_child(const std::string& toml_path, const std::string& report_path, unsigned sink_threads) {
  try {
    aquaduct::engine_options opts;
    opts.sink_threads = sink_threads;  // 0: one per core
    aquaduct::engine eng{aquaduct::load_pipeline(toml_path), opts};
    const aquaduct::run_report r = eng.run();
    std::ofstream(report_path) << r.to_json();
    engine_result e;
    e.wall_s = r.wall_s;
    e.vmhwm_bytes = r.peak_rss_bytes;
    for (const auto& j : r.jobs) {
      ++e.jobs_total;
      if (j.status == aquaduct::outcome::completed) ++e.jobs_completed;
      if (e.first_job_id.empty()) e.first_job_id = j.job_id;
      if (j.error && e.first_error.empty()) e.first_error = j.name + ": " + *j.error;
      e.wait_s = std::max(e.wait_s, j.wait_s);
      for (const auto& q : j.queries) {
        e.rows += q.rows;
        e.files += q.files;
        e.bytes_downloaded += q.bytes_downloaded;
        e.bytes_decoded += q.bytes_decoded;
        e.download_s = std::max(e.download_s, q.download_s);
        if (q.error && e.first_error.empty()) e.first_error = j.name + "/" + q.name + ": " + *q.error;
      }
    }
    std::printf("%.6f %llu %llu %llu %llu %llu %llu %llu %.6f %.6f %s\n", e.wall_s,
                static_cast<unsigned long long>(e.vmhwm_bytes), static_cast<unsigned long long>(e.jobs_completed),
                static_cast<unsigned long long>(e.jobs_total), static_cast<unsigned long long>(e.rows),
                static_cast<unsigned long long>(e.files), static_cast<unsigned long long>(e.bytes_downloaded),
                static_cast<unsigned long long>(e.bytes_decoded), e.download_s, e.wait_s,
                e.first_job_id.empty() ? "-" : e.first_job_id.c_str());
    if (!e.first_error.empty()) std::fprintf(stderr, "engine_bench: first error: %s\n", e.first_error.c_str());
    return r.exit_code();
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "engine_bench: the engine failed: %s\n", ex.what());
    return 1;
  }
}

// Runs the pipeline in a child process; `while_running` is called every 50 ms meanwhile.
// The CPU of the engine, of `emulator_pid` (when given) and of the machine is sampled
// every 20 ms meanwhile, for the engine_result's CPU seconds of the delivery window.
engine_result run_engine(const fs::path& dir, const std::string& toml, const std::function<void()>& while_running,
                         unsigned sink_threads = 0, pid_t emulator_pid = -1) {
  const fs::path toml_path = dir / "pipeline.toml";
  std::ofstream(toml_path) << toml;
  const auto t0 = clock_type::now();
  child c = spawn({"/proc/self/exe", "engine-child", toml_path.string(), (dir / "report.json").string(),
                   std::to_string(sink_threads)});
  std::string out;
  std::thread reader([&] { out = read_all(c.out); });
  int status = 0;
  rusage ru{};
  cpu_series engine_cpu, emulator_cpu, machine_cpu;
  const auto sample = [&](bool engine_alive) {
    const double t = seconds_since(t0);
    if (engine_alive) engine_cpu.add(t, process_cpu_s(c.pid));
    if (emulator_pid > 0) emulator_cpu.add(t, process_cpu_s(emulator_pid));
    machine_cpu.add(t, machine_busy_cpu_s());
  };
  auto next_hook = clock_type::now();
  for (;;) {
    sample(true);
    const pid_t r = ::wait4(c.pid, &status, WNOHANG, &ru);
    if (r == c.pid) break;
    if (r < 0) fail("wait4 failed");
    if (while_running && clock_type::now() >= next_hook) {
      while_running();
      next_hook = clock_type::now() + std::chrono::milliseconds(50);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sample(false);
  const double exit_t = seconds_since(t0);
  const double engine_total_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  engine_cpu.add(exit_t, engine_total_s);
  reader.join();
  ::close(c.out);
  engine_result e;
  char job_id[128] = {};
  unsigned long long v[8] = {};
  if (std::sscanf(out.c_str(), "%lf %llu %llu %llu %llu %llu %llu %llu %lf %lf %127s", &e.wall_s, &v[0], &v[1],
                  &v[2], &v[3], &v[4], &v[5], &v[6], &e.download_s, &e.wait_s, job_id) != 11)
    fail(WIFSIGNALED(status) ? "the engine process died of signal " + std::to_string(WTERMSIG(status)) + " (" +
                                   strsignal(WTERMSIG(status)) + ")"
                             : "the engine process printed no result (exit code " +
                                   std::to_string(WEXITSTATUS(status)) + ")");
  e.vmhwm_bytes = v[0];
  e.jobs_completed = v[1];
  e.jobs_total = v[2];
  e.rows = v[3];
  e.files = v[4];
  e.bytes_downloaded = v[5];
  e.bytes_decoded = v[6];
  e.first_job_id = job_id;
  e.maxrss_bytes = static_cast<std::uint64_t>(ru.ru_maxrss) * 1024;
  const double from = exit_t - e.download_s;  // the delivery window: its last download_s
  e.engine_cpu_s = engine_total_s - engine_cpu.at(from);
  if (emulator_pid > 0) e.emulator_cpu_s = emulator_cpu.at(exit_t) - emulator_cpu.at(from);
  e.others_cpu_s = std::max(0.0, machine_cpu.at(exit_t) - machine_cpu.at(from) - e.engine_cpu_s - e.emulator_cpu_s);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || e.jobs_completed != e.jobs_total)
    fail("the engine run failed: " + std::to_string(e.jobs_completed) + " of " + std::to_string(e.jobs_total) +
         " jobs completed; report in " + (dir / "report.json").string());
  return e;
}

std::string source_toml(const std::string& url, unsigned poll_ms) {
  return "[source]\nbase_url = \"" + url +
         "\"\n[source.auth]\ntype = \"basic\"\nusername = \"aquaduct\"\npassword = \"aquaduct\"\n"
         "[source.poll]\ninitial_ms = " +
         std::to_string(poll_ms) + "\nmax_ms = " + std::to_string(poll_ms) + "\njitter = \"none\"\n";
}

constexpr const char* null_sink_toml = "[[sinks]]\ntype = \"null\"\n";

double peak_rss_mib(const engine_result& e) {
  return static_cast<double>(std::max(e.vmhwm_bytes, e.maxrss_bytes)) / mib;
}
constexpr double rss_target_mib = 64;

void print_rss(const engine_result& e) {
  std::printf("engine peak RSS:  %.1f MiB (VmHWM), %.1f MiB (ru_maxrss)   target <= 64 MiB: %s\n",
              static_cast<double>(e.vmhwm_bytes) / mib, static_cast<double>(e.maxrss_bytes) / mib,
              std::max(e.vmhwm_bytes, e.maxrss_bytes) <= 64 * 1024 * 1024 ? "met" : "MISSED");
}

// 1. JOBS jobs of one small query each against a LATENCY ms emulator.
void bench_jobs(const std::string& bin, const fs::path& dir, unsigned jobs, unsigned latency_ms) {
  static const char* const objects[] = {"Account", "Contact", "Product", "Invoice", "Subscription"};
  emulator emu(bin, {"--latency-ms", std::to_string(latency_ms), "--scale", "200"});
  const unsigned poll_ms = 250;
  std::string toml = source_toml(emu.url(), poll_ms);
  for (unsigned i = 0; i < jobs; ++i) {
    const char* obj = objects[i % std::size(objects)];
    toml += "[[jobs]]\nname = \"job" + std::to_string(i) + "\"\nformat = \"gzip\"\n[[jobs.queries]]\nname = \"" + obj +
            "\"\nquery = \"select Id from " + obj + " limit 1\"\n";
  }
  toml += null_sink_toml;

  std::printf("== %u jobs in flight: one small query each (select Id from <Object> limit 1, 5 objects), gzip, "
              "null sink; emulator --latency-ms %u, poll every %u ms ==\n",
              jobs, latency_ms, poll_ms);
  std::fflush(stdout);
  std::uint64_t peak_active = 0;
  const engine_result e = run_engine(dir, toml, [&] {
    for (auto n : json_numbers(emu.stats(), "active_stateless")) peak_active = std::max(peak_active, n);
  });
  const std::string stats = emu.stats();
  const auto submit_200 = [&] {
    const auto p = stats.find("\"/v1/batch-query/\":");
    return p == std::string::npos ? std::vector<std::uint64_t>{} : json_numbers(stats.substr(p, 64), "200");
  }();

  const double rounds = std::ceil(static_cast<double>(jobs) / tenant_job_limit);
  const double ideal_s = rounds * latency_ms / 1000.0;
  std::printf("engine wall time: %.2f s for %llu jobs (%llu rows)\n", e.wall_s,
              static_cast<unsigned long long>(e.jobs_completed), static_cast<unsigned long long>(e.rows));
  std::printf("ideal:            %.2f s = ceil(%u/%u) x %.1f s\n", ideal_s, jobs, tenant_job_limit,
              latency_ms / 1000.0);
  std::printf("ratio wall/ideal: %.2fx   (%.1f jobs/s against an ideal %.1f jobs/s)\n", e.wall_s / ideal_s,
              jobs / e.wall_s, jobs / ideal_s);
  print_rss(e);
  std::printf("emulator active jobs, sampled every 50 ms: peak %llu (limit %u: %s); submit requests answered "
              "200: %s for %u jobs\n\n",
              static_cast<unsigned long long>(peak_active), tenant_job_limit,
              peak_active <= tenant_job_limit ? "held" : "EXCEEDED",
              submit_200.empty() ? "?" : std::to_string(submit_200.front()).c_str(), jobs);
  results.rows.push_back({std::to_string(jobs) + " jobs, " + fmt("%.1f s", latency_ms / 1000.0) + " latency",
                          fmt("%.2f s", e.wall_s) + ", peak RSS " + fmt("%.1f MiB", peak_rss_mib(e)) +
                              ", emulator active peak " + std::to_string(peak_active),
                          fmt("ideal ceil(N/50) x latency %.2f s", ideal_s), e.wall_s / ideal_s, "wall/ideal",
                          "<= 1.10x, RSS <= 64 MiB, active <= 50",
                          e.wall_s / ideal_s <= 1.10 && peak_rss_mib(e) <= rss_target_mib && peak_active <= tenant_job_limit,
                          {{"wall_s", e.wall_s}, {"ideal_s", ideal_s}, {"peak_rss_mib", peak_rss_mib(e)},
                           {"peak_active_jobs", static_cast<double>(peak_active)}}});
}

// An emulator serving `select * from InvoiceItem` results of about ROWS rows (50 a
// account, 500,000-row files), with no latency and no rate limit.
std::vector<std::string> extraction_flags(const fs::path& dir, std::uint64_t rows) {
  const std::uint64_t scale = std::max<std::uint64_t>(1, (rows + 49) / 50);
  return {"--latency-ms", "0", "--scale", std::to_string(scale), "--rate-limit", "0", "--data-dir",
          (dir / "emulator-data").string()};
}

// One job of QUERIES `select * from InvoiceItem` queries into the given sink.
std::string extraction_toml(const std::string& url, unsigned queries, const std::string& sink) {
  std::string toml = source_toml(url, 250) + "[[jobs]]\nname = \"extract\"\nformat = \"gzip\"\n";
  for (unsigned i = 0; i < queries; ++i)
    toml += "[[jobs.queries]]\nname = \"InvoiceItem" + (queries > 1 ? std::to_string(i) : std::string()) +
            "\"\nquery = \"select * from InvoiceItem\"\n";
  return toml + sink;
}

std::string sink_toml(const std::string& type, const fs::path& out, const std::string& pg_dsn) {
  if (type == "null") return null_sink_toml;
  if (type == "csv") return "[[sinks]]\ntype = \"csv\"\npath = \"" + out.string() + "\"\n";
  if (type == "singer") return "[[sinks]]\ntype = \"singer\"\npath = \"" + (out / "messages.singer").string() + "\"\n";
  if (type == "postgres") return "[[sinks]]\ntype = \"postgres\"\ndsn = \"" + pg_dsn + "\"\n";
  fail("unknown sink " + type + " (null, csv, singer, postgres)");
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> v;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) v.push_back(item);
  return v;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string speed(const engine_result& e, double s) {
  return fmt("%.2f s: ", s) + fmt("%.0f MB/s, ", static_cast<double>(e.bytes_decoded) / 1e6 / s) +
         rate(static_cast<double>(e.rows) / s) + " rows/s";
}

// 2. One ROWS-row gzip extraction to each sink, beside `curl | gzip -dc`, `gzip -dc` and
// `psql \copy` of the same files.
void bench_extract(const std::string& bin, const fs::path& dir, std::uint64_t rows_wanted,
                   const std::vector<std::string>& sinks) {
  emulator emu(bin, extraction_flags(dir, rows_wanted));
  const std::string label = rate(static_cast<double>(rows_wanted)) + " rows gzip";
  std::optional<aquaduct::test::postgres_server> pg;
  if (contains(sinks, "postgres")) pg.emplace();
  const std::string pg_dsn = pg ? pg->dsn() : std::string();

  // The null sink first: its job's files are the baselines' input.
  std::vector<std::pair<std::string, engine_result>> runs;
  for (const auto& sink : sinks) {
    const fs::path out = dir / ("out-" + sink);
    fs::create_directories(out);
    std::printf("== one gzip extraction: select * from InvoiceItem, ~%s rows (500,000-row files), %s sink ==\n",
                rate(static_cast<double>(rows_wanted)).c_str(), sink.c_str());
    std::fflush(stdout);
    runs.emplace_back(sink, run_engine(dir, extraction_toml(emu.url(), 1, sink_toml(sink, out, pg_dsn)), {}));
    fs::remove_all(out);
    const auto& e = runs.back().second;
    std::printf("%s sink: %s (download_s, delivery start -> commit); emulator export %.2f s not counted\n",
                sink.c_str(), speed(e, e.download_s).c_str(), e.wait_s);
    print_rss(e);
  }
  const engine_result& first = runs.front().second;

  const std::string job = emu.get("/v1/batch-query/jobs/" + first.first_job_id);
  const auto ids = result_file_ids(job);
  if (ids.empty()) fail("the job " + first.first_job_id + " has no fileId: " + job.substr(0, 300));
  const fs::path files = dir / "files";
  fs::create_directories(files);
  std::string curl = "curl -sf -u aquaduct:aquaduct", curl_pipe = curl, gunzip = "gzip -dc";
  std::vector<std::string> gz;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    gz.push_back((files / (std::to_string(i) + ".gz")).string());
    curl += " -o " + gz.back() + " " + emu.url() + "/v1/file/" + ids[i];
    curl_pipe += " " + emu.url() + "/v1/file/" + ids[i];
    gunzip += " " + gz.back();
  }
  const double curl_s = time_command(curl);
  const double curl_gzip_s = time_command(curl_pipe + " | gzip -dc > /dev/null");
  const double gzip_s = time_command(gunzip + " > /dev/null");
  std::uint64_t gz_bytes = 0;
  for (const auto& f : gz) gz_bytes += fs::file_size(f);
  std::printf("result: %llu rows, %zu files, %.1f MB gzip, %.1f MB CSV\n",
              static_cast<unsigned long long>(first.rows), ids.size(), static_cast<double>(gz_bytes) / 1e6,
              static_cast<double>(first.bytes_decoded) / 1e6);
  std::printf("baseline curl | gzip -dc > /dev/null: %s\n", speed(first, curl_gzip_s).c_str());
  std::printf("baseline gzip -dc FILES > /dev/null:  %s\n", speed(first, gzip_s).c_str());
  std::printf("(curl fetching the same files to disk: %.3f s, %.1f MB/s of gzip)\n", curl_s,
              static_cast<double>(gz_bytes) / 1e6 / curl_s);

  double copy_s = 0;
  if (pg) {  // psql \copy of the same files, decompressed first (not timed), into a TEXT table
    std::string header;
    std::vector<std::string> csv;
    for (const auto& f : gz) {
      csv.push_back(f.substr(0, f.size() - 3) + ".csv");
      capture("gzip -dc " + f + " > " + csv.back());
    }
    std::getline(std::ifstream(csv.front()), header);
    if (!header.empty() && header.back() == '\r') header.pop_back();
    std::string create = "create table baseline_copy (";
    for (const auto& col : split(header)) create += (create.back() == '(' ? "\"" : ", \"") + col + "\" text";
    std::ofstream(files / "create.sql") << create << ");\n";
    std::ofstream copy(files / "copy.sql");
    for (const auto& f : csv) copy << "\\copy baseline_copy from '" << f << "' csv header\n";
    copy.close();
    capture("psql -q -v ON_ERROR_STOP=1 '" + pg_dsn + "' -f " + (files / "create.sql").string());
    copy_s = time_command("psql -q -v ON_ERROR_STOP=1 '" + pg_dsn + "' -f " + (files / "copy.sql").string());
    std::printf("baseline psql \\copy of the decompressed files: %s\n", speed(first, copy_s).c_str());
  }
  fs::remove_all(files);

  for (const auto& [sink, e] : runs) {
    const double rows_s = static_cast<double>(e.rows) / e.download_s;
    summary_row r{label + " -> " + sink + " sink", speed(e, e.download_s) + fmt(", RSS %.1f MiB", peak_rss_mib(e)),
                  "", 0, "speed", "", std::nullopt,
                  {{"rows", static_cast<double>(e.rows)}, {"csv_mb", static_cast<double>(e.bytes_decoded) / 1e6},
                   {"seconds", e.download_s}, {"peak_rss_mib", peak_rss_mib(e)}}};
    if (sink == "null") {
      r.baseline = fmt("`gzip -dc` %.2f s", gzip_s);
      r.ratio = gzip_s / e.download_s;
      r.target = ">= 1.5x, RSS <= 64 MiB";
      r.met = r.ratio >= 1.5 && peak_rss_mib(e) <= rss_target_mib;
      r.values.emplace_back("gzip_dc_s", gzip_s);
      results.rows.push_back(r);
      r.scenario += " (vs curl)";
    }
    if (sink == "postgres") {
      r.baseline = fmt("`psql \\copy` %.2f s", copy_s);
      r.ratio = copy_s / e.download_s;
      r.target = ">= 0.8x";
      r.met = r.ratio >= 0.8;
      r.values.emplace_back("psql_copy_s", copy_s);
    } else {
      r.baseline = fmt("`curl | gzip -dc` %.2f s", curl_gzip_s);
      r.ratio = curl_gzip_s / e.download_s;
      r.values.emplace_back("curl_gzip_dc_s", curl_gzip_s);
      if (sink == "csv") r.target = ">= 1M rows/s", r.met = rows_s >= 1e6;
      if (sink == "singer") r.target = ">= 500k rows/s", r.met = rows_s >= 5e5;
      if (sink == "null") r.target = "", r.met = std::nullopt;
    }
    results.rows.push_back(r);
  }
  std::printf("\n");
}

// 4. Two cores: CONCURRENCY files at once, each query of the job one file of ROWS rows,
// decoded on one sink thread a core; throughput (MB/s of CSV) against concurrency, and for
// each level the CPU seconds of the engine, of the emulator (serving the files) and of
// every other process during the delivery. One file keeps (engine + emulator CPU) / wall
// cores busy; N files cannot go faster than min(N, cores / that) times one file: the
// CPU-bound ceiling, on an idle machine and with the cores other processes left free.
// When one file takes less than MIN_S, the files are made larger and every level runs again.
std::vector<std::pair<unsigned, engine_result>> run_levels(const std::string& bin, const fs::path& dir,
                                                           std::uint64_t rows_per_file,
                                                           const std::vector<unsigned>& levels) {
  auto flags = extraction_flags(dir, rows_per_file);
  flags.insert(flags.end(), {"--segment-rows", std::to_string(rows_per_file + 50)});  // one result file a query
  emulator emu(bin, flags);
  std::printf("-- files of ~%s rows, %u cores online --\n", rate(static_cast<double>(rows_per_file)).c_str(),
              cores_online());
  std::fflush(stdout);
  std::vector<std::pair<unsigned, engine_result>> runs;
  for (unsigned n : levels) {
    const engine_result e = run_engine(dir, extraction_toml(emu.url(), n, null_sink_toml), {}, 0, emu.pid());
    const double s = e.download_s, gb = static_cast<double>(e.bytes_decoded) / 1e9;
    std::printf("%u file(s) at once: %s (the slowest query's download_s); load average %s\n", n,
                speed(e, s).c_str(), load_average().c_str());
    std::printf("   CPU: engine %.2f s (%.2f cores, %.2f s a GB of CSV), emulator %.2f s (%.2f cores), "
                "other processes %.2f s (%.2f cores)\n",
                e.engine_cpu_s, e.engine_cpu_s / s, e.engine_cpu_s / gb, e.emulator_cpu_s, e.emulator_cpu_s / s,
                e.others_cpu_s, e.others_cpu_s / s);
    std::fflush(stdout);
    runs.emplace_back(n, e);
  }
  return runs;
}

void bench_cores(const std::string& bin, const fs::path& dir, std::uint64_t rows_per_file,
                 const std::vector<unsigned>& levels, double min_s) {
  rows_per_file = std::max<std::uint64_t>(rows_per_file, 50);
  std::printf("== files at once: one job of N queries (select * from InvoiceItem, one file each), gzip, "
              "null sink, a sink thread a core; each 1-file run >= %.1f s ==\n",
              min_s);
  std::fflush(stdout);
  if (std::ifstream autogroup("/proc/sys/kernel/sched_autogroup_enabled"); autogroup.get() == '1')
    std::printf("kernel.sched_autogroup_enabled = 1: the CPU is shared fairly between sessions, so one busy process "
                "of another session holds a core of the %u whatever its nice; the engine and emulator share what is "
                "left\n",
                cores_online());
  auto runs = run_levels(bin, dir, rows_per_file, levels);
  const auto at = [&](unsigned n) -> const engine_result* {
    for (const auto& [k, e] : runs)
      if (k == n) return &e;
    return nullptr;
  };
  // Twice at most: a run slowed by other processes can make the first guess short.
  for (int resized = 0; resized < 2; ++resized) {
    const engine_result* one = at(1);
    if (!one || one->download_s >= min_s) break;
    constexpr std::uint64_t max_rows = 40'000'000;  // ~2 GB of gzip a file in the emulator's data dir
    const double grow = min_s * 1.3 / std::max(one->download_s, 1e-3);
    const auto rows = std::min<std::uint64_t>(
        max_rows, (static_cast<std::uint64_t>(static_cast<double>(rows_per_file) * grow) + 49) / 50 * 50);
    if (rows <= rows_per_file) break;
    std::printf("one file took %.2f s (< %.1f s): again with files of ~%s rows\n", one->download_s, min_s,
                rate(static_cast<double>(rows)).c_str());
    rows_per_file = rows;
    runs = run_levels(bin, dir, rows_per_file, levels);
  }
  for (const auto& [n, e] : runs) results.concurrency.emplace_back(n, static_cast<double>(e.bytes_decoded) / 1e6 / e.download_s);
  const engine_result* one = at(1);
  const engine_result* two = at(2);
  if (one && two) {
    const double mbs1 = static_cast<double>(one->bytes_decoded) / 1e6 / one->download_s;
    const double mbs2 = static_cast<double>(two->bytes_decoded) / 1e6 / two->download_s;
    const double scaling = mbs2 / mbs1;
    const double cores = cores_online();
    const double per_file = (one->engine_cpu_s + one->emulator_cpu_s) / one->download_s;  // cores one file keeps busy
    const double free2 = std::max(0.0, cores - two->others_cpu_s / two->download_s);  // left by other processes
    const double ceiling = std::min(2.0, cores / per_file), ceiling_free = std::min(2.0, free2 / per_file);
    const auto cpu = [](const engine_result& e) {
      return fmt("; CPU s: engine %.2f", e.engine_cpu_s) + fmt(", emulator %.2f", e.emulator_cpu_s) +
             fmt(", others %.2f", e.others_cpu_s);
    };
    std::printf("scaling, 2 files at once against 1: %.2fx (target >= 1.7x)\n", scaling);
    std::printf("one file keeps %.2f of %.0f cores busy (engine %.2f + emulator %.2f): CPU-bound ceiling of 2 files "
                "%.2fx on an idle machine, %.2fx with the %.2f cores other processes left free in the 2-file run\n",
                per_file, cores, one->engine_cpu_s / one->download_s, one->emulator_cpu_s / one->download_s,
                ceiling, ceiling_free, free2);
    const std::string label = "(" + rate(static_cast<double>(rows_per_file)) + " rows each)";
    results.rows.push_back({"2 files at once vs 1 " + label,
                            fmt("%.0f MB/s", mbs2) + fmt(" (%.2f s", two->download_s) + cpu(*two) + ")",
                            fmt("1 file %.0f MB/s", mbs1) + fmt(" (%.2f s", one->download_s) + cpu(*one) + ")",
                            scaling, "throughput scaling", ">= 1.7x", scaling >= 1.7,
                            {{"mbs_1", mbs1}, {"mbs_2", mbs2}, {"s_1", one->download_s}, {"s_2", two->download_s},
                             {"engine_cpu_s_1", one->engine_cpu_s}, {"engine_cpu_s_2", two->engine_cpu_s},
                             {"emulator_cpu_s_1", one->emulator_cpu_s}, {"emulator_cpu_s_2", two->emulator_cpu_s},
                             {"others_cpu_s_1", one->others_cpu_s}, {"others_cpu_s_2", two->others_cpu_s},
                             {"rows_per_file", static_cast<double>(rows_per_file)}}});
    results.rows.push_back({"2 files at once vs the CPU-bound ceiling " + label,
                            fmt("measured %.2fx", scaling),
                            fmt("ceiling %.2fx = min(2, ", ceiling_free) + fmt("%.2f free cores / ", free2) +
                                fmt("%.2f cores a file)", per_file) + fmt("; idle machine %.2fx", ceiling) +
                                fmt(" (%.0f cores)", cores),
                            scaling / ceiling_free, "measured/ceiling", "", std::nullopt,
                            {{"cores", cores}, {"cores_a_file", per_file}, {"free_cores_2", free2},
                             {"ceiling_idle", ceiling}, {"ceiling_free", ceiling_free}, {"scaling", scaling}}});
  }
  std::printf("\n");
}

// 5. Memory: the null-sink extraction of each result size; peak RSS must stay flat.
void bench_memory(const std::string& bin, const fs::path& dir, const std::vector<double>& sizes_gb) {
  constexpr double csv_bytes_per_row = 258.5;  // InvoiceItem rows of `select *` (2,585 MB for 10M)
  std::vector<std::pair<double, engine_result>> runs;
  for (double gb : sizes_gb) {
    const auto rows = static_cast<std::uint64_t>(gb * 1e9 / csv_bytes_per_row);
    emulator emu(bin, extraction_flags(dir, rows));
    std::printf("== memory: %.2f GB of CSV results (~%s rows), gzip, null sink ==\n", gb,
                rate(static_cast<double>(rows)).c_str());
    std::fflush(stdout);
    const engine_result e = run_engine(dir, extraction_toml(emu.url(), 1, null_sink_toml), {});
    std::printf("%.2f GB of CSV: %s\n", static_cast<double>(e.bytes_decoded) / 1e9, speed(e, e.download_s).c_str());
    print_rss(e);
    results.memory.emplace_back(static_cast<double>(e.bytes_decoded) / 1e9, peak_rss_mib(e));
    runs.emplace_back(gb, e);
  }
  if (runs.size() >= 2) {
    const auto& [gb1, small] = runs.front();
    const auto& [gb2, big] = runs.back();
    const double r1 = peak_rss_mib(small), r2 = peak_rss_mib(big);
    // "Equal within noise": within 10% or 2 MiB, whichever is larger.
    const bool flat = std::abs(r2 - r1) <= std::max(2.0, 0.1 * r1);
    results.rows.push_back({fmt("peak RSS, %.2f GB of results", static_cast<double>(big.bytes_decoded) / 1e9),
                            fmt("%.1f MiB", r2),
                            fmt("%.1f MiB at ", r1) + fmt("%.2f GB", static_cast<double>(small.bytes_decoded) / 1e9),
                            r2 / r1, "RSS big/small", "equal within 10% or 2 MiB, <= 64 MiB",
                            flat && r2 <= rss_target_mib,
                            {{"small_gb", static_cast<double>(small.bytes_decoded) / 1e9}, {"small_rss_mib", r1},
                             {"big_gb", static_cast<double>(big.bytes_decoded) / 1e9}, {"big_rss_mib", r2}}});
  }
  std::printf("\n");
}

// 3. The sink thread pool: four queries of one job deliver at once; their
// decoding and parsing run on one sink thread, then on one per core.
void bench_pool(const std::string& bin, const fs::path& dir, std::uint64_t rows_wanted) {
  const std::uint64_t per_query = std::max<std::uint64_t>(50, rows_wanted / 4);
  const std::uint64_t scale = (per_query + 49) / 50;
  emulator emu(bin, extraction_flags(dir, per_query));
  const std::string toml = extraction_toml(emu.url(), 4, null_sink_toml);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("== the sink pool: one job of 4 queries (select * from InvoiceItem, ~%llu rows each), gzip, null sink; "
              "1 sink thread, then %u ==\n",
              static_cast<unsigned long long>(scale * 50), cores);
  std::fflush(stdout);
  const engine_result one = run_engine(dir, toml, {}, 1);
  const engine_result many = run_engine(dir, toml, {}, cores);
  const double mb = static_cast<double>(many.bytes_decoded) / 1e6;
  std::printf("1 sink thread:    %.3f s delivering (all 4 queries)  %8.1f MB/s  %11.0f rows/s\n", one.download_s,
              mb / one.download_s, static_cast<double>(one.rows) / one.download_s);
  std::printf("%u sink threads:   %.3f s delivering (all 4 queries)  %8.1f MB/s  %11.0f rows/s\n", cores,
              many.download_s, mb / many.download_s, static_cast<double>(many.rows) / many.download_s);
  std::printf("ratio (speed-up of the pool): %.2fx on %u cores\n", one.download_s / many.download_s, cores);
  print_rss(many);
  results.rows.push_back({"sink pool, 4 queries x " + rate(static_cast<double>(scale * 50)) + " rows",
                          std::to_string(cores) + " sink threads: " + speed(many, many.download_s),
                          "1 sink thread " + fmt("%.2f s", one.download_s), one.download_s / many.download_s, "speed",
                          "", std::nullopt, {{"s_1_thread", one.download_s}, {"s_pool", many.download_s}}});
  std::printf("\n");
}

// The summary as a markdown table.
std::string cell(const std::string& s) {  // a | inside a table cell is \|
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

void print_table() {
  std::printf("| scenario | figure | same-run baseline | ratio | target | met? |\n|---|---|---|---|---|---|\n");
  for (const auto& r : results.rows)
    std::printf("| %s | %s | %s | %.2fx (%s) | %s | %s |\n", cell(r.scenario).c_str(), cell(r.figure).c_str(),
                cell(r.baseline).c_str(), r.ratio, r.ratio_means.c_str(), r.target.empty() ? "-" : r.target.c_str(),
                !r.met ? "-" : *r.met ? "met" : "MISSED");
  for (const auto& f : results.failures) std::printf("| %s | FAILED | | | | |\n", f.c_str());
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt("\\u%04x", static_cast<unsigned char>(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string json_points(const std::vector<std::pair<double, double>>& pts) {
  std::string s = "[";
  for (const auto& [x, y] : pts) s += (s.size() > 1 ? ", [" : "[") + fmt("%.6g", x) + ", " + fmt("%.6g", y) + "]";
  return s + "]";
}

void write_json(const std::string& path) {
  std::ofstream f(path);
  f << "{\n  \"params\": {";
  for (std::size_t i = 0; i < results.params.size(); ++i)
    f << (i ? ", " : "") << json_string(results.params[i].first) << ": " << json_string(results.params[i].second);
  f << "},\n  \"results\": [\n";
  for (std::size_t i = 0; i < results.rows.size(); ++i) {
    const auto& r = results.rows[i];
    f << "    {\"scenario\": " << json_string(r.scenario) << ", \"figure\": " << json_string(r.figure)
      << ", \"baseline\": " << json_string(r.baseline) << ", \"ratio\": " << fmt("%.4f", r.ratio)
      << ", \"ratio_means\": " << json_string(r.ratio_means) << ", \"target\": " << json_string(r.target)
      << ", \"met\": " << (!r.met ? "null" : *r.met ? "true" : "false") << ", \"values\": {";
    for (std::size_t k = 0; k < r.values.size(); ++k)
      f << (k ? ", " : "") << json_string(r.values[k].first) << ": " << fmt("%.6g", r.values[k].second);
    f << "}}" << (i + 1 < results.rows.size() ? ",\n" : "\n");
  }
  f << "  ],\n  \"failures\": [";
  for (std::size_t i = 0; i < results.failures.size(); ++i) f << (i ? ", " : "") << json_string(results.failures[i]);
  f << "],\n  \"throughput_vs_concurrency\": " << json_points(results.concurrency)
    << ",\n  \"rss_mib_vs_result_gb\": " << json_points(results.memory) << "\n}\n";
  if (!f) fail("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "engine-child")
    return engine_child(argv[2], argv[3], static_cast<unsigned>(std::stoul(argv[4])));

  std::string bin = (fs::canonical("/proc/self/exe").parent_path().parent_path() / "aquaduct").string();
  unsigned jobs = 1000, latency_ms = 2000;
  std::uint64_t rows = 10'000'000;
  double cores_min_s = 3;
  std::string only = "jobs,extract,pool", sinks = "null", levels = "1,2,4",
              memory_gb = "1,5", json_path, commit = "unknown";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--aquaduct") bin = value;
    else if (flag == "--jobs") jobs = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--latency-ms") latency_ms = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--rows") rows = std::stoull(value);
    else if (flag == "--only") only = value;
    else if (flag == "--sinks") sinks = value;
    else if (flag == "--concurrency") levels = value;
    else if (flag == "--cores-min-s") cores_min_s = std::stod(value);
    else if (flag == "--memory-gb") memory_gb = value;
    else if (flag == "--json") json_path = value;
    else if (flag == "--commit") commit = value;
    else {
      std::fprintf(stderr,
                   "engine_bench: unknown flag %s (--aquaduct PATH --jobs N --latency-ms N --rows N --only "
                   "jobs,extract,pool,cores,memory --sinks null,csv,singer,postgres --concurrency 1,2,4 "
                   "--cores-min-s 3 --memory-gb 1,5 --json FILE --commit SHA)\n",
                   flag.c_str());
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "engine_bench: every flag takes a value\n");
    return 2;
  }
  std::vector<unsigned> concurrency;
  for (const auto& n : split(levels)) concurrency.push_back(static_cast<unsigned>(std::stoul(n)));
  std::vector<double> sizes;
  for (const auto& g : split(memory_gb)) sizes.push_back(std::stod(g));
  std::vector<std::string> sink_list = split(sinks);
  for (const auto& sink : sink_list)
    if (!contains({"null", "csv", "singer", "postgres"}, sink)) {
      std::fprintf(stderr, "engine_bench: unknown sink %s (--sinks null,csv,singer,postgres)\n", sink.c_str());
      return 2;
    }
  // The null sink runs first: its job's files are the baselines' input.
  std::stable_partition(sink_list.begin(), sink_list.end(), [](const std::string& s) { return s == "null"; });
  if (sink_list.empty() || sink_list.front() != "null") sink_list.insert(sink_list.begin(), "null");

  const fs::path dir = fs::temp_directory_path() / ("engine-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string load = load_average();
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::printf("engine_bench: %u cores, load average %s\n", std::thread::hardware_concurrency(), load.c_str());
  results.params = {{"date", date},
                    {"commit", commit},
                    {"cores", std::to_string(std::thread::hardware_concurrency())},
                    {"load_average_at_start", load},
                    {"rows", std::to_string(rows)},
                    {"jobs", std::to_string(jobs)},
                    {"latency_ms", std::to_string(latency_ms)},
                    {"sinks", sinks},
                    {"concurrency", levels},
                    {"cores_min_s", fmt("%g", cores_min_s)},
                    {"memory_gb", memory_gb},
                    {"only", only}};
  int rc = 0;
  const auto wanted = split(only);
  const auto scenario = [&](const std::string& name, const std::function<void()>& run) {
    if (!contains(wanted, name)) return;
    try {
      run();
    } catch (const std::exception& e) {
      std::printf("engine_bench: %s: %s\n\n", name.c_str(), e.what());
      results.failures.push_back(name + ": " + e.what());
      rc = 1;
    }
    std::fflush(stdout);
  };
  scenario("jobs", [&] { bench_jobs(bin, dir, jobs, latency_ms); });
  scenario("extract", [&] { bench_extract(bin, dir, rows, sink_list); });
  scenario("pool", [&] { bench_pool(bin, dir, rows / 4); });
  scenario("cores", [&] { bench_cores(bin, dir, rows / 4, concurrency, cores_min_s); });
  scenario("memory", [&] { bench_memory(bin, dir, sizes); });
  fs::remove_all(dir);
  std::printf("## Summary (%s, commit %s, %u cores, load average at start %s)\n\n", date, commit.c_str(),
              std::thread::hardware_concurrency(), load.c_str());
  print_table();
  try {
    if (!json_path.empty()) write_json(json_path);
  } catch (const std::exception& e) {
    std::printf("engine_bench: %s\n", e.what());
    rc = 1;
  }
  return rc;
}

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
//
// The engine runs through the public API (parse_pipeline, aquaduct::engine) in a child
// process of its own (this binary re-executed), so its RSS is measured alone.
//
//   engine_bench [--aquaduct PATH] [--jobs N] [--latency-ms N] [--rows N] [--only jobs|extract|pool]
//   defaults: ../aquaduct beside this binary, 1000 jobs, 2000 ms, 10,000,000 rows.
#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

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
#include <functional>
#include <fstream>
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
      if (j.status == "completed") ++e.jobs_completed;
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
engine_result run_engine(const fs::path& dir, const std::string& toml, const std::function<void()>& while_running,
                         unsigned sink_threads = 0) {
  const fs::path toml_path = dir / "pipeline.toml";
  std::ofstream(toml_path) << toml;
  child c = spawn({"/proc/self/exe", "engine-child", toml_path.string(), (dir / "report.json").string(),
                   std::to_string(sink_threads)});
  std::string out;
  std::thread reader([&] { out = read_all(c.out); });
  int status = 0;
  rusage ru{};
  for (;;) {
    const pid_t r = ::wait4(c.pid, &status, WNOHANG, &ru);
    if (r == c.pid) break;
    if (r < 0) fail("wait4 failed");
    if (while_running) while_running();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
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
}

// 2. One ROWS-row gzip extraction to the null sink, beside gzip -dc of the same files.
void bench_extract(const std::string& bin, const fs::path& dir, std::uint64_t rows_wanted) {
  const std::uint64_t scale = std::max<std::uint64_t>(1, (rows_wanted + 49) / 50);
  emulator emu(bin, {"--latency-ms", "0", "--scale", std::to_string(scale), "--rate-limit", "0", "--data-dir",
                     (dir / "emulator-data").string()});
  const std::string query = "select * from InvoiceItem";
  const std::string toml = source_toml(emu.url(), 250) + "[[jobs]]\nname = \"extract\"\nformat = \"gzip\"\n" +
                           "[[jobs.queries]]\nname = \"InvoiceItem\"\nquery = \"" + query + "\"\n" + null_sink_toml;
  std::printf("== one gzip extraction: %s, emulator --scale %llu (~%llu rows, 500,000-row files), null sink ==\n",
              query.c_str(), static_cast<unsigned long long>(scale), static_cast<unsigned long long>(scale * 50));
  std::fflush(stdout);
  const engine_result e = run_engine(dir, toml, {});

  // The baseline: the same job's files, fetched with curl, then gzip -dc.
  const std::string job = emu.get("/v1/batch-query/jobs/" + e.first_job_id);
  const auto ids = result_file_ids(job);
  if (ids.empty()) fail("the job " + e.first_job_id + " has no fileId: " + job.substr(0, 300));
  const fs::path files = dir / "files";
  fs::create_directories(files);
  std::string curl = "curl -sf -u aquaduct:aquaduct";
  std::string gunzip = "gzip -dc";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string f = (files / (std::to_string(i) + ".gz")).string();
    curl += " -o " + f + " " + emu.url() + "/v1/file/" + ids[i];
    gunzip += " " + f;
  }
  const double curl_s = time_command(curl);
  const double gzip_s = time_command(gunzip + " > /dev/null");
  std::uint64_t gz_bytes = 0;
  for (const auto& f : fs::directory_iterator(files)) gz_bytes += f.file_size();

  const double csv_mb = static_cast<double>(e.bytes_decoded) / 1e6;
  const double rows = static_cast<double>(e.rows);
  std::printf("emulator export:  %.2f s submit->completed (%.0f rows/s), not counted below\n", e.wait_s,
              rows / e.wait_s);
  std::printf("result:           %llu rows, %zu files, %.1f MB gzip, %.1f MB CSV\n",
              static_cast<unsigned long long>(e.rows), ids.size(), static_cast<double>(gz_bytes) / 1e6, csv_mb);
  std::printf("engine:           %.3f s download_s (delivery start -> commit)  %8.1f MB/s  %11.0f rows/s\n", e.download_s,
              csv_mb / e.download_s, rows / e.download_s);
  std::printf("baseline gzip -dc of the same files > /dev/null: %.3f s  %8.1f MB/s  %11.0f rows/s\n", gzip_s,
              csv_mb / gzip_s, rows / gzip_s);
  std::printf("ratio engine/gzip -dc (speed): %.2fx   target >= 1.5x\n", gzip_s / e.download_s);
  std::printf("(curl fetching the same files to disk: %.3f s, %.1f MB/s of gzip)\n", curl_s,
              static_cast<double>(gz_bytes) / 1e6 / curl_s);
  print_rss(e);
  std::printf("\n");
}

// 3. The sink thread pool: four queries of one job deliver at once; their
// decoding and parsing run on one sink thread, then on one per core.
void bench_pool(const std::string& bin, const fs::path& dir, std::uint64_t rows_wanted) {
  const std::uint64_t per_query = std::max<std::uint64_t>(50, rows_wanted / 4);
  const std::uint64_t scale = (per_query + 49) / 50;
  emulator emu(bin, {"--latency-ms", "0", "--scale", std::to_string(scale), "--rate-limit", "0", "--data-dir",
                     (dir / "emulator-data").string()});
  std::string toml = source_toml(emu.url(), 250) + "[[jobs]]\nname = \"pool\"\nformat = \"gzip\"\n";
  for (int i = 0; i < 4; ++i)
    toml += "[[jobs.queries]]\nname = \"InvoiceItem" + std::to_string(i) + "\"\nquery = \"select * from InvoiceItem\"\n";
  toml += null_sink_toml;
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
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "engine-child")
    return engine_child(argv[2], argv[3], static_cast<unsigned>(std::stoul(argv[4])));

  std::string bin = (fs::canonical("/proc/self/exe").parent_path().parent_path() / "aquaduct").string();
  unsigned jobs = 1000, latency_ms = 2000;
  std::uint64_t rows = 10'000'000;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--aquaduct") bin = value;
    else if (flag == "--jobs") jobs = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--latency-ms") latency_ms = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--rows") rows = std::stoull(value);
    else if (flag == "--only") only = value;
    else fail("unknown flag " + flag + " (--aquaduct PATH --jobs N --latency-ms N --rows N --only jobs|extract|pool)");
  }
  if (argc % 2 == 0) fail("every flag takes a value");

  const fs::path dir = fs::temp_directory_path() / ("engine-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::printf("engine_bench: %u cores, load average %s", std::thread::hardware_concurrency(),
              capture("cut -d' ' -f1-3 /proc/loadavg").c_str());
  int rc = 0;
  const auto scenario = [&](const std::string& name, const std::function<void()>& run) {
    if (!only.empty() && only != name) return;
    try {
      run();
    } catch (const std::exception& e) {
      std::printf("engine_bench: %s: %s\n\n", name.c_str(), e.what());
      rc = 1;
    }
    std::fflush(stdout);
  };
  scenario("jobs", [&] { bench_jobs(bin, dir, jobs, latency_ms); });
  scenario("extract", [&] { bench_extract(bin, dir, rows); });
  scenario("pool", [&] { bench_pool(bin, dir, rows / 4); });
  fs::remove_all(dir);
  return rc;
}

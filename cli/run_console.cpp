#include "cli/run_console.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <sys/ioctl.h>
#include <unistd.h>

namespace aquaduct::cli {

progress_style choose_progress(const std::string& mode, int fd) {
  const char* term = std::getenv("TERM");
  const bool tty = ::isatty(fd) == 1 && !(term && std::strcmp(term, "dumb") == 0);
  if (mode == "never") return progress_style::off;
  if (mode == "always") return tty ? progress_style::live : progress_style::plain;
  return tty ? progress_style::live : progress_style::off;
}

namespace {

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string megabytes(std::uint64_t bytes) { return fmt::format("{:.1f}", static_cast<double>(bytes) / 1e6); }
std::string rate_text(double bytes_per_s) {
  return bytes_per_s < 0 ? "-" : fmt::format("{:.1f}", bytes_per_s / 1e6);
}
std::string elapsed_text(double s) {
  const auto t = static_cast<std::uint64_t>(s);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{}:{:02}", t / 60, t % 60);
}

// At most width - 1 bytes (the last column stays free: no wrap), never
// splitting a UTF-8 character.
std::string cut(std::string line, std::size_t width) {
  if (width <= 1 || line.size() < width) return line;
  std::size_t n = width - 1;
  while (n > 0 && (static_cast<unsigned char>(line[n]) & 0xC0) == 0x80) --n;  // line[n] continues a character
  line.resize(n);
  return line;
}

constexpr const char* row_format = "{:<{}}  {:<11}  {:>9}  {:>13}  {:>9}  {:>7}";

}  // namespace

std::vector<std::string> progress_lines(const progress_snapshot& p, const std::vector<double>& job_rates,
                                        double total_rate, std::size_t width, std::size_t height) {
  std::size_t name_w = 5;
  for (const auto& j : p.jobs) name_w = std::max(name_w, std::min<std::size_t>(j.name.size(), 32));
  std::vector<std::string> lines;
  lines.push_back(cut(fmt::format(row_format, "JOB", name_w, "STATE", "AQUA JOBS", "ROWS", "MB", "MB/s"), width));
  // The header and totals take two lines; the jobs get the rest.
  const std::size_t room = height > 3 ? height - 2 : 1;
  const std::size_t shown = p.jobs.size() <= room ? p.jobs.size() : room - 1;
  for (std::size_t i = 0; i < shown; ++i) {
    const job_progress& j = p.jobs[i];
    const double rate = i < job_rates.size() ? job_rates[i] : -1;
    lines.push_back(cut(fmt::format(row_format, j.name.substr(0, 32), name_w, to_string(j.state),
                                    fmt::format("{}/{}", j.jobs_done, j.jobs_total), with_commas(j.rows),
                                    megabytes(j.bytes_downloaded), j.state == aquaduct::job_state::downloading ? rate_text(rate) : "-"),
                        width));
  }
  if (shown < p.jobs.size()) {
    std::size_t active = 0;
    for (std::size_t i = shown; i < p.jobs.size(); ++i) active += p.jobs[i].state != aquaduct::job_state::done && p.jobs[i].state != aquaduct::job_state::failed;
    lines.push_back(cut(fmt::format("… {} more jobs, {} of them not finished", p.jobs.size() - shown, active), width));
  }
  std::string total = fmt::format(row_format, "total", name_w,
                                  p.jobs_failed ? fmt::format("{} failed", p.jobs_failed) : std::string("running"),
                                  fmt::format("{}/{}", p.jobs_done, p.jobs_total), with_commas(p.rows),
                                  megabytes(p.bytes_downloaded), rate_text(total_rate));
  total += fmt::format("  {} on the service, {} downloading, {}{}", p.jobs_active, p.downloads_active,
                       p.jobs_split ? fmt::format("{} split into pieces{}, ", p.jobs_split,
                                                  p.id_pages ? fmt::format(" ({} Id pages)", p.id_pages) : std::string())
                                    : std::string(),
                       elapsed_text(p.elapsed_s));
  lines.push_back(cut(std::move(total), width));
  return lines;
}

run_console::run_console(progress_style style, log_format format, log_level min_level, std::FILE* out)
    : style_(style), format_(format), min_level_(min_level), out_(out) {}

run_console::~run_console() { stop(); }

void run_console::write_locked(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

void run_console::erase_locked() {
  if (shown_.empty()) return;
  // To the start of the block's first line, then erase to the end of the screen.
  write_locked(fmt::format("\r\x1b[{}A\x1b[J", shown_.size()));
  shown_.clear();
}

void run_console::log(const log_record& r) {
  if (static_cast<int>(r.level) < static_cast<int>(min_level_)) return;
  std::string line = format_ == log_format::json ? to_json(r) : to_text(r);
  line += '\n';
  std::lock_guard lock(m_);
  const std::vector<std::string> block = shown_;
  erase_locked();
  write_locked(line);
  if (!block.empty()) {
    std::string again;
    for (const auto& l : block) again += l + '\n';
    write_locked(again);
    shown_ = block;
  }
}

void run_console::note(const std::string& text) {
  log_record r;
  r.level = log_level::warning;
  r.message = text;
  if (format_ == log_format::json) {
    log(r);
    return;
  }
  std::lock_guard lock(m_);
  erase_locked();
  write_locked(text + '\n');
}

void run_console::error(const std::string& text) {
  std::string line;
  if (format_ == log_format::json) {
    log_record r;
    r.level = log_level::error;
    r.message = text;
    line = to_json(r);
  } else {
    line = text;
  }
  std::lock_guard lock(m_);
  erase_locked();
  write_locked(line + '\n');
}

void run_console::report(const run_report& r) {
  std::string text;
  if (format_ == log_format::json) {
    log_record rec;
    rec.level = r.status == run_status::ok ? log_level::info : log_level::error;
    rec.message = fmt::format("run {}: {} AQuA job(s) in {:.2f} s", to_string(r.status), r.jobs.size(), r.wall_s);
    text = to_json(rec);
    std::string body = r.to_json();
    while (!body.empty() && body.back() == '\n') body.pop_back();
    text.pop_back();  // the record's closing brace
    text += ",\"report\":" + body + "}\n";
  } else {
    text = r.to_table();
  }
  std::lock_guard lock(m_);
  erase_locked();
  write_locked(text);
}

void run_console::start(const engine& eng) {
  if (style_ == progress_style::off) return;
  eng_ = &eng;
  thread_ = std::thread([this] { loop(); });
}

void run_console::stop() {
  {
    std::lock_guard lock(m_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(m_);
  erase_locked();
}

void run_console::loop() {
  const auto period = style_ == progress_style::live ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
  std::unique_lock lock(m_);
  while (!stopping_) {
    render_locked();
    wake_.wait_for(lock, period, [this] { return stopping_; });
  }
}

void run_console::render_locked() {
  const progress_snapshot p = eng_->progress();
  // MB/s over the last ~2 s of samples.
  sample now{p.elapsed_s, p.bytes_downloaded, {}};
  for (const auto& j : p.jobs) now.jobs.push_back(j.bytes_downloaded);
  samples_.push_back(now);
  while (samples_.size() > 2 && now.t - samples_[1].t >= 2.0) samples_.erase(samples_.begin());
  const sample& then = samples_.front();
  const double dt = now.t - then.t;
  auto rate = [&](std::uint64_t a, std::uint64_t b) { return dt > 0.2 ? static_cast<double>(a - b) / dt : -1.0; };
  std::vector<double> job_rates;
  for (std::size_t i = 0; i < now.jobs.size(); ++i)
    job_rates.push_back(i < then.jobs.size() ? rate(now.jobs[i], then.jobs[i]) : -1.0);
  const double total_rate = rate(now.total, then.total);

  if (style_ == progress_style::plain) {
    if (p.elapsed_s < 1) return;  // nothing to say yet
    log_record r;
    r.message = fmt::format("progress: {}/{} AQuA jobs done ({} failed{}), {} on the service, {} downloading, {} rows, "
                            "{} MB downloaded, {} MB/s",
                            p.jobs_done, p.jobs_total, p.jobs_failed,
                            p.jobs_split ? fmt::format(", {} split into pieces{}", p.jobs_split,
                                                       p.id_pages ? fmt::format(" ({} Id pages)", p.id_pages) : std::string())
                                         : std::string(),
                            p.jobs_active, p.downloads_active, with_commas(p.rows), megabytes(p.bytes_downloaded),
                            rate_text(total_rate));
    std::string line = format_ == log_format::json ? to_json(r) : to_text(r);
    write_locked(line + '\n');
    return;
  }
  winsize ws{};
  std::size_t width = 100, height = 24;
  if (::ioctl(::fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    width = ws.ws_col;
    height = ws.ws_row;
  }
  // The block never takes more than half the screen: logs stay readable above it.
  std::vector<std::string> lines = progress_lines(p, job_rates, total_rate, width, std::max<std::size_t>(4, height / 2));
  std::string frame;
  if (!shown_.empty()) frame = fmt::format("\r\x1b[{}A\x1b[J", shown_.size());
  for (const auto& l : lines) frame += l + '\n';
  write_locked(frame);
  shown_ = std::move(lines);
}

}  // namespace aquaduct::cli

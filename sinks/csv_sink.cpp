#include "sinks/csv_sink.hpp"

#include "sinks/sink_names.hpp"

#include <aquaduct/error.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace aquaduct::sinks {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void io_failure(const std::string& what, int err) {
  throw std::system_error(sink_errc::io_error, what + ": " + std::strerror(err));
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) io_failure("open " + dir.string(), errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) io_failure("fsync " + dir.string(), err);
}

// Appends `field` to `out`, quoted only when it contains a separator, a
// quote or a line break. Bytes are otherwise passed through unchanged.
constexpr std::array<bool, 256> make_needs_quotes() {
  std::array<bool, 256> t{};
  for (unsigned char c : {',', '"', '\r', '\n'}) t[c] = true;
  return t;
}
constexpr std::array<bool, 256> needs_quotes = make_needs_quotes();

void append_field(std::string& out, std::string_view field) {
  // A table scan: find_first_of would call memchr once per byte.
  bool plain = true;
  for (char c : field) plain &= !needs_quotes[static_cast<unsigned char>(c)];
  if (plain) {
    out.append(field);
    return;
  }
  out += '"';
  for (std::size_t start = 0;;) {
    const auto q = field.find('"', start);
    if (q == std::string_view::npos) {
      out.append(field.substr(start));
      break;
    }
    out.append(field.substr(start, q + 1 - start));
    out += '"';
    start = q + 1;
  }
  out += '"';
}

// A run killed mid-write leaves its temporary file (never a final one).
// Remove those of `base` whose writer process no longer exists.
void sweep_stale_temps(const fs::path& dir, const std::string& base) {
  const std::string prefix = "." + base + ".tmp-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(entry.path(), ec);
  }
}

class csv_stream final : public sink_stream {
 public:
  csv_stream(fs::path dir, fs::path final_path, fs::path temp_path, int fd)
      : dir_(std::move(dir)), final_(std::move(final_path)), temp_(std::move(temp_path)), fd_(fd) {
    buffer_.reserve(flush_at_ + 64 * 1024);
  }
  ~csv_stream() override { abort(); }

  void put_record(const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) buffer_ += ',';
      append_field(buffer_, fields[i]);
    }
    buffer_ += '\n';
  }

  void write(const row_batch& rows) override {
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const std::size_t n = rows.field_count(r);
      for (std::size_t c = 0; c < n; ++c) {
        if (c) buffer_ += ',';
        append_field(buffer_, rows.field(r, c));
      }
      buffer_ += '\n';
      if (buffer_.size() >= flush_at_) flush();
    }
  }

  void commit(const file_token&) override {
    flush();
    if (::fsync(fd_) != 0) io_failure("fsync " + temp_.string(), errno);
    if (::close(std::exchange(fd_, -1)) != 0) io_failure("close " + temp_.string(), errno);
    if (::rename(temp_.c_str(), final_.c_str()) != 0) io_failure("rename to " + final_.string(), errno);
    committed_ = true;
    fsync_dir(dir_);
  }

  void abort() noexcept override {
    if (committed_) return;
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (!temp_.empty()) ::unlink(temp_.c_str());
    temp_.clear();
  }

 private:
  void flush() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
      const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        io_failure("write " + temp_.string(), errno);
      }
      done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
  }

  static constexpr std::size_t flush_at_ = 1u << 20;
  fs::path dir_;
  fs::path final_;
  fs::path temp_;
  int fd_;
  bool committed_ = false;
  std::string buffer_;
};

class csv_sink final : public sink {
 public:
  explicit csv_sink(csv_sink_options opts) : opts_(std::move(opts)) {}
  std::string_view type() const noexcept override { return "csv"; }

  std::unique_ptr<sink_stream> open(const stream_schema& schema) override {
    const fs::path dir = fs::path(opts_.path) / safe_file_name(schema.job);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::system_error(sink_errc::io_error, "create " + dir.string() + ": " + ec.message());
    const std::string base = safe_file_name(schema.query) + ".csv";
    sweep_stale_temps(dir, base);
    static std::atomic<unsigned> counter{0};
    const fs::path temp =
        dir / ("." + base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)));
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) io_failure("create " + temp.string(), errno);
    auto stream = std::make_unique<csv_stream>(dir, dir / base, temp, fd);
    stream->put_record(schema.columns);
    return stream;
  }

  void close() override {}

 private:
  csv_sink_options opts_;
};

}  // namespace

csv_sink_options csv_sink_options::from(const sink_config& cfg, std::vector<std::string>& problems) {
  csv_sink_options o;
  for (const auto& [key, value] : cfg.options) {
    if (key == "path") o.path = value.text;
    else problems.push_back(value.where.to_string() + ": unknown key '" + key + "' for sink type \"csv\" (known: path)");
  }
  if (o.path.empty())
    problems.push_back(cfg.where.to_string() + ": sink type \"csv\" needs 'path'");
  return o;
}

std::unique_ptr<sink> make_csv_sink(csv_sink_options opts) { return std::make_unique<csv_sink>(std::move(opts)); }

}  // namespace aquaduct::sinks

#include "fileio/atomic_file.hpp"

#include <aquaduct/error.hpp>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace aquaduct::fileio {

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

// Removes the temporaries in `dir` (".<name>.tmp-<pid>-<n>", ours) whose
// writer process is gone: of this file, and of any other, since a file whose
// writer was killed may never be written under that name again (an
// incremental file's name carries its job's start).
void sweep_stale_temps(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::size_t tmp = name.rfind(".tmp-");
    if (name.empty() || name[0] != '.' || tmp == std::string::npos || tmp == 0) continue;
    const char* p = name.c_str() + tmp + 5;
    char* end = nullptr;
    const long pid = std::strtol(p, &end, 10);
    if (end == p || *end != '-' || end[1] == '\0') continue;
    bool digits = true;
    for (const char* c = end + 1; *c; ++c) digits = digits && *c >= '0' && *c <= '9';
    if (!digits) continue;
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(entry.path(), ec);
  }
}

}  // namespace

atomic_file::atomic_file(fs::path final_path) : final_(std::move(final_path)) {
  const fs::path dir = final_.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::system_error(sink_errc::io_error, "create " + dir.string() + ": " + ec.message());
  const std::string base = final_.filename().string();
  sweep_stale_temps(dir);
  static std::atomic<unsigned> counter{0};
  temp_ = dir / ("." + base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)));
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) io_failure("create " + temp_.string(), errno);
  buffer_.reserve(flush_at + 64 * 1024);
}

atomic_file::~atomic_file() { abort(); }

void atomic_file::flush() {
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

void atomic_file::commit() {
  flush();
  if (::fsync(fd_) != 0) io_failure("fsync " + temp_.string(), errno);
  if (::close(std::exchange(fd_, -1)) != 0) io_failure("close " + temp_.string(), errno);
  if (::rename(temp_.c_str(), final_.c_str()) != 0) io_failure("rename to " + final_.string(), errno);
  committed_ = true;
  fsync_dir(final_.parent_path());
}

void atomic_file::abort() noexcept {
  if (committed_) return;
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
  buffer_.clear();
}

}  // namespace aquaduct::fileio

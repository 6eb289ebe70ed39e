#include "sinks/write_behind.hpp"

#include <aquaduct/error.hpp>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace aquaduct::sinks {

write_behind::write_behind(int fd, std::string what) : fd_(fd), what_(std::move(what)) {
  struct stat st {};
  regular_ = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular_) {
    at_ = ::lseek(fd, 0, SEEK_END);  // where appended bytes land (O_APPEND or not)
    regular_ = at_ >= 0;
    done_ = at_;
  }
}

void write_behind::write(std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  while (n) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw std::system_error(sink_errc::io_error, what_ + ": " + std::strerror(errno));
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  if (!regular_ || bytes.empty()) return;
  // Only hints: a failure here costs speed, never data (the caller's fsync is what counts).
  const auto len = static_cast<off_t>(bytes.size());
  ::sync_file_range(fd_, at_, len, SYNC_FILE_RANGE_WRITE);
  at_ += len;
  if (at_ - done_ > in_flight) {
    const off_t upto = at_ - in_flight;
    ::sync_file_range(fd_, done_, upto - done_,
                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    ::posix_fadvise(fd_, done_, upto - done_, POSIX_FADV_DONTNEED);
    done_ = upto;
  }
}

void drop_read_pages(int fd, off_t from, off_t to) noexcept {
  if (to > from) ::posix_fadvise(fd, from, to - from, POSIX_FADV_DONTNEED);
}

}  // namespace aquaduct::sinks

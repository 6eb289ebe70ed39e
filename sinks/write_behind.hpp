#pragma once
// Long runs of bytes appended to a file without filling the page cache:
// on a regular file, each write's writeback starts at once
// (sync_file_range), and what was written more than `in_flight` bytes ago is
// waited for and dropped from the page cache. The disk works while the
// caller prepares the next block, a final fsync has little left to do, and
// the cache does not grow by the whole run. Growing it slowed every write()
// down several times over on the bench machine: `dd conv=fsync` of 1.6 GB
// took 4.7-9.9 s, with oflag=nocache (the same idea) 1.1-1.3 s. Pipes and
// terminals get plain writes.
#include <string>
#include <string_view>

#include <sys/types.h>

namespace aquaduct::sinks {

class write_behind {
 public:
  // A good size for each write().
  static constexpr std::size_t block = 8u << 20;
  // How much may be written but not yet known to be on disk: the disk's
  // queue. 8, 32, 64 and 128 MiB were within the bench machine's noise; 32
  // was the best of those runs.
  static constexpr off_t in_flight = 32 << 20;

  // Appends at the end of `fd` (opened for writing). `what` opens error
  // messages: "singer: write out.singer" gives "singer: write out.singer: No space left on device".
  write_behind(int fd, std::string what);

  // Writes all of `bytes` (retrying short writes and EINTR). Throws
  // std::system_error (sink_errc::io_error) when it cannot.
  void write(std::string_view bytes);

 private:
  int fd_;
  std::string what_;
  bool regular_ = false;
  off_t at_ = 0;    // the file offset of the next write (regular files)
  off_t done_ = 0;  // what this writer wrote before here is on disk and out of the page cache
};

// Drops [from, to) of `fd` from the page cache once read: for a file read
// once, front to back.
void drop_read_pages(int fd, off_t from, off_t to) noexcept;

}  // namespace aquaduct::sinks

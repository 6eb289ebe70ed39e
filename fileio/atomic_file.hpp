#pragma once
// Publishing a file whole: the one way the sinks write their files and the
// engine's state store writes its cursors. A reader of the final name sees the
// old file or the new one, never a part. Throws std::system_error
// (sink_errc::io_error, aquaduct/error.hpp) naming the path and errno's text.
#include <cstddef>
#include <filesystem>
#include <string>

namespace aquaduct::fileio {

// A file that appears under its final name only complete: rows go to a
// temporary name in the same directory (".NAME.tmp-PID-N"); commit() flushes,
// fsyncs, renames and fsyncs the directory; abort() or the destructor before
// commit() removes the temporary. Temporaries left by a killed process are
// removed the next time the same final name is opened.
class atomic_file {
 public:
  explicit atomic_file(std::filesystem::path final_path);
  ~atomic_file();
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;

  // Append here, then call maybe_flush() now and then.
  std::string& buffer() noexcept { return buffer_; }
  void maybe_flush() {
    if (buffer_.size() >= flush_at) flush();
  }
  void flush();
  void commit();
  void abort() noexcept;
  const std::filesystem::path& final_path() const noexcept { return final_; }

  static constexpr std::size_t flush_at = 1u << 20;

 private:
  std::filesystem::path final_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool committed_ = false;
  std::string buffer_;
};

}  // namespace aquaduct::fileio

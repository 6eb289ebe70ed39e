#include "sinks/held_rows.hpp"

#include <aquaduct/error.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace aquaduct::sinks {

namespace {

// A block: this header, then the body: a LEB128 field count per row, a
// LEB128 length per field, then the fields' text back to back.
struct block_header {
  std::uint64_t body_bytes;
  std::uint64_t rows;
};

[[noreturn]] void io_failure(const std::string& what, int err) {
  throw std::system_error(sink_errc::io_error, "hold the rows until commit: " + what + ": " + std::strerror(err));
}

std::size_t varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

char* put_varint(char* p, std::uint64_t v) noexcept {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// Reads one LEB128 value at p (before end); nullptr when it runs past end.
const char* get_varint(const char* p, const char* end, std::uint64_t& v) noexcept {
  v = 0;
  for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
    const auto b = static_cast<unsigned char>(*p++);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) return p;
  }
  return nullptr;
}

void pread_all(int fd, char* p, std::size_t n, std::uint64_t at) {
  while (n) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(at));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) io_failure("read the temporary file", errno);
    if (r == 0) io_failure("read the temporary file", EIO);  // shorter than what was written
    p += r;
    at += static_cast<std::uint64_t>(r);
    n -= static_cast<std::size_t>(r);
  }
}

}  // namespace

void held_rows::append(const row_batch& rows) {
  if (rows.empty()) return;
  // The fields of a batch are back to back in its data (each ends where the
  // next begins), so their text is copied in one piece; field by field should
  // a batch ever hold them otherwise.
  const char* text = nullptr;
  const char* text_end = nullptr;
  std::size_t text_bytes = 0;
  for (std::size_t r = 0; r < rows.size(); ++r)
    if (const std::size_t n = rows.field_count(r)) {
      if (!text) text = rows.field(r, 0).data();
      const std::string_view last = rows.field(r, n - 1);
      text_end = last.data() + last.size();
    }

  // Sized exactly (resize() zero-fills what it adds: no slack to fill).
  std::size_t varint_bytes = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    varint_bytes += varint_size(rows.field_count(r));
    for (std::size_t c = 0, n = rows.field_count(r); c < n; ++c) varint_bytes += varint_size(rows.field(r, c).size());
  }
  const std::size_t at = memory_.size();
  memory_.resize(at + sizeof(block_header) + varint_bytes);
  char* const body = memory_.data() + at + sizeof(block_header);
  char* p = body;
  for (std::size_t r = 0; r < rows.size(); ++r) p = put_varint(p, rows.field_count(r));
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t c = 0, n = rows.field_count(r); c < n; ++c) {
      const std::string_view f = rows.field(r, c);
      p = put_varint(p, f.size());
      text_bytes += f.size();
    }
  const std::size_t lengths_end = static_cast<std::size_t>(p - memory_.data());
  memory_.resize(lengths_end + text_bytes);
  if (text_end == text + text_bytes) {
    if (text_bytes) std::memcpy(memory_.data() + lengths_end, text, text_bytes);
  } else {
    char* out = memory_.data() + lengths_end;
    for (std::size_t r = 0; r < rows.size(); ++r)
      for (std::size_t c = 0, n = rows.field_count(r); c < n; ++c) {
        const std::string_view f = rows.field(r, c);
        if (!f.empty()) std::memcpy(out, f.data(), f.size());
        out += f.size();
      }
  }
  const block_header h{lengths_end + text_bytes - at - sizeof(block_header), rows.size()};
  std::memcpy(memory_.data() + at, &h, sizeof h);
  rows_ += rows.size();
  if (memory_.size() >= memory_limit_) spill();
}

void held_rows::spill() {
  if (fd_ < 0) {
    std::error_code ec;
    auto dir = std::filesystem::temp_directory_path(ec);
    if (ec) dir = "/tmp";
    std::string name = (dir / "aquaduct-held-XXXXXX").string();
    fd_ = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd_ < 0) io_failure("create a temporary file in " + dir.string(), errno);
    ::unlink(name.c_str());
    file_.emplace(fd_, "hold the rows until commit: write the temporary file");
  }
  file_->write(memory_);
  file_bytes_ += memory_.size();
  memory_.clear();
}

void held_rows::replay(const stream_schema& schema, const std::function<void(const row_batch&)>& f) {
  std::string block;
  std::vector<std::size_t> field_offsets, row_offsets;
  // One block: its body at [body, end).
  const auto emit = [&](const char* body, const char* end, std::uint64_t rows) {
    row_offsets.assign(1, 0);
    const char* p = body;
    for (std::uint64_t r = 0; r < rows; ++r) {
      std::uint64_t n = 0;
      if (!(p = get_varint(p, end, n))) break;
      row_offsets.push_back(row_offsets.back() + n);
    }
    field_offsets.assign(1, 0);
    for (std::size_t i = 0; p && i < row_offsets.back(); ++i) {
      std::uint64_t len = 0;
      if ((p = get_varint(p, end, len))) field_offsets.push_back(field_offsets.back() + len);
    }
    if (!p || static_cast<std::size_t>(end - p) != field_offsets.back())
      io_failure("read back the held rows", EILSEQ);  // not what append() wrote
    f(row_batch(schema, std::string_view(p, field_offsets.back()), field_offsets, row_offsets));
  };
  block_header h{};
  std::uint64_t dropped = 0;
  for (std::uint64_t at = 0; at < file_bytes_; at += sizeof h + h.body_bytes) {
    pread_all(fd_, reinterpret_cast<char*>(&h), sizeof h, at);
    block.resize(h.body_bytes);
    pread_all(fd_, block.data(), block.size(), at + sizeof h);
    emit(block.data(), block.data() + block.size(), h.rows);
    if (at - dropped >= write_behind::block) {
      drop_read_pages(fd_, static_cast<off_t>(dropped), static_cast<off_t>(at));
      dropped = at;
    }
  }
  for (std::size_t at = 0; at < memory_.size(); at += sizeof h + h.body_bytes) {
    std::memcpy(&h, memory_.data() + at, sizeof h);
    const char* body = memory_.data() + at + sizeof h;
    emit(body, body + h.body_bytes, h.rows);
  }
}

void held_rows::clear() noexcept {
  file_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  file_bytes_ = 0;
  rows_ = 0;
  memory_.clear();
  memory_.shrink_to_fit();
}

}  // namespace aquaduct::sinks

#include "sinks/singer_sink.hpp"

#include "sinks/held_rows.hpp"
#include "sinks/sink_common.hpp"
#include "sinks/sink_names.hpp"
#include "sinks/write_behind.hpp"

#include <aquaduct/error.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <utility>

#include <simdjson.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace aquaduct::sinks {

namespace {

[[noreturn]] void io_failure(const std::string& what, int err) {
  throw std::system_error(sink_errc::io_error, "singer: " + what + ": " + std::strerror(err));
}

using text::json_quote;

std::string property(column_type t) {
  switch (t) {
    case column_type::integer: return R"({"type":["null","integer"]})";
    case column_type::decimal: return R"({"type":["null","number"]})";
    case column_type::boolean: return R"({"type":["null","boolean"]})";
    case column_type::date: return R"({"type":["null","string"],"format":"date"})";
    case column_type::datetime: return R"({"type":["null","string"],"format":"date-time"})";
    case column_type::text: break;
  }
  return R"({"type":["null","string"]})";
}

// Where the committed messages of a singer file end: just after its last
// STATE line (0 when it has none), and that line. Found from the end
// backwards, so a file that ends with a commit costs one read.
struct committed_end {
  off_t end = 0;
  std::string state;
};

class backward_reader {
 public:
  explicit backward_reader(int fd) : fd_(fd) {}
  // The position of the last '\n' before `before`, or -1.
  off_t newline_before(off_t before) {
    while (before > 0) {
      if (before <= at_ || before > at_ + static_cast<off_t>(buf_.size())) load(before);
      const auto n = static_cast<std::size_t>(before - at_);
      if (const void* p = ::memrchr(buf_.data(), '\n', n)) return at_ + (static_cast<const char*>(p) - buf_.data());
      before = at_;
    }
    return -1;
  }
  std::string read(off_t from, off_t to) {
    std::string out(static_cast<std::size_t>(to - from), '\0');
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t r = ::pread(fd_, out.data() + done, out.size() - done, from + static_cast<off_t>(done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) io_failure("read the output back", r < 0 ? errno : EIO);
      done += static_cast<std::size_t>(r);
    }
    return out;
  }

 private:
  void load(off_t before) {
    at_ = before > chunk ? before - chunk : 0;
    buf_ = read(at_, before);
  }
  static constexpr off_t chunk = 64 << 10;
  int fd_;
  off_t at_ = 0;
  std::string buf_;
};

committed_end find_committed_end(int fd, off_t size, simdjson::dom::parser& json) {
  static constexpr std::string_view head = R"({"type":"STATE",)";
  backward_reader in(fd);
  for (off_t line_end = in.newline_before(size); line_end >= 0;) {
    const off_t prev = in.newline_before(line_end);
    const off_t start = prev + 1;
    if (line_end - start >= static_cast<off_t>(head.size()) &&
        in.read(start, start + static_cast<off_t>(head.size())) == head) {
      std::string line = in.read(start, line_end);
      simdjson::dom::object msg;
      std::string_view type;
      if (!json.parse(line).get_object().get(msg) && !msg["type"].get_string().get(type) && type == "STATE")
        return {line_end + 1, std::move(line)};
    }
    line_end = prev;
  }
  return {};
}

// The writers of one file take turns, a commit at a time (flock: released
// when its holder dies). The wait is bounded by the other writer's commit:
// readers of the file take no lock.
class file_lock {
 public:
  file_lock(int fd, const std::string& name) : fd_(fd) {
    if (fd_ < 0) return;
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) io_failure("lock " + name, errno);
  }
  ~file_lock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
  }
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;

 private:
  int fd_;
};

class singer_sink;

class singer_stream final : public sink_stream {
 public:
  singer_stream(singer_sink& sink, const stream_schema& schema, const singer_tap_options* tap);
  ~singer_stream() override { abort(); }
  void write(const row_batch& rows) override;
  void commit(const file_token& token) override;
  void abort() noexcept override;

 private:
  friend class singer_sink;
  singer_sink& sink_;
  const singer_tap_stream* tap_;  // the catalog's stream under `aquaduct tap`, else nullptr
  stream_schema schema_;
  std::string stream_;  // quoted JSON stream name
  std::string record_prefix_;
  json_row_encoder json_;
  held_rows held_;  // the rows, encoded into RECORDs only at commit
};

class singer_sink final : public sink {
 public:
  explicit singer_sink(singer_sink_options opts) : opts_(std::move(opts)) {}
  ~singer_sink() override {
    if (fd_ > 2) ::close(fd_);
  }
  std::string_view type() const noexcept override { return "singer"; }
  std::unique_ptr<sink_stream> open(const stream_schema& schema) override {
    return std::make_unique<singer_stream>(
        *this, with_column_names(schema, opts_.tap ? column_names::fields : opts_.columns, "singer"),
        opts_.tap ? &*opts_.tap : nullptr);
  }
  void close() override {}
  // Opens (creating) the file and lets it go: no torn tail is cut here.
  std::string health_check() override {
    if (opts_.path.empty()) return {};
    try {
      create_directory();
      const int fd = ::open(opts_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) io_failure("open " + opts_.path, errno);
      ::close(fd);
      return {};
    } catch (const std::exception& e) {
      return e.what();
    }
  }
  std::string destination() const override { return opts_.path.empty() ? std::string() : absolute_path(opts_.path); }

  // Emits a committed stream's messages in one piece, then STATE; on a
  // failure, takes back what it wrote (see the header's TORN OUTPUT).
  void emit(singer_stream& s, const file_token& token) {
    const commit_key key = make_commit_key(s.schema_, token);
    std::lock_guard lock(m_);
    const int fd = output();
    const file_lock turn(truncatable_ ? fd : -1, name());
    if (truncatable_) recover(fd);
    if (committed_.count({s.stream_, key.file_ids})) return;  // a replay
    if (!broken_.empty()) throw std::system_error(sink_errc::io_error, broken_);
    auto bookmarks = bookmarks_;
    bookmarks[s.stream_] = bookmark(s, token);
    const off_t start = truncatable_ ? ::lseek(fd, 0, SEEK_END) : -1;
    try {
      write_behind out(fd, "singer: write " + name());
      if (!s.schema_.columns.empty()) {
        out.write(schema_message(s));
        write_records(out, s, record_suffix());
      }
      out.write(opts_.tap ? R"({"type":"STATE","value":)" + opts_.tap->state(s.schema_, token) + "}\n"
                          : state_message(bookmarks));
      struct stat st {};
      if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::fsync(fd) != 0) io_failure("fsync " + name(), errno);
    } catch (const std::exception& e) {
      take_back(fd, start, e.what());
      throw;
    }
    bookmarks_ = std::move(bookmarks);
    committed_.insert({s.stream_, key.file_ids});
  }

 private:
  std::string schema_message(const singer_stream& s) const {
    if (s.tap_)
      return R"({"type":"SCHEMA","stream":)" + s.stream_ + R"(,"schema":)" + s.tap_->schema +
             R"(,"key_properties":)" + json_list(s.tap_->key_properties) + "}\n";
    std::string head = R"({"type":"SCHEMA","stream":)" + s.stream_ + R"(,"schema":{"type":"object","properties":{)";
    for (std::size_t i = 0; i < s.schema_.columns.size(); ++i) {
      if (i) head += ',';
      head += json_quote(s.schema_.columns[i]);
      head += ':';
      head += property(i < s.schema_.types.size() ? s.schema_.types[i] : column_type::text);
    }
    head += R"(}},"key_properties":[)";
    if (const auto& id = s.schema_.key_column; id && *id < s.schema_.columns.size())
      head += json_quote(s.schema_.columns[*id]);
    head += "]}\n";
    return head;
  }

  static std::string json_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& i : items) {
      if (out.size() > 1) out += ',';
      out += json_quote(i);
    }
    out += ']';
    return out;
  }

  // What closes a RECORD: `}` and a newline; for tap-zuora's messages, the
  // time the stream's rows were extracted (its commit) first.
  std::string record_suffix() const {
    if (!opts_.tap) return "}\n";
    const auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
    const auto second = std::chrono::floor<std::chrono::seconds>(now);
    std::string at = iso_utc(second);  // ...SSZ, then singer-python's microseconds
    char micro[8];
    std::snprintf(micro, sizeof micro, ".%06d", static_cast<int>((now - second).count()));
    at.insert(at.size() - 1, micro);
    return R"(,"time_extracted":)" + json_quote(at) + "}\n";
  }


  static std::string bookmark(const singer_stream& s, const file_token& token) {
    std::string file_ids;
    for (const auto& id : token.file_ids) {
      if (!file_ids.empty()) file_ids += ',';
      file_ids += json_quote(id);
    }
    return R"({"job_id":)" + json_quote(token.job_id) + R"(,"file_ids":[)" + file_ids + R"(],"rows":)" +
           std::to_string(s.held_.rows()) + R"(,"load":")" +
           (s.schema_.load == load_kind::full ? "full" : "incremental") + "\"}";
  }

  static std::string state_message(const std::map<std::string, std::string>& bookmarks) {
    std::string state = R"({"type":"STATE","value":{"bookmarks":{)";
    bool first = true;
    for (const auto& [stream, mark] : bookmarks) {
      if (!first) state += ',';
      state += stream;
      state += ':';
      state += mark;
      first = false;
    }
    state += "}}}\n";
    return state;
  }

  // The stream's RECORDs, encoded from its held rows straight into the
  // output, a write_behind block at a time.
  void write_records(write_behind& out, singer_stream& s, std::string_view suffix) {
    std::string& buf = out_;  // used up to `used`; its size is the room
    if (buf.size() < write_behind::block + (64u << 10)) buf.resize(write_behind::block + (64u << 10));
    std::size_t used = 0;
    const std::string_view prefix = s.record_prefix_;
    std::uint64_t row_number = 0;
    s.held_.replay(s.schema_, [&](const row_batch& rows) {
      for (std::size_t r = 0; r < rows.size(); ++r) {
        const std::size_t most = prefix.size() + s.json_.max_bytes(rows, r) + suffix.size();
        if (used + most > buf.size()) {
          out.write({buf.data(), used});
          used = 0;
          if (most > buf.size()) buf.resize(most);
        }
        char* p = buf.data() + used;
        std::memcpy(p, prefix.data(), prefix.size());
        p = s.json_.write(p + prefix.size(), rows, r, ++row_number);
        std::memcpy(p, suffix.data(), suffix.size());
        p += suffix.size();
        used = static_cast<std::size_t>(p - buf.data());
      }
    });
    out.write({buf.data(), used});
    if (buf.size() > 2 * write_behind::block) {
      buf.resize(write_behind::block);
      buf.shrink_to_fit();
    }
  }

  // After a failed commit: the file cut back to `start`, where the commit
  // began. Should the cut fail, the next commit's recover() cuts it (or
  // fails without writing). An output that cannot be cut (stdout, a FIFO)
  // refuses every later commit: nothing may follow a torn stream.
  void take_back(int fd, off_t start, const std::string& why) noexcept {
    if (truncatable_) {
      if (start >= 0 && ::ftruncate(fd, start) == 0) ::fsync(fd);
      return;
    }
    broken_ = "singer: an earlier commit to " + name() + " failed part way (" + why +
              ") and what it wrote cannot be taken back: nothing more is written to it";
  }

  std::string name() const { return opts_.path.empty() ? "stdout" : opts_.path; }

  void create_directory() const {
    const auto dir = std::filesystem::path(opts_.path).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);  // a failure shows in the open
  }

  // The output, opened on first use. Call with m_ held.
  int output() {
    if (fd_ >= 0) return fd_;
    if (opts_.path.empty()) return fd_ = 1;
    create_directory();
    struct stat st {};
    const bool special = ::stat(opts_.path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);  // a FIFO, a device
    const int fd = ::open(opts_.path.c_str(), (special ? O_WRONLY : O_RDWR | O_CREAT) | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) io_failure("open " + opts_.path, errno);
    truncatable_ = !special;
    return fd_ = fd;
  }

  // With the file's lock held: cuts off what follows its last STATE (a
  // commit whose writer was killed), then takes that STATE's bookmarks, so
  // STATE stays cumulative and a replay of what it names is recognised.
  void recover(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) io_failure("stat " + opts_.path, errno);
    const committed_end c = find_committed_end(fd, st.st_size, json_);
    if (c.end < st.st_size) {
      if (::ftruncate(fd, c.end) != 0) io_failure("cut the torn end off " + opts_.path, errno);
      if (::fsync(fd) != 0) io_failure("fsync " + opts_.path, errno);
    }
    simdjson::dom::object marks;
    if (c.state.empty() || json_.parse(c.state)["value"]["bookmarks"].get_object().get(marks)) return;
    for (auto [stream, mark] : marks) {
      const std::string quoted = json_quote(stream);
      bookmarks_[quoted] = simdjson::minify(mark);
      std::string_view job_id;
      simdjson::dom::array ids;
      if (mark["job_id"].get_string().get(job_id) || mark["file_ids"].get_array().get(ids)) continue;
      std::string key;
      for (auto id : ids) {
        std::string_view v;
        if (id.get_string().get(v)) continue;
        if (!key.empty()) key += ',';
        key += v;
      }
      committed_.insert({quoted, key.empty() ? std::string(job_id) : key});
    }
  }

  singer_sink_options opts_;
  int fd_ = -1;
  bool truncatable_ = false;  // a regular file of our own: a failed commit is cut off
  std::mutex m_;
  std::set<std::pair<std::string, std::string>> committed_;  // (quoted stream, file ids as in commit_key)
  std::map<std::string, std::string> bookmarks_;  // quoted stream -> bookmark object
  std::string broken_;  // why no commit may be written any more
  simdjson::dom::parser json_;  // reads the last STATE back
  std::string out_;  // RECORDs on their way to the output (write_behind's buffer, kept between commits)
};

namespace {

const singer_tap_stream* tap_stream(const singer_tap_options* tap, const stream_schema& schema) {
  if (!tap) return nullptr;
  const auto it = tap->streams.find(table_name(schema));
  if (it == tap->streams.end())
    throw std::system_error(sink_errc::io_error,
                            "singer: " + where(schema) + ": stream " + table_name(schema) + " is not in the catalog");
  return &it->second;
}

// Under `aquaduct tap` the catalog types the columns, by property name.
stream_schema catalog_typed(stream_schema schema, const singer_tap_stream* tap) {
  if (!tap) return schema;
  schema.types.assign(schema.columns.size(), column_type::text);
  for (std::size_t i = 0; i < schema.columns.size(); ++i)
    if (auto it = tap->types.find(schema.columns[i]); it != tap->types.end()) schema.types[i] = it->second;
  return schema;
}

}  // namespace

singer_stream::singer_stream(singer_sink& sink, const stream_schema& schema, const singer_tap_options* tap)
    : sink_(sink), tap_(tap_stream(tap, schema)), schema_(catalog_typed(schema, tap_)),
      stream_(json_quote(table_name(schema))),
      record_prefix_(R"({"type":"RECORD","stream":)" + stream_ + R"(,"record":)"),
      json_(schema_, tap_ ? json_row_encoder::values::tap_zuora : json_row_encoder::values::typed, "singer") {}

void singer_stream::write(const row_batch& rows) {
  if (rows.empty()) return;
  if (schema_.columns.empty())
    throw std::system_error(sink_errc::io_error, "singer: " + where(schema_) + ": rows for a stream that has no columns");
  // Refused here, not at commit: a field its type does not allow.
  for (std::size_t r = 0; r < rows.size(); ++r) json_.check(rows, r, held_.rows() + r + 1);
  held_.append(rows);
}

void singer_stream::commit(const file_token& token) {
  sink_.emit(*this, token);
  abort();  // frees the held messages
}

void singer_stream::abort() noexcept { held_.clear(); }

}  // namespace

singer_sink_options singer_sink_options::from(const sink_config& cfg, std::vector<std::string>& problems) {
  singer_sink_options o;
  option_reader r(cfg, problems);
  r.text("path", o.path);
  read_column_names(r, o.columns);
  r.finish();
  return o;
}

std::unique_ptr<sink> make_singer_sink(singer_sink_options opts) { return std::make_unique<singer_sink>(std::move(opts)); }

}  // namespace aquaduct::sinks

#include "sinks/singer_sink.hpp"

#include "sinks/held_rows.hpp"
#include "sinks/sink_common.hpp"
#include "sinks/sink_names.hpp"
#include "sinks/write_behind.hpp"

#include <aquaduct/error.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <tuple>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace aquaduct::sinks {

namespace {

[[noreturn]] void io_failure(const std::string& what, int err) {
  throw std::system_error(sink_errc::io_error, "singer: " + what + ": " + std::strerror(err));
}

std::string quoted_json(std::string_view s) {
  std::string out = "\"";
  append_json_escaped(out, s);
  out += '"';
  return out;
}

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

class singer_sink;

class singer_stream final : public sink_stream {
 public:
  singer_stream(singer_sink& sink, const stream_schema& schema);
  ~singer_stream() override { abort(); }
  void write(const row_batch& rows) override;
  void commit(const file_token& token) override;
  void abort() noexcept override;

 private:
  friend class singer_sink;
  singer_sink& sink_;
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
    return std::make_unique<singer_stream>(*this, schema);
  }
  void close() override {}
  std::string health_check() override {
    try {
      std::lock_guard lock(m_);
      output();
      return {};
    } catch (const std::exception& e) {
      return e.what();
    }
  }

  // Emits a committed stream's messages in one piece, then STATE.
  void emit(singer_stream& s, const file_token& token) {
    const commit_key key = make_commit_key(s.schema_, token);
    std::lock_guard lock(m_);
    if (committed_.count({key.job, key.query, key.file_ids})) return;  // a replay
    const int fd = output();
    std::string head = R"({"type":"SCHEMA","stream":)" + s.stream_ + R"(,"schema":{"type":"object","properties":{)";
    for (std::size_t i = 0; i < s.schema_.columns.size(); ++i) {
      if (i) head += ',';
      head += quoted_json(s.schema_.columns[i]);
      head += ':';
      head += property(i < s.schema_.types.size() ? s.schema_.types[i] : column_type::text);
    }
    head += R"(}},"key_properties":[)";
    if (const auto& id = s.schema_.key_column; id && *id < s.schema_.columns.size())
      head += quoted_json(s.schema_.columns[*id]);
    head += "]}\n";
    write_behind out(fd, "singer: write " + name());
    out.write(head);
    write_records(out, s);
    std::string file_ids;
    for (const auto& id : token.file_ids) {
      if (!file_ids.empty()) file_ids += ',';
      file_ids += quoted_json(id);
    }
    bookmarks_[s.stream_] = R"({"job_id":)" + quoted_json(token.job_id) + R"(,"file_ids":[)" + file_ids +
                            R"(],"rows":)" + std::to_string(s.held_.rows()) + R"(,"load":")" +
                            (s.schema_.load == load_kind::full ? "full" : "incremental") + "\"}";
    std::string state = R"({"type":"STATE","value":{"bookmarks":{)";
    bool first = true;
    for (const auto& [stream, mark] : bookmarks_) {
      if (!first) state += ',';
      state += stream;
      state += ':';
      state += mark;
      first = false;
    }
    state += "}}}\n";
    out.write(state);
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::fsync(fd) != 0) io_failure("fsync " + name(), errno);
    committed_.insert({key.job, key.query, key.file_ids});
  }

 private:
  // The stream's RECORDs, encoded from its held rows straight into the
  // output, a write_behind block at a time.
  void write_records(write_behind& out, singer_stream& s) {
    std::string& buf = out_;  // used up to `used`; its size is the room
    if (buf.size() < write_behind::block + (64u << 10)) buf.resize(write_behind::block + (64u << 10));
    std::size_t used = 0;
    const std::string_view prefix = s.record_prefix_;
    std::uint64_t row_number = 0;
    s.held_.replay(s.schema_, [&](const row_batch& rows) {
      for (std::size_t r = 0; r < rows.size(); ++r) {
        const std::size_t most = prefix.size() + s.json_.max_bytes(rows, r) + 2;
        if (used + most > buf.size()) {
          out.write({buf.data(), used});
          used = 0;
          if (most > buf.size()) buf.resize(most);
        }
        char* p = buf.data() + used;
        std::memcpy(p, prefix.data(), prefix.size());
        p = s.json_.write(p + prefix.size(), rows, r, ++row_number);
        *p++ = '}';
        *p++ = '\n';
        used = static_cast<std::size_t>(p - buf.data());
      }
    });
    out.write({buf.data(), used});
    if (buf.size() > 2 * write_behind::block) {
      buf.resize(write_behind::block);
      buf.shrink_to_fit();
    }
  }

  std::string name() const { return opts_.path.empty() ? "stdout" : opts_.path; }

  // The output, opened (and its directory created) on first use. Call with m_ held.
  int output() {
    if (fd_ >= 0) return fd_;
    if (opts_.path.empty()) return fd_ = 1;
    const auto dir = std::filesystem::path(opts_.path).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    fd_ = ::open(opts_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) io_failure("open " + opts_.path, errno);
    return fd_;
  }
  singer_sink_options opts_;
  int fd_ = -1;
  std::mutex m_;
  std::set<std::tuple<std::string, std::string, std::string>> committed_;
  std::map<std::string, std::string> bookmarks_;  // quoted stream -> bookmark object
  std::string out_;  // RECORDs on their way to the output (write_behind's buffer, kept between commits)
};

singer_stream::singer_stream(singer_sink& sink, const stream_schema& schema)
    : sink_(sink), schema_(schema), stream_(quoted_json(table_name(schema.job, schema.query))),
      record_prefix_(R"({"type":"RECORD","stream":)" + stream_ + R"(,"record":)"),
      json_(schema, json_row_encoder::values::typed) {}

void singer_stream::write(const row_batch& rows) {
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
  r.finish();
  return o;
}

std::unique_ptr<sink> make_singer_sink(singer_sink_options opts) { return std::make_unique<singer_sink>(std::move(opts)); }

}  // namespace aquaduct::sinks

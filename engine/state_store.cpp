#include "engine/state_store.hpp"

#include "engine/state_database.hpp"

#include "decode/json_support.hpp"
#include "engine/json_writer.hpp"
#include "fileio/atomic_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <tuple>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace aquaduct::engine_detail {

namespace fs = std::filesystem;
namespace json = decode::json;
namespace od = simdjson::ondemand;

namespace {

constexpr std::size_t max_state_file_bytes = 1u << 20;


// Length-prefixed, so no two field lists make the same text.
void add_field(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  out += ' ';
  out += std::to_string(value.size());
  out += ':';
  out += value;
  out += '\n';
}

// Up to 60 bytes of `name`: ASCII letters, digits, '-' and '_' kept, every other byte '_'.
std::string name_part(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 60)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    out += keep ? c : '_';
  }
  return out.empty() ? std::string("_") : out;
}

[[noreturn]] void os_failure(const std::string& what, int err) {
  throw std::system_error(err, std::generic_category(), what);
}

constexpr std::string_view file_remedy = "fix or remove the file to start over";

[[noreturn]] void corrupt(const std::string& where, const std::string& why, std::string_view remedy) {
  throw std::system_error(std::make_error_code(std::errc::bad_message),
                          where + ": " + why + " (" + std::string(remedy) + ")");
}
[[noreturn]] void corrupt(const fs::path& file, const std::string& why) {
  corrupt("state file " + file.string(), why, file_remedy);
}

// The whole file, or nullopt when it does not exist.
std::optional<std::string> read_file(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    os_failure("state file " + file.string() + ": cannot open", errno);
  }
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      os_failure("state file " + file.string() + ": cannot read", err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_state_file_bytes) {
      ::close(fd);
      corrupt(file, "larger than " + std::to_string(max_state_file_bytes) + " bytes, not a cursor");
    }
  }
  ::close(fd);
  return text;
}

std::string string_of(od::value v, std::string_view key) {
  od::json_type type;
  json::check(v.type().get(type), key);
  if (type != od::json_type::string) throw json::failure{decode::errc::json_missing_field, std::string(key) + ": expected a string"};
  std::string_view s;
  json::check(v.get_string().get(s), key);
  return std::string(s);
}

std::uint64_t count_of(od::value v, std::string_view key) {
  od::json_type type;
  json::check(v.type().get(type), key);
  std::uint64_t n = 0;
  if (type != od::json_type::number || v.get_uint64().get(n))
    throw json::failure{decode::errc::json_missing_field, std::string(key) + ": expected a non-negative integer"};
  return n;
}

bool known_mode(std::string_view mode) {
  return mode == "stateful" || mode == "incremental" || mode == "partition" || mode == "full";
}
std::string unknown_mode(std::string_view mode) {
  return "mode \"" + std::string(mode) + "\" is not stateful, incremental, partition or full";
}

fs::path pending_path(const fs::path& cursor_file) { return fs::path(cursor_file.string() + ".pending"); }

}  // namespace

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md.data(), &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 unavailable");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string committed_at_now() {
  return iso_utc(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}

cursor parse_cursor(std::string_view text, const std::string& where, std::string_view remedy) {
  // simdjson reports a cut file as a structure error; say what it most likely is.
  const auto space = [](char ch) { return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'; };
  std::size_t begin = 0, end = text.size();
  while (end > 0 && space(text[end - 1])) --end;
  while (begin < end && space(text[begin])) ++begin;
  if (end == 0) corrupt(where, "empty (" + std::to_string(text.size()) + " bytes, no JSON)", remedy);
  if (text[begin] != '{' || text[end - 1] != '}')
    corrupt(where, "truncated or not a JSON object (" + std::to_string(text.size()) + " bytes, the last at byte offset " +
                      std::to_string(end - 1) + " is not '}')", remedy);
  cursor c;
  std::optional<std::uint64_t> version;
  bool has_job = false, has_query = false;
  std::error_code ec;
  std::string what;
  json::document_reader reader;
  reader.with_object(text, ec, what, [&](od::object obj) {
    json::for_each_field(obj, [&](std::string_view key, od::value v) {
      if (key == "version") version = count_of(v, key);
      else if (key == "job") c.job = string_of(v, key), has_job = true;
      else if (key == "query") c.query = string_of(v, key), has_query = true;
      else if (key == "mode") c.mode = string_of(v, key);
      else if (key == "fingerprint") c.fingerprint = string_of(v, key);
      else if (key == "last_job_id") c.last_job_id = string_of(v, key);
      else if (key == "rows") c.rows = count_of(v, key);
      else if (key == "committed_at") c.committed_at = string_of(v, key);
      else if (key == "source") c.source = string_of(v, key);
      else if (key == "destinations")
        json::for_each_element(v, key, [&](od::value d) { c.destinations.push_back(string_of(d, key)); });
      else if (key == "position") {
        if (v.is_null()) return;
        const std::string s = string_of(v, key);
        c.position = parse_iso_utc(s);
        if (!c.position) throw json::failure{decode::errc::json_missing_field, "position: not YYYY-MM-DDTHH:MM:SSZ: " + s};
      }
      // Unknown keys: written by a newer build; ignored.
    });
  });
  if (ec) corrupt(where, "invalid cursor JSON: " + what, remedy);
  if (!version) corrupt(where, "no \"version\"", remedy);
  if (*version != 1 && *version != 2)
    corrupt(where, "version " + std::to_string(*version) + " is not supported (this build reads versions 1 and 2)", remedy);
  if (!has_job || !has_query) corrupt(where, "no \"job\" or \"query\"", remedy);
  if (!known_mode(c.mode)) corrupt(where, unknown_mode(c.mode), remedy);
  return c;
}


void check_storable(const cursor& c, const std::string& where) {
  if (!known_mode(c.mode))
    throw std::system_error(std::make_error_code(std::errc::invalid_argument), where + ": " + unknown_mode(c.mode));
  std::vector<std::string_view> texts = {c.job, c.query, c.last_job_id, c.fingerprint, c.source};
  texts.insert(texts.end(), c.destinations.begin(), c.destinations.end());
  for (std::string_view t : texts)
    if (!simdjson::validate_utf8(t.data(), t.size()))
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              where + ": job, query, job id, fingerprint, source or a destination is not valid UTF-8");
}


std::optional<std::chrono::sys_seconds> parse_iso_utc(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SSZ
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:ddZ";
  if (s.size() != shape.size()) return std::nullopt;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) return std::nullopt;
  }
  const auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  const std::chrono::year_month_day ymd{std::chrono::year{num(0, 4)}, std::chrono::month{static_cast<unsigned>(num(5, 2))},
                                        std::chrono::day{static_cast<unsigned>(num(8, 2))}};
  const int h = num(11, 2), m = num(14, 2), sec = num(17, 2);
  if (!ymd.ok() || h > 23 || m > 59 || sec > 59) return std::nullopt;
  return std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{m} + std::chrono::seconds{sec};
}

bool is_state_url(std::string_view location) noexcept {
  return location.starts_with("postgres://") || location.starts_with("postgresql://");
}

std::unique_ptr<state_store> open_state(const std::string& location) {
  if (is_state_url(location)) return std::make_unique<state_database>(location);
  return std::make_unique<state_directory>(location);
}

std::string fingerprint_of(const query_config& q) {
  std::string canon = "aquaduct-query-fingerprint 1\n";
  add_field(canon, "type", q.type);
  add_field(canon, "query", q.query);
  add_field(canon, "deleted.column", q.deleted ? std::string_view(q.deleted->column) : std::string_view());
  add_field(canon, "deleted.format", q.deleted ? std::string_view(q.deleted->format) : std::string_view());
  std::string_view by;
  if (q.partition) by = q.partition->by;
  else if (q.incremental) by = q.incremental->by;
  add_field(canon, "by", by);
  // The currency columns change the result's shape. Only when set, so that the
  // cursors of queries without them keep their fingerprints.
  if (!q.convert_to_currencies.empty()) add_field(canon, "convert_to_currencies", q.convert_to_currencies);
  return sha256_hex(canon);
}

state_directory::state_directory(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec && !fs::exists(dir_)) throw std::system_error(ec, "state directory " + dir_.string() + ": cannot create it");
  if (!fs::is_directory(dir_, ec))
    throw std::system_error(std::make_error_code(std::errc::not_a_directory),
                            "state directory " + dir_.string() + ": not a directory");
}

state_directory::state_directory(state_directory&& other) noexcept
    : dir_(std::move(other.dir_)), lock_fd_(std::exchange(other.lock_fd_, -1)) {}

state_directory::~state_directory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

fs::path state_directory::path_of(std::string_view job, std::string_view query) const {
  std::string pair;
  add_field(pair, "job", job);
  add_field(pair, "query", query);
  return dir_ / (name_part(job) + "." + name_part(query) + "." + sha256_hex(pair).substr(0, 16) + ".json");
}

std::optional<cursor> state_directory::load(std::string_view job, std::string_view query) const {
  const fs::path file = path_of(job, query);
  const std::optional<std::string> text = read_file(file);
  if (!text) return std::nullopt;
  cursor c = parse_cursor(*text, "state file " + file.string(), file_remedy);
  if (c.job != job || c.query != query)
    corrupt(file, "holds the cursor of job \"" + c.job + "\", query \"" + c.query + "\", not of job \"" +
                      std::string(job) + "\", query \"" + std::string(query) + "\"");
  return c;
}

void state_directory::save(const cursor& c) {
  const fs::path file = path_of(c.job, c.query);
  check_storable(c, "state file " + file.string());  // nothing load() would refuse
  // atomic_file: a unique temporary per call, fsync, rename, fsync of the
  // directory; temporaries of dead processes are swept. Concurrent saves of
  // distinct cursors share nothing; of one cursor, the last rename wins whole.
  fileio::atomic_file out(file);
  cursor stamped = c;
  stamped.committed_at = committed_at_now();
  out.buffer() += to_json(stamped) + "\n";
  out.commit();
  // The commit this cursor ends is over (a crash before this leaves a marker
  // that names this very cursor: pending() then reads it as finished).
  std::error_code ec;
  fs::remove(pending_path(file), ec);
}

void state_directory::begin_commit(const cursor& next) {
  const fs::path file = pending_path(path_of(next.job, next.query));
  fileio::atomic_file out(file);
  out.buffer() += to_json(next) + "\n";
  out.commit();
}

std::optional<cursor> state_directory::pending(std::string_view job, std::string_view query) const {
  const fs::path cursor_file = path_of(job, query);
  const fs::path file = pending_path(cursor_file);
  const std::optional<std::string> text = read_file(file);
  if (!text) return std::nullopt;
  cursor p = parse_cursor(*text, "state file " + file.string(), file_remedy);
  // Finished after all: the cursor it names was saved.
  if (const std::optional<cursor> saved = load(job, query); saved && saved->last_job_id == p.last_job_id)
    return std::nullopt;
  return p;
}

std::string to_json(const cursor& c) {
  // Appended piece by piece: g++ 12 warns falsely (-Wrestrict) on a long chain of operator+.
  std::string out = "{\"version\":2,\"job\":";
  out += json_quote(c.job);
  out += ",\"query\":";
  out += json_quote(c.query);
  out += ",\"mode\":";
  out += json_quote(c.mode);
  out += ",\"position\":";
  out += c.position ? json_quote(iso_utc(*c.position)) : std::string("null");
  out += ",\"fingerprint\":";
  out += json_quote(c.fingerprint);
  out += ",\"source\":";
  out += json_quote(c.source);
  out += ",\"destinations\":[";
  for (std::size_t i = 0; i < c.destinations.size(); ++i) {
    if (i) out += ',';
    out += json_quote(c.destinations[i]);
  }
  out += "],\"last_job_id\":";
  out += json_quote(c.last_job_id);
  out += ",\"rows\":";
  out += std::to_string(c.rows);
  out += ",\"committed_at\":";
  out += json_quote(c.committed_at);
  out += '}';
  return out;
}

std::vector<cursor> state_directory::list() const {
  std::vector<cursor> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const fs::path& file = entry.path();
    const std::string name = file.filename().string();
    if (name.empty() || name.front() == '.' || file.extension() != ".json") continue;  // the lock, temporaries
    const std::optional<std::string> text = read_file(file);
    if (text) out.push_back(parse_cursor(*text, "state file " + file.string(), file_remedy));
  }
  if (ec) throw std::system_error(ec, "state directory " + dir_.string() + ": cannot list it");
  std::sort(out.begin(), out.end(), [](const cursor& a, const cursor& b) {
    return std::tie(a.job, a.query) < std::tie(b.job, b.query);
  });
  return out;
}

bool state_directory::remove(std::string_view job, std::string_view query) {
  const fs::path file = path_of(job, query);
  std::error_code ec;
  const bool removed = fs::remove(file, ec);
  if (ec) throw std::system_error(ec, "state file " + file.string() + ": cannot remove it");
  if (removed) {  // durable like a save: the directory entry is gone after a crash too
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return removed;
}

void state_directory::lock() {
  if (lock_fd_ >= 0) return;
  const fs::path file = dir_ / ".lock";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) os_failure("state directory " + dir_.string() + ": cannot open " + file.string(), errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) os_failure("state directory " + dir_.string() + ": cannot lock " + file.string(), err);
    const long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    if (pid > 0) holder = " (pid " + std::to_string(pid) + ")";
    throw std::system_error(std::make_error_code(std::errc::device_or_resource_busy),
                            "state directory " + dir_.string() + " is in use by another aquaduct run" + holder +
                                "; two runs must not share a state directory");
  }
  // Ours: record our pid for the message above.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd);
    os_failure("state directory " + dir_.string() + ": cannot write " + file.string(), err);
  }
  lock_fd_ = fd;
}

}  // namespace aquaduct::engine_detail

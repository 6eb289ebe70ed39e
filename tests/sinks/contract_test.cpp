// The contract every sink keeps (include/aquaduct/sink.hpp), run against
// each one: csv, ndjson, singer, sqlite, postgres (a real server), null and
// callback.
#include <aquaduct/sink.hpp>

#include "sinks/sink_harness.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <functional>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace aquaduct;
using namespace aquaduct::test;

namespace {

const std::vector<std::string> columns = {"Id", "Name", "Notes, etc", "Amount"};

// `n` rows whose text exercises every escaping rule the sinks share:
// separators, quotes, line breaks, tabs, backslashes, control characters,
// multi-byte UTF-8, empty fields and leading or trailing spaces.
rows make_rows(std::size_t n, const std::string& tag = "") {
  static const std::vector<std::string> tricky = {
      "plain", "comma, inside", "quote \" inside", "line\nbreak", "cr\r\nlf", "tab\there", "back\\slash",
      "\x01\x1f control", "üñíçødé ✓ 𝄞", "", " spaces ", "\"\"", "{\"json\": [1]}", "NULL", "\\N"};
  rows out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({"id" + std::to_string(i), tricky[i % tricky.size()] + tag, tricky[(i * 7 + 3) % tricky.size()],
                   std::to_string(i * 3) + ".25"});
  return out;
}

stream_schema schema_for(const std::string& query) {
  stream_schema s;
  s.job = "billing";
  s.job_id = "job-1";
  s.query = query;
  s.columns = columns;
  return s;
}

file_token token_for(const std::string& query, std::vector<std::string> files) {
  return file_token{"job-1", query, std::move(files), 0};
}

// Writes `data` in two batches to a new stream of `s`.
std::unique_ptr<sink_stream> write_stream(sink& s, const stream_schema& schema, const rows& data) {
  auto stream = s.open(schema);
  const std::size_t half = data.size() / 2;
  const batch_builder a(rows(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(half)));
  const batch_builder b(rows(data.begin() + static_cast<std::ptrdiff_t>(half), data.end()));
  stream->write(a.batch(schema));
  stream->write(b.batch(schema));
  return stream;
}

void check_rows(sink_harness& h, const std::string& query, const rows& expected) {
  if (h.keeps_rows()) CHECK(sorted(h.read("billing", query)) == sorted(expected));
}

// Runs `f` in a forked child that then ends without unwinding (no commit,
// no abort, no destructors: a crash); exit code 3 when `f` threw. Returns
// the child's wait status.
int in_child(const std::function<void()>& f) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    try {
      f();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  return status;
}

// A stream of `query` whose batch had no result file: no header, no rows.
stream_schema no_columns(const std::string& query, load_kind load = load_kind::full) {
  stream_schema s = schema_for(query);
  s.columns.clear();
  s.load = load;
  return s;
}

// Lowers this process's file size limit (RLIMIT_FSIZE) to `bytes` with
// SIGXFSZ ignored, so a write past it fails with EFBIG; restores both.
class file_size_limit {
 public:
  explicit file_size_limit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lower = old_;
    lower.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &lower);
  }
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  file_size_limit(const file_size_limit&) = delete;
  file_size_limit& operator=(const file_size_limit&) = delete;

 private:
  rlimit old_{};
  void (*old_handler_)(int) = SIG_DFL;
};

// A little past the largest of the destination's files now: a limit that
// lets a commit begin and fail part way.
rlim_t torn_limit(const sink_harness& h) {
  std::uintmax_t most = 0;
  for (const auto& f : h.own_files()) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(f, ec);
    if (!ec) most = std::max(most, n);
  }
  return static_cast<rlim_t>(most + h.torn_slack());
}

// For singer: the output must be whole commits, the last one `records` of `stream`.
void check_singer_output(sink_harness& h, std::size_t commits, const std::string& stream, const rows& records) {
  auto* singer = dynamic_cast<singer_harness*>(&h);
  if (!singer) return;
  std::vector<singer_commit> got;
  REQUIRE_NOTHROW(got = singer_commits(read_file(singer->path())));
  REQUIRE(got.size() == commits);
  CHECK(got.back().stream == stream);
  CHECK(sorted(got.back().records) == sorted(records));
}

}  // namespace

TEST_CASE("contract: rows committed read back as the same logical rows") {
  for (auto& h : every_sink()) {
    CAPTURE(h->name());
    auto s = h->make();
    const rows data = make_rows(500);
    auto stream = write_stream(*s, schema_for("Account"), data);
    stream->commit(token_for("Account", {"f1"}));
    check_rows(*h, "Account", data);
    if (!h->keeps_rows()) CHECK(h->read("billing", "Account").size() == data.size());  // null: the count
    s->close();
  }
}

TEST_CASE("contract: abort leaves nothing, and leaves an earlier commit as it was") {
  for (auto& h : every_sink()) {
    CAPTURE(h->name());
    auto s = h->make();
    write_stream(*s, schema_for("Fresh"), make_rows(300))->abort();
    CHECK(h->read("billing", "Fresh").empty());  // null: nothing counted

    const rows first = make_rows(50);
    write_stream(*s, schema_for("Account"), first)->commit(token_for("Account", {"f1"}));
    write_stream(*s, schema_for("Account"), make_rows(70, "-second"))->abort();
    check_rows(*h, "Account", first);

    // A stream dropped without commit or abort is aborted too.
    { auto dropped = write_stream(*s, schema_for("Dropped"), make_rows(20)); }
    if (h->keeps_rows()) CHECK(h->read("billing", "Dropped").empty());
  }
}

TEST_CASE("contract: a replay of a committed stream adds nothing") {
  for (auto& h : every_sink()) {
    if (!h->has_destination()) continue;
    CAPTURE(h->name());
    const rows data = make_rows(200);
    auto s = h->make();
    write_stream(*s, schema_for("Account"), data)->commit(token_for("Account", {"f1", "f2"}));
    write_stream(*s, schema_for("Account"), data)->commit(token_for("Account", {"f1", "f2"}));
    check_rows(*h, "Account", data);
    if (!h->ledger_survives_restart()) continue;
    // The same files again, from a new run of the sink.
    write_stream(*h->make(), schema_for("Account"), data)->commit(token_for("Account", {"f1", "f2"}));
    check_rows(*h, "Account", data);
  }
}

TEST_CASE("contract: concurrent streams of one sink commit independently") {
  for (auto& h : every_sink()) {
    CAPTURE(h->name());
    auto s = h->make();
    const rows a = make_rows(120, "-a");
    const rows b = make_rows(80, "-b");
    auto sa = s->open(schema_for("A"));
    auto sb = s->open(schema_for("B"));
    const auto sch_a = schema_for("A");
    const auto sch_b = schema_for("B");
    const batch_builder ba(a);
    const batch_builder bb(b);
    sa->write(ba.batch(sch_a));
    sb->write(bb.batch(sch_b));
    sb->commit(token_for("B", {"fb"}));
    sa->write(ba.batch(sch_a));
    sa->abort();
    auto sa2 = s->open(sch_a);
    sa2->write(ba.batch(sch_a));
    sa2->commit(token_for("A", {"fa"}));
    check_rows(*h, "A", a);
    check_rows(*h, "B", b);
  }
}

TEST_CASE("contract: a process killed between write and commit leaves nothing visible") {
  for (auto& h : every_sink()) {
    if (!h->has_destination()) continue;
    CAPTURE(h->name());
    // Enough rows that every sink has flushed bytes to its destination.
    const rows big = make_rows(40000);
    // Reading first also starts the destination (the PostgreSQL server) in this process, not the child.
    REQUIRE(h->read("billing", "Account").empty());
    const int status = in_child([&] {
      auto s = h->make();
      auto stream = write_stream(*s, schema_for("Account"), big);
      stream->write(batch_builder(big).batch(schema_for("Account")));
    });
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK(h->read("billing", "Account").empty());
    // The next run works normally over whatever the crash left behind.
    const rows data = make_rows(30);
    write_stream(*h->make(), schema_for("Account"), data)->commit(token_for("Account", {"f9"}));
    check_rows(*h, "Account", data);
    if (auto* f = dynamic_cast<file_harness*>(h.get())) CHECK(f->dir().files().size() == 1);  // the crash's temporary is gone
  }
}

TEST_CASE("contract: a full load of a stream with no columns empties the destination, and its replay adds nothing") {
  for (auto& h : every_sink()) {
    CAPTURE(h->name());
    const rows data = make_rows(40);
    write_stream(*h->make(), schema_for("Account"), data)->commit(token_for("Account", {"f1"}));
    const std::size_t before = h->replaces() ? 0 : h->read("billing", "Account").size();
    // recordCount 0 and no file: a token with no file ids, keyed by the service's job id.
    const file_token empty{"job-2", "Account", {}, 0};
    auto s = h->make();
    auto stream = s->open(no_columns("Account"));
    stream->commit(empty);
    if (h->keeps_rows()) {
      if (h->replaces()) CHECK(h->read("billing", "Account").empty());
      else CHECK(h->read("billing", "Account").size() == before);  // singer: a STATE alone
    }
    if (!h->has_destination()) continue;
    // The same (no) files again, in this run and in the next.
    s->open(no_columns("Account"))->commit(empty);
    h->make()->open(no_columns("Account"))->commit(empty);
    if (h->replaces()) CHECK(h->read("billing", "Account").empty());
    else CHECK(h->read("billing", "Account").size() == before);
    // A query whose destination never held anything: nothing to empty.
    h->make()->open(no_columns("Never"))->commit(file_token{"job-3", "Never", {}, 0});
    CHECK(h->read("billing", "Never").empty());
    // An incremental stream with no columns changes nothing, and needs no row key.
    write_stream(*s, schema_for("Kept"), data)->commit(token_for("Kept", {"k1"}));
    s->open(no_columns("Kept", load_kind::incremental))->commit(file_token{"job-4", "Kept", {}, 0});
    check_rows(*h, "Kept", data);
  }
}

TEST_CASE("contract: destination() names where rows go without secrets; holds() says whether a full load is there") {
  for (auto& h : every_sink()) {
    CAPTURE(h->name());
    auto s = h->make();
    const std::string where = s->destination();
    CHECK(where == h->make()->destination());  // stable: cursors compare it across runs
    if (!h->has_destination()) CHECK(where.empty());
    else if (h->name() == "postgres") CHECK(where.find("dbname=") != std::string::npos);
    else CHECK(std::filesystem::path(where).is_absolute());
    CHECK(where.find("password") == std::string::npos);

    const stream_schema account = schema_for("Account");
    CHECK(s->holds(account) == !h->holds_tracks_target());
    // An incremental load alone is not what a later incremental load goes beside.
    stream_schema inc = account;
    inc.load = load_kind::incremental;
    inc.key_column = 0;
    inc.started_at = std::chrono::sys_seconds{std::chrono::hours(24 * 365 * 56)};
    write_stream(*s, inc, make_rows(5))->commit(token_for("Account", {"i1"}));
    if (h->name() == "csv" || h->name() == "ndjson") CHECK_FALSE(s->holds(account));
    write_stream(*s, account, make_rows(5))->commit(token_for("Account", {"f1"}));
    CHECK(s->holds(account));
    CHECK(h->make()->holds(account));
    CHECK(s->holds(schema_for("Other")) == !h->holds_tracks_target());
  }
}

TEST_CASE("contract: a NUL byte in a field never fails a load; each sink stores it as docs/sinks.md says") {
  for (auto& h : every_sink()) {
    CAPTURE(h->name());
    const rows data = {{"1", std::string("a\0b", 3), std::string("\0", 1), std::string("\0\0tail", 6)},
                       {"2", "plain", "", std::string("mid\0dle", 7)}};
    write_stream(*h->make(), schema_for("Account"), data)->commit(token_for("Account", {"f1"}));
    rows expected;
    for (const auto& r : data) {
      expected.emplace_back();
      for (const auto& f : r) expected.back().push_back(h->stored(f));
    }
    check_rows(*h, "Account", expected);
  }
}

TEST_CASE("contract: a commit that fails on a write leaves the last commit whole, and the sink goes on") {
  for (auto& h : every_sink()) {
    if (!h->writes_own_files()) continue;
    CAPTURE(h->name());
    auto s = h->make();
    const rows first = make_rows(30);
    write_stream(*s, schema_for("Account"), first)->commit(token_for("Account", {"f1"}));
    const rows big = make_rows(40000, "-big");
    auto stream = write_stream(*s, schema_for("Account"), big);
    std::string error;
    {
      const file_size_limit limit(torn_limit(*h));
      try {
        stream->commit(token_for("Account", {"f2"}));
      } catch (const std::system_error& e) {
        CHECK(e.code() == sink_errc::io_error);
        error = e.what();
      }
    }
    CHECK(error.find("File too large") != std::string::npos);
    stream.reset();
    check_rows(*h, "Account", first);
    check_singer_output(*h, 1, "billing__Account", first);
    // The same sink commits the next stream normally.
    const rows next = make_rows(20, "-next");
    write_stream(*s, schema_for("Account"), next)->commit(token_for("Account", {"f3"}));
    if (h->replaces()) check_rows(*h, "Account", next);
    check_singer_output(*h, 2, "billing__Account", next);
  }
}

TEST_CASE("contract: a process killed by a write in the middle of a commit leaves the last commit whole") {
  for (auto& h : every_sink()) {
    if (!h->writes_own_files()) continue;
    CAPTURE(h->name());
    const rows first = make_rows(30);
    write_stream(*h->make(), schema_for("Account"), first)->commit(token_for("Account", {"f1"}));
    const rows big = make_rows(40000, "-big");
    const int status = in_child([&] {
      auto s = h->make();
      auto stream = write_stream(*s, schema_for("Account"), big);
      const rlimit no_core{0, 0};
      ::setrlimit(RLIMIT_CORE, &no_core);
      rlimit fsize{};
      ::getrlimit(RLIMIT_FSIZE, &fsize);
      fsize.rlim_cur = torn_limit(*h);
      ::setrlimit(RLIMIT_FSIZE, &fsize);
      stream->commit(token_for("Account", {"f2"}));  // SIGXFSZ kills the process in here
    });
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGXFSZ);
    if (h->replaces()) check_rows(*h, "Account", first);
    // The next run cuts off whatever the crash tore, and goes on.
    const rows next = make_rows(20, "-next");
    write_stream(*h->make(), schema_for("Account"), next)->commit(token_for("Account", {"f3"}));
    if (h->replaces()) check_rows(*h, "Account", next);
    check_singer_output(*h, 2, "billing__Account", next);
    if (auto* f = dynamic_cast<file_harness*>(h.get())) CHECK(f->dir().files().size() == 1);  // no temporary left
  }
}

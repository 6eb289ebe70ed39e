// The contract every sink keeps (include/aquaduct/sink.hpp), run against
// each one: csv, ndjson, singer, sqlite, postgres (a real server), null and
// callback.
#include <aquaduct/sink.hpp>

#include "sinks/sink_harness.hpp"

#include <doctest/doctest.h>

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
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      try {
        auto s = h->make();
        auto stream = write_stream(*s, schema_for("Account"), big);
        stream->write(batch_builder(big).batch(schema_for("Account")));
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);  // no commit, no abort, no destructors: a crash
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
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

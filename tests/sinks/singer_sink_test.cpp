// singer: message shapes per the Singer spec, types from describe, STATE
// only after a commit.
#include "sinks/singer_sink.hpp"

#include "sinks/sink_harness.hpp"
#include "sinks/write_behind.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <fstream>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

using namespace aquaduct;
using namespace aquaduct::test;

namespace {

// ROWS rows of `columns` fields (some rows shorter or longer) in batches of
// BATCH rows, with text that needs escaping: quotes, backslashes, control
// characters, UTF-8 and broken UTF-8, and notes of every length up to 400
// bytes, so that a few thousand rows outgrow the sink's memory buffer.
std::vector<batch_builder> varied_batches(std::size_t rows, std::size_t batch, std::size_t columns) {
  static const char* const names[] = {"Acme", "Ann \"A\"", "back\\slash", "Müller", "bad \xff\xfe utf-8",
                                      "tab\there", "line\nbreak", "bell\x07", ""};
  std::vector<batch_builder> out;
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  test::rows pending;
  for (std::size_t i = 0; i < rows; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::string id = std::to_string(i);
    id.insert(0, 1, 'r');  // not "r" + ...: g++ 12 warns of a bogus overlap (-Wrestrict) there
    std::vector<std::string> row{id, names[x % 9], std::string(x % 401, static_cast<char>('a' + x % 26)),
                                 std::to_string(x % 100000)};
    row.resize(i % 997 == 5 ? 2 : i % 991 == 7 ? columns + 1 : columns, "extra");
    pending.push_back(std::move(row));
    if (pending.size() == batch || i + 1 == rows) {
      out.emplace_back(pending);
      pending.clear();
    }
  }
  return out;
}

stream_schema schema_of(std::string query, std::vector<std::string> columns) {
  stream_schema s;
  s.job = "billing";
  s.job_id = "j1";
  s.query = std::move(query);
  s.columns = std::move(columns);
  return s;
}

}  // namespace

TEST_CASE("singer emits SCHEMA, RECORDs, then STATE, only when the stream commits") {
  singer_harness h;
  auto s = h.make();
  auto schema = schema_of("Account", {"Account.Id", "Name", "Count", "Rate", "Active", "Day", "At"});
  schema.types = {column_type::text,    column_type::text,    column_type::integer, column_type::decimal,
                  column_type::boolean, column_type::date,    column_type::datetime};
  schema.key_column = 0;
  auto stream = s->open(schema);
  stream->write(batch_builder({{"a1", "Ann \"A\"", "3", "1.5e2", "true", "2026-11-22", "2026-11-22T03:00:00Z"},
                               {"a2", "", "", "", "", "", ""}})
                    .batch(schema));
  CHECK(h.messages().empty());  // nothing before the commit
  stream->commit(file_token{"j1", "Account", {"file-1"}, 2});

  const auto lines = h.messages();
  REQUIRE(lines.size() == 4);
  simdjson::dom::parser p;
  auto schema_msg = p.parse(lines[0]).get_object().value();
  CHECK(std::string_view(schema_msg["type"]) == "SCHEMA");
  CHECK(std::string_view(schema_msg["stream"]) == "billing__Account");
  CHECK(simdjson::minify(schema_msg["key_properties"]) == R"(["Account.Id"])");
  CHECK(simdjson::minify(schema_msg["schema"]["properties"]["Count"]) == R"({"type":["null","integer"]})");
  CHECK(simdjson::minify(schema_msg["schema"]["properties"]["Rate"]) == R"({"type":["null","number"]})");
  CHECK(simdjson::minify(schema_msg["schema"]["properties"]["Active"]) == R"({"type":["null","boolean"]})");
  CHECK(simdjson::minify(schema_msg["schema"]["properties"]["At"]) ==
        R"({"type":["null","string"],"format":"date-time"})");
  CHECK(lines[1] ==
        R"({"type":"RECORD","stream":"billing__Account","record":{"Account.Id":"a1","Name":"Ann \"A\"","Count":3,)"
        R"("Rate":1.5e2,"Active":true,"Day":"2026-11-22","At":"2026-11-22T03:00:00Z"}})");
  CHECK(lines[2] ==
        R"({"type":"RECORD","stream":"billing__Account","record":{"Account.Id":"a2","Name":"","Count":null,)"
        R"("Rate":null,"Active":null,"Day":null,"At":null}})");
  auto state = p.parse(lines[3]).get_object().value();
  CHECK(std::string_view(state["type"]) == "STATE");
  CHECK(simdjson::minify(state["value"]["bookmarks"]["billing__Account"]) ==
        R"({"job_id":"j1","file_ids":["file-1"],"rows":2,"load":"full"})");

  // The next commit's STATE carries every stream's bookmark.
  auto other = s->open(schema_of("Invoice", {"Id"}));
  other->write(batch_builder({{"i1"}}).batch(schema_of("Invoice", {"Id"})));
  other->commit(file_token{"j1", "Invoice", {"file-2"}, 1});
  const auto after = h.messages();
  REQUIRE(after.size() == 7);
  auto last = p.parse(after[6]).get_object().value();
  CHECK(last["value"]["bookmarks"]["billing__Account"].error() == simdjson::SUCCESS);
  CHECK(last["value"]["bookmarks"]["billing__Invoice"].error() == simdjson::SUCCESS);
}

TEST_CASE("singer refuses a field its describe type does not allow, naming row and column") {
  singer_harness h;
  auto s = h.make();
  auto schema = schema_of("Account", {"Id", "Count"});
  schema.types = {column_type::text, column_type::integer};
  auto stream = s->open(schema);
  try {
    stream->write(batch_builder({{"a1", "1"}, {"a2", "1.5"}}).batch(schema));
    FAIL("1.5 was accepted as an integer");
  } catch (const std::system_error& e) {
    CHECK(e.code() == sink_errc::bad_value);
    CHECK(std::string(e.what()).find("singer: job billing, query Account, record 2 of the stream, column Count: '1.5' is not an integer") !=
          std::string::npos);
  }
}

TEST_CASE("singer opens its output only when needed and creates its directory") {
  temp_dir dir;
  const auto path = dir.path() / "sub" / "dir" / "out.singer";
  auto s = sinks::make_singer_sink({path.string()});
  CHECK_FALSE(std::filesystem::exists(path));  // building the sink (e.g. to check the config) touches nothing
  CHECK(s->health_check().empty());
  CHECK(std::filesystem::exists(path));
  std::ofstream(dir.path() / "a-file") << "x";
  CHECK(sinks::make_singer_sink({(dir.path() / "a-file" / "out").string()})->health_check().find("singer: open") !=
        std::string::npos);
}

TEST_CASE("singer emits a stream that outgrew its memory buffer whole, each record as the ndjson encoder writes it") {
  singer_harness h;
  file_harness nd("ndjson", "ndjson");
  auto s = h.make();
  auto n = nd.make();
  const auto schema = schema_of("Big", {"Id", "Name", "Note", "Amount"});
  const auto batches = varied_batches(60000, 7000, 4);  // about 13 MB of text: most of it held in a temporary file
  auto singer_stream = s->open(schema);
  auto ndjson_stream = n->open(schema);
  for (const auto& b : batches) {
    singer_stream->write(b.batch(schema));
    ndjson_stream->write(b.batch(schema));
  }
  singer_stream->commit(file_token{"j1", "Big", {"file-1"}, 60000});
  ndjson_stream->commit(file_token{"j1", "Big", {"file-1"}, 60000});

  const auto lines = h.messages();
  std::vector<std::string> objects;
  std::istringstream nd_lines(read_file(nd.file("billing", "Big")));
  for (std::string line; std::getline(nd_lines, line);) objects.push_back(line);
  REQUIRE(objects.size() == 60000);
  REQUIRE(lines.size() == objects.size() + 2);  // SCHEMA, the RECORDs, STATE
  std::size_t differ = 0;
  for (std::size_t i = 0; i < objects.size(); ++i)
    differ += lines[i + 1] != R"({"type":"RECORD","stream":"billing__Big","record":)" + objects[i] + "}";
  CHECK(differ == 0);
  simdjson::dom::parser p;
  auto state = p.parse(lines.back()).get_object().value();
  CHECK(simdjson::minify(state["value"]["bookmarks"]["billing__Big"]) ==
        R"({"job_id":"j1","file_ids":["file-1"],"rows":60000,"load":"full"})");
}

namespace {
std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}
}  // namespace

TEST_CASE("singer: an aborted stream that outgrew its memory buffer emits nothing and keeps no temporary file") {
  singer_harness h;
  auto s = h.make();
  const auto schema = schema_of("Big", {"Id", "Name", "Note", "Amount"});
  const auto batches = varied_batches(60000, 7000, 4);
  const std::size_t before = open_descriptors();
  {
    auto stream = s->open(schema);
    for (const auto& b : batches) stream->write(b.batch(schema));
    CHECK(open_descriptors() > before);  // the temporary file
    stream->abort();
    CHECK(open_descriptors() == before);
  }
  CHECK(h.messages().empty());
  auto again = s->open(schema);
  again->write(batches.front().batch(schema));
  again->commit(file_token{"j1", "Big", {"file-1"}, 7000});
  CHECK(h.messages().size() == 7000 + 2);
}

TEST_CASE("singer: past the memory buffer, numbers stay numbers and a bad field still names its row") {
  singer_harness h;
  auto s = h.make();
  auto schema = schema_of("Big", {"Id", "Name", "Note", "Amount"});
  schema.types = {column_type::text, column_type::text, column_type::text, column_type::integer};
  const auto batches = varied_batches(60000, 7000, 4);
  auto stream = s->open(schema);
  for (const auto& b : batches) stream->write(b.batch(schema));
  try {
    stream->write(batch_builder({{"ok", "", "", "12"}, {"bad", "", "", "x1"}}).batch(schema));
    FAIL("x1 was accepted as an integer");
  } catch (const std::system_error& e) {
    CHECK(e.code() == sink_errc::bad_value);
    CHECK(std::string(e.what()).find("record 60002 of the stream, column Amount: 'x1' is not an integer") != std::string::npos);
  }
  stream->abort();

  auto good = s->open(schema);
  for (const auto& b : batches) good->write(b.batch(schema));
  good->commit(file_token{"j1", "Big", {"file-1"}, 60000});
  const auto lines = h.messages();
  REQUIRE(lines.size() == 60002);
  simdjson::dom::parser p;
  std::size_t numbers = 0;
  for (const std::size_t i : {std::size_t{1}, std::size_t{30000}, std::size_t{60000}}) {
    auto record = p.parse(lines[i]).get_object().value()["record"];
    numbers += record["Amount"].type() == simdjson::dom::element_type::INT64;
  }
  CHECK(numbers == 3);
}

TEST_CASE("write_behind appends every byte after what the file held, on files and pipes, and names a failed write") {
  temp_dir dir;
  const auto path = (dir.path() / "out").string();
  std::ofstream(path) << "head\n";
  std::string expected = "head\n";
  {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    REQUIRE(fd >= 0);
    sinks::write_behind out(fd, "write out");
    std::string block;
    // 12 blocks of a little more than 8 MiB each: past write_behind::in_flight, so
    // older blocks are waited for and dropped from the page cache on the way.
    for (int b = 0; b < 12; ++b) {
      block.assign(sinks::write_behind::block + 4097, static_cast<char>('a' + b));
      block[static_cast<std::size_t>(b) * 1000] = '\n';
      out.write(block);
      expected += block;
    }
    CHECK(::fsync(fd) == 0);
    ::close(fd);
  }
  CHECK(std::filesystem::file_size(path) == expected.size());
  CHECK(read_file(path) == expected);

  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  {
    sinks::write_behind out(pipe_fds[1], "write the pipe");
    out.write("through a pipe\n");
  }
  char buf[32] = {};
  CHECK(::read(pipe_fds[0], buf, sizeof buf) == 15);
  CHECK(std::string(buf) == "through a pipe\n");
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);

  const int ro = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(ro >= 0);
  sinks::write_behind bad(ro, "singer: write " + path);
  try {
    bad.write("x");
    FAIL("a write to a read-only descriptor succeeded");
  } catch (const std::system_error& e) {
    CHECK(e.code() == sink_errc::io_error);
    CHECK(std::string(e.what()).find("singer: write " + path + ": Bad file descriptor") != std::string::npos);
  }
  ::close(ro);
}

namespace {

// The messages one commit of `rows` to stream `query` writes, from a sink of its own.
std::string commit_output(const std::string& query, const rows& data, const std::string& file_id) {
  singer_harness other;
  auto s = other.make();
  const auto schema = schema_of(query, {"Id", "Name"});
  auto stream = s->open(schema);
  stream->write(batch_builder(data).batch(schema));
  stream->commit(file_token{"j1", query, {file_id}, data.size()});
  return read_file(other.path());
}

void commit_to(sink& s, const std::string& query, const rows& data, const std::string& file_id) {
  const auto schema = schema_of(query, {"Id", "Name"});
  auto stream = s.open(schema);
  stream->write(batch_builder(data).batch(schema));
  stream->commit(file_token{"j1", query, {file_id}, data.size()});
}

void append_to(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

// Everything up to the middle of the third RECORD: a writer killed there.
std::string torn(const std::string& output) {
  std::size_t at = 0;
  for (int line = 0; line < 3; ++line) at = output.find('\n', at) + 1;
  return output.substr(0, at + (output.find('\n', at) - at) / 2);
}

rows numbered(const std::string& tag, std::size_t n) {
  rows out;
  for (std::size_t i = 0; i < n; ++i) out.push_back({tag + std::to_string(i), "name \"" + tag + "\"\n"});
  return out;
}

std::string bookmarks_of(const singer_commit& c) {
  simdjson::dom::parser p;
  return simdjson::minify(p.parse(c.state)["value"]["bookmarks"]);
}

}  // namespace

TEST_CASE("singer: key_properties is the row key, or [] without one; a stream with no columns emits its STATE alone") {
  singer_harness h;
  auto s = h.make();
  auto keyed = schema_of("Invoice", {"Account.Id", "Invoice.Id", "Amount"});
  keyed.key_column = 1;
  auto stream = s->open(keyed);
  stream->write(batch_builder({{"a1", "i1", "3"}}).batch(keyed));
  stream->commit(file_token{"j1", "Invoice", {"f1"}, 1});
  commit_to(*s, "Account", {{"a1", "one"}}, "f2");
  auto empty = schema_of("Account", {});
  s->open(empty)->commit(file_token{"j2", "Account", {}, 0});

  const auto commits = singer_commits(read_file(h.path()));
  REQUIRE(commits.size() == 3);
  simdjson::dom::parser p;
  CHECK(simdjson::minify(p.parse(commits[0].schema)["key_properties"]) == R"(["Invoice.Id"])");
  CHECK(simdjson::minify(p.parse(commits[1].schema)["key_properties"]) == "[]");
  CHECK(commits[2].stream.empty());  // no SCHEMA, no RECORD
  CHECK(simdjson::minify(p.parse(commits[2].state)["value"]["bookmarks"]["billing__Account"]) ==
        R"({"job_id":"j2","file_ids":[],"rows":0,"load":"full"})");
}

TEST_CASE("singer: a partial RECORD left by a killed writer is cut off by the next commit, whose output is valid") {
  singer_harness h;
  commit_to(*h.make(), "A", numbered("a", 50), "fa");
  // A writer killed in the middle of stream B's RECORDs.
  const rows b = numbered("b", 50);
  append_to(h.path(), torn(commit_output("B", b, "fb")));
  CHECK_THROWS(singer_commits(read_file(h.path())));

  // The next run: its commit goes after A, with A's bookmark in its STATE.
  auto next = h.make();
  commit_to(*next, "C", numbered("c", 40), "fc");
  auto commits = singer_commits(read_file(h.path()));
  REQUIRE(commits.size() == 2);
  CHECK(commits[0].stream == "billing__A");
  CHECK(commits[0].records == numbered("a", 50));
  CHECK(commits[1].stream == "billing__C");
  CHECK(commits[1].records == numbered("c", 40));
  CHECK(bookmarks_of(commits[1]) ==
        R"({"billing__A":{"job_id":"j1","file_ids":["fa"],"rows":50,"load":"full"},)"
        R"("billing__C":{"job_id":"j1","file_ids":["fc"],"rows":40,"load":"full"}})");

  // B again, from the engine's retry: whole this time.
  commit_to(*next, "B", b, "fb");
  // Another writer of the file killed while this sink lives: its next commit cuts that off too.
  append_to(h.path(), torn(commit_output("D", numbered("d", 9), "fd")));
  commit_to(*next, "E", numbered("e", 3), "fe");
  commits = singer_commits(read_file(h.path()));
  REQUIRE(commits.size() == 4);
  CHECK(commits[2].records == b);
  CHECK(commits[3].stream == "billing__E");

  // A replay of a stream's last commit, from a new run, adds nothing.
  const auto size = std::filesystem::file_size(h.path());
  commit_to(*h.make(), "A", numbered("a", 50), "fa");
  commit_to(*h.make(), "E", numbered("e", 3), "fe");
  CHECK(std::filesystem::file_size(h.path()) == size);
  // Every RECORD once: the rows of A, B, C and E, and nothing of D.
  std::size_t records = 0;
  for (const auto& c : singer_commits(read_file(h.path()))) records += c.records.size();
  CHECK(records == 50 + 40 + 50 + 3);
}

TEST_CASE("singer: a file holding nothing but a torn commit is cut to nothing") {
  singer_harness h;
  append_to(h.path(), torn(commit_output("B", numbered("b", 10), "fb")));
  commit_to(*h.make(), "C", numbered("c", 2), "fc");
  const auto commits = singer_commits(read_file(h.path()));
  REQUIRE(commits.size() == 1);
  CHECK(commits[0].records == numbered("c", 2));
}

TEST_CASE("singer: two sinks writing one file take turns, a whole commit at a time") {
  singer_harness h;
  auto one = h.make();
  auto two = h.make();
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&, w] {
      sink& s = w ? *two : *one;
      for (int i = 0; i < 20; ++i) {
        const std::string q = "Q" + std::to_string(w) + "_" + std::to_string(i);
        commit_to(s, q, numbered(q, 200), "f" + q);
      }
    });
  for (auto& t : writers) t.join();
  const auto commits = singer_commits(read_file(h.path()));
  REQUIRE(commits.size() == 40);
  for (const auto& c : commits) CHECK(c.records.size() == 200);
  simdjson::dom::parser p;
  simdjson::dom::object last;
  REQUIRE_FALSE(p.parse(commits.back().state)["value"]["bookmarks"].get_object().get(last));
  CHECK(last.size() == 40);  // each writer's STATE carries the other's bookmarks too
}

TEST_CASE("singer: after a commit that failed on an output it cannot take back, every later commit is refused") {
  auto s = sinks::make_singer_sink({"/dev/full"});  // as stdout would be: not a file of ours
  std::error_code code;
  try {
    commit_to(*s, "A", numbered("a", 3), "fa");
  } catch (const std::system_error& e) {
    code = e.code();
    CHECK(std::string(e.what()).find("singer: write /dev/full: No space left on device") != std::string::npos);
  }
  CHECK(code == sink_errc::io_error);
  try {
    commit_to(*s, "B", numbered("b", 3), "fb");
    FAIL("a commit after a torn one was written");
  } catch (const std::system_error& e) {
    CHECK(e.code() == sink_errc::io_error);
    CHECK(std::string(e.what()).find("an earlier commit to /dev/full failed part way") != std::string::npos);
  }
}

TEST_CASE("singer: destination() is the absolute path, or empty for stdout") {
  CHECK(sinks::make_singer_sink({""})->destination().empty());
  CHECK(sinks::make_singer_sink({"out/../x.singer"})->destination() ==
        (std::filesystem::current_path() / "x.singer").string());
  CHECK(sinks::make_singer_sink({""})->holds(schema_of("A", {"Id"})));
}

#include "sinks/csv_sink.hpp"

#include "sinks/registry.hpp"
#include "sinks/sink_names.hpp"
#include "sinks/sink_harness.hpp"
#include "support/csv_table.hpp"
#include "support/temp_dir.hpp"

#include <aquaduct/config.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace aquaduct;
using aquaduct::test::temp_dir;

namespace {

using test::batch_builder;

std::unique_ptr<sink> csv_at(const std::filesystem::path& root) {
  sinks::csv_sink_options o;
  o.path = root.string();
  return sinks::make_csv_sink(o);
}

const test::rows tricky = {
    {"1", "plain", ""},
    {"2", "comma, inside", "quote \" inside"},
    {"3", "line\nbreak", "cr\rtoo"},
    {"4", std::string("nul\0byte", 8), "üñíçødé"},
    {"5", "\"\"", " spaces "},
};

}  // namespace

TEST_CASE("rows written and committed read back identically, header first") {
  temp_dir dir;
  auto s = csv_at(dir.path());
  const stream_schema schema{"billing", "job1", "Account", {"Account.Id", "Account.Name", "Notes, etc"}};
  auto stream = s->open(schema);
  batch_builder b(tricky);
  stream->write(b.batch(schema));
  CHECK(dir.files().size() == 1);  // only the temporary file so far
  CHECK(dir.files()[0].find(".tmp-") != std::string::npos);
  stream->commit(file_token{"job1", "Account", {"f1"}, tricky.size()});
  REQUIRE(dir.files() == std::vector<std::string>{"billing/Account.csv"});
  const std::string text = test::read_file((dir.path() / "billing/Account.csv").string());
  test::rows expected = {schema.columns};
  expected.insert(expected.end(), tricky.begin(), tricky.end());
  CHECK(test::parse_csv_text(text) == expected);
  // Quoted only when it must be; \n line ends.
  CHECK(text.rfind("Account.Id,Account.Name,\"Notes, etc\"\n1,plain,\n", 0) == 0);
}

TEST_CASE("abort, or dropping an uncommitted stream, leaves nothing behind") {
  temp_dir dir;
  auto s = csv_at(dir.path());
  const stream_schema schema{"billing", "job1", "Account", {"Id"}};
  batch_builder b({{"1"}, {"2"}});
  {
    auto stream = s->open(schema);
    stream->write(b.batch(schema));
    stream->abort();
  }
  CHECK(dir.files().empty());
  {
    auto stream = s->open(schema);
    stream->write(b.batch(schema));
  }
  CHECK(dir.files().empty());
}

TEST_CASE("temporary files of dead writers are swept; a live writer's are kept") {
  temp_dir dir;
  std::filesystem::create_directories(dir.path() / "billing");
  // 4194304 is above Linux's largest pid, so no process has it.
  const auto dead = dir.path() / "billing/.Account.csv.tmp-4194305-0";
  const auto live = dir.path() / ("billing/.Account.csv.tmp-" + std::to_string(::getpid()) + "-999");
  std::ofstream(dead) << "half";
  std::ofstream(live) << "in progress";
  auto s = csv_at(dir.path());
  auto stream = s->open(stream_schema{"billing", "job1", "Account", {"Id"}});
  stream->commit(file_token{});
  CHECK_FALSE(std::filesystem::exists(dead));
  CHECK(std::filesystem::exists(live));
}

TEST_CASE("a killed writer's temporary of another file (an incremental one, never written again) is swept too") {
  temp_dir dir;
  std::filesystem::create_directories(dir.path() / "billing");
  const auto orphan = dir.path() / "billing/.Account.20261129T150000Z.csv.tmp-4194305-3";
  const auto not_ours = dir.path() / "billing/.notes.tmp-4194305";  // not our pattern: kept
  std::ofstream(orphan) << "half";
  std::ofstream(not_ours) << "a user's file";
  auto s = csv_at(dir.path());
  auto stream = s->open(stream_schema{"billing", "job2", "Invoice", {"Id"}});
  stream->commit(file_token{});
  CHECK_FALSE(std::filesystem::exists(orphan));
  CHECK(std::filesystem::exists(not_ours));
}

TEST_CASE("a failed rerun does not touch the committed file") {
  temp_dir dir;
  auto s = csv_at(dir.path());
  const stream_schema schema{"billing", "job1", "Account", {"Id"}};
  batch_builder first({{"1"}});
  auto a = s->open(schema);
  a->write(first.batch(schema));
  a->commit(file_token{});
  batch_builder second({{"2"}});
  auto b = s->open(schema);
  b->write(second.batch(schema));
  b->abort();
  CHECK(test::parse_csv_text(test::read_file((dir.path() / "billing/Account.csv").string())) ==
        test::rows{{"Id"}, {"1"}});
}

TEST_CASE("hostile job and query names stay inside the sink's root") {
  temp_dir dir;
  auto s = csv_at(dir.path());
  const std::vector<std::string> names = {"../escape", "..", ".", "a/b\\c", std::string("nul\0name", 8), "quote'\"",
                                          std::string(300, 'x'), "", "\x01\x1f\x7f"};
  for (const auto& job : names) {
    for (const auto& query : names) {
      auto stream = s->open(stream_schema{job, "id", query, {"c"}});
      stream->commit(file_token{});
    }
  }
  for (const auto& f : dir.files()) {
    CAPTURE(f);
    const auto full = std::filesystem::weakly_canonical(dir.path() / f);
    CHECK(full.string().rfind(std::filesystem::canonical(dir.path()).string() + "/", 0) == 0);
    CHECK(f.find("..") == std::string::npos);
    for (char c : f) CHECK(static_cast<unsigned char>(c) >= 0x20);
  }
  CHECK(sinks::safe_file_name(std::string(300, 'x')).size() == 200);
  CHECK(sinks::safe_file_name("..") == "__");
  CHECK(sinks::safe_file_name("../x") == "_._x");
  CHECK(sinks::safe_file_name("a..b.") == "a._b_");
  CHECK(sinks::safe_file_name("Invoice.Items") == "Invoice.Items");
}

TEST_CASE("the registry checks options and names every sink type") {
  sink_config c;
  c.type = "csv";
  c.where = {"p.toml", 3, 1};
  auto problems = sinks::check_sink_config(c);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "p.toml:3:1: sink type \"csv\" needs 'path'");

  c.options["path"] = {"out", {"p.toml", 4, 1}};
  c.options["colour"] = {"blue", {"p.toml", 5, 1}};
  problems = sinks::check_sink_config(c);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].rfind("p.toml:5:1: unknown key 'colour'", 0) == 0);

  c.type = "parquet";
  problems = sinks::check_sink_config(c);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("unknown sink type \"parquet\" (available: csv, ndjson, null, postgres, singer, sqlite)") != std::string::npos);
}

TEST_CASE("the callback sink sees every batch with its schema") {
  std::vector<std::string> seen;
  auto s = make_callback_sink([&](const row_batch& rows) {
    for (std::size_t r = 0; r < rows.size(); ++r) seen.push_back(rows.schema().query + ":" + std::string(rows.field(r, 0)));
  });
  const stream_schema schema{"j", "id", "Q", {"c"}};
  batch_builder b({{"x"}, {"y"}});
  auto stream = s->open(schema);
  stream->write(b.batch(schema));
  stream->commit(file_token{});
  CHECK(seen == std::vector<std::string>{"Q:x", "Q:y"});
}

#include "engine/result_pipeline.hpp"

#include "support/gzip_bytes.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

using namespace aquaduct;
using engine_detail::result_pipeline;

namespace {

// A sink that keeps what it was given, and whether it was committed.
struct recording_sink final : sink {
  struct state {
    std::vector<std::string> columns;
    std::vector<std::vector<std::string>> rows;
    int opened = 0, committed = 0, aborted = 0;
  } st;
  struct stream final : sink_stream {
    state& st;
    explicit stream(state& s) : st(s) {}
    void write(const row_batch& b) override {
      for (std::size_t r = 0; r < b.size(); ++r) {
        std::vector<std::string> row;
        for (std::size_t c = 0; c < b.field_count(r); ++c) row.emplace_back(b.field(r, c));
        st.rows.push_back(std::move(row));
      }
    }
    void commit(const file_token&) override { ++st.committed; }
    void abort() noexcept override { ++st.aborted; }
  };
  std::string_view type() const noexcept override { return "recording"; }
  std::unique_ptr<sink_stream> open(const stream_schema& s) override {
    st.columns = s.columns;
    ++st.opened;
    return std::make_unique<stream>(st);
  }
  void close() override {}
};

const std::string csv_text =
    "Account.Id,Account.Name\n"
    "1,\"Smith, Jones & \"\"Co\"\"\"\n"
    "2,\"two\nlines\"\n"
    "3,Ærøskøbing\n";

const std::vector<std::vector<std::string>> expected_rows = {
    {"1", "Smith, Jones & \"Co\""}, {"2", "two\nlines"}, {"3", "Ærøskøbing"}};

void feed_split(result_pipeline& p, const std::string& bytes, std::size_t cut) {
  p.put(std::string_view(bytes).substr(0, cut));
  p.put(std::string_view(bytes).substr(cut));
}

}  // namespace

TEST_CASE("csv and gzip results reach the sink identically at every split point") {
  for (const std::string format : {"csv", "gzip"}) {
    const std::string body = format == "gzip" ? test::gzip_bytes(csv_text) : csv_text;
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
      CAPTURE(format);
      CAPTURE(cut);
      recording_sink s;
      result_pipeline p(format, stream_schema{"billing", "j1", "Account", {}}, {&s});
      p.begin_file("f1");
      feed_split(p, body, cut);
      p.end_file();
      p.commit(file_token{});
      CHECK(s.st.columns == std::vector<std::string>{"Account.Id", "Account.Name"});
      CHECK(s.st.rows == expected_rows);
      CHECK(p.rows() == 3);
      CHECK(p.bytes_decoded() == csv_text.size());
      CHECK(s.st.committed == 1);
    }
  }
}

TEST_CASE("segments: each file's header is skipped, and must match the first") {
  recording_sink s;
  result_pipeline p("csv", stream_schema{"billing", "j1", "Account", {}}, {&s});
  p.begin_file("f1");
  p.put("Id,Name\n1,a\n");
  p.end_file();
  p.begin_file("f2");
  p.put("Id,Name\n2,b\n");
  p.end_file();
  CHECK(s.st.opened == 1);
  CHECK(s.st.rows == std::vector<std::vector<std::string>>{{"1", "a"}, {"2", "b"}});
  p.begin_file("f3");
  try {
    p.put("Id,Other\n3,c\n");
    FAIL("expected a header mismatch");
  } catch (const std::system_error& e) {
    CHECK(e.code() == aqua_errc::header_mismatch);
    CHECK(std::string(e.what()).find("job billing, query Account, file f3") != std::string::npos);
  }
}

TEST_CASE("a gzip stream cut short is an error naming the file, and the sink is aborted") {
  const std::string gz = test::gzip_bytes(csv_text);
  for (std::size_t len = 0; len < gz.size(); ++len) {
    CAPTURE(len);
    recording_sink s;
    {
      result_pipeline p("gzip", stream_schema{"billing", "j1", "Account", {}}, {&s});
      p.begin_file("f9");
      try {
        p.put(std::string_view(gz).substr(0, len));
        p.end_file();
        FAIL("a truncated gzip stream was accepted");
      } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("file f9") != std::string::npos);
      }
    }
    CHECK(s.st.committed == 0);
    CHECK(s.st.aborted == s.st.opened);
  }
}

TEST_CASE("a ragged row is an error with its record number") {
  recording_sink s;
  result_pipeline p("csv", stream_schema{"billing", "j1", "Account", {}}, {&s});
  p.begin_file("f1");
  try {
    p.put("Id,Name\n1,a\n2\n");
    p.end_file();
    FAIL("expected an error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == aqua_errc::bad_response);
    CHECK(std::string(e.what()).find("record 3 has 1 fields, the header has 2") != std::string::npos);
  }
}

TEST_CASE("an unterminated quote names the record and byte offset") {
  recording_sink s;
  result_pipeline p("csv", stream_schema{"billing", "j1", "Account", {}}, {&s});
  p.begin_file("f1");
  p.put("Id,Name\n1,\"open");
  try {
    p.end_file();
    FAIL("expected an error");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("at record 2, byte offset") != std::string::npos);
  }
}

TEST_CASE("an empty result file (no header) is an error; a header-only one is zero rows") {
  recording_sink s;
  result_pipeline p("csv", stream_schema{"billing", "j1", "Account", {}}, {&s});
  p.begin_file("f1");
  CHECK_THROWS_AS(p.end_file(), std::system_error);

  recording_sink t;
  result_pipeline q("csv", stream_schema{"billing", "j1", "Account", {}}, {&t});
  q.begin_file("f1");
  q.put("Id,Name\n");
  q.end_file();
  q.commit(file_token{});
  CHECK(t.st.columns.size() == 2);
  CHECK(t.st.rows.empty());
  CHECK(t.st.committed == 1);
}

TEST_CASE("rows that differ from recordCount fail the batch before anything is committed") {
  recording_sink s;
  {
    result_pipeline p("csv", stream_schema{"billing", "j1", "Account", {}}, {&s});
    p.begin_file("f1");
    p.put("Id\n1\n2\n");
    p.end_file();
    p.expect_rows(2);
    try {
      p.expect_rows(3);
      FAIL("expected a mismatch");
    } catch (const std::system_error& e) {
      CHECK(e.code() == aqua_errc::record_count_mismatch);
      CHECK(std::string(e.what()).find("job billing, query Account: 2 rows in 1 file(s), the batch's recordCount says 3") ==
            0);
    }
  }
  CHECK(s.st.committed == 0);
  CHECK(s.st.aborted == 1);
}

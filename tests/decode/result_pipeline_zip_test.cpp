// Format "zip" through the engine's result_pipeline: an archive as AQuA's
// emulator writes it (one entry; with --zip-stream, data descriptors) reaches
// the sink at every split point, and a damaged one is an error naming the file.
#include "engine/result_pipeline.hpp"

#include "fuzz/fuzz_support.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

using namespace aquaduct;
using engine_detail::result_pipeline;

namespace {

const std::string csv_text =
    "Account.Id,Account.Name\n"
    "1,\"Smith, Jones & \"\"Co\"\"\"\n"
    "2,\"two\nlines\"\n"
    "3,Ærøskøbing\n";

using rows = std::vector<std::vector<std::string>>;

struct collected {
  rows got;
  std::unique_ptr<sink> s = make_callback_sink([this](const row_batch& b) {
    for (std::size_t r = 0; r < b.size(); ++r) {
      std::vector<std::string> row;
      for (std::size_t c = 0; c < b.field_count(r); ++c) row.emplace_back(b.field(r, c));
      got.push_back(std::move(row));
    }
  });
};

}  // namespace

TEST_CASE("zip results reach the sink at every split point, with and without data descriptors") {
  for (const bool descriptor : {false, true}) {
    const std::string zip = fuzz::zip_bytes("Account.csv", csv_text, {.deflated = true, .descriptor = descriptor});
    for (std::size_t cut = 0; cut <= zip.size(); ++cut) {
      CAPTURE(descriptor);
      CAPTURE(cut);
      collected c;
      result_pipeline p("zip", stream_schema{"billing", "j1", "Account", {}}, {c.s.get()});
      p.begin_file("f1");
      p.put(std::string_view(zip).substr(0, cut));
      p.put(std::string_view(zip).substr(cut));
      p.end_file();
      p.expect_rows(3);
      p.commit(file_token{});
      CHECK(p.schema().columns == std::vector<std::string>{"Account.Id", "Account.Name"});
      CHECK(c.got == rows{{"1", "Smith, Jones & \"Co\""}, {"2", "two\nlines"}, {"3", "Ærøskøbing"}});
      CHECK(p.bytes_in() == zip.size());
      CHECK(p.bytes_decoded() == csv_text.size());
    }
  }
}

TEST_CASE("a cut or damaged zip result is an error that names the file") {
  const std::string zip = fuzz::zip_bytes("Account.csv", csv_text);
  const std::size_t central = zip.find("PK\x01\x02");
  for (std::size_t len = 0; len < central; len += 7) {
    CAPTURE(len);
    collected c;
    result_pipeline p("zip", stream_schema{"billing", "j1", "Account", {}}, {c.s.get()});
    p.begin_file("f7");
    try {
      p.put(std::string_view(zip).substr(0, len));
      p.end_file();
      FAIL("a truncated zip was accepted");
    } catch (const std::system_error& e) {
      CHECK(std::string(e.what()).find("job billing, query Account, file f7") != std::string::npos);
    }
  }
  std::string bad = zip;
  bad[central - 20] = static_cast<char>(bad[central - 20] ^ 0x40);  // inside the deflate data
  collected c;
  result_pipeline p("zip", stream_schema{"billing", "j1", "Account", {}}, {c.s.get()});
  p.begin_file("f8");
  CHECK_THROWS_WITH_AS(
      {
        p.put(bad);
        p.end_file();
      },
      doctest::Contains("file f8"), std::system_error);
}

TEST_CASE("an unknown result format is refused up front") {
  collected c;
  CHECK_THROWS_WITH_AS(result_pipeline("tar", stream_schema{"billing", "j1", "Account", {}}, {c.s.get()}),
                       doctest::Contains("unknown result format 'tar'"), std::system_error);
}

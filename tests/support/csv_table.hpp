#pragma once
// Reading a whole CSV file into rows of strings, for tests that compare output.
#include "decode/csv_parser.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace aquaduct::test {

using rows = std::vector<std::vector<std::string>>;

// Moves the parser's complete records into `out` and clears them.
inline void take_records(decode::csv_parser& p, rows& out) {
  const auto& r = p.records();
  for (std::size_t i = 0; i < r.size(); ++i) {
    std::vector<std::string> row;
    for (std::size_t c = 0; c < r.field_count(i); ++c) row.emplace_back(r.field(i, c));
    out.push_back(std::move(row));
  }
  p.clear_records();
}

inline rows parse_csv_text(const std::string& text) {
  decode::csv_parser p;
  rows out;
  std::error_code ec;
  const auto take = [&] { take_records(p, out); };
  p.put(text, ec);
  if (ec) throw std::runtime_error("bad CSV: " + ec.message());
  take();
  p.finish(ec);
  if (ec) throw std::runtime_error("bad CSV: " + ec.message());
  take();
  return out;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace aquaduct::test

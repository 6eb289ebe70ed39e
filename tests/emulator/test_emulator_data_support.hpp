#pragma once
// Helpers for the emulator-data unit tests: a tiny reference CSV reader of
// our own (the emulator shares no parsing code with the client), file and
// command helpers.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <zlib.h>

#include <doctest/doctest.h>

#include "emulator/result_writer.hpp"
#include "emulator/zoql.hpp"

namespace emu_data_test {

using csv_rows = std::vector<std::vector<std::string>>;

// An export of an Export ZOQL query named "Q", defaults otherwise.
inline aquaduct::emulator::export_spec spec_for(std::string_view query) {
  aquaduct::emulator::export_spec s;
  std::string err;
  REQUIRE_MESSAGE(aquaduct::emulator::parse_zoql(query, aquaduct::emulator::zoql_dialect::export_zoql, s.query, err),
                  err);
  s.name.push_back('Q');  // (s.name = "Q" trips a g++ 12 -Wrestrict false positive)
  return s;
}

// RFC 4180: quoted fields may hold commas, doubled quotes and line breaks;
// records end with \n or \r\n. Throws on a malformed quote.
inline csv_rows read_csv(const std::string& s) {
  csv_rows rows;
  std::vector<std::string> row;
  std::string field;
  std::size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"' && field.empty()) {
      ++i;
      for (;;) {
        if (i >= s.size()) throw std::runtime_error("unterminated quote");
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += s[i++];
      }
      if (i < s.size() && s[i] != ',' && s[i] != '\n' && s[i] != '\r') throw std::runtime_error("byte after quote");
      any = true;
      continue;
    }
    if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
      ++i;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r') {
        if (i + 1 >= s.size() || s[i + 1] != '\n') throw std::runtime_error("bare CR");
        ++i;
      }
      ++i;
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      field += c;
      any = true;
      ++i;
    }
  }
  if (any || !field.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs a shell command; returns its exit status and stdout.
inline int run(const std::string& cmd, std::string* out = nullptr) {
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    if (out != nullptr) out->append(buf, n);
  const int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Inflates every gzip member of `data`.
inline std::string gunzip(const std::string& data) {
  z_stream zs{};
  if (inflateInit2(&zs, 31) != Z_OK) throw std::runtime_error("inflateInit2");
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  char buf[65536];
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);
      continue;
    }
    if (rc != Z_OK) {
      inflateEnd(&zs);
      throw std::runtime_error("bad gzip");
    }
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace emu_data_test

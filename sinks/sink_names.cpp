#include "sinks/sink_names.hpp"

#include <cstdint>
#include <cstdio>
#include <map>

namespace aquaduct::sinks {

std::string safe_file_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f || c == '/' || c == '\\') ? '_' : c;
  }
  if (out.size() > 200) {
    out.resize(200);
    // Do not cut a UTF-8 sequence in half.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
  }
  if (out.empty()) return "_";
  // No "..", no hidden files, no trailing dot: a dot never starts the name,
  // never follows another dot and never ends it.
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i] == '.' && (i == 0 || out[i - 1] == '.' || i + 1 == out.size())) out[i] = '_';
  return out;
}

std::string safe_sql_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '_' : c;
  }
  if (out.empty()) return "_";
  if (out.size() <= 63) return out;
  std::uint32_t h = 2166136261u;  // FNV-1a over the original name
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  out.resize(54);
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
  if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%08x", h);
  return out + suffix;
}

std::string table_name(std::string_view job, std::string_view query) {
  std::string joined(job);
  joined += "__";
  joined += query;
  return safe_sql_name(joined);
}

std::string table_name(const stream_schema& schema) {
  return schema.table.empty() ? table_name(schema.job, schema.query) : safe_sql_name(schema.table);
}

std::string file_base_name(const stream_schema& schema) {
  return safe_file_name(schema.table.empty() ? schema.query : schema.table);
}

namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string folded(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

std::string_view prefix_of(std::string_view name) {
  const std::size_t dot = name.find('.');
  return dot == std::string_view::npos ? std::string_view{} : name.substr(0, dot);
}

}  // namespace

renamed_columns field_names(const std::vector<std::string>& columns, std::string_view object,
                            std::optional<std::size_t> key_column) {
  renamed_columns out;
  std::string base(object);
  if (base.empty() && key_column && *key_column < columns.size()) base = prefix_of(columns[*key_column]);
  if (base.empty()) {  // the most common prefix, the first of equals
    std::map<std::string, std::size_t> count;
    std::size_t best = 0;
    for (const auto& c : columns) {
      const std::string_view p = prefix_of(c);
      if (!p.empty() && ++count[folded(p)] > best) {
        best = count[folded(p)];
        base = p;
      }
    }
  }
  const std::string base_folded = folded(base);
  std::map<std::string, std::size_t> seen;  // folded new name -> column
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const std::string_view c = columns[i];
    if (c.find('.') == std::string_view::npos && c.find(": ") != std::string_view::npos) {
      out.label = i;
      return out;
    }
    std::string name;
    std::size_t from = 0;
    if (const std::string_view p = prefix_of(c); !p.empty() && folded(p) == base_folded) from = p.size() + 1;
    for (std::size_t k = from; k < c.size(); ++k)
      if (c[k] != '.') name += c[k];
    if (name.empty()) name = c;
    const auto [it, fresh] = seen.emplace(folded(name), i);
    if (!fresh) {
      out.collision = std::make_pair(it->second, i);
      return out;
    }
    out.names.push_back(std::move(name));
  }
  return out;
}

std::string renamed_columns::message(const std::vector<std::string>& columns) const {
  const auto col = [&](std::size_t i) { return i < columns.size() ? "'" + columns[i] + "'" : std::string("?"); };
  if (label)
    return "columns = \"fields\" renames API names (Account.Id), but column " + col(*label) +
           " is a display label: set use_query_labels = true on the query, or keep columns = \"labels\"";
  if (collision)
    return "columns = \"fields\" gives columns " + col(collision->first) + " and " + col(collision->second) +
           " the same name '" + names[collision->first] +
           "': alias one of them in the query (select ... as Name), or keep columns = \"labels\"";
  return {};
}

std::string quote_ident(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace aquaduct::sinks

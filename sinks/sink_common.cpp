#include "sinks/sink_common.hpp"

#include "sinks/sink_names.hpp"

#include <aquaduct/error.hpp>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <system_error>
#include <utility>

namespace aquaduct::sinks {

namespace fs = std::filesystem;

// ---- options ---------------------------------------------------------------

const option_value* option_reader::find(std::string_view key) {
  known_.emplace_back(key);
  const auto it = cfg_.options.find(std::string(key));
  return it == cfg_.options.end() ? nullptr : &it->second;
}

void option_reader::bad(const option_value& v, std::string_view key, const std::string& why) {
  problems_.push_back(v.where.to_string() + ": sink type \"" + cfg_.type + "\": '" + std::string(key) + "' " + why);
}

void option_reader::text(std::string_view key, std::string& out, need n) {
  if (const auto* v = find(key)) out = v->text;
  else if (n == need::required)
    problems_.push_back(cfg_.where.to_string() + ": sink type \"" + cfg_.type + "\" needs '" + std::string(key) + "'");
}

void option_reader::integer(std::string_view key, std::uint32_t& out, std::uint32_t min, std::uint32_t max) {
  const auto* v = find(key);
  if (!v) return;
  std::uint64_t n = 0;
  const auto* end = v->text.data() + v->text.size();
  const auto [p, ec] = std::from_chars(v->text.data(), end, n);
  if (ec != std::errc() || p != end || n < min || n > max)
    bad(*v, key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  else
    out = static_cast<std::uint32_t>(n);
}

void option_reader::choice(std::string_view key, std::string& out, std::initializer_list<std::string_view> allowed) {
  const auto* v = find(key);
  if (!v) return;
  std::string list;
  for (auto a : allowed) {
    if (a == v->text) {
      out = v->text;
      return;
    }
    list += (list.empty() ? "" : " | ") + std::string(a);
  }
  bad(*v, key, "must be one of " + list);
}

void option_reader::finish() {
  std::string list;
  for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
  for (const auto& [key, value] : cfg_.options) {
    bool ok = false;
    for (const auto& k : known_) ok |= k == key;
    if (!ok)
      problems_.push_back(value.where.to_string() + ": unknown key '" + key + "' for sink type \"" + cfg_.type +
                          "\" (" + (list.empty() ? "it has no options" : "known: " + list) + ")");
  }
}

// ---- file names ------------------------------------------------------------

std::string stream_file_name(const stream_schema& schema, std::string_view ext) {
  std::string name = file_base_name(schema);
  if (schema.load == load_kind::incremental) {
    name += '.';
    name += compact_utc(schema.started_at);
  }
  name += '.';
  name += ext;
  return name;
}

void remove_incremental_files(const fs::path& dir, const stream_schema& schema, std::string_view ext) {
  std::string prefix = file_base_name(schema);
  prefix += '.';
  std::string suffix(1, '.');
  suffix += ext;
  const bool all = schema.started_at == std::chrono::sys_seconds{};
  const std::string upto = compact_utc(schema.started_at);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != prefix.size() + 16 + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string stamp = name.substr(prefix.size(), 16);
    bool is_stamp = stamp[8] == 'T' && stamp[15] == 'Z';
    for (std::size_t i = 0; i < 15; ++i)
      if (i != 8) is_stamp &= stamp[i] >= '0' && stamp[i] <= '9';
    if (is_stamp && (all || stamp <= upto)) fs::remove(entry.path(), ec);
  }
}

// ---- JSON rows ---------------------------------------------------------------

json_row_encoder::json_row_encoder(const stream_schema& schema, values v, std::string_view sink)
    : tap_(v == values::tap_zuora), null_value_(schema.null_value), schema_(schema), sink_(sink) {
  const auto deleted = deleted_column_index(schema);
  for (std::size_t i = 0; i < schema.columns.size(); ++i) {
    std::string k = i ? ",\"" : "{\"";
    append_json_escaped(k, schema.columns[i]);
    k += "\":";
    keys_.push_back(std::move(k));
    value_kind kind = v != values::strings && i < schema.types.size() ? kind_of(schema.types[i]) : value_kind::text;
    if (kind == value_kind::boolean && deleted == i && schema.deleted->format == "Numeric")
      kind = value_kind::numeric_flag;
    if (tap_ && kind == value_kind::date) kind = value_kind::datetime;
    kinds_.push_back(kind);
    if (kind != value_kind::text && !(tap_ && kind == value_kind::boolean)) checked_.push_back(i);
  }
}

void json_row_encoder::check(const row_batch& rows, std::size_t r, std::uint64_t row_number) const {
  const std::size_t n = rows.field_count(r);
  for (const std::size_t c : checked_) {
    if (c >= n) break;
    const std::string_view v = rows.field(r, c);
    bool flag;
    char utc[utc_datetime_size];
    if (!v.empty() && !(null_value_ && v == *null_value_) &&
        !(tap_ && kinds_[c] == value_kind::datetime ? utc_datetime(v, utc) : fits(kinds_[c], v, flag)))
      refuse_value(sink_, schema_, row_number, c, v, kinds_[c]);
  }
}

std::size_t json_row_encoder::max_bytes(const row_batch& rows, std::size_t r) const noexcept {
  const std::size_t n = std::min(rows.field_count(r), keys_.size());
  std::size_t bound = 2;  // '{' of an empty row, '}'
  for (std::size_t c = 0; c < n; ++c)  // 6 a byte covers a datetime's normal form, 20 bytes for a 10-byte date
    bound += keys_[c].size() + json_escaped_max * rows.field(r, c).size() + 6;  // quotes, or null, false
  return bound;
}

char* json_row_encoder::write(char* p, const row_batch& rows, std::size_t r, std::uint64_t row_number) const {
  const auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  const std::size_t n = std::min(rows.field_count(r), keys_.size());
  if (n == 0) *p++ = '{';
  for (std::size_t c = 0; c < n; ++c) {
    put(keys_[c]);
    const std::string_view v = rows.field(r, c);
    if (null_value_ && v == *null_value_) {
      put("null");
      continue;
    }
    const value_kind k = kinds_[c];
    if (k == value_kind::text) {
      *p++ = '"';
      p = write_json_escaped(p, v);
      *p++ = '"';
      continue;
    }
    if (tap_ && k == value_kind::boolean) {
      put(python_truth(v) ? "true" : "false");
      continue;
    }
    if (v.empty()) {
      put("null");
      continue;
    }
    bool flag = false;
    switch (k) {
      case value_kind::integer:
      case value_kind::decimal:
        if (!fits(k, v, flag)) refuse_value(sink_, schema_, row_number, c, v, k);
        put(v);  // the exact digits
        break;
      case value_kind::boolean:
      case value_kind::numeric_flag:
        if (!fits(k, v, flag)) refuse_value(sink_, schema_, row_number, c, v, k);
        put(flag ? "true" : "false");
        break;
      case value_kind::date:
        if (!is_date(v)) refuse_value(sink_, schema_, row_number, c, v, k);
        *p++ = '"';
        put(v);
        *p++ = '"';
        break;
      case value_kind::datetime: {
        std::size_t len = utc_datetime_size;
        *p++ = '"';
        if (tap_ ? !utc_datetime(v, p)
                 : v.size() > datetime_max || !normal_datetime(v, p, len))
          refuse_value(sink_, schema_, row_number, c, v, k);
        p += len;
        *p++ = '"';
        break;
      }
      case value_kind::text: break;
    }
  }
  *p++ = '}';
  return p;
}

void json_row_encoder::append(std::string& out, const row_batch& rows, std::size_t r, std::uint64_t row_number) const {
  const std::size_t at = out.size();
  out.resize(at + max_bytes(rows, r));
  try {
    out.resize(static_cast<std::size_t>(write(out.data() + at, rows, r, row_number) - out.data()));
  } catch (...) {
    out.resize(at);
    throw;
  }
}

// ---- commits and columns ---------------------------------------------------

namespace {
// A name fit for a message: control characters (NUL included) as \xNN.
std::string printable(std::string_view name) {
  std::string out;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out += c;
      continue;
    }
    static constexpr char hex[] = "0123456789abcdef";
    out += "\\x";
    out += hex[u >> 4];
    out += hex[u & 15];
  }
  return out;
}
}  // namespace

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) p = path;
  p = p.lexically_normal();
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  return p.string();
}

void read_column_names(option_reader& r, column_names& out) {
  std::string v = out == column_names::fields ? "fields" : "labels";
  r.choice("columns", v, {"labels", "fields"});
  out = v == "fields" ? column_names::fields : column_names::labels;
}

stream_schema with_column_names(const stream_schema& schema, column_names mode, std::string_view sink) {
  if (mode == column_names::labels || schema.columns.empty()) return schema;
  const renamed_columns r = field_names(schema.columns, schema.object, schema.key_column);
  if (!r.ok())
    throw std::system_error(sink_errc::bad_options,
                            std::string(sink) + ": " + where(schema) + ": " + r.message(schema.columns));
  stream_schema out = schema;
  if (const auto d = deleted_column_index(schema)) out.deleted->column = r.names[*d];
  out.columns = r.names;
  return out;
}

std::string where(const stream_schema& schema) {
  return "job " + printable(schema.job) + ", query " + printable(schema.query);
}

commit_key make_commit_key(const stream_schema& schema, const file_token& token) {
  commit_key k{printable(schema.job), printable(schema.query), {}};
  for (const auto& id : token.file_ids) k.file_ids += (k.file_ids.empty() ? "" : ",") + id;
  if (k.file_ids.empty()) k.file_ids = token.job_id;  // a stream with no files: one commit per service job
  return k;
}

std::optional<std::size_t> deleted_column_index(const stream_schema& schema) {
  if (!schema.deleted) return std::nullopt;
  for (std::size_t i = 0; i < schema.columns.size(); ++i)
    if (schema.columns[i] == schema.deleted->column) return i;
  return std::nullopt;
}

bool is_deleted_flag(const deleted_column& d, std::string_view value) noexcept {
  return d.format == "Numeric" ? value == "1" : value == "true";
}

}  // namespace aquaduct::sinks

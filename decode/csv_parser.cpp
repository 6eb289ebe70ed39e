// A scalar RFC 4180 state machine whose inner loops move whole runs of
// ordinary bytes at once (a class table for unquoted fields, memchr for
// quoted ones). The SIMD fast path will slot in behind the same interface.
#include "decode/csv_parser.hpp"

#include "decode/decode_error.hpp"

#include <array>
#include <cstring>

namespace aquaduct::decode {

namespace {

enum state : int {
  field_start = 0,  // nothing of the current field seen yet
  unquoted,         // inside an unquoted field
  quoted,           // inside a quoted field
  quote_seen,       // a quote inside a quoted field: an escaped quote or the closing one
  after_cr,         // a CR ended a record; an LF right after it belongs to it
};

constexpr unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

// Bytes that end a run in an unquoted field. A '"' inside an unquoted field
// is kept as data: many producers write such fields, and the field is not
// ambiguous.
constexpr std::array<bool, 256> make_specials() {
  std::array<bool, 256> t{};
  t[static_cast<unsigned char>(',')] = true;
  t[static_cast<unsigned char>('\r')] = true;
  t[static_cast<unsigned char>('\n')] = true;
  return t;
}
constexpr std::array<bool, 256> specials = make_specials();

}  // namespace

csv_parser::csv_parser(csv_limits limits) : limits_(limits) { reset(); }

void csv_parser::reset() {
  buf_.clear();
  records_.field_offsets_.assign(1, 0);
  records_.fields_ = 0;
  records_.record_offsets_.assign(1, 0);
  state_ = field_start;
  at_stream_start_ = true;
  bom_matched_ = 0;
  record_started_ = false;
  records_total_ = bytes_total_ = 0;
  error_record_ = error_offset_ = 0;
  publish();
}

void csv_parser::publish() noexcept {
  records_.data_view_ = std::string_view(buf_.data(), records_.field_offsets_[records_.fields_]);
}

void csv_parser::fail(std::error_code& ec, std::error_code code, std::uint64_t offset) {
  ec = code;
  error_record_ = records_total_ + 1;
  error_offset_ = offset;
}

bool csv_parser::field_fits(std::uint64_t offset, std::error_code& ec) {
  const std::size_t length = buf_.size() - records_.field_offsets_.back();
  if (length <= limits_.max_field_bytes) return true;
  // `offset` is where the run just appended ends; point at its first byte
  // past the limit, so the position does not depend on the chunking.
  fail(ec, errc::csv_field_too_large, offset - (length - limits_.max_field_bytes));
  return false;
}

bool csv_parser::end_field(char ender, std::uint64_t offset, std::error_code& ec) {
  auto& offs = records_.field_offsets_;
  offs.push_back(buf_.size());
  // A separator announces one more field: refuse it at the separator.
  if (ender == ',' && offs.size() - 1 - records_.fields_ >= limits_.max_columns) {
    fail(ec, errc::csv_too_many_columns, offset);
    return false;
  }
  return true;
}

bool csv_parser::end_field_at(char ender, std::uint64_t offset, std::error_code& ec) {
  if (!end_field(ender, offset, ec)) return false;
  if (ender == ',') {
    state_ = field_start;
  } else {
    end_record();
    state_ = ender == '\r' ? after_cr : field_start;
  }
  return true;
}

void csv_parser::end_record() {
  records_.fields_ = records_.field_offsets_.size() - 1;
  records_.record_offsets_.push_back(records_.fields_);
  ++records_total_;
  record_started_ = false;
}

bool csv_parser::parse_bom_prefix(std::error_code& ec) {
  const char* prefix = reinterpret_cast<const char*>(bom);
  return parse(prefix, prefix + bom_matched_, 0, ec) == prefix + bom_matched_ && !ec;
}

const char* csv_parser::parse(const char* p, const char* const end, std::uint64_t base, std::error_code& ec) {
  const char* const begin = p;
  const auto at = [&](const char* q) { return base + static_cast<std::uint64_t>(q - begin); };
  // A run is appended before its length is checked; on overflow put() must
  // still stop at the first byte past the limit, whatever the chunking.
  const auto overflow_at = [&] { return begin + static_cast<std::ptrdiff_t>(error_offset_ - base); };
  while (p < end) {
    switch (state_) {
      case after_cr:
        if (*p == '\n') ++p;
        state_ = field_start;
        break;
      case field_start:
        record_started_ = true;
        if (*p == '"') {
          ++p;
          state_ = quoted;
          break;
        }
        state_ = unquoted;
        [[fallthrough]];
      case unquoted: {
        const char* q = p;
        while (q < end && !specials[static_cast<unsigned char>(*q)]) ++q;
        buf_.append(p, q);
        if (!field_fits(at(q), ec)) return overflow_at();
        p = q;
        if (p == end) break;
        if (!end_field_at(*p, at(p), ec)) return p;
        ++p;
        break;
      }
      case quoted: {
        const void* hit = std::memchr(p, '"', static_cast<std::size_t>(end - p));
        const char* q = hit ? static_cast<const char*>(hit) : end;
        buf_.append(p, q);
        if (!field_fits(at(q), ec)) return overflow_at();
        p = q;
        if (p == end) break;
        ++p;
        state_ = quote_seen;
        break;
      }
      case quote_seen: {
        const char c = *p;
        if (c == '"') {
          buf_ += '"';
          if (!field_fits(at(p) + 1, ec)) return p;
          ++p;
          state_ = quoted;
        } else if (c == ',' || c == '\n' || c == '\r') {
          if (!end_field_at(c, at(p), ec)) return p;
          ++p;
        } else {
          fail(ec, errc::csv_bad_quote, at(p));
          return p;
        }
        break;
      }
    }
  }
  return p;
}

std::size_t csv_parser::put(std::string_view in, std::error_code& ec) {
  ec.clear();
  const char* p = in.data();
  const char* const end = p + in.size();
  // A UTF-8 BOM is dropped, but only at the very start of the stream; a
  // prefix of it that turns out not to be one is data.
  while (at_stream_start_ && p < end) {
    if (static_cast<unsigned char>(*p) == bom[bom_matched_]) {
      ++p;
      if (++bom_matched_ == 3) at_stream_start_ = false;
      continue;
    }
    at_stream_start_ = false;
    // The prefix has no special bytes, but it can still exceed a tiny
    // max_field_bytes; its bytes sit at stream offsets 0..2, hence base 0.
    if (!parse_bom_prefix(ec)) {
      bytes_total_ += static_cast<std::size_t>(p - in.data());
      publish();
      return static_cast<std::size_t>(p - in.data());
    }
  }
  const char* stop = parse(p, end, bytes_total_ + static_cast<std::uint64_t>(p - in.data()), ec);
  const auto used = static_cast<std::size_t>(stop - in.data());
  bytes_total_ += used;
  publish();
  return used;
}

void csv_parser::finish(std::error_code& ec) {
  ec.clear();
  if (at_stream_start_ && bom_matched_ > 0) {
    at_stream_start_ = false;
    if (!parse_bom_prefix(ec)) {
      publish();
      return;
    }
  }
  if (state_ == quoted) {
    fail(ec, errc::csv_unterminated_quote, bytes_total_);
    return;
  }
  if (record_started_ && end_field('\n', bytes_total_, ec)) end_record();
  state_ = field_start;
  publish();
}

void csv_parser::clear_records() {
  auto& offs = records_.field_offsets_;
  const std::size_t done_fields = records_.fields_;
  const std::size_t keep_from = offs[done_fields];
  buf_.erase(0, keep_from);
  // The partial record's finished fields move to the front.
  for (std::size_t i = done_fields; i < offs.size(); ++i) offs[i - done_fields] = offs[i] - keep_from;
  offs.resize(offs.size() - done_fields);
  records_.fields_ = 0;
  records_.record_offsets_.resize(1);
  publish();
}

}  // namespace aquaduct::decode

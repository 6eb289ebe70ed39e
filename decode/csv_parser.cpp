// A scalar RFC 4180 state machine whose inner loops move whole runs of
// ordinary bytes at once (a class table for unquoted fields, memchr for
// quoted ones), and a SIMD path for whole 64-byte blocks (parse_simd).
#include "decode/csv_parser.hpp"

#include "decode/decode_error.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#define AQUADUCT_CSV_SIMD 1
#define AQUADUCT_SIMD_TARGET __attribute__((target("avx2,pclmul,bmi,popcnt")))
#endif

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

csv_parser::csv_parser(csv_limits limits, csv_path path)
    : limits_(limits), simd_(path != csv_path::scalar && simd_supported()) {
  reset();
}

bool csv_parser::simd_supported() noexcept {
#if AQUADUCT_CSV_SIMD
  __builtin_cpu_init();
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
                         __builtin_cpu_supports("bmi") && __builtin_cpu_supports("popcnt");
  return ok;
#else
  return false;
#endif
}

void csv_parser::byte_buffer::grow(std::size_t need) {
  const std::size_t cap = std::max({need, 2 * cap_, std::size_t{4096}});
  std::unique_ptr<char[]> bigger(new char[cap]);
  if (size_) std::memcpy(bigger.get(), store_.get(), size_);
  store_ = std::move(bigger);
  cap_ = cap;
}

void csv_parser::byte_buffer::append(const char* b, const char* e) {
  const auto n = static_cast<std::size_t>(e - b);
  reserve_more(n);
  if (n) std::memcpy(end(), b, n);
  size_ += n;
}

void csv_parser::byte_buffer::erase_front(std::size_t n) noexcept {
  if (n && size_ > n) std::memmove(store_.get(), store_.get() + n, size_ - n);
  size_ -= n;
}

void csv_parser::append_unescaped(const char* b, const char* const e) {
  // A well-formed quoted field's inner quotes come in pairs: keep one of each.
  for (;;) {
    const void* hit = std::memchr(b, '"', static_cast<std::size_t>(e - b));
    if (!hit) break;
    const char* q = static_cast<const char*>(hit);
    buf_.append(b, q + 1);
    b = q + 2;
  }
  buf_.append(b, e);
}

#if AQUADUCT_CSV_SIMD

namespace {

struct block_masks {
  std::uint64_t quote, sep, lf, cr;
};

AQUADUCT_SIMD_TARGET inline std::uint64_t eq_mask(__m256i lo, __m256i hi, char c) {
  const __m256i x = _mm256_set1_epi8(c);
  const auto l = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, x)));
  const auto h = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, x)));
  return l | (static_cast<std::uint64_t>(h) << 32);
}

AQUADUCT_SIMD_TARGET inline block_masks load_block(const char* p) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
  return {eq_mask(lo, hi, '"'), eq_mask(lo, hi, ','), eq_mask(lo, hi, '\n'), eq_mask(lo, hi, '\r')};
}

// Bit i set when an odd number of quote bits are at or below i.
AQUADUCT_SIMD_TARGET inline std::uint64_t prefix_xor(std::uint64_t bits) {
  const __m128i v = _mm_set_epi64x(0, static_cast<long long>(bits));
  return static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_clmulepi64_si128(v, _mm_set1_epi8(-1), 0)));
}

}  // namespace

AQUADUCT_SIMD_TARGET const char* csv_parser::parse_simd(const char* p, const char* const end) {
  const char* field = p;          // start of the current field
  std::uint64_t in_quote = 0;     // all ones when a block starts inside quotes
  std::uint64_t prev_tail = 1;    // bit 0: the byte before the block ends a field (or there is none)
  bool close_at_63 = false;       // the previous block ended on a closing quote
  bool skip_lf_at_0 = false;      // the previous block ended on a CR whose LF opens this one
  auto& offs = records_.field_offsets_;
  std::size_t columns = offs.size() - 1 - records_.fields_;  // fields of the current record so far
  const char* block = p;
  for (; end - block >= 64; block += 64) {
    const block_masks m = load_block(block);
    const std::uint64_t inside = prefix_xor(m.quote) ^ in_quote;
    std::uint64_t structural = (m.sep | m.lf | m.cr) & ~inside;
    const std::uint64_t opening = m.quote & inside;
    const std::uint64_t closing = m.quote & ~inside;
    // Quotes must open a field (after a structural byte or a closing quote,
    // i.e. an escaped pair) and close it (before a structural byte or an
    // opening quote). Anything else is for the scalar loop to judge.
    std::uint64_t bad = opening & ~(((structural | closing) << 1) | prev_tail);
    bad |= closing & ~(((structural | opening) >> 1) | (std::uint64_t{1} << 63));
    if (close_at_63 && !((structural | opening) & 1)) bad |= 1;
    if (bad) {
      scalar_until_ = block + 64;
      return field;
    }
    in_quote = static_cast<std::uint64_t>(static_cast<std::int64_t>(inside) >> 63);
    prev_tail = (structural | closing) >> 63;
    close_at_63 = (closing >> 63) != 0;
    if (skip_lf_at_0) structural &= ~std::uint64_t{1};
    skip_lf_at_0 = false;
    while (structural) {
      const int i = __builtin_ctzll(structural);
      structural &= structural - 1;
      const char* const pos = block + i;
      const char ender = *pos;
      // The field [field, pos): quoted ones lose their quotes and escapes.
      const bool quoted = pos > field && *field == '"';
      const char* const b = quoted ? field + 1 : field;
      const char* const e = quoted ? pos - 1 : pos;
      if (static_cast<std::size_t>(e - b) > limits_.max_field_bytes ||
          (ender == ',' && columns + 1 >= limits_.max_columns)) {
        scalar_until_ = pos + 1;
        return field;
      }
      if (quoted) {
        append_unescaped(b, e);
      } else if (e - b <= 32 && end - b >= 32) {
        // Most fields are short: one unaligned 32-byte copy, of which the
        // field's bytes count (the buffer keeps room for the rest).
        buf_.reserve_more(32);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(buf_.end()),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
        buf_.advance(static_cast<std::size_t>(e - b));
      } else {
        buf_.append(b, e);
      }
      offs.push_back(buf_.size());
      if (ender == ',') {
        ++columns;
        record_started_ = true;
        field = pos + 1;
        continue;
      }
      end_record();
      columns = 0;
      field = pos + 1;
      if (ender == '\r') {
        if (field == end) {
          state_ = after_cr;
          return field;
        }
        if (*field == '\n') {
          ++field;
          if (i == 63) skip_lf_at_0 = true;
          else structural &= ~(std::uint64_t{1} << (i + 1));
        }
      }
    }
  }
  scalar_until_ = block;
  return field;
}

#else

const char* csv_parser::parse_simd(const char* p, const char*) { return p; }

#endif

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
    if (simd_ && state_ == field_start && p >= scalar_until_ && end - p >= 64) {
      p = parse_simd(p, end);
      continue;
    }
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
          buf_.push_back('"');
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
  scalar_until_ = p;
  const char* stop = parse(p, end, bytes_total_ + static_cast<std::uint64_t>(p - in.data()), ec);
  scalar_until_ = nullptr;
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
  buf_.erase_front(keep_from);
  // The partial record's finished fields move to the front.
  for (std::size_t i = done_fields; i < offs.size(); ++i) offs[i - done_fields] = offs[i] - keep_from;
  offs.resize(offs.size() - done_fields);
  records_.fields_ = 0;
  records_.record_offsets_.resize(1);
  publish();
}

}  // namespace aquaduct::decode

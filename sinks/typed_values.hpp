#pragma once
// AQuA field text checked against its column's describe type
// (aqua-contract.md §5.5), by hand, with no allocation: what every typed sink
// (postgres, sqlite, singer, ndjson) runs on each field before it hands it
// on, so a value that is not what its column says is refused, never coerced.
//
//   integer   -?(0|[1-9][0-9]*) within a signed 64-bit integer
//   decimal   a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, kept as its digits
//   boolean   true | false (the deleted column with format "Numeric": 1 | 0)
//   date      YYYY-MM-DD, a real day of year 0001-9999
//   datetime  YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|±hhmm|±hh:mm), or a date alone (midnight, AQuA's
//             form of a midnight value), read as midnight UTC
//
// The normal form of a datetime is RFC 3339: YYYY-MM-DDThh:mm:ss[.f]±hh:mm,
// or ...Z for Z and a date alone; it is what PostgreSQL's COPY, SQLite's
// date functions and JSON Schema's date-time all read as the same instant.
#include <aquaduct/sink.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace aquaduct::sinks {

// What a field is checked as: a column_type, or the deleted flag in its "Numeric" format.
enum class value_kind : std::uint8_t { text, integer, decimal, boolean, date, datetime, numeric_flag };

value_kind kind_of(column_type t) noexcept;
// "an integer", "a decimal", ...: for messages.
const char* kind_name(value_kind k) noexcept;

bool parse_integer(std::string_view v, std::int64_t& out) noexcept;
bool is_decimal(std::string_view v) noexcept;
bool is_date(std::string_view v) noexcept;
// Whether `v` is a datetime; writes its normal form at `out` (room for
// datetime_max bytes) and sets `n` to its length.
bool normal_datetime(std::string_view v, char* out, std::size_t& n) noexcept;
inline constexpr std::size_t datetime_max = 40;
// The Singer tap for Zuora's form of a datetime (singer-python's strftime):
// the same instant in UTC as YYYY-MM-DDThh:mm:ss.ffffffZ, microseconds
// padded (or cut) to six digits; a date alone is its midnight UTC. Writes
// utc_datetime_size bytes at `out`; false when `v` is not a datetime.
bool utc_datetime(std::string_view v, char* out) noexcept;
inline constexpr std::size_t utc_datetime_size = 27;
// Python's bool() of the text as singer-python reads a boolean: "false" in
// any case and the empty string are false, any other text is true.
bool python_truth(std::string_view v) noexcept;
// Whether `v` fits `k` (text always fits). For boolean and numeric_flag, `flag` gets its truth.
bool fits(value_kind k, std::string_view v, bool& flag) noexcept;

// Throws std::system_error(sink_errc::bad_value): "<sink>: job J, query Q,
// record N of the stream, column C: 'V' is not K (what K looks like)".
[[noreturn]] void refuse_value(std::string_view sink, const stream_schema& schema, std::uint64_t record,
                               std::size_t column, std::string_view value, value_kind k);

}  // namespace aquaduct::sinks

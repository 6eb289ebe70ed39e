#pragma once
// The emulated tenant's data (contract §8). Rows are generated on demand from
// (seed, index), so memory does not grow with the scale. Only Account exists
// so far.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::emulator {

// splitmix64: the emulator's one pseudo-random step, for tenant data and ids.
inline std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

enum class field_type { id, text, decimal, integer, boolean, picklist, datetime };

struct field_def {
  std::string_view name;   // API name, canonical casing ("AccountNumber")
  std::string_view label;  // display label ("Account Number")
  field_type type;
};

struct object_def {
  std::string_view name;   // "Account"
  std::string_view label;  // "Account", used in "Account: Account Number" headers
  std::span<const field_def> fields;
};

// Case-insensitive lookup; nullptr when unknown.
const object_def* find_object(std::string_view name);
// Index of `field` in obj.fields (case-insensitive), or nullopt.
std::optional<std::size_t> find_field(const object_def& obj, std::string_view field);

// How datetimes are rendered: UTC "+0000", or the tenant's fixed offset.
enum class time_zone { utc, tenant };

// The tenant's fixed offset from UTC (minutes), used when dateTimeUtc is false.
// DECISION: a fixed -08:00 (Pacific standard time, no DST), so output does not
// depend on the date.
inline constexpr int tenant_utc_offset_minutes = -8 * 60;

// The tenant's "now": the fixed epoch all generated dates lie before, so that
// data is reproducible (never the wall clock). 2026-01-01T00:00:00Z.
inline constexpr std::int64_t tenant_epoch_unix_s = 1767225600;

// Formats unix seconds as YYYY-MM-DDThh:mm:ss±hhmm.
std::string format_datetime(std::int64_t unix_s, time_zone tz);
// Formats unix seconds as "YYYY-MM-DD hh:mm:ss" shifted by offset_minutes.
std::string format_plain_datetime(std::int64_t unix_s, int offset_minutes);

class tenant {
 public:
  tenant(std::uint64_t seed, std::uint64_t scale) : seed_(seed), scale_(scale) {}

  std::uint64_t row_count(const object_def& obj) const;
  // Renders field `field_index` of row `row` (0-based, id order) as result
  // text. Null values render as the empty string.
  std::string field_text(const object_def& obj, std::uint64_t row, std::size_t field_index,
                         time_zone tz) const;
  // All fields of one row at once (cheaper than field_text per field).
  void row_texts(const object_def& obj, std::uint64_t row, std::span<const std::size_t> fields,
                 time_zone tz, std::vector<std::string>& out) const;

 private:
  std::uint64_t seed_;
  std::uint64_t scale_;
};

}  // namespace aquaduct::emulator

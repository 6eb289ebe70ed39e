#pragma once
// The emulated tenant (contract §8): its schema (objects, fields, the dotted
// relationships of §5.3) and the deterministic row generator. Rows are made on
// demand from (seed, object, index), in id order, so memory does not grow with
// the scale. Changes to the data (mutations) live in tenant_state.hpp.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace date {
class time_zone;
}

namespace aquaduct::emulator {

// splitmix64: the emulator's one pseudo-random step, for tenant data and ids.
inline std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Describe types (§5.6). `id` describes as "text"; `longtext` holds text
// (long, often multi-line); `timestamp` holds datetimes and renders as one.
enum class field_type { id, text, longtext, decimal, integer, boolean, picklist, date, datetime, timestamp };

// Whether Export ZOQL may select a field (docs/emulator.md "Describe"):
//   exported: describe lists the `export` and `soap` contexts; `select *` has it.
//   soap_only: describe lists only `soap` (SOAP / plain ZOQL); export refuses it.
//   refused: describe lists `export` too, yet export refuses it, as the real
//     service does for some fields: the error is the unknown-field one.
// Plain ZOQL (type zoql, the SOAP context) selects every field.
enum class field_access : std::uint8_t { exported, soap_only, refused };

struct field_def {
  std::string_view name;   // API name, canonical casing ("AccountNumber")
  std::string_view label;  // display label ("Account Number")
  field_type type;
  std::span<const std::string_view> options{};  // picklist values (describe <options>)
  field_access access = field_access::exported;

  bool exportable() const { return access == field_access::exported; }
};

// A dotted-name relationship of a data source ("BillToContact" on Account):
// the target row is found by following foreign-key fields, the first on the
// base object, each next one on the object the previous id points to
// (InvoiceItem.Account = InvoiceId -> Invoice.AccountId).
struct relation_def {
  std::string_view name;    // "BillToContact"
  std::string_view label;   // "Bill To" (header prefix in label mode)
  std::string_view target;  // object name, "Contact"
  std::array<std::string_view, 4> path;  // fk field names; unused slots empty
};

struct object_def {
  std::string_view name;   // "Account"
  std::string_view label;  // "Account", used in "Account: Account Number" headers
  std::span<const field_def> fields;
  std::span<const relation_def> relations;
  bool supports_deleted = true;  // false => a deleted spec is error 90017
  std::uint32_t id_prefix = 0;   // first 8 hex digits of every id of this object
  int char_type_id = 0;          // the JSON batch-results char type id (§6)
};

// Every object of the tenant, in a fixed order (describe lists them so).
std::span<const object_def* const> all_objects();
// Case-insensitive lookups; nullptr / nullopt when unknown.
const object_def* find_object(std::string_view name);
std::optional<std::size_t> find_field(const object_def& obj, std::string_view field);
const relation_def* find_relation(const object_def& obj, std::string_view name);
bool iequals(std::string_view a, std::string_view b);

// One typed value of a generated or mutated row.
//   number: `i` in hundredths (every tenant decimal but the exact ones has at
//           most 2 places; integers are multiples of 100); date: days since
//           1970-01-01; datetime: unix seconds; boolean: 0/1;
//   id/text/picklist: `s`;
//   exact: a decimal beyond int64 hundredths and double precision (up to 17
//          integer digits, 9 places: "-12345678901234567.123456789"), kept
//          as its canonical text in `s` (no leading '+', no leading zeros but
//          one before the point, no trailing fraction zeros, no "-0");
//          `i` is unused.
struct field_value {
  enum class kind : std::uint8_t { null, text, number, boolean, date, datetime, exact };
  kind k = kind::null;
  std::int64_t i = 0;
  std::string s;

  bool is_null() const { return k == kind::null; }
};
// One row: a value per obj.fields entry, in that order.
using record = std::vector<field_value>;

// How datetimes are rendered: UTC "+0000", or the tenant's zone.
enum class time_zone { utc, tenant };

// A time zone AQuA reads or writes wall-clock times in (contract §7): the
// tenant's (--tz: tenant-zone datetimes, startTime, date literals, 'today')
// or the data centre's (incrementalTime). Any IANA zone, from the system's
// tzdata through Howard Hinnant's date/tz, so daylight-saving rules are the
// database's (its binary files carry transitions up to 2037; later instants
// keep the zone's last offset). A small value: copy it freely, on any thread;
// the zone data it points at lives until the process ends.
class tenant_zone {
 public:
  static const tenant_zone utc;      // UTC: EU data centres
  static const tenant_zone pacific;  // America/Los_Angeles: US data centres

  // "UTC"/"utc" -> utc, "pacific" -> pacific, else an IANA name
  // ("Asia/Tokyo"); nullopt when tzdata has no such zone.
  static std::optional<tenant_zone> find(std::string_view name);

  std::string_view name() const;  // "UTC", "America/Los_Angeles", ...
  // The zone's offset from UTC at `unix_s`, in seconds.
  std::int64_t offset_seconds(std::int64_t unix_s) const;
  // Wall-clock seconds in the zone -> unix seconds. A wall time that occurs
  // twice (a repeated hour when clocks go back) is its FIRST occurrence
  // (America/Los_Angeles: 2024-11-03 01:30 is 01:30 PDT = 08:30Z); one that
  // never occurs (skipped when clocks go forward) is read with the offset
  // before the gap (02:30 on 2024-03-10 = 10:30Z, i.e. 03:30 PDT).
  std::int64_t local_to_utc(std::int64_t local_s) const;

  friend bool operator==(const tenant_zone& a, const tenant_zone& b) { return a.zone() == b.zone(); }

 private:
  enum class builtin : std::uint8_t { utc, pacific, other };
  constexpr explicit tenant_zone(builtin b, const date::time_zone* z = nullptr) : builtin_(b), zone_(z) {}
  const date::time_zone* zone() const;  // nullptr: UTC

  builtin builtin_;
  const date::time_zone* zone_;  // for `other`
};
inline constexpr tenant_zone tenant_zone::utc{tenant_zone::builtin::utc};
inline constexpr tenant_zone tenant_zone::pacific{tenant_zone::builtin::pacific};

// The zone's offset from UTC at `unix_s`, in whole minutes (-480 or -420 for
// Pacific; 0; 540 for Asia/Tokyo).
int tenant_offset_minutes(tenant_zone z, std::int64_t unix_s);
// z.local_to_utc(local_s).
std::int64_t tenant_local_to_utc(tenant_zone z, std::int64_t local_s);

// The generator's "now": the fixed instant all generated dates lie before, so
// that data is reproducible (never the wall clock). 2026-01-01T00:00:00Z.
// Mutations stamp the service's clock instead.
inline constexpr std::int64_t tenant_epoch_unix_s = 1767225600;

// Formats unix seconds as YYYY-MM-DDThh:mm:ss±hhmm.
std::string format_datetime(std::int64_t unix_s, time_zone tz, tenant_zone zone = tenant_zone::pacific);
// Formats unix seconds as "YYYY-MM-DD hh:mm:ss" shifted by offset_minutes.
std::string format_plain_datetime(std::int64_t unix_s, int offset_minutes);
// Appends `v` as result text (§5.5): numbers plain, booleans true/false, dates
// YYYY-MM-DD, datetimes in UTC or the tenant's `zone`. Null appends nothing.
void render_value(const field_value& v, time_zone tz, std::string& out, tenant_zone zone = tenant_zone::pacific);
// Compares two canonical decimal texts (field_value::kind::exact, or a ZOQL
// number literal as written: an optional sign, digits, an optional fraction)
// by value: -1, 0 or 1. Exact, whatever the digit count.
int compare_decimal_text(std::string_view a, std::string_view b);
// Appends an order-preserving byte key of a decimal text (bytewise order =
// numeric order; equal values, equal keys; no embedded '\0' but the terminator).
void append_decimal_key(std::string_view dec, std::string& out);
// Days since 1970-01-01 <-> civil date.
std::int64_t days_from_civil(int y, unsigned m, unsigned d);
// "YYYY-MM-DD?HH:MM:SS" with `separator` as `?` -> its seconds since
// 1970-01-01 00:00:00 as if UTC (wall-clock seconds: a zone turns them into
// an instant); nullopt when malformed or the date does not exist (Feb 30).
std::optional<std::int64_t> parse_wall_clock(std::string_view s, char separator);

// The generated base data. Per object, row i (0-based) has the id whose last
// 16 hex digits are i+1, so id order is index order.
//   Account N; Contact 2/account (bill-to, sold-to); PaymentMethod 1/account;
//   Subscription 2/account; RatePlan 2/subscription; RatePlanCharge 1/rate plan;
//   Invoice 10/account; InvoiceItem 5/invoice (50·N); Payment 5/account;
//   InvoicePayment 1/payment; CreditBalanceAdjustment and InvoiceAdjustment
//   1 per 2 accounts; Usage 3/account; Product 20, ProductRatePlan 3/product,
//   ProductRatePlanCharge 2/plan, AccountingPeriod 72 months: fixed catalogues.
// A bill run's burst: rows [0, count) of `obj` are updated in the second
// `at_unix_s` (a row created later keeps UpdatedDate = CreatedDate).
struct burst_rows {
  const object_def* obj = nullptr;
  std::uint64_t count = 0;
  std::int64_t at_unix_s = 0;
};

// The service's index on UpdatedDate (contract §3.5) over an object's
// generated rows: every base row as (UpdatedDate - base) << 32 | index,
// sorted, so a window's rows are a binary search away instead of a scan of
// the whole object. Rows changed since (tenant_state's overlay) are not in it.
struct updated_index {
  static constexpr std::uint64_t min_rows = 1u << 16;  // smaller objects are scanned
  std::int64_t base = 0;
  std::vector<std::uint64_t> keys;
  // Appends the index of every base row whose generated UpdatedDate lies in
  // [first, last] (unix seconds) and which is >= `from`, in no order.
  void rows_in(std::int64_t first, std::int64_t last, std::uint64_t from, std::vector<std::uint64_t>& out) const;
  // How many base rows have their UpdatedDate in [first, last].
  std::uint64_t count_in(std::int64_t first, std::int64_t last) const;
};
struct updated_index_cache;

class tenant_generator {
 public:
  tenant_generator(std::uint64_t seed, std::uint64_t scale, std::vector<burst_rows> bursts = {});

  std::uint64_t seed() const { return seed_; }
  std::uint64_t scale() const { return scale_; }
  std::uint64_t base_count(const object_def& obj) const;
  // Fills `out` (resized to obj.fields.size(); string capacity is reused) with
  // row `index`. Any index is valid, but past base_count the references point
  // at rows that do not exist (apply_mutation creates rows by copying a live
  // one instead).
  void generate(const object_def& obj, std::uint64_t index, record& out) const;
  // The UpdatedDate (unix seconds) generate() gives row `index`, without the
  // rest of the row.
  std::int64_t base_updated(const object_def& obj, std::uint64_t index) const;
  std::string make_id(const object_def& obj, std::uint64_t index) const;
  // The index an id of `obj` stands for, or nullopt when it is not one.
  static std::optional<std::uint64_t> index_of_id(const object_def& obj, std::string_view id);
  // The UpdatedDate index of `obj`'s base rows, built on first use (once per
  // generator and its copies; thread-safe), or nullptr when the object has
  // fewer than updated_index::min_rows rows or its times do not fit the key.
  std::shared_ptr<const updated_index> updated_index_of(const object_def& obj) const;

 private:
  // UpdatedDate of row `index`, given its CreatedDate and its generated UpdatedDate.
  std::int64_t with_burst(const object_def& obj, std::uint64_t index, std::int64_t created,
                          std::int64_t updated) const;

  std::uint64_t seed_;
  std::uint64_t scale_;
  std::vector<burst_rows> bursts_;
  std::shared_ptr<updated_index_cache> index_cache_;  // shared by copies: the base rows are the same
};

}  // namespace aquaduct::emulator

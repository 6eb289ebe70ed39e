#include "emulator/tenant.hpp"

#include <array>
#include <cstdio>

#include <fmt/format.h>

namespace aquaduct::emulator {

namespace {

constexpr std::array account_fields{
    field_def{"Id", "ID", field_type::id},
    field_def{"AccountNumber", "Account Number", field_type::text},
    field_def{"Name", "Name", field_type::text},
    field_def{"Balance", "Balance", field_type::decimal},
    field_def{"CreditBalance", "Credit Balance", field_type::decimal},
    field_def{"AutoPay", "Auto Pay", field_type::boolean},
    field_def{"Currency", "Currency", field_type::picklist},
    field_def{"BillCycleDay", "Bill Cycle Day", field_type::integer},
    field_def{"PaymentTerm", "Payment Term", field_type::text},
    field_def{"Status", "Status", field_type::picklist},
    field_def{"Batch", "Batch", field_type::picklist},
    field_def{"SalesRepName", "Sales Rep Name", field_type::text},
    field_def{"ParentId", "Parent ID", field_type::id},
    field_def{"CrmId", "CRM ID", field_type::text},
    field_def{"CreatedDate", "Created Date", field_type::datetime},
    field_def{"UpdatedDate", "Updated Date", field_type::datetime},
    field_def{"CreatedById", "Created By ID", field_type::id},
    field_def{"UpdatedById", "Updated By ID", field_type::id},
};

constexpr object_def account_object{"Account", "Account", account_fields};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t s = a * 0x100000001b3ULL ^ (b + 0x632be59bd9b4e019ULL);
  return splitmix(s);
}

// Deterministic per-row random source.
struct row_rng {
  std::uint64_t state;
  std::uint64_t next() { return splitmix(state); }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(unsigned percent) { return below(100) < percent; }
};

// Days since 1970-01-01 -> civil date (Howard Hinnant's algorithm).
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2 ? 1 : 0));
}

struct broken_down {
  int year;
  unsigned month, day, hour, minute, second;
};

broken_down break_down(std::int64_t unix_s) {
  std::int64_t days = unix_s / 86400;
  std::int64_t rem = unix_s % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  broken_down b{};
  civil_from_days(days, b.year, b.month, b.day);
  b.hour = static_cast<unsigned>(rem / 3600);
  b.minute = static_cast<unsigned>(rem % 3600 / 60);
  b.second = static_cast<unsigned>(rem % 60);
  return b;
}

std::string render_cents(std::int64_t cents) {
  const bool neg = cents < 0;
  const std::uint64_t a = neg ? static_cast<std::uint64_t>(-cents) : static_cast<std::uint64_t>(cents);
  if (a % 100 == 0) return fmt::format("{}{}", neg ? "-" : "", a / 100);
  return fmt::format("{}{}.{:02}", neg ? "-" : "", a / 100, a % 100);
}

constexpr std::array company_names{
    "Acme Corp",
    "M\xC3\xBCller GmbH",                 // Müller
    "Smith, Jones & Co",
    "The \"Best\" Widgets",
    "\xC3\x98resund Logistik",            // Øresund
    "Zo\xC3\xAB's Caf\xC3\xA9",           // Zoë's Café
    "\xC5\x81\xC3\xB3" "d\xC5\xBA Trading",  // Łódź
    "\xE6\x9D\xB1\xE4\xBA\xAC\xE5\x95\x86\xE4\xBA\x8B",  // 東京商事
    "Soci\xC3\xA9t\xC3\xA9 d'Export, SA",
    "O'Brien Brothers",
    "Globex",
    "Initech \"Software\", Inc.",
};

constexpr std::array rep_names{
    "Jos\xC3\xA9 \xC3\x81lvarez", "Anna Schmidt", "Li, Wei", "Priya \"PJ\" Patel", "Tom Baker",
};

constexpr std::array currencies{"USD", "USD", "USD", "EUR", "GBP", "JPY", "CHF"};
constexpr std::array payment_terms{"Due Upon Receipt", "Net 15", "Net 30", "Net 30", "Net 60"};
constexpr std::array batches{"Batch1", "Batch1", "Batch2", "Batch3", "Batch20"};

std::string object_id(std::uint32_t prefix, std::uint64_t seed, std::uint64_t salt,
                      std::uint64_t serial) {
  return fmt::format("{:08x}{:08x}{:016x}", prefix,
                     static_cast<std::uint32_t>(mix(seed, salt) & 0xffffffffULL), serial);
}

std::string account_id(std::uint64_t seed, std::uint64_t row) {
  return object_id(0x2c92c0f8, seed, 1, row + 1);
}

std::string user_id(std::uint64_t seed, std::uint64_t user) {
  return object_id(0x2c93a0b1, seed, 99, user + 1);
}

struct account_row {
  std::array<std::string, account_fields.size()> f;
};

account_row make_account(std::uint64_t seed, std::uint64_t row, time_zone tz) {
  row_rng rng{mix(seed, row * 7919 + 17)};
  account_row a;
  a.f[0] = account_id(seed, row);
  a.f[1] = fmt::format("A{:08}", row + 1);

  std::string name = company_names[rng.below(company_names.size())];
  if (rng.chance(3)) name += "\nAccounts Payable";
  a.f[2] = fmt::format("{} #{}", name, row + 1);

  const std::int64_t balance = rng.chance(30) ? 0 : static_cast<std::int64_t>(rng.below(2'000'000));
  a.f[3] = render_cents(rng.chance(5) ? -balance : balance);
  a.f[4] = rng.chance(85) ? "0" : render_cents(static_cast<std::int64_t>(rng.below(50'000)));
  a.f[5] = rng.chance(40) ? "true" : "false";
  a.f[6] = currencies[rng.below(currencies.size())];
  a.f[7] = std::to_string(1 + rng.below(31));
  a.f[8] = payment_terms[rng.below(payment_terms.size())];
  const auto st = rng.below(100);
  a.f[9] = st < 80 ? "Active" : st < 92 ? "Draft" : "Canceled";
  a.f[10] = batches[rng.below(batches.size())];
  if (rng.chance(80)) a.f[11] = rep_names[rng.below(rep_names.size())];
  if (row > 0 && rng.chance(10)) a.f[12] = account_id(seed, rng.below(row));
  if (rng.chance(50)) {
    static constexpr char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string crm = "001";
    for (int i = 0; i < 15; ++i) crm += alnum[rng.below(sizeof alnum - 1)];
    a.f[13] = std::move(crm);
  }
  constexpr std::int64_t five_years = 5 * 365 * 86400;
  const std::int64_t created =
      tenant_epoch_unix_s - 86400 - static_cast<std::int64_t>(rng.below(five_years));
  const std::int64_t updated =
      created + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(tenant_epoch_unix_s - created)));
  a.f[14] = format_datetime(created, tz);
  a.f[15] = format_datetime(updated, tz);
  a.f[16] = user_id(seed, rng.below(5));
  a.f[17] = rng.chance(70) ? a.f[16] : user_id(seed, rng.below(5));
  return a;
}

}  // namespace

const object_def* find_object(std::string_view name) {
  if (iequals(name, account_object.name)) return &account_object;
  return nullptr;
}

std::optional<std::size_t> find_field(const object_def& obj, std::string_view field) {
  for (std::size_t i = 0; i < obj.fields.size(); ++i)
    if (iequals(obj.fields[i].name, field)) return i;
  return std::nullopt;
}

std::string format_datetime(std::int64_t unix_s, time_zone tz) {
  const int off = tz == time_zone::utc ? 0 : tenant_utc_offset_minutes;
  const broken_down b = break_down(unix_s + off * 60);
  const int aoff = off < 0 ? -off : off;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}{:02}", b.year, b.month, b.day, b.hour,
                     b.minute, b.second, off < 0 ? '-' : '+', aoff / 60, aoff % 60);
}

std::string format_plain_datetime(std::int64_t unix_s, int offset_minutes) {
  const broken_down b = break_down(unix_s + offset_minutes * 60);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", b.year, b.month, b.day, b.hour, b.minute,
                     b.second);
}

std::uint64_t tenant::row_count(const object_def& obj) const {
  (void)obj;
  return scale_;
}

std::string tenant::field_text(const object_def& obj, std::uint64_t row, std::size_t field_index,
                               time_zone tz) const {
  (void)obj;
  return make_account(seed_, row, tz).f.at(field_index);
}

void tenant::row_texts(const object_def& obj, std::uint64_t row, std::span<const std::size_t> fields,
                       time_zone tz, std::vector<std::string>& out) const {
  (void)obj;
  account_row a = make_account(seed_, row, tz);
  out.clear();
  for (std::size_t i : fields) out.push_back(a.f.at(i));  // copy: a field may repeat
}

}  // namespace aquaduct::emulator

#pragma once
// Renders a batch result as AQuA does (contract §5.5, §7): CSV with `\n` line
// ends, no BOM, RFC-4180 quoting only where a field needs it, and for the gzip
// format the whole CSV compressed as one gzip member.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/tenant.hpp"

namespace aquaduct::emulator {

struct deleted_column {
  std::string column;   // "IsDeleted" -> header "Account.IsDeleted"
  bool numeric = false;  // format Numeric (1/0) instead of Boolean (true/false)
};

struct result_spec {
  const object_def* object = nullptr;
  std::vector<std::size_t> fields;
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> limit;
  bool use_query_labels = false;
  time_zone tz = time_zone::tenant;
  std::string null_replacement;
  std::optional<deleted_column> deleted;
  std::uint64_t segment_rows = 500'000;  // rows per file before the result is split
  bool gzip = false;
};

struct result_file {
  std::shared_ptr<const std::string> bytes;
  std::uint64_t rows = 0;
};

// One file per segment (at least one: an empty result is a header-only file).
std::vector<result_file> write_result(const tenant& t, const result_spec& spec);

// Header names for `spec`, in column order.
std::vector<std::string> result_header(const result_spec& spec);

// Appends `field` to `out`, quoted only if it contains a comma, quote, CR or LF.
void append_csv_field(std::string& out, std::string_view field);

// Compresses `data` as one gzip member (deflateInit2 windowBits 31).
std::string gzip_compress(std::string_view data);

}  // namespace aquaduct::emulator

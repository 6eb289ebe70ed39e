#pragma once
// The JSON batch-results document (contract §6), generated from the emulated
// tenant for one query: records grouped by char type id (object_def::
// char_type_id), the base object's rows plus each distinct joined row; one
// relationship entry per (joined row -> base row) pair. Live rows are
// {code 200, "Found."} (in an incremental window: 201 "Created." when created
// in it, else 200 "Updated."); deleted rows of an incremental window are
// {code 404, "Record Not Found."}. characteristics = the selected columns
// (API names, "Rel.Field" for joined ones), values typed (string, number,
// boolean); title = the row's Name-like field, else its Id; record id = row
// index + 1.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "emulator/result_writer.hpp"

namespace aquaduct::emulator {

struct batch_results_info {
  std::uint64_t records = 0;
  std::uint64_t relationships = 0;
  std::uint64_t bytes = 0;
};

// The document is built in memory (the service this mirrors caps a batch at
// 100 records: give the query a limit) and written to `path` via
// "<path>.part", renamed at the end.
// batch_status: "Created", "InProgress", "Complete", "Errored", "Cancelled";
// records are only written for "Complete". Throws std::runtime_error naming
// the file on I/O errors.
//
// `outcomes` (record Id -> 400, 403, 404 or 409) makes those records fail as
// the service's own state would: 400 "Invalid Record.", 403 "Access
// Denied.", 404 "Record Not Found.", 409 "Record Locked.", with empty
// characteristics. A relationship with a failed side carries that side's code
// and message (the base row's first). The emulator cannot tell when the real
// service answers them, so the request says (docs/emulator.md).
using batch_outcomes = std::map<std::string, int, std::less<>>;
bool batch_outcome_code(int code);  // 400, 403, 404 or 409
batch_results_info write_batch_results_json(const tenant_snapshot& snapshot, const export_spec& spec,
                                            std::int64_t batch_id, std::string_view batch_status,
                                            const std::filesystem::path& path, const batch_outcomes& outcomes = {});

}  // namespace aquaduct::emulator

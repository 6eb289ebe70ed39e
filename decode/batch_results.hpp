#pragma once
// The JSON batch-results format (../shared/docs/aqua-contract.md §6) decoded
// into tables:
//   type_<charTypeId>: id, code, message, title, template.templateId, then
//                      characteristics.<key> for every key seen in that table
//                      (union, first-seen order; a missing key is empty), and
//                      record.id / record.referenceId where a record has them
//   relationships:     id, code, message, parentCharTypeId, parentRecordId,
//                      childCharTypeId, childRecordId, then
//                      relationship.<key> for any other field of a payload
// A record with a non-2xx code is a row like any other: its status is data.
// Values are text: strings unescaped, numbers and booleans as their JSON
// token, null as empty.
//
// Memory is bounded by a stated limit on the document size (the service caps
// a batch at 100 records, so real documents are small): a larger document is
// errc::json_too_large before anything is parsed. Unknown fields of the document and
// of an entry are ignored (those of a record or relationship payload are kept);
// a missing batchId or batchStatus, or an entry without its `code` or its
// `record`/`relationship`, is errc::json_missing_field.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aquaduct::decode {

// One table, laid out as aquaduct::row_batch views it:
//   field i = data[field_offsets[i], field_offsets[i+1]), row r = fields [row_offsets[r], row_offsets[r+1]).
struct result_table {
  std::string name;
  std::vector<std::string> columns;
  std::string data;
  std::vector<std::size_t> field_offsets{0};
  std::vector<std::size_t> row_offsets{0};

  std::size_t rows() const noexcept { return row_offsets.size() - 1; }
  std::string_view field(std::size_t row, std::size_t col) const noexcept {
    const std::size_t i = row_offsets[row] + col;
    return std::string_view(data).substr(field_offsets[i], field_offsets[i + 1] - field_offsets[i]);
  }
};

struct batch_results {
  std::string batch_id;
  std::string batch_status;          // Created, InProgress, Complete, Errored/Error, Cancelled
  std::vector<result_table> tables;  // type tables in order of appearance, then relationships if present
};

struct batch_results_limits {
  std::size_t max_document_bytes = 16u << 20;
};

class batch_results_decoder {
 public:
  explicit batch_results_decoder(batch_results_limits limits = {});
  ~batch_results_decoder();
  batch_results_decoder(const batch_results_decoder&) = delete;
  batch_results_decoder& operator=(const batch_results_decoder&) = delete;

  // `what` says what is wrong on error (with the char type and entry index where it applies).
  void parse(std::string_view json, batch_results& out, std::error_code& ec, std::string& what);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace aquaduct::decode

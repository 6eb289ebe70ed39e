#include "decode/batch_results.hpp"

#include "decode/json_support.hpp"

#include <unordered_map>

namespace aquaduct::decode {

// The shared on-demand helpers (failure, scalar_text, for_each_field, ...).
using namespace json;

namespace {

// A table whose columns can grow while its rows are read; laid out at the end.
class table_builder {
 public:
  table_builder(std::string name, std::vector<std::string> fixed_columns) {
    table_.name = std::move(name);
    for (auto& c : fixed_columns) column(c);
  }

  // The column's index, added when first seen.
  std::size_t column(const std::string& name) {
    const auto [it, added] = index_.try_emplace(name, table_.columns.size());
    if (added) table_.columns.push_back(name);
    return it->second;
  }

  void begin_row() { rows_.emplace_back(); }
  void set(std::size_t col, std::string value) {
    auto& row = rows_.back();
    if (row.size() <= col) row.resize(col + 1);
    row[col] = std::move(value);
  }
  std::size_t rows() const noexcept { return rows_.size(); }

  result_table finish() {
    const std::size_t width = table_.columns.size();
    for (auto& row : rows_) {
      for (std::size_t c = 0; c < width; ++c) {
        if (c < row.size()) table_.data += row[c];
        table_.field_offsets.push_back(table_.data.size());
      }
      table_.row_offsets.push_back(table_.row_offsets.back() + width);
    }
    rows_.clear();
    return std::move(table_);
  }

 private:
  result_table table_;
  std::unordered_map<std::string, std::size_t> index_;
  std::vector<std::vector<std::string>> rows_;
};

const std::vector<std::string> record_columns = {"id", "code", "message", "title", "template.templateId"};
const std::vector<std::string> relationship_columns = {"id",           "code",           "message",
                                                       "parentCharTypeId", "parentRecordId", "childCharTypeId",
                                                       "childRecordId"};

bool is_decimal(std::string_view s) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// One entry of a records array or of relationships: id, code and message,
// then the payload object under `payload_key`, read by `payload`.
template <class Payload>
void read_entry(table_builder& t, od::value entry, const std::string& where, const char* payload_key,
                Payload&& payload) {
  t.begin_row();
  bool has_code = false, has_payload = false;
  for_each_field(object_of(entry, where), [&](std::string_view key, od::value v) {
    if (key == "id") t.set(0, scalar_text(v, key));
    else if (key == "code") t.set(1, scalar_text(v, key)), has_code = true;
    else if (key == "message") t.set(2, scalar_text(v, key));
    else if (key == payload_key) payload(object_of(v, key)), has_payload = true;
  });
  if (!has_code) throw failure{errc::json_missing_field, where + ": entry without code"};
  if (!has_payload) throw failure{errc::json_missing_field, where + ": entry without " + payload_key};
}

void read_record(table_builder& t, od::object record) {
  for_each_field(record, [&](std::string_view key, od::value v) {
    if (key == "id" || key == "referenceId") {  // §6: "optionally id/referenceId"
      const std::string column = "record." + std::string(key);
      t.set(t.column(column), scalar_text(v, column));
    } else if (key == "title") {
      t.set(3, scalar_text(v, key));
    } else if (key == "template") {
      for_each_field(object_of(v, key), [&](std::string_view tk, od::value tv) {
        if (tk == "templateId") t.set(4, scalar_text(tv, tk));
      });
    } else if (key == "characteristics") {
      for_each_field(object_of(v, key), [&](std::string_view ck, od::value cv) {
        const std::string column = "characteristics." + std::string(ck);
        t.set(t.column(column), scalar_text(cv, column));
      });
    }
  });
}

// The four ids in their columns; any other field of the relationship is kept
// too, as relationship.<key> (union, first-seen order), never dropped.
void read_relationship(table_builder& t, od::object rel) {
  for_each_field(rel, [&](std::string_view key, od::value v) {
    std::size_t c = 3;
    while (c < relationship_columns.size() && key != relationship_columns[c]) ++c;
    if (c < relationship_columns.size()) {
      t.set(c, scalar_text(v, key));
    } else {
      const std::string column = "relationship." + std::string(key);
      t.set(t.column(column), scalar_text(v, column));
    }
  });
}

}  // namespace

struct batch_results_decoder::impl {
  batch_results_limits limits;
  json::document_reader reader;
};

batch_results_decoder::batch_results_decoder(batch_results_limits limits) : impl_(std::make_unique<impl>()) {
  impl_->limits = limits;
}
batch_results_decoder::~batch_results_decoder() = default;

void batch_results_decoder::parse(std::string_view text, batch_results& out, std::error_code& ec, std::string& what) {
  out = batch_results{};
  if (text.size() > impl_->limits.max_document_bytes) {
    ec = errc::json_too_large;
    what = "batch results of " + std::to_string(text.size()) + " bytes; the limit is " +
           std::to_string(impl_->limits.max_document_bytes) + " bytes";
    return;
  }
  std::vector<table_builder> types;
  std::unordered_map<std::string, std::size_t> type_index;
  std::unique_ptr<table_builder> relationships;
  impl_->reader.with_object(text, ec, what, [&](od::object obj) {
    bool has_id = false, has_status = false;
    for_each_field(obj, [&](std::string_view key, od::value v) {
      if (key == "batchId") {
        out.batch_id = scalar_text(v, key);
        has_id = !out.batch_id.empty();
      } else if (key == "batchStatus") {
        out.batch_status = scalar_text(v, key);
        has_status = !out.batch_status.empty();
      } else if (key == "batchResults") {
        for_each_field(object_of(v, key), [&](std::string_view rk, od::value rv) {
          if (rk == "records") {
            for_each_field(object_of(rv, "batchResults.records"), [&](std::string_view type_id, od::value entries) {
              const std::string id(type_id);
              if (!is_decimal(id)) throw failure{errc::json_invalid, "batchResults.records: char type ID '" + id + "' is not a decimal number"};
              const auto [it, added] = type_index.try_emplace(id, types.size());
              if (added) types.emplace_back("type_" + id, record_columns);
              table_builder& t = types[it->second];
              for_each_element(entries, "records." + id, [&](od::value entry) {
                read_entry(t, entry, "records." + id + "[" + std::to_string(t.rows()) + "]", "record",
                           [&](od::object record) { read_record(t, record); });
              });
            });
          } else if (rk == "relationships") {
            if (!relationships) relationships = std::make_unique<table_builder>("relationships", relationship_columns);
            for_each_element(rv, "relationships", [&](od::value entry) {
              read_entry(*relationships, entry, "relationships[" + std::to_string(relationships->rows()) + "]",
                         "relationship", [&](od::object rel) { read_relationship(*relationships, rel); });
            });
          }
        });
      }
    });
    if (!has_id) throw failure{errc::json_missing_field, "batch results without batchId"};
    if (!has_status) throw failure{errc::json_missing_field, "batch results without batchStatus"};
  });
  if (ec) {
    out = batch_results{};
    return;
  }
  for (auto& t : types) out.tables.push_back(t.finish());
  if (relationships) out.tables.push_back(relationships->finish());
}

}  // namespace aquaduct::decode

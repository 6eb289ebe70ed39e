#pragma once
// A JSON batch-results document (aqua-contract.md §6) decoded with simdjson's
// DOM, independently of decode::batch_results: what the tests expect the
// sinks to hold for each table of a batch.
#include <simdjson.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace aquaduct::test {

// A batch document decoded here with simdjson's DOM, independently of
// decode::batch_results: table name -> columns and rows, by contract §6.
struct expected_table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> data;
};

inline std::string text_of(simdjson::dom::element v) {
  switch (v.type()) {
    case simdjson::dom::element_type::STRING: return std::string(v.get_string().value());
    case simdjson::dom::element_type::INT64: return std::to_string(v.get_int64().value());
    case simdjson::dom::element_type::UINT64: return std::to_string(v.get_uint64().value());
    case simdjson::dom::element_type::BOOL: return v.get_bool().value() ? "true" : "false";
    case simdjson::dom::element_type::NULL_VALUE: return "";
    default: throw std::runtime_error("the test's queries select no decimals or nested values");
  }
}

inline std::map<std::string, expected_table> decode_independently(const std::string& json) {
  simdjson::dom::parser p;
  simdjson::dom::element doc = p.parse(json);
  std::map<std::string, expected_table> out;
  for (auto [type_id, entries] : doc["batchResults"]["records"].get_object()) {
    expected_table& t = out["type_" + std::string(type_id)];
    t.columns = {"id", "code", "message", "title", "template.templateId"};
    std::vector<std::map<std::string, std::string>> by_key;
    for (simdjson::dom::element e : entries.get_array()) {
      std::map<std::string, std::string> row;
      row["id"] = text_of(e["id"]);
      row["code"] = text_of(e["code"]);
      row["message"] = text_of(e["message"]);
      row["title"] = text_of(e["record"]["title"]);
      row["template.templateId"] = text_of(e["record"]["template"]["templateId"]);
      for (auto [key, value] : e["record"]["characteristics"].get_object()) {
        const std::string column = "characteristics." + std::string(key);
        if (std::find(t.columns.begin(), t.columns.end(), column) == t.columns.end()) t.columns.push_back(column);
        row[column] = text_of(value);
      }
      by_key.push_back(std::move(row));
    }
    for (auto& row : by_key) {
      std::vector<std::string> r;
      for (const auto& c : t.columns) r.push_back(row[c]);  // a missing key is an empty field
      t.data.push_back(std::move(r));
    }
  }
  expected_table& rel = out["relationships"];
  rel.columns = {"id", "code", "message", "parentCharTypeId", "parentRecordId", "childCharTypeId", "childRecordId"};
  for (simdjson::dom::element e : doc["batchResults"]["relationships"].get_array()) {
    std::vector<std::string> r = {text_of(e["id"]), text_of(e["code"]), text_of(e["message"])};
    for (std::size_t c = 3; c < rel.columns.size(); ++c) r.push_back(text_of(e["relationship"][rel.columns[c]]));
    rel.data.push_back(std::move(r));
  }
  return out;
}

}  // namespace aquaduct::test

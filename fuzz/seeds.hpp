#pragma once
// Valid inputs for every fuzz target, each with the target's control prefix:
// the starting corpus of the libFuzzer smoke (fuzz_seeds writes them out) and
// the inputs fuzz_replay mutates in every ctest run. The JSON documents are
// the contract's examples (../shared/docs/aqua-contract.md), also used by the
// model tests.
#include "fuzz/fuzz_support.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <string>
#include <utility>
#include <vector>

namespace aquaduct::fuzz {

namespace examples {

inline const std::string submit_ok = R"({
  "encrypted": "none", "partner": "salesforce", "project": "00170000011K3Ub",
  "useLastCompletedJobQueries": false,
  "batches": [
    {"localizedStatus": "pending", "apiVersion": "91.0", "full": true, "recordCount": 0,
     "batchId": "2c92c0f84b58a2bd014b59e7eb4f0b3e", "batchType": "zoqlexport",
     "status": "pending", "name": "Accounts", "query": "select ...",
     "deleted": {"column": "IsDeleted", "format": "Boolean"}}
  ],
  "status": "submitted", "name": "Example",
  "id": "2c92c0f84b58a2bd014b59e7eb460b3c",
  "version": "1.2", "format": "CSV", "offset": 0,
  "incrementalTime": 1421865001000, "notifyUrl": "..."
})";

inline const std::string get_job = R"({
  "batches": [
    {"full": true, "name": "Accounts", "message": "", "query": "select ...",
     "status": "completed", "recordCount": 4, "apiVersion": "91.0",
     "fileId": "2c92c0944b5fe4ba014b60225d6f4b4e",
     "batchType": "zoqlexport", "batchId": "2c92c0f84b58a2bd014b59e7eb4f0b3e",
     "localizedStatus": "completed",
     "deleted": {"column": "IsDeleted", "format": "Boolean"}},
    {"full": "false", "name": "Split", "status": "completed", "recordCount": "12",
     "segments": ["aaaa", "bbbb", "cccc"], "batchId": "b2"}
  ],
  "project": "...", "partner": "...", "name": "Example", "id": "2c92c0f84b58a2bd014b59e7eb460b3c",
  "version": "1.2", "format": "CSV", "startTime": "2014-09-03 08:20:07",
  "status": "completed", "encrypted": "none", "sourceData": "LIVE",
  "offset": 0, "useLastCompletedJobQueries": false, "incrementalTime": 1421865001000
})";

inline const std::string submit_refused =
    R"({"errorCode":"90005","message":"There is a syntax error in one of the queries in the AQuA input","status":"error"})";

inline const std::string token =
    R"({"access_token":"abc.def","token_type":"bearer","expires_in":3599,"scope":"user.1 entity.2 service.x tenant.19","jti":"j"})";

inline const std::string platform_error =
    R"({"success":false,"reasons":[{"code":90000011,"message":"Authentication error"},{"code":2,"message":"x"}]})";

inline const std::string describe_list_xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<objects><object href="https://rest.zuora.com/v1/describe/Account"><name>Account</name><label>Account</label></object>
<object href="https://rest.zuora.com/v1/describe/Invoice"><name>Invoice</name><label>Invoice &amp; Co</label></object></objects>)";

inline const std::string describe_object_xml = R"(<object><name>Account</name><label>Account</label>
  <fields><field><name>AccountNumber</name><label>Account Number</label><type>text</type>
    <selectable>true</selectable><required>false</required>
    <contexts><context>export</context><context>soap</context></contexts>
    <options><option>a</option></options></field>
    <field><name>Secret</name><label>S&#233;cret</label><type>text</type><required>true</required>
    <contexts><context>soap</context></contexts></field></fields>
  <related-objects><object href=".../describe/BillToContact"><name>BillToContact</name><label>Bill To</label></object></related-objects>
</object>)";

inline const std::string batch_results_json = R"({
  "batchId": 4711,
  "batchStatus": "Complete",
  "batchResults": {
    "records": {
      "2": [
        {"record": {"characteristics": {"department": "Finance", "first_name": "Ada", "last_name": "Byron"},
                    "template": {"templateId": 1}, "title": "Person 7"},
         "code": 200, "message": "Found.", "id": 9001},
        {"record": {"characteristics": {}, "template": {"templateId": 1}, "title": "Person 8"},
         "code": 404, "message": "Record Not Found.", "id": 9002}
      ],
      "1": [
        {"record": {"characteristics": {"release_year": 2019}, "template": {"templateId": 3}, "title": "Catalog 4"},
         "code": 201, "message": "Created.", "id": 77}
      ]
    },
    "relationships": [
      {"relationship": {"parentCharTypeId": 1, "parentRecordId": 77, "childCharTypeId": 2, "childRecordId": 9001},
       "code": 201, "message": "Created.", "id": 5}
    ]
  }
})";

inline const std::string csv =
    "Account.Id,Account.Name,Account.Notes,Account.Balance\n"
    "2c92c0f84b58a2bd014b59e7eb460b3c,\"Smith, Jones & \"\"Co\"\"\",\"two\nlines\",12.50\r\n"
    "2c92c0f84b58a2bd014b59e7eb460b3d,Ærøskøbing,,0\n"
    ",,,\n"
    "\n"
    "2c92c0f84b58a2bd014b59e7eb460b3e,\"a\rb\",x\"y,-11095";

}  // namespace examples

// `prefix` then `body` (appends: g++ 12 warns falsely on some operator+ chains).
inline std::string join(std::string_view prefix, std::string_view body, std::string_view more = {}) {
  std::string s;
  s.reserve(prefix.size() + body.size() + more.size());
  s.append(prefix);
  s.append(body);
  s.append(more);
  return s;
}

// A one-entry zip as libarchive's writer makes it (the emulator's writer):
// size unknown up front, so Zip64 size fields, flag bit 3 and a descriptor.
inline std::string libarchive_zip_bytes(std::string_view name, std::string_view data, const char* options) {
  std::string out;
  archive* a = archive_write_new();
  archive_entry* e = archive_entry_new();
  const auto put = [](archive*, void* to, const void* buf, std::size_t n) -> la_ssize_t {
    static_cast<std::string*>(to)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  archive_entry_set_pathname(e, std::string(name).c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  if (archive_write_set_format_zip(a) != ARCHIVE_OK || archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
      archive_write_set_options(a, options) != ARCHIVE_OK || archive_write_open(a, &out, nullptr, put, nullptr) != ARCHIVE_OK ||
      archive_write_header(a, e) != ARCHIVE_OK ||
      archive_write_data(a, data.data(), data.size()) != static_cast<la_ssize_t>(data.size()) ||
      archive_write_close(a) != ARCHIVE_OK)
    std::abort();
  archive_entry_free(e);
  archive_write_free(a);
  return out;
}

// (target name, seeds with the target's control prefix)
inline std::vector<std::pair<std::string, std::vector<std::string>>> seeds() {
  using namespace examples;
  const std::string bom_csv = join("\xEF\xBB\xBF", csv);
  std::vector<std::string> zips;
  for (int layout = 0; layout < 8; ++layout) {
    const zip_options o{(layout & 1) != 0, (layout & 2) != 0, (layout & 4) != 0};
    const char control = static_cast<char>(layout << 5 | 3);
    zips.push_back(join(std::string_view(&control, 1), zip_bytes("q.csv", csv, o)));
  }
  for (const char* options : {"zip:compression-level=1", "zip:compression=store", "zip:zip64", "zip:!zip64"})
    zips.push_back(join("\x07", libarchive_zip_bytes("q.csv", csv, options)));
  return {
      {"csv_parser", {join("\x03\xc0", csv), join("\x10\xc1", bom_csv), join("\x81\x42", csv)}},
      {"gzip_decoder",
       {join("\x05", deflate_bytes(csv, 6, 31)), join("\x02", deflate_bytes(csv, 1, 31), deflate_bytes(bom_csv, 9, 31))}},
      {"zip_decoder", zips},
      {"aqua_json", {submit_ok, get_job, submit_refused, token, platform_error, describe_list_xml, describe_object_xml}},
      {"batch_results", {batch_results_json, R"({"batchId":2,"batchStatus":"InProgress"})"}},
  };
}

}  // namespace aquaduct::fuzz

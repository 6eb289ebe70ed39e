#pragma once
// The JSON answers of the AQuA service (../shared/docs/aqua-contract.md), as
// plain structs, parsed with simdjson's on-demand API. Unknown fields are
// ignored; a missing required field is errc::json_missing_field.
//
// json_reader keeps one simdjson parser and one padded buffer and reuses them:
// use one reader per thread, and never keep a reader's document across a
// co_await (the parse functions copy everything out before returning).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aquaduct::decode {

struct aqua_batch {
  std::string name;
  std::string batch_id;
  std::string status;
  std::string message;
  std::uint64_t record_count = 0;
  bool full = true;
  std::vector<std::string> files;  // `fileId`, or `segments` in order
};

struct aqua_job {
  std::string id;
  std::string name;
  std::string status;
  std::string error_code;  // set when the service answered status "error"
  std::string message;
  std::string start_time;
  std::vector<aqua_batch> batches;
};

struct oauth_token {
  std::string access_token;
  std::uint64_t expires_in = 0;
};

// An error body: AQuA's {"errorCode","message"} or the platform's
// {"reasons":[{"code","message"}]}. Both fields may be empty.
struct error_reply {
  std::string code;
  std::string message;
};

class json_reader {
 public:
  json_reader();
  ~json_reader();
  json_reader(const json_reader&) = delete;
  json_reader& operator=(const json_reader&) = delete;

  // `what` is filled with a short description of the problem on error.
  void parse_job(std::string_view json, aqua_job& out, std::error_code& ec, std::string& what);
  void parse_token(std::string_view json, oauth_token& out, std::error_code& ec, std::string& what);
  // Never fails: a body that is not a recognised error yields empty fields.
  error_reply parse_error(std::string_view json);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace aquaduct::decode

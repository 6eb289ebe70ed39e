#pragma once
// The JSON answers of the AQuA service (../shared/docs/aqua-contract.md), as
// plain structs, parsed with simdjson's on-demand API. Unknown fields are
// ignored; a missing required field is errc::json_missing_field.
//
// Job answers (submit and get) carry the batches: status is required, id
// too unless status is "error" (a refused submit). A batch needs its status.
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
  std::string error_code;  // an aborted batch's errorCode, when the service gives one
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
  std::string access_token;  // required
  std::uint64_t expires_in = 0;
  std::string token_type;
};

// An error body: AQuA's {"errorCode","message"} or the platform's
// {"reasons":[{"code","message"}]}. Both fields may be empty.
struct error_reply {
  std::string code;
  std::string message;
  std::string status;  // "error" on AQuA's submit errors, else usually empty
};

// The describe API (contract §5.6) answers XML, not JSON; its models live
// here beside the others. `GET /v1/describe` lists objects; `GET
// /v1/describe/{Object}` gives an object's fields and related objects.
struct describe_object_ref {
  std::string name;   // required
  std::string label;
  std::string href;
};

struct describe_field {
  std::string name;  // required
  std::string label;
  std::string type;
  bool selectable = true;
  bool required = false;
  std::vector<std::string> contexts;  // "export", "soap", ...
  bool exportable() const;            // has the export context (what AQuA can select)
};

struct describe_object {
  std::string name;  // required
  std::string label;
  std::vector<describe_field> fields;
  std::vector<describe_object_ref> related;
};

// Unknown elements are ignored; XML that is not well formed is
// errc::xml_invalid, a missing <name> is errc::xml_missing_field.
void parse_describe_list(std::string_view xml, std::vector<describe_object_ref>& out, std::error_code& ec,
                         std::string& what);
void parse_describe_object(std::string_view xml, describe_object& out, std::error_code& ec, std::string& what);

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

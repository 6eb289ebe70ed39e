#pragma once
// The request side of the callout listener (aqua-contract.md §1.8), apart
// from any socket so it can be fuzzed: one HTTP/1.1 request read with llhttp
// in request mode under limits, and what it asks for. AQuA (and the
// emulator, emulator/callout.cpp) sends
//   GET <notifyUrl with ${JOBID} and ${STATUS} substituted> HTTP/1.1
// and our notifyUrl ends "?job=${JOBID}&status=${STATUS}".
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <llhttp.h>

namespace aquaduct::engine_detail {

struct callout_limits {
  std::size_t max_header_bytes = 8 * 1024;    // request line + headers
  std::size_t max_body_bytes = 64 * 1024;     // a POST body (read and ignored)
  std::chrono::milliseconds deadline{10000};  // a whole connection: request in, answer out
  std::size_t max_connections = 64;           // open at once; beyond, 503 and close
};

// Reads one request, pushed in pieces. Bytes after the request are ignored.
class request_reader {
 public:
  enum class state { more, done, bad };

  explicit request_reader(const callout_limits& limits);
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  state put(std::string_view data);
  state finish();  // the peer closed its side: a request still incomplete is bad

  std::string_view method() const noexcept;  // valid once done
  const std::string& target() const noexcept { return target_; }
  // When bad: the status to answer (400, 413 body too large, 431 headers too
  // large) and why, for the answer's text.
  unsigned error_status() const noexcept { return error_status_; }
  const std::string& error_reason() const noexcept { return reason_; }

 private:
  static int on_url(llhttp_t* p, const char* at, std::size_t len);
  static int on_header_bytes(llhttp_t* p, const char* at, std::size_t len);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, std::size_t len);
  static int on_message_complete(llhttp_t* p);
  int fail(unsigned status, const char* reason);
  state fail_from_parser();

  callout_limits limits_;
  llhttp_t parser_{};
  llhttp_settings_t settings_{};
  std::string target_;
  std::size_t header_bytes_ = 0;
  std::size_t body_bytes_ = 0;
  state state_ = state::more;
  unsigned error_status_ = 0;
  std::string reason_;
};

// What a whole request asks. status 200: a callout, with job_id and
// status_text URL-decoded; 400: a callout path with a missing, repeated or
// badly encoded job or status (or an unparsable target); 404: another path;
// 405: a method other than GET or POST. `reason` explains anything but 200.
struct callout_verdict {
  unsigned status = 400;
  std::string job_id;
  std::string status_text;
  std::string reason;
};
// `paths`: the paths callouts arrive on (decoded, e.g. "/callout").
callout_verdict judge_callout(std::string_view method, std::string_view target, const std::vector<std::string>& paths);

// %XX decoded (and '+' as a space when `plus_is_space`); false on a bad escape.
bool percent_decode(std::string_view in, bool plus_is_space, std::string& out);

// A whole HTTP/1.1 answer that closes the connection, `text` as a plain-text body.
std::string http_answer(unsigned status, std::string_view text, bool head_request = false);

}  // namespace aquaduct::engine_detail

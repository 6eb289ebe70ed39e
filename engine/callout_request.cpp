#include "engine/callout_request.hpp"

#include <algorithm>

namespace aquaduct::engine_detail {

namespace {
request_reader* self(llhttp_t* p) { return static_cast<request_reader*>(p->data); }
}  // namespace

request_reader::request_reader(const callout_limits& limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_url = &request_reader::on_url;
  settings_.on_header_field = &request_reader::on_header_bytes;
  settings_.on_header_value = &request_reader::on_header_bytes;
  settings_.on_headers_complete = &request_reader::on_headers_complete;
  settings_.on_body = &request_reader::on_body;
  settings_.on_message_complete = &request_reader::on_message_complete;
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

int request_reader::fail(unsigned status, const char* reason) {
  error_status_ = status;
  reason_ = reason;
  return -1;
}

int request_reader::on_url(llhttp_t* p, const char* at, std::size_t len) {
  auto* s = self(p);
  if ((s->header_bytes_ += len) > s->limits_.max_header_bytes) return s->fail(431, "request line and headers too large");
  s->target_.append(at, len);
  return 0;
}

int request_reader::on_header_bytes(llhttp_t* p, const char*, std::size_t len) {
  auto* s = self(p);
  if ((s->header_bytes_ += len) > s->limits_.max_header_bytes) return s->fail(431, "request line and headers too large");
  return 0;
}

int request_reader::on_headers_complete(llhttp_t* p) {
  auto* s = self(p);
  // A declared body over the limit is refused before it is read.
  if ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length > s->limits_.max_body_bytes)
    return s->fail(413, "request body too large");
  return 0;
}

int request_reader::on_body(llhttp_t* p, const char*, std::size_t len) {
  auto* s = self(p);
  if ((s->body_bytes_ += len) > s->limits_.max_body_bytes) return s->fail(413, "request body too large");
  return 0;
}

int request_reader::on_message_complete(llhttp_t* p) {
  self(p)->state_ = state::done;
  return HPE_PAUSED;  // one request per connection: the rest is not ours to parse
}

request_reader::state request_reader::fail_from_parser() {
  if (error_status_ == 0) {
    error_status_ = 400;
    reason_ = "malformed request: ";
    reason_ += llhttp_get_error_reason(&parser_);
  }
  state_ = state::bad;
  return state_;
}

request_reader::state request_reader::put(std::string_view data) {
  if (state_ != state::more || data.empty()) return state_;
  const llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
  if (state_ == state::done) return state_;
  if (err == HPE_OK) {
    // Headers still arriving in pieces below the limit, or a body under way.
    return state_;
  }
  return fail_from_parser();
}

request_reader::state request_reader::finish() {
  if (state_ != state::more) return state_;
  const llhttp_errno_t err = llhttp_finish(&parser_);
  if (state_ == state::done) return state_;
  if (err == HPE_OK) {
    // Nothing of a request arrived before the close, or llhttp saw no error in a cut one.
    error_status_ = 400;
    reason_ = "connection closed before a whole request";
  }
  return fail_from_parser();
}

std::string_view request_reader::method() const noexcept {
  return llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
}

bool percent_decode(std::string_view in, bool plus_is_space, std::string& out) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += plus_is_space && c == '+' ? ' ' : c;
    }
  }
  return true;
}

callout_verdict judge_callout(std::string_view method, std::string_view target, const std::vector<std::string>& paths) {
  callout_verdict v;
  if (method != "GET" && method != "POST") {
    v.status = 405;
    v.reason = "method " + std::string(method) + " not allowed (GET or POST)";
    return v;
  }
  // Absolute form (through a proxy): drop scheme and authority.
  if (target.substr(0, 7) == "http://" || target.substr(0, 8) == "https://") {
    const auto slash = target.find_first_of("/?", target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  const auto q = target.find('?');
  std::string path;
  if (!percent_decode(target.substr(0, q), false, path) || path.empty() || path.front() != '/') {
    v.reason = "bad request target";
    return v;
  }
  if (std::find(paths.begin(), paths.end(), path) == paths.end()) {
    v.status = 404;
    v.reason = "no such path (callouts go to " + (paths.empty() ? std::string("?") : paths.front()) + ")";
    return v;
  }
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  const auto hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  bool has_job = false, has_status = false;
  std::string key, value;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    if (!percent_decode(pair.substr(0, eq), true, key) ||
        !percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true, value)) {
      v.reason = "bad %-escape in the query string";
      return v;
    }
    if (key == "job" || key == "status") {
      bool& seen = key == "job" ? has_job : has_status;
      if (seen) {
        v.reason = "\"" + key + "\" given twice";
        return v;
      }
      seen = true;
      (key == "job" ? v.job_id : v.status_text) = value;
    }
  }
  if (!has_job || v.job_id.empty()) {
    v.reason = "no job id (expected ?job=${JOBID}&status=${STATUS})";
    return v;
  }
  if (!has_status) {
    v.reason = "no status (expected ?job=${JOBID}&status=${STATUS})";
    return v;
  }
  v.status = 200;
  return v;
}

std::string http_answer(unsigned status, std::string_view text, bool head_request) {
  const char* phrase = "Bad Request";
  switch (status) {
    case 200: phrase = "OK"; break;
    case 404: phrase = "Not Found"; break;
    case 405: phrase = "Method Not Allowed"; break;
    case 408: phrase = "Request Timeout"; break;
    case 413: phrase = "Content Too Large"; break;
    case 431: phrase = "Request Header Fields Too Large"; break;
    case 500: phrase = "Internal Server Error"; break;
    case 503: phrase = "Service Unavailable"; break;
    default: break;
  }
  std::string body(text);
  body += '\n';
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + phrase +
                    "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n";
  if (status == 405) out += "Allow: GET, POST\r\n";
  out += "\r\n";
  if (!head_request) out += body;
  return out;
}

}  // namespace aquaduct::engine_detail

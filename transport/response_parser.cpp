#include "transport/response_parser.hpp"

#include <aquaduct/error.hpp>

#include <utility>

namespace aquaduct::transport {

namespace {
response_parser* self(llhttp_t* p) { return static_cast<response_parser*>(p->data); }
}  // namespace

response_parser::response_parser(response_limits limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_header_field = &response_parser::on_header_field;
  settings_.on_header_value = &response_parser::on_header_value;
  settings_.on_headers_complete = &response_parser::on_headers_complete;
  settings_.on_body = &response_parser::on_body;
  settings_.on_message_complete = &response_parser::on_message_complete;
  reset();
}

void response_parser::reset(bool head_request) {
  llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
  parser_.data = this;
  headers_.clear();
  in_value_ = false;
  headers_complete_ = message_complete_ = keep_alive_ = false;
  status_ = 0;
  header_bytes_ = 0;
  trailing_ = 0;
  reason_ = "";
  message_.clear();
  fed_ = 0;
  callback_error_ = nullptr;
  head_request_ = head_request;
}

int response_parser::count_header_bytes(std::size_t len) {
  header_bytes_ += len;
  return header_bytes_ > limits_.max_header_bytes ? -1 : 0;
}

int response_parser::on_header_field(llhttp_t* p, const char* at, std::size_t len) {
  auto* s = self(p);
  if (s->count_header_bytes(len) != 0) {
    s->reason_ = "response headers too large";
    return -1;
  }
  if (s->headers_.empty() || s->in_value_) {
    if (s->headers_.size() >= s->limits_.max_headers) {
      s->reason_ = "too many response headers";
      return -1;
    }
    s->headers_.push_back({});
    s->in_value_ = false;
  }
  s->headers_.back().name.append(at, len);
  return 0;
}

int response_parser::on_header_value(llhttp_t* p, const char* at, std::size_t len) {
  auto* s = self(p);
  if (s->count_header_bytes(len) != 0) {
    s->reason_ = "response headers too large";
    return -1;
  }
  s->in_value_ = true;
  s->headers_.back().value.append(at, len);
  return 0;
}

int response_parser::on_headers_complete(llhttp_t* p) {
  auto* s = self(p);
  s->headers_complete_ = true;
  s->status_ = p->status_code;
  // 1 tells llhttp that a response to HEAD has no body.
  return s->head_request_ ? 1 : 0;
}

int response_parser::on_body(llhttp_t* p, const char* at, std::size_t len) {
  auto* s = self(p);
  if (!s->on_body_) return 0;
  // Exceptions must not unwind through llhttp's C frames: park and rethrow.
  try {
    s->on_body_(std::string_view(at, len));
  } catch (...) {
    s->callback_error_ = std::current_exception();
    return -1;
  }
  return 0;
}

int response_parser::on_message_complete(llhttp_t* p) {
  auto* s = self(p);
  s->message_complete_ = true;
  s->keep_alive_ = llhttp_should_keep_alive(p) != 0;
  return HPE_PAUSED;  // stop here: bytes after this message are not ours to parse
}

void response_parser::put(std::string_view data, std::error_code& ec) {
  if (message_complete_) {
    trailing_ += data.size();
    return;
  }
  const llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
  struct count_after {  // this call's bytes count once it returned, whatever way
    std::uint64_t& fed;
    std::size_t n;
    ~count_after() { fed += n; }
  } counted{fed_, data.size()};
  if (callback_error_) std::rethrow_exception(std::exchange(callback_error_, nullptr));
  if (err == HPE_OK) return;
  if (err == HPE_PAUSED && message_complete_) {
    const char* pos = llhttp_get_error_pos(&parser_);
    trailing_ = static_cast<std::size_t>(data.data() + data.size() - pos);
    return;
  }
  if (*reason_ == '\0') reason_ = llhttp_get_error_reason(&parser_);
  const char* pos = llhttp_get_error_pos(&parser_);
  const bool inside = pos != nullptr && pos >= data.data() && pos <= data.data() + data.size();
  message_ = std::string(reason_) + " at byte " + std::to_string(fed_ + (inside ? pos - data.data() : 0)) + " of the response";
  ec = transport_errc::bad_response;
}

void response_parser::finish(std::error_code& ec) {
  if (message_complete_) return;
  const llhttp_errno_t err = llhttp_finish(&parser_);
  if (callback_error_) std::rethrow_exception(std::exchange(callback_error_, nullptr));
  if ((err == HPE_OK || err == HPE_PAUSED) && message_complete_) return;
  reason_ = headers_complete_ ? "connection closed inside the body" : "connection closed before the response";
  ec = transport_errc::connection_closed;
}

}  // namespace aquaduct::transport

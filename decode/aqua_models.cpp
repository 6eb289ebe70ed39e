#include "decode/aqua_models.hpp"

#include "decode/json_support.hpp"

namespace aquaduct::decode {

// The shared on-demand helpers (failure, scalar_text, for_each_field, ...).
using namespace json;

namespace {

std::uint64_t count_of(od::value value, std::string_view key) {
  const std::string text = scalar_text(value, key);
  std::uint64_t n = 0;
  if (text.empty()) return 0;
  for (char c : text) {
    if (c < '0' || c > '9' || n > (UINT64_MAX - 9) / 10)
      throw failure{errc::json_invalid, std::string(key) + ": not a count: " + text};
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

bool flag_of(od::value value, std::string_view key) {
  const std::string text = scalar_text(value, key);
  if (text == "true") return true;
  if (text == "false" || text.empty()) return false;
  throw failure{errc::json_invalid, std::string(key) + ": not a boolean: " + text};
}

aqua_batch parse_batch(od::object obj) {
  aqua_batch b;
  bool has_status = false;
  std::string file_id;
  std::vector<std::string> segments;
  for_each_field(obj, [&](std::string_view key, od::value v) {
    if (key == "name") b.name = scalar_text(v, key);
    else if (key == "batchId") b.batch_id = scalar_text(v, key);
    else if (key == "status") b.status = scalar_text(v, key), has_status = true;
    else if (key == "message") b.message = scalar_text(v, key);
    else if (key == "errorCode") b.error_code = scalar_text(v, key);
    else if (key == "recordCount") b.record_count = count_of(v, key);
    else if (key == "full") b.full = flag_of(v, key);
    else if (key == "fileId") file_id = scalar_text(v, key);
    else if (key == "segments") for_each_element(v, key, [&](od::value sv) { segments.push_back(scalar_text(sv, key)); });
  });
  // `segments` replaces `fileId` when the result was split.
  if (!segments.empty()) b.files = std::move(segments);
  else if (!file_id.empty()) b.files.push_back(std::move(file_id));
  if (!has_status || b.status.empty()) throw failure{errc::json_missing_field, "batch without status"};
  return b;
}

}  // namespace

struct json_reader::impl {
  json::document_reader reader;
};

json_reader::json_reader() : impl_(std::make_unique<impl>()) {}
json_reader::~json_reader() = default;

void json_reader::parse_job(std::string_view text, aqua_job& out, std::error_code& ec, std::string& what) {
  out = aqua_job{};
  impl_->reader.with_object(text, ec, what, [&](od::object obj) {
    for_each_field(obj, [&](std::string_view key, od::value v) {
      if (key == "id") out.id = scalar_text(v, key);
      else if (key == "name") out.name = scalar_text(v, key);
      else if (key == "status") out.status = scalar_text(v, key);
      else if (key == "errorCode") out.error_code = scalar_text(v, key);
      else if (key == "message") out.message = scalar_text(v, key);
      else if (key == "startTime") out.start_time = scalar_text(v, key);
      else if (key == "batches")
        for_each_element(v, key, [&](od::value item) { out.batches.push_back(parse_batch(object_of(item, "batches[]"))); });
    });
    if (out.status.empty()) throw failure{errc::json_missing_field, "job without status"};
    if (out.status != "error" && out.id.empty()) throw failure{errc::json_missing_field, "job without id"};
  });
  if (ec) out = aqua_job{};
}

void json_reader::parse_token(std::string_view text, oauth_token& out, std::error_code& ec, std::string& what) {
  out = oauth_token{};
  impl_->reader.with_object(text, ec, what, [&](od::object obj) {
    for_each_field(obj, [&](std::string_view key, od::value v) {
      if (key == "access_token") out.access_token = scalar_text(v, key);
      else if (key == "expires_in") out.expires_in = count_of(v, key);
      else if (key == "token_type") out.token_type = scalar_text(v, key);
    });
    if (out.access_token.empty()) throw failure{errc::json_missing_field, "token response without access_token"};
  });
  if (ec) out = oauth_token{};
}

error_reply json_reader::parse_error(std::string_view text) {
  error_reply reply;
  std::error_code ec;
  std::string what;
  impl_->reader.with_object(text, ec, what, [&](od::object obj) {
    for_each_field(obj, [&](std::string_view key, od::value v) {
      if (key == "errorCode") reply.code = scalar_text(v, key);
      else if (key == "message") reply.message = scalar_text(v, key);
      else if (key == "status") reply.status = scalar_text(v, key);
      else if (key == "reasons") {
        for_each_element(v, key, [&](od::value item) {
          for_each_field(object_of(item, "reasons[]"), [&](std::string_view rk, od::value rv) {
            if (rk == "code" && reply.code.empty()) reply.code = scalar_text(rv, rk);
            else if (rk == "message" && reply.message.empty()) reply.message = scalar_text(rv, rk);
          });
        });
      }
    });
  });
  if (ec) return {};
  return reply;
}

}  // namespace aquaduct::decode

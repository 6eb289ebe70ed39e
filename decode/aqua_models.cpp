#include "decode/aqua_models.hpp"

#include "decode/decode_error.hpp"

#include <simdjson.h>

#include <cstring>

namespace aquaduct::decode {

namespace od = simdjson::ondemand;

namespace {

// simdjson failures leave the parse through this exception; it never
// escapes the public functions.
struct json_failure {
  errc code;
  std::string what;
};

void check(simdjson::error_code err, std::string_view context) {
  if (err) throw json_failure{errc::json_invalid, std::string(context) + ": " + simdjson::error_message(err)};
}

// Text of a scalar: strings unescaped, numbers and booleans as their JSON
// token. AQuA sends some fields either way ("90005" or 90005, true or "true").
std::string scalar_text(od::value value, std::string_view key) {
  od::json_type type;
  check(value.type().get(type), key);
  switch (type) {
    case od::json_type::string: {
      std::string_view s;
      check(value.get_string().get(s), key);
      return std::string(s);
    }
    case od::json_type::number:
    case od::json_type::boolean: {
      std::string_view raw = value.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
        raw.remove_suffix(1);
      return std::string(raw);
    }
    case od::json_type::null: return {};
    default: throw json_failure{errc::json_invalid, std::string(key) + ": expected a scalar"};
  }
}

std::uint64_t count_of(od::value value, std::string_view key) {
  const std::string text = scalar_text(value, key);
  std::uint64_t n = 0;
  if (text.empty()) return 0;
  for (char c : text) {
    if (c < '0' || c > '9') throw json_failure{errc::json_invalid, std::string(key) + ": not a count: " + text};
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

bool flag_of(od::value value, std::string_view key) {
  const std::string text = scalar_text(value, key);
  if (text == "true") return true;
  if (text == "false" || text.empty()) return false;
  throw json_failure{errc::json_invalid, std::string(key) + ": not a boolean: " + text};
}

// Calls fn(key, value) for every field of `obj`, unknown ones included.
template <class Fn>
void for_each_field(od::object obj, Fn&& fn) {
  for (auto field : obj) {
    std::string_view key;
    check(field.unescaped_key().get(key), "key");
    od::value v;
    check(field.value().get(v), key);
    fn(key, v);
  }
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
    else if (key == "recordCount") b.record_count = count_of(v, key);
    else if (key == "full") b.full = flag_of(v, key);
    else if (key == "fileId") file_id = scalar_text(v, key);
    else if (key == "segments") {
      od::array arr;
      check(v.get_array().get(arr), key);
      for (auto item : arr) {
        od::value sv;
        check(item.get(sv), key);
        segments.push_back(scalar_text(sv, key));
      }
    }
  });
  // `segments` replaces `fileId` when the result was split.
  if (!segments.empty()) b.files = std::move(segments);
  else if (!file_id.empty()) b.files.push_back(std::move(file_id));
  if (!has_status) throw json_failure{errc::json_missing_field, "batch without status"};
  return b;
}

}  // namespace

struct json_reader::impl {
  od::parser parser;
  std::string buffer;

  simdjson::padded_string_view pad(std::string_view json) {
    buffer.resize(json.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(buffer.data(), json.data(), json.size());
    return simdjson::padded_string_view(buffer.data(), json.size(), buffer.size());
  }

  template <class Fn>
  void with_object(std::string_view json, std::error_code& ec, std::string& what, Fn&& fn) {
    try {
      od::document doc;
      check(parser.iterate(pad(json)).get(doc), "document");
      od::object obj;
      check(doc.get_object().get(obj), "document");
      fn(obj);
      ec.clear();
    } catch (const json_failure& f) {
      ec = f.code;
      what = f.what;
    }
  }
};

json_reader::json_reader() : impl_(std::make_unique<impl>()) {}
json_reader::~json_reader() = default;

void json_reader::parse_job(std::string_view json, aqua_job& out, std::error_code& ec, std::string& what) {
  out = aqua_job{};
  impl_->with_object(json, ec, what, [&](od::object obj) {
    for_each_field(obj, [&](std::string_view key, od::value v) {
      if (key == "id") out.id = scalar_text(v, key);
      else if (key == "name") out.name = scalar_text(v, key);
      else if (key == "status") out.status = scalar_text(v, key);
      else if (key == "errorCode") out.error_code = scalar_text(v, key);
      else if (key == "message") out.message = scalar_text(v, key);
      else if (key == "startTime") out.start_time = scalar_text(v, key);
      else if (key == "batches") {
        od::array arr;
        check(v.get_array().get(arr), key);
        for (auto item : arr) {
          od::object bo;
          check(item.get_object().get(bo), "batches[]");
          out.batches.push_back(parse_batch(bo));
        }
      }
    });
    if (out.status.empty()) throw json_failure{errc::json_missing_field, "job without status"};
    if (out.status != "error" && out.id.empty()) throw json_failure{errc::json_missing_field, "job without id"};
  });
}

void json_reader::parse_token(std::string_view json, oauth_token& out, std::error_code& ec, std::string& what) {
  out = oauth_token{};
  impl_->with_object(json, ec, what, [&](od::object obj) {
    for_each_field(obj, [&](std::string_view key, od::value v) {
      if (key == "access_token") out.access_token = scalar_text(v, key);
      else if (key == "expires_in") out.expires_in = count_of(v, key);
    });
    if (out.access_token.empty()) throw json_failure{errc::json_missing_field, "token response without access_token"};
  });
}

error_reply json_reader::parse_error(std::string_view json) {
  error_reply reply;
  std::error_code ec;
  std::string what;
  impl_->with_object(json, ec, what, [&](od::object obj) {
    for_each_field(obj, [&](std::string_view key, od::value v) {
      if (key == "errorCode") reply.code = scalar_text(v, key);
      else if (key == "message") reply.message = scalar_text(v, key);
      else if (key == "reasons") {
        od::array arr;
        check(v.get_array().get(arr), key);
        for (auto item : arr) {
          od::object ro;
          check(item.get_object().get(ro), "reasons[]");
          for_each_field(ro, [&](std::string_view rk, od::value rv) {
            if (rk == "code" && reply.code.empty()) reply.code = scalar_text(rv, rk);
            else if (rk == "message" && reply.message.empty()) reply.message = scalar_text(rv, rk);
          });
        }
      }
    });
  });
  return reply;
}

}  // namespace aquaduct::decode

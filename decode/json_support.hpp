#pragma once
// What the simdjson on-demand models share (aqua_models, batch_results):
// failures as one exception that never leaves the public functions, scalar
// text, iteration over every field, and the padded copy simdjson requires.
#include "decode/decode_error.hpp"

#include "text/json_text.hpp"

#include <simdjson.h>

#include <cstring>
#include <string>
#include <string_view>

namespace aquaduct::decode::json {

namespace od = simdjson::ondemand;

struct failure {
  errc code;
  std::string what;
};

inline void check(simdjson::error_code err, std::string_view context) {
  if (err) throw failure{errc::json_invalid, std::string(context) + ": " + simdjson::error_message(err)};
}

using text::is_json_number;  // RFC 8259 number grammar (text/json_text.hpp)

// Text of a scalar: strings unescaped, numbers and booleans as their JSON
// token, null empty. AQuA sends some fields either way ("90005" or 90005,
// true or "true").
inline std::string scalar_text(od::value value, std::string_view key) {
  od::json_type type;
  check(value.type().get(type), key);
  switch (type) {
    case od::json_type::string: {
      std::string_view s;
      check(value.get_string().get(s), key);
      return std::string(s);
    }
    case od::json_type::number:
    case od::json_type::boolean:
    case od::json_type::null: {
      // raw_json_token() neither consumes nor validates the token: check it here.
      std::string_view raw = value.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
        raw.remove_suffix(1);
      const bool ok = type == od::json_type::number    ? is_json_number(raw)
                      : type == od::json_type::boolean ? (raw == "true" || raw == "false")
                                                       : raw == "null";
      if (!ok) throw failure{errc::json_invalid, std::string(key) + ": not a JSON scalar: " + std::string(raw.substr(0, 40))};
      return type == od::json_type::null ? std::string() : std::string(raw);
    }
    default: throw failure{errc::json_invalid, std::string(key) + ": expected a scalar"};
  }
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

// Calls fn(value) for every element of the array `v`.
template <class Fn>
void for_each_element(od::value v, std::string_view key, Fn&& fn) {
  od::array arr;
  check(v.get_array().get(arr), key);
  for (auto item : arr) {
    od::value element;
    check(item.get(element), key);
    fn(element);
  }
}

inline od::object object_of(od::value v, std::string_view key) {
  od::object obj;
  check(v.get_object().get(obj), key);
  return obj;
}

// One on-demand parser and the padded copy it reads (simdjson reads up to
// SIMDJSON_PADDING bytes past the end). A document lives only within parse().
class document_reader {
 public:
  // A failure's `what` ends with the byte of `text` where it was found.
  template <class Fn>
  void with_object(std::string_view text, std::error_code& ec, std::string& what, Fn&& fn) {
    od::document doc;
    bool started = false;
    try {
      buffer_.resize(text.size() + simdjson::SIMDJSON_PADDING);
      std::memcpy(buffer_.data(), text.data(), text.size());
      check(parser_.iterate(simdjson::padded_string_view(buffer_.data(), text.size(), buffer_.size())).get(doc),
            "document");
      started = true;
      od::object obj;
      check(doc.get_object().get(obj), "document");
      fn(obj);
      ec.clear();
    } catch (const failure& f) {
      ec = f.code;
      what = f.what;
      const char* at = nullptr;
      if (!started) return;
      if (doc.current_location().get(at) == simdjson::SUCCESS && at >= buffer_.data() &&
          at <= buffer_.data() + text.size())
        what += " (at byte " + std::to_string(at - buffer_.data()) + " of " + std::to_string(text.size()) + ")";
      else
        what += " (at the end, byte " + std::to_string(text.size()) + ")";
    }
  }

 private:
  od::parser parser_;
  std::string buffer_;
};

}  // namespace aquaduct::decode::json

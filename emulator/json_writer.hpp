#pragma once
// A tiny append-only JSON writer for the emulator's responses. It tracks
// whether a comma is needed; it does NOT check that the caller nests
// objects and arrays correctly.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::emulator {

class json_writer {
 public:
  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }

  // Writes `"name":`; the next value call completes the member.
  json_writer& key(std::string_view name) {
    separate();
    quote(name);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  json_writer& value(std::string_view s) {
    separate();
    quote(s);
    return *this;
  }
  json_writer& value(const char* s) { return value(std::string_view{s}); }
  json_writer& value(const std::string& s) { return value(std::string_view{s}); }
  json_writer& value(bool b) {
    separate();
    out_ += b ? "true" : "false";
    return *this;
  }
  json_writer& value(std::int64_t n) {
    separate();
    out_ += std::to_string(n);
    return *this;
  }
  json_writer& value(std::uint64_t n) {
    separate();
    out_ += std::to_string(n);
    return *this;
  }
  json_writer& value(int n) { return value(static_cast<std::int64_t>(n)); }
  json_writer& null() {
    separate();
    out_ += "null";
    return *this;
  }
  // Inserts already-serialised JSON as a value.
  json_writer& raw(std::string_view json) {
    separate();
    out_ += json;
    return *this;
  }

  template <class T>
  json_writer& member(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  const std::string& str() const noexcept { return out_; }
  std::string take() { return std::move(out_); }

  static void escape_into(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    for (char c : s) {
      auto u = static_cast<unsigned char>(c);
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (u < 0x20) {
            out += "\\u00";
            out += hex[u >> 4];
            out += hex[u & 0xf];
          } else {
            out += c;
          }
      }
    }
  }

 private:
  json_writer& open(char c) {
    separate();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  json_writer& close(char c) {
    out_ += c;
    if (!first_.empty()) first_.pop_back();
    return *this;
  }
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  void quote(std::string_view s) {
    out_ += '"';
    escape_into(out_, s);
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace aquaduct::emulator

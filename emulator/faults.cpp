#include "emulator/faults.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "emulator/wildcard.hpp"

namespace aquaduct::emulator {

bool glob_match(std::string_view pattern, std::string_view text) { return wildcard_match(pattern, text, '*', '?'); }

namespace {

bool parse_kind(std::string_view s, fault_kind& k) {
  if (s == "status") k = fault_kind::status;
  else if (s == "reset_after_bytes") k = fault_kind::reset_after_bytes;
  else if (s == "stall_ms" || s == "stall") k = fault_kind::stall;
  else if (s == "truncate") k = fault_kind::truncate;
  else if (s == "corrupt_gzip") k = fault_kind::corrupt_gzip;
  else if (s == "corrupt_pgp") k = fault_kind::corrupt_pgp;
  else if (s == "cut_file") k = fault_kind::cut_file;
  else if (s == "job_abort") k = fault_kind::job_abort;
  else if (s == "token_expired") k = fault_kind::token_expired;
  else return false;
  return true;
}

bool get_uint(simdjson::dom::element v, std::uint64_t& out) {
  if (v.is_uint64()) {
    out = v.get_uint64().value_unsafe();
    return true;
  }
  if (v.is_int64() && v.get_int64().value_unsafe() >= 0) {
    out = static_cast<std::uint64_t>(v.get_int64().value_unsafe());
    return true;
  }
  return false;
}

bool parse_rule(simdjson::dom::element e, fault_rule& r, std::string& error) {
  simdjson::dom::object o;
  if (e.get(o)) {
    error = "each rule must be a JSON object";
    return false;
  }
  std::string_view fault;
  if (o["fault"].get(fault)) {
    error = "a rule needs a \"fault\" string";
    return false;
  }
  if (!parse_kind(fault, r.kind)) {
    error = fmt::format("unknown fault '{}'", fault);
    return false;
  }
  for (auto [key, v] : o) {
    std::uint64_t n = 0;
    std::string_view s;
    if (key == "fault") continue;
    if (key == "path" || key == "method" || key == "message" || key == "body") {
      if (key == "body" && !v.is_string()) {
        r.body = simdjson::minify(v);  // a JSON body given as JSON
        continue;
      }
      if (v.get(s)) {
        error = fmt::format("\"{}\" must be a string", key);
        return false;
      }
      if (key == "path") r.path = std::string(s);
      else if (key == "method") {
        r.method = std::string(s);
        for (char& c : r.method)
          if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      }
      else if (key == "message") r.message = std::string(s);
      else r.body = std::string(s);
    } else if (key == "probability") {
      double d = 0;
      if (v.is_double()) d = v.get_double().value_unsafe();
      else if (get_uint(v, n)) d = static_cast<double>(n);
      else {
        error = "\"probability\" must be a number";
        return false;
      }
      if (d < 0 || d > 1) {
        error = "\"probability\" must be within 0..1";
        return false;
      }
      r.probability = d;
    } else if (key == "times" || key == "code" || key == "retry_after_s" || key == "bytes" || key == "ms" ||
               key == "after_bytes") {
      if (!get_uint(v, n)) {
        error = fmt::format("\"{}\" must be a non-negative integer", key);
        return false;
      }
      if (key == "times") r.times = n;
      else if (key == "code") {
        if (n < 100 || n > 599) {
          error = "\"code\" must be an HTTP status (100..599)";
          return false;
        }
        r.code = static_cast<int>(n);
      } else if (key == "retry_after_s") r.retry_after_s = n;
      else if (key == "bytes") r.bytes = n;
      else if (key == "ms") r.ms = n;
      else r.after_bytes = n;
    } else {
      error = fmt::format("unknown rule key '{}'", key);
      return false;
    }
  }
  return true;
}

}  // namespace

bool fault_set::add_json(std::string_view json, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element doc;
  if (auto ec = parser.parse(padded).get(doc)) {
    error = fmt::format("fault rules are not valid JSON: {}", simdjson::error_message(ec));
    return false;
  }
  simdjson::dom::array arr;
  if (doc.is_object()) {
    if (doc["rules"].get(arr)) {
      error = "expected {\"rules\":[...]}";
      return false;
    }
  } else if (doc.get(arr)) {
    error = "expected {\"rules\":[...]} or an array of rules";
    return false;
  }
  std::vector<fault_rule> parsed;
  for (simdjson::dom::element e : arr) {
    fault_rule r;
    if (!parse_rule(e, r, error)) return false;
    parsed.push_back(std::move(r));
  }
  for (auto& r : parsed) rules_.push_back(std::move(r));
  return true;
}

bool fault_set::roll(double probability) {
  if (probability >= 1.0) return true;
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53 < probability;
}

std::optional<fault_rule> fault_set::take(fault_kind kind, std::string_view method, std::string_view path) {
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (it->kind != kind) continue;
    if (it->times && *it->times == 0) continue;
    if (!it->method.empty() && it->method != method) continue;
    if (!glob_match(it->path, path)) continue;
    if (!roll(it->probability)) continue;
    fault_rule fired = *it;
    if (it->times) {
      if (--*it->times == 0) rules_.erase(it);
    }
    return fired;
  }
  return std::nullopt;
}

}  // namespace aquaduct::emulator

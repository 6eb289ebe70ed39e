#include "engine/run_log.hpp"

#include "engine/json_writer.hpp"
#include "transport/redact.hpp"

#include <ctime>
#include <iostream>

namespace aquaduct {

std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
  }
  return "info";
}

namespace {

std::string utc_timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The record's fields that are set, in a fixed order.
template <class F>
void each_field(const log_record& r, F&& f) {
  if (!r.job.empty()) f("job", r.job);
  if (!r.job_id.empty()) f("job_id", r.job_id);
  if (!r.query.empty()) f("query", r.query);
  if (!r.batch.empty()) f("batch", r.batch);
  if (!r.file.empty()) f("file", r.file);
}

// logfmt's rule: a value with a space, a quote or an equals sign is quoted.
std::string text_value(std::string_view v) {
  if (v.find_first_of(" \"=") == std::string_view::npos) return std::string(v);
  return engine_detail::json_quote(v);
}

}  // namespace

std::string to_text(const log_record& r) {
  std::string out = utc_timestamp();
  out += ' ';
  out += to_string(r.level);
  each_field(r, [&](std::string_view key, const std::string& value) {
    out += ' ';
    out += key;
    out += '=';
    out += text_value(value);
  });
  if (r.attempt) out += " attempt=" + std::to_string(r.attempt);
  out += ": ";
  out += r.message;
  return out;
}

std::string to_json(const log_record& r) {
  using engine_detail::json_quote;
  std::string out = "{\"ts\":" + json_quote(utc_timestamp()) + ",\"level\":" + json_quote(to_string(r.level)) +
                    ",\"msg\":" + json_quote(r.message);
  each_field(r, [&](std::string_view key, const std::string& value) {
    out += ',' + json_quote(key) + ':' + json_quote(value);
  });
  if (r.attempt) out += ",\"attempt\":" + std::to_string(r.attempt);
  out += '}';
  return out;
}

namespace engine_detail {

run_log::run_log(std::function<void(const log_record&)> out) { s_->out = std::move(out); }

void run_log::operator()(log_record r) const {
  r.message = transport::redact(r.message);
  std::lock_guard lock(s_->m);
  if (s_->out) s_->out(r);
  else if (r.level != log_level::info) std::cerr << to_text(r) << '\n';
}

std::function<void(std::string_view)> run_log::text_warnings() const {
  return [log = *this](std::string_view text) { log.warning({.message = std::string(text)}); };
}

}  // namespace engine_detail
}  // namespace aquaduct

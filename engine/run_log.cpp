#include "engine/run_log.hpp"

#include "engine/json_writer.hpp"
#include "engine/windows.hpp"
#include "transport/redact.hpp"

#include <chrono>
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
  return engine_detail::iso_utc(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
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

secret_set secrets_of(const source_config& src) {
  secret_set out;
  for (const std::string* s : {&src.auth.client_secret, &src.auth.secret_access_key, &src.auth.password,
                               &src.pgp.passphrase})
    if (!s->empty()) out.secrets.push_back(*s);
  for (const std::string* s : {&src.auth.client_id, &src.auth.access_key_id, &src.auth.username})
    if (!s->empty()) out.user_names.push_back(*s);
  return out;
}

std::string secret_set::cut(std::string_view text) const {
  return transport::redact(transport::redact_secrets(text, secrets, user_names));
}

run_log::run_log(std::function<void(const log_record&)> out) { s_->out = std::move(out); }

void run_log::hide(secret_set secrets) {
  std::lock_guard lock(s_->m);
  s_->secrets = std::move(secrets);
}

void run_log::operator()(log_record r) const {
  std::lock_guard lock(s_->m);
  r.message = s_->secrets.cut(r.message);
  if (s_->out) s_->out(r);
  else if (r.level != log_level::info) std::cerr << to_text(r) << '\n';
}

std::function<void(std::string_view)> run_log::text_warnings() const {
  return [log = *this](std::string_view text) { log.warning({.message = std::string(text)}); };
}

}  // namespace engine_detail
}  // namespace aquaduct

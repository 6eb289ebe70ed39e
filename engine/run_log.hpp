#pragma once
// The run's log: every log_record (include/aquaduct/engine.hpp) of a run goes
// through one run_log, which redacts its texts and calls the embedder's
// callback one record at a time, from whichever thread logs.
#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::engine_detail {

// The source's secret values (client_secret, secret_access_key, password) and
// its user names (client_id, access_key_id, username), which are not secret:
// transport::redact_secrets() cuts the first and never the second.
struct secret_set {
  std::vector<std::string> secrets, user_names;
  std::string cut(std::string_view text) const;  // redact_secrets(), then redact()
};
secret_set secrets_of(const source_config& src);

class run_log {
 public:
  run_log() = default;
  // Empty `out`: warnings and errors go to stderr as to_text() lines.
  explicit run_log(std::function<void(const log_record&)> out);

  // Also cuts these configured secrets out of every message (shared by the
  // copies of this run_log).
  void hide(secret_set secrets);

  void operator()(log_record r) const;
  void info(log_record r) const { emit(log_level::info, std::move(r)); }
  void warning(log_record r) const { emit(log_level::warning, std::move(r)); }
  void error(log_record r) const { emit(log_level::error, std::move(r)); }
  // A text-only warning (the transport's), as a record without fields.
  std::function<void(std::string_view)> text_warnings() const;

 private:
  void emit(log_level level, log_record r) const {
    r.level = level;
    (*this)(std::move(r));
  }
  struct shared {
    std::mutex m;
    std::function<void(const log_record&)> out;
    secret_set secrets;
  };
  std::shared_ptr<shared> s_ = std::make_shared<shared>();
};

}  // namespace aquaduct::engine_detail

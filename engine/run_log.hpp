#pragma once
// The run's log: every log_record (include/aquaduct/engine.hpp) of a run goes
// through one run_log, which redacts its texts and calls the embedder's
// callback one record at a time, from whichever thread logs.
#include <aquaduct/engine.hpp>

#include <functional>
#include <memory>
#include <mutex>

namespace aquaduct::engine_detail {

class run_log {
 public:
  run_log() = default;
  // Empty `out`: warnings and errors go to stderr as to_text() lines.
  explicit run_log(std::function<void(const log_record&)> out);

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
  };
  std::shared_ptr<shared> s_ = std::make_shared<shared>();
};

}  // namespace aquaduct::engine_detail

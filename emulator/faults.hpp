#pragma once
// Fault rules (interfaces.md §6): armed by POST /_emulator/faults or
// options::faults_json, matched per request by method and path glob.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::emulator {

enum class fault_kind {
  status,             // answer `code` (+ Retry-After, + body) instead of handling the request
  reset_after_bytes,  // send `bytes` body bytes, then reset the connection (RST)
  stall,              // "stall_ms": pause `ms` after `after_bytes` body bytes
  truncate,           // send `bytes` body bytes, then close cleanly
  corrupt_gzip,       // flip bytes inside the deflate stream of a gzip result file
  corrupt_pgp,        // flip bytes in the second half of a PGP-encrypted result file
  cut_file,           // serve a result file's first `bytes` bytes as if they were all of it
  job_abort,          // the next matching submitted job ends aborted with `message`
  token_expired,      // answer the 401 of an expired token
};

struct fault_rule {
  fault_kind kind = fault_kind::status;
  std::string method;      // empty = any method
  std::string path = "*";  // glob: '*' any run of characters (including '/'), '?' one character
  std::optional<std::uint64_t> times;  // remaining firings; nullopt = unlimited
  double probability = 1.0;
  int code = 503;
  std::optional<std::uint64_t> retry_after_s;
  std::optional<std::string> body;
  std::uint64_t bytes = 0;
  std::uint64_t ms = 0;
  std::uint64_t after_bytes = 0;
  std::string message = "java.lang.RuntimeException: job aborted by an emulator fault";
};

bool glob_match(std::string_view pattern, std::string_view text);

// NOT thread-safe: used only on the emulator's own thread.
class fault_set {
 public:
  explicit fault_set(std::uint64_t seed = 1) : rng_(seed * 0x9e3779b97f4a7c15ULL + 1) {}

  // Parses {"rules":[...]} (or a bare array of rules) and arms them after the
  // existing ones. On a bad spec arms nothing, sets `error`, returns false.
  bool add_json(std::string_view json, std::string& error);
  void clear() { rules_.clear(); }
  std::size_t size() const noexcept { return rules_.size(); }

  // The first armed rule of `kind` matching (method, path), counting one
  // firing of it (a rule whose `times` runs out is disarmed).
  std::optional<fault_rule> take(fault_kind kind, std::string_view method, std::string_view path);

 private:
  bool roll(double probability);

  std::vector<fault_rule> rules_;
  std::uint64_t rng_;
};

}  // namespace aquaduct::emulator

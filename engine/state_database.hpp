#pragma once
// The cursors in a PostgreSQL database (`--state postgres://…`, or `[state]
// url`), so that the machines of a fleet share them (issue 21; docs/fleet.md).
// Schema `aquaduct`, created and migrated by aquaduct under an advisory lock,
// its version in aquaduct.schema_version:
//   1  cursors(job, query, cursor)          the committed cursor, to_json() text
//      pending_commits(job, query, cursor)  a commit begun (begin_commit)
// save() replaces the cursor and ends its pending commit in one transaction.
// lock() is a session advisory lock: released when the connection closes,
// with the process or the store.
#include "engine/state_store.hpp"

#include <memory>
#include <mutex>
#include <string>

namespace aquaduct::engine_detail {

class state_database final : public state_store {
 public:
  // The schema version this build writes; a database at a later one is refused.
  static constexpr int schema_version = 1;

  // Connects to `url` (libpq's URI form) and creates or migrates the schema.
  // Throws std::system_error naming where() and the server's reason.
  explicit state_database(const std::string& url);
  ~state_database() override;
  state_database(const state_database&) = delete;
  state_database& operator=(const state_database&) = delete;

  std::optional<cursor> load(std::string_view job, std::string_view query) const override;
  void save(const cursor& c) override;
  void begin_commit(const cursor& next) override;
  std::optional<cursor> pending(std::string_view job, std::string_view query) const override;
  std::vector<cursor> list() const override;
  bool remove(std::string_view job, std::string_view query) override;
  // The message of a refusal names the holder (its application_name: aquaduct,
  // its pid and host).
  void lock() override;
  std::string where() const override { return where_; }

 private:
  struct connection;
  std::string where_;
  std::unique_ptr<connection> conn_;
  mutable std::mutex m_;  // one libpq connection: one statement at a time
  bool locked_ = false;
};

// `url` without its password (user:password@ and password=), for messages.
std::string redacted_state_url(std::string_view url);

}  // namespace aquaduct::engine_detail

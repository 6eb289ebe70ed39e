#pragma once
// One libpq connection of the state database (engine/state_database.hpp) or
// of the fleet's coordination (engine/fleet.hpp): statements with text
// parameters, transactions, and errors that name the database (its URL
// without the password) and give the server's words. Not thread-safe: its
// owner serialises the calls.
#include <libpq-fe.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace aquaduct::engine_detail {

class pg_connection {
 public:
  using result = std::unique_ptr<PGresult, decltype(&PQclear)>;

  // Connects to `url`; `app` becomes its application_name (who holds a lock,
  // in pg_stat_activity); the session's time zone is UTC. Throws
  // std::system_error naming `where` on failure.
  pg_connection(const std::string& url, std::string where, const std::string& app);
  ~pg_connection();
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;

  // One statement with text parameters ($1, $2, ...); throws std::system_error
  // (io_error) "state database W: DOING: the server's reason".
  result exec(std::string_view doing, const char* sql, std::initializer_list<std::string_view> params = {}) const;
  // Runs `body` between BEGIN and COMMIT; a throw rolls back and is rethrown.
  template <class F>
  void transaction(std::string_view doing, F&& body) const {
    exec(doing, "BEGIN");
    try {
      body();
      exec(doing, "COMMIT");
    } catch (...) {
      rollback();
      throw;
    }
  }
  const std::string& where() const noexcept { return where_; }

 private:
  void rollback() const noexcept;
  [[noreturn]] void fail(PGresult* r, std::string_view doing) const;
  PGconn* c_ = nullptr;
  std::string where_;
};

// "aquaduct pid N on HOST": a connection's application_name.
std::string process_name();
// `url` without its password (user:password@ and password=), for messages.
std::string redacted_state_url(std::string_view url);

}  // namespace aquaduct::engine_detail

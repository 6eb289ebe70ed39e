#include "engine/pg_connection.hpp"

#include <unistd.h>

#include <system_error>
#include <vector>

namespace aquaduct::engine_detail {

namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

std::string redacted_state_url(std::string_view url) {
  std::string out(url);
  // postgresql://user:password@host/db: the password in the user info.
  if (const std::size_t scheme = out.find("://"); scheme != std::string::npos) {
    const std::size_t start = scheme + 3;
    const std::size_t end = out.find_first_of("/?", start);
    const std::size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at != std::string::npos && at >= start) {
      const std::size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "[REDACTED]");
    }
  }
  // ...?password=secret&...: a parameter.
  for (std::size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
    if (p > 0 && out[p - 1] != '?' && out[p - 1] != '&' && out[p - 1] != ' ') continue;
    const std::size_t v = p + 9;
    const std::size_t e = out.find_first_of("& ", v);
    out.replace(v, (e == std::string::npos ? out.size() : e) - v, "[REDACTED]");
  }
  return out;
}

std::string process_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return "aquaduct pid " + std::to_string(::getpid()) + " on " + host;
}

pg_connection::pg_connection(const std::string& url, std::string where, const std::string& app)
    : where_(std::move(where)) {
  c_ = PQconnectdb(url.c_str());
  if (!c_) throw std::system_error(std::make_error_code(std::errc::not_enough_memory), "state database " + where_);
  // A constructor that throws runs no destructor: the connection is closed here.
  try {
    if (PQstatus(c_) != CONNECTION_OK) fail(nullptr, "cannot connect");
    PQsetNoticeProcessor(c_, [](void*, const char*) {}, nullptr);
    exec("setting the session",
         "SELECT set_config('application_name', $1, false), set_config('TimeZone', 'UTC', false)", {app});
  } catch (...) {
    PQfinish(c_);
    c_ = nullptr;
    throw;
  }
}

pg_connection::~pg_connection() {
  if (c_) PQfinish(c_);
}

void pg_connection::fail(PGresult* r, std::string_view doing) const {
  std::string why = r ? trimmed(PQresultErrorMessage(r)) : std::string();
  if (why.empty()) why = trimmed(PQerrorMessage(c_));
  if (r) PQclear(r);
  throw std::system_error(std::make_error_code(std::errc::io_error),
                          "state database " + where_ + ": " + std::string(doing) + ": " + why);
}

pg_connection::result pg_connection::exec(std::string_view doing, const char* sql,
                                          std::initializer_list<std::string_view> params) const {
  std::vector<std::string> held(params.begin(), params.end());
  std::vector<const char*> values;
  for (const std::string& h : held) values.push_back(h.c_str());
  PGresult* r = values.empty() ? PQexec(c_, sql)
                               : PQexecParams(c_, sql, static_cast<int>(values.size()), nullptr, values.data(),
                                              nullptr, nullptr, 0);
  const ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r, doing);
  return result(r, &PQclear);
}

void pg_connection::rollback() const noexcept { PQclear(PQexec(c_, "ROLLBACK")); }

}  // namespace aquaduct::engine_detail

#pragma once
// What the http_client tests share: origins, requests, calls, a trusted CA file.
#include "transport/http_client.hpp"

#include "support/temp_dir.hpp"
#include "support/test_pki.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <string>

namespace aquaduct::test {

inline const std::string ok_hello = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

inline transport::origin origin_of(const std::string& url) {
  std::error_code ec;
  auto o = transport::parse_base_url(url, ec);
  REQUIRE_FALSE(ec);
  return o;
}
inline transport::origin local(unsigned short port) { return origin_of("http://127.0.0.1:" + std::to_string(port)); }
inline transport::origin https(const std::string& host, unsigned short port) {
  return origin_of("https://" + host + ":" + std::to_string(port));
}

inline transport::http_request get(std::string target) {
  transport::http_request r;
  r.target = std::move(target);
  return r;
}

inline asio::awaitable<transport::http_response> fetch(transport::http_client* c, transport::http_request r) {
  co_return co_await c->request(std::move(r));
}

inline asio::awaitable<transport::http_response> fetch_streamed(transport::http_client* c, transport::http_request r,
                                                                std::string* sink) {
  co_return co_await c->stream(std::move(r), [sink](std::string_view piece) { sink->append(piece); });
}

// A CA certificate written where ca_file can name it.
struct trust_file {
  temp_dir dir;
  std::string path;
  explicit trust_file(const test_ca& ca) : path((dir.path() / "ca.pem").string()) {
    std::ofstream(path) << ca.cert_pem();
  }
};

}  // namespace aquaduct::test

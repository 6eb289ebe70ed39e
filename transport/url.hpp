#pragma once
// Where requests go: scheme, host, port and a path prefix from base_url.
#include <string>
#include <string_view>
#include <system_error>

namespace aquaduct::transport {

struct origin {
  std::string scheme;       // "http" (https comes with TLS)
  std::string host;         // without brackets for IPv6 literals
  std::string port;         // decimal, defaulted from the scheme
  std::string path_prefix;  // "" or "/something" without a trailing slash

  // The Host header value: host[:port] when the port is not the default.
  std::string host_header() const;
  // "scheme://host:port", for messages.
  std::string to_string() const;
};

// Parses "http://host[:port][/prefix]". Sets transport_errc::bad_url on anything else.
origin parse_base_url(std::string_view url, std::error_code& ec);

}  // namespace aquaduct::transport

#pragma once
// Where requests go: scheme, host, port and a path prefix from base_url.
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace aquaduct::transport {

struct origin {
  std::string scheme;       // "http" or "https"
  std::string host;         // without brackets for IPv6 literals
  std::string port;         // decimal, defaulted from the scheme
  std::string path_prefix;  // "" or "/something" without a trailing slash

  // The Host header value: host[:port] when the port is not the default.
  std::string host_header() const;
  // "scheme://host:port", for messages.
  std::string to_string() const;
};

// Parses "http(s)://host[:port][/prefix]". Sets transport_errc::bad_url on anything else.
origin parse_base_url(std::string_view url, std::error_code& ec);

// The base URL of a Zuora environment by name (aqua-contract.md §1.1), e.g.
// "us-sandbox" -> "https://rest.apisandbox.zuora.com"; empty when unknown.
std::string environment_base_url(std::string_view name);
// The known environment names, comma-separated, for messages.
std::string environment_names();

// A proxy and the Proxy-Authorization to give it ("Basic ..." from the
// URL's user:password@, percent-decoded; empty without). SECRET: never logged.
struct proxy_route {
  origin via;
  std::string authorization;
};

// The proxy for `target`: `configured` when given ("none" = go direct), else
// HTTPS_PROXY / HTTP_PROXY (by the target's scheme; lower-case spellings too)
// unless NO_PROXY matches the host or the host is loopback (localhost,
// 127.0.0.0/8, ::1). A proxy is reached with CONNECT.
// Sets transport_errc::bad_url when the proxy URL does not parse.
std::optional<proxy_route> proxy_for(const origin& target, std::string_view configured, std::error_code& ec);

std::string base64_encode(std::string_view in);
std::string form_url_encode(std::string_view in);
// %XX sequences decoded; sets ec (bad_url) on a broken one.
std::string percent_decode(std::string_view in, std::error_code& ec);
// NO_PROXY matching: "*", exact hosts or IPs, and domain suffixes ("example.com"
// and ".example.com" both match "a.example.com"); ports in entries are ignored.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

}  // namespace aquaduct::transport

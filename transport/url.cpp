#include "transport/url.hpp"

#include <aquaduct/error.hpp>

#include <charconv>

namespace aquaduct::transport {

std::string origin::host_header() const {
  const bool default_port = (scheme == "http" && port == "80") || (scheme == "https" && port == "443");
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return default_port ? h : h + ":" + port;
}

std::string origin::to_string() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + port + path_prefix;
}

origin parse_base_url(std::string_view url, std::error_code& ec) {
  origin o;
  const auto fail = [&] {
    ec = transport_errc::bad_url;
    return origin{};
  };
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return fail();
  o.scheme = std::string(url.substr(0, sep));
  if (o.scheme != "http" && o.scheme != "https") return fail();
  std::string_view rest = url.substr(sep + 3);
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return fail();
  std::string_view port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail();
    o.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail();
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    o.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (o.host.empty()) return fail();
  if (port.empty()) {
    o.port = o.scheme == "https" ? "443" : "80";
  } else {
    unsigned value = 0;
    const auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (err != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) return fail();
    o.port = std::to_string(value);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.find_first_of("?#") != std::string_view::npos) return fail();
  o.path_prefix = std::string(path);
  ec.clear();
  return o;
}

}  // namespace aquaduct::transport

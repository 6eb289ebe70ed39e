#include "transport/url.hpp"

#include <aquaduct/error.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <utility>

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

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 11> environments{{
    {"us-production", "rest.zuora.com"},
    {"us-cloud2-production", "rest.na.zuora.com"},
    {"us-sandbox", "rest.apisandbox.zuora.com"},
    {"us-cloud2-sandbox", "rest.sandbox.na.zuora.com"},
    {"us-central-sandbox", "rest.test.zuora.com"},
    {"us-performance-test", "rest.pt1.zuora.com"},
    {"eu-production", "rest.eu.zuora.com"},
    {"eu-sandbox", "rest.sandbox.eu.zuora.com"},
    {"eu-central-sandbox", "rest.test.eu.zuora.com"},
    {"apac-production", "rest.ap.zuora.com"},
    {"apac-central-sandbox", "rest.test.ap.zuora.com"},
}};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const char* env(const char* upper, const char* lower_name) {
  const char* v = std::getenv(upper);
  if (!v || !*v) v = std::getenv(lower_name);
  return v && *v ? v : nullptr;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string environment_base_url(std::string_view name) {
  for (const auto& [n, host] : environments)
    if (n == name) return "https://" + std::string(host);
  return {};
}

std::string environment_names() {
  std::string out;
  for (const auto& e : environments) out += (out.empty() ? "" : ", ") + std::string(e.first);
  return out;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host_in) {
  const std::string host = lower(host_in);
  while (!no_proxy.empty()) {
    const auto comma = no_proxy.find(',');
    std::string entry = lower(trim(no_proxy.substr(0, comma)));
    no_proxy = comma == std::string_view::npos ? std::string_view{} : no_proxy.substr(comma + 1);
    if (entry == "*") return true;
    if (!entry.empty() && entry.front() == '[') entry = entry.substr(1, entry.find(']') - 1);  // [::1]:port
    else if (std::count(entry.begin(), entry.end(), ':') == 1) entry = entry.substr(0, entry.find(':'));
    if (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (entry.empty()) continue;
    if (host == entry) return true;
    if (host.size() > entry.size() && host.compare(host.size() - entry.size(), entry.size(), entry) == 0 &&
        host[host.size() - entry.size() - 1] == '.')
      return true;
  }
  return false;
}

std::string base64_encode(std::string_view in) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string form_url_encode(std::string_view in) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' || u == '.' ||
        u == '_' || u == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

std::string percent_decode(std::string_view in, std::error_code& ec) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    unsigned v = 0;
    const auto [p, err] = std::from_chars(in.data() + i + 1, in.data() + std::min(in.size(), i + 3), v, 16);
    if (i + 2 >= in.size() || err != std::errc{} || p != in.data() + i + 3) {
      ec = transport_errc::bad_url;
      return {};
    }
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

std::optional<proxy_route> proxy_for(const origin& target, std::string_view configured, std::error_code& ec) {
  ec.clear();
  std::string url(configured);
  if (url == "none") return std::nullopt;
  if (url.empty()) {
    // Loopback never goes through an environment proxy (as in Go's net/http).
    const std::string host = lower(target.host);
    if (host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0) return std::nullopt;
    const char* no_proxy = env("NO_PROXY", "no_proxy");
    if (no_proxy && no_proxy_matches(no_proxy, target.host)) return std::nullopt;
    const char* v = target.scheme == "https" ? env("HTTPS_PROXY", "https_proxy") : env("HTTP_PROXY", "http_proxy");
    if (!v) return std::nullopt;
    url = v;
    if (url.find("://") == std::string::npos) url = "http://" + url;
  }
  proxy_route route;
  // user:password@ goes to Proxy-Authorization, not to the origin.
  const auto start = url.find("://");
  const auto at = url.find('@', start == std::string::npos ? 0 : start + 3);
  if (start != std::string::npos && at != std::string::npos && url.find('/', start + 3) > at) {
    const std::string userinfo = percent_decode(std::string_view(url).substr(start + 3, at - start - 3), ec);
    if (ec) return std::nullopt;
    route.authorization = "Basic " + base64_encode(userinfo);
    url.erase(start + 3, at - start - 2);
  }
  route.via = parse_base_url(url, ec);
  if (ec) return std::nullopt;
  return route;
}

}  // namespace aquaduct::transport

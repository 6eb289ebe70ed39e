#pragma once
// Secrets out of text that may be logged or put in an error: the values of
// Authorization / Proxy-Authorization / apiSecretAccessKey / apiAccessKeyId
// headers, client_secret and access_token in form or JSON bodies, and
// "Bearer"/"Basic" credentials anywhere, and user:password@ in URLs. Every path that logs or builds an
// error message from remote or request text goes through redact().
#include <string>
#include <string_view>

namespace aquaduct::transport {

inline constexpr std::string_view redacted = "[REDACTED]";

std::string redact(std::string_view text);

}  // namespace aquaduct::transport

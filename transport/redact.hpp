#pragma once
// Secrets out of text that may be logged or put in an error: the values of
// Authorization / Proxy-Authorization / apiSecretAccessKey / apiAccessKeyId
// headers, client_secret and access_token in form or JSON bodies, and
// "Bearer"/"Basic" credentials anywhere, and user:password@ in URLs. Every path that logs or builds an
// error message from remote or request text goes through redact().
//
// redact_secrets() also cuts the configured secret values (client_secret,
// secret_access_key, password) out of free text: a secret pasted into a
// query, echoed in an error. It replaces secret values, never ordinary words
// that happen to equal one:
//   - a secret of 16 characters or more, or with anything but ASCII letters
//     in it (a digit, a symbol), is replaced wherever it appears;
//   - a word-like secret (letters only, under 16 characters: "aquaduct") is
//     replaced only where it stands as a whole token, between characters
//     that are none of letter, digit, '_', '-', '.', '/' (so never inside a
//     path such as `.aquaduct/state` or a host name), and not at all when
//     it equals one of `public_values` (the configured user names: a client
//     id or access key id is shown, and the secret that equals it cannot be
//     told from it).
// Credential positions (headers, form and JSON fields, URL user info,
// Bearer/Basic) are redact()'s, whatever their value.
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::transport {

inline constexpr std::string_view redacted = "[REDACTED]";

std::string redact(std::string_view text);

// True for a secret that redact_secrets() cuts only as a whole token.
bool word_like_secret(std::string_view secret) noexcept;

std::string redact_secrets(std::string_view text, const std::vector<std::string>& secrets,
                           const std::vector<std::string>& public_values = {});

}  // namespace aquaduct::transport

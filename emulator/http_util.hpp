#pragma once
// Small pure helpers of the emulator's HTTP service: credentials and form
// decoding, content negotiation, gzip request bodies, byte ranges. No I/O.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace aquaduct::emulator {

// Standard or URL-safe base64, padding optional. False on a bad character.
bool base64_decode(std::string_view in, std::string& out);

// Percent-decoding; `plus_is_space` for application/x-www-form-urlencoded.
std::string url_decode(std::string_view s, bool plus_is_space);

// application/x-www-form-urlencoded body -> name/value (last one wins).
std::map<std::string, std::string> parse_form(std::string_view body);

// Does the comma-separated header value (Accept-Encoding) list `token`,
// case-insensitively and not refused with q=0? False when `value` is null.
bool accepts(const std::string* value, std::string_view token);

// Inflates a gzip request body of at most `limit` decoded bytes. Returns 0,
// or the HTTP status to answer (400 corrupt, 413 too large) with `error`.
int gunzip_body(std::string_view in, std::size_t limit, std::string& out, std::string& error);

enum class range_result { ignore, ok, unsatisfiable };

// One byte range of a `size`-byte body: "bytes=a-b", "bytes=a-", "bytes=-n".
// Several ranges or other units: ignore (the whole body is sent, as RFC 9110
// allows). ok: [first, last] inclusive.
range_result parse_range(std::string_view value, std::uint64_t size, std::uint64_t& first, std::uint64_t& last);

// `s` made safe inside a quoted header parameter: control characters,
// quotes and backslashes become '_'.
std::string header_safe(std::string_view s);

}  // namespace aquaduct::emulator

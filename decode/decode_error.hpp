#pragma once
// Errors of the pure decoders. decode/ includes nothing else of ours, so its
// error enum lives here; the engine maps it into reports with job/query/file.
#include <string>
#include <system_error>

namespace aquaduct::decode {

enum class errc {
  gzip_corrupt = 1,       // not a gzip stream, bad header, bad deflate data or CRC/size mismatch
  gzip_truncated,         // input ended inside a gzip member (or no member at all)
  csv_unterminated_quote, // input ended inside a quoted field
  csv_bad_quote,          // a character other than separator, quote or newline follows a closing quote
  csv_field_too_large,    // a field exceeds csv_limits::max_field_bytes
  csv_too_many_columns,   // a record exceeds csv_limits::max_columns
  json_invalid,           // a JSON document that does not parse
  json_missing_field,     // a required field of a response model is absent or has the wrong type
  zip_corrupt,            // not a zip stream, bad header, bad deflate data, CRC or size mismatch
  zip_truncated,          // input ended before the archive's central directory
  zip_unsupported,        // encrypted entry, a method other than stored/deflated, or more than one file
  json_too_large,         // a JSON document exceeds the decoder's stated size limit
  xml_invalid,            // a describe answer that is not well-formed XML
  xml_missing_field,      // a describe answer lacks a required element
  pgp_no_key,             // the PGP message is not encrypted for the configured private key
  pgp_bad_passphrase,     // the private key matches, but the passphrase does not unlock it
  pgp_integrity,          // the PGP message fails its integrity check (MDC/AEAD): tampered or damaged
  pgp_truncated,          // the PGP message ends early
  pgp_corrupt,            // not an OpenPGP message
};

const std::error_category& decode_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), decode_category()};
}

}  // namespace aquaduct::decode

template <>
struct std::is_error_code_enum<aquaduct::decode::errc> : std::true_type {};

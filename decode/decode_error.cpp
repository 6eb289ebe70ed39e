#include "decode/decode_error.hpp"

namespace aquaduct::decode {

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "aquaduct.decode"; }
  std::string message(int v) const override {
    switch (static_cast<errc>(v)) {
      case errc::gzip_corrupt: return "gzip stream is corrupt";
      case errc::gzip_truncated: return "gzip stream is truncated";
      case errc::csv_unterminated_quote: return "CSV input ends inside a quoted field";
      case errc::csv_bad_quote: return "CSV closing quote is followed by a character other than a separator or line end";
      case errc::csv_field_too_large: return "CSV field is larger than the limit";
      case errc::csv_too_many_columns: return "CSV record has more fields than the limit";
      case errc::json_invalid: return "invalid JSON";
      case errc::json_missing_field: return "JSON lacks a required field";
      case errc::zip_corrupt: return "zip stream is corrupt";
      case errc::zip_truncated: return "zip stream is truncated";
      case errc::zip_unsupported: return "zip archive uses an unsupported feature (encryption, a method other than stored or deflate, or more than one file)";
      case errc::json_too_large: return "JSON document is larger than the limit";
      case errc::xml_invalid: return "invalid XML";
      case errc::xml_missing_field: return "XML lacks a required element";
      case errc::pgp_no_key: return "PGP message is not encrypted for the configured private key (wrong key)";
      case errc::pgp_bad_passphrase: return "PGP private key matches, but the passphrase does not unlock it";
      case errc::pgp_integrity: return "PGP message fails its integrity check (tampered or damaged)";
      case errc::pgp_truncated: return "PGP message is truncated";
      case errc::pgp_corrupt: return "not an OpenPGP message";
    }
    return "unknown decode error";
  }
};

}  // namespace

const std::error_category& decode_category() noexcept {
  static const category c;
  return c;
}

}  // namespace aquaduct::decode

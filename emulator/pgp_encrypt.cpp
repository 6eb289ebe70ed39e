#include "emulator/pgp_encrypt.hpp"

#include <rnp/rnp.h>
#include <rnp/rnp_err.h>

#include <fmt/format.h>

#include <cstdint>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include <stdlib.h>

namespace aquaduct::emulator {

namespace {

// Owns every librnp handle of one operation.
struct rnp_op {
  rnp_ffi_t ffi = nullptr;
  rnp_input_t keys = nullptr, in = nullptr;
  rnp_output_t out = nullptr;
  rnp_key_handle_t key = nullptr;
  rnp_op_encrypt_t op = nullptr;
  ~rnp_op() {
    if (op) rnp_op_encrypt_destroy(op);
    if (key) rnp_key_handle_destroy(key);
    if (out) rnp_output_destroy(out);
    if (in) rnp_input_destroy(in);
    if (keys) rnp_input_destroy(keys);
    if (ffi) rnp_ffi_destroy(ffi);
  }
};

// librnp's diagnostics go to stderr unless RNP_LOG_CONSOLE is "0".
void quiet() {
  static std::once_flag once;
  std::call_once(once, [] { ::setenv("RNP_LOG_CONSOLE", "0", 0); });
}

// A context holding `public_key`, and the key to encrypt for; empty when none.
std::string load(rnp_op& r, const std::string& public_key) {
  quiet();
  if (rnp_ffi_create(&r.ffi, "GPG", "GPG") != RNP_SUCCESS) return "librnp could not start";
  if (rnp_input_from_memory(&r.keys, reinterpret_cast<const std::uint8_t*>(public_key.data()), public_key.size(),
                            false) != RNP_SUCCESS ||
      rnp_load_keys(r.ffi, "GPG", r.keys, RNP_LOAD_SAVE_PUBLIC_KEYS) != RNP_SUCCESS)
    return "not an OpenPGP public key";
  rnp_identifier_iterator_t it = nullptr;
  if (rnp_identifier_iterator_create(r.ffi, &it, "fingerprint") != RNP_SUCCESS) return "no key in it";
  const char* fpr = nullptr;
  std::string chosen;
  while (rnp_identifier_iterator_next(it, &fpr) == RNP_SUCCESS && fpr != nullptr) {
    rnp_key_handle_t k = nullptr;
    if (rnp_locate_key(r.ffi, "fingerprint", fpr, &k) != RNP_SUCCESS || k == nullptr) continue;
    bool can = false;
    rnp_key_allows_usage(k, "encrypt", &can);
    bool primary = false;
    rnp_key_is_primary(k, &primary);
    rnp_key_handle_destroy(k);
    if (can || primary) {
      chosen = fpr;
      if (primary) break;  // librnp picks the primary's encryption subkey itself
    }
  }
  rnp_identifier_iterator_destroy(it);
  if (chosen.empty()) return "it holds no key";
  if (rnp_locate_key(r.ffi, "fingerprint", chosen.c_str(), &r.key) != RNP_SUCCESS || r.key == nullptr)
    return "it holds no key";
  return {};
}

}  // namespace

std::string read_pgp_public_key(const std::filesystem::path& file) {
  std::ifstream f(file, std::ios::binary);
  if (!f) throw std::invalid_argument(fmt::format("--pgp-public-key {}: cannot be read", file.string()));
  std::ostringstream ss;
  ss << f.rdbuf();
  rnp_op r;
  if (std::string why = load(r, ss.str()); !why.empty())
    throw std::invalid_argument(fmt::format("--pgp-public-key {}: {}", file.string(), why));
  return ss.str();
}

std::uint64_t pgp_encrypt_file(const std::filesystem::path& file, const std::string& public_key) {
  const std::filesystem::path part = file.string() + ".pgp.part";
  const auto fail = [&](const std::string& why) -> std::uint64_t {
    std::error_code ec;
    std::filesystem::remove(part, ec);
    throw std::runtime_error(fmt::format("{}: PGP encryption failed: {}", file.string(), why));
  };
  std::uint64_t size = 0;
  {
    rnp_op r;
    if (std::string why = load(r, public_key); !why.empty()) return fail(why);
    if (rnp_input_from_path(&r.in, file.c_str()) != RNP_SUCCESS) return fail("cannot read the file");
    if (rnp_output_to_path(&r.out, part.c_str()) != RNP_SUCCESS) return fail("cannot write");
    if (rnp_op_encrypt_create(&r.op, r.ffi, r.in, r.out) != RNP_SUCCESS ||
        rnp_op_encrypt_add_recipient(r.op, r.key) != RNP_SUCCESS ||
        rnp_op_encrypt_set_cipher(r.op, "AES256") != RNP_SUCCESS ||
        rnp_op_encrypt_set_compression(r.op, "Uncompressed", 0) != RNP_SUCCESS ||
        rnp_op_encrypt_set_file_name(r.op, file.filename().c_str()) != RNP_SUCCESS)
      return fail("librnp refused the operation");
    if (rnp_result_t rc = rnp_op_encrypt_execute(r.op); rc != RNP_SUCCESS) return fail(rnp_result_to_string(rc));
  }
  std::error_code ec;
  size = std::filesystem::file_size(part, ec);
  if (ec) return fail(ec.message());
  std::filesystem::rename(part, file, ec);
  if (ec) return fail(ec.message());
  return size;
}

}  // namespace aquaduct::emulator

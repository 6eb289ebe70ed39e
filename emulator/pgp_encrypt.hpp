#pragma once
// PGP encryption of result files for `--pgp-public-key` (docs/emulator.md,
// "Encrypted results"): the formatted file (csv, gzip or zip) is encrypted
// whole, in place, for the tenant's one public key. The emulator's own code
// over librnp: it shares nothing with the client's decoder.
#include <filesystem>
#include <string>

namespace aquaduct::emulator {

// The public key file's bytes when it holds a usable encryption key; throws
// std::invalid_argument naming the file otherwise (the server refuses to start).
std::string read_pgp_public_key(const std::filesystem::path& file);

// Replaces `file` by its encryption for `public_key` (integrity-protected,
// AES-256, no OpenPGP compression: the format already compressed it).
// Blocking; run it on a worker. Throws std::runtime_error naming the file.
// Returns the new size in bytes.
std::uint64_t pgp_encrypt_file(const std::filesystem::path& file, const std::string& public_key);

}  // namespace aquaduct::emulator

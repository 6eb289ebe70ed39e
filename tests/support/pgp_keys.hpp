#pragma once
// Throwaway OpenPGP keys, made at test time with gpg in a fresh GNUPGHOME (no
// private key is ever committed), and messages encrypted to them by gpg, an
// implementation independent of the librnp the client decrypts with.
#include "support/temp_dir.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace aquaduct::test {

class pgp_keys {
 public:
  // `algo` "rsa" (RSA 3072) or "ecc" (ed25519 + cv25519, gpg's default since 2.3).
  explicit pgp_keys(std::string passphrase, const std::string& algo = "rsa") : passphrase_(std::move(passphrase)) {
    home_ = (dir_.path() / "gnupg").string();
    std::filesystem::create_directories(home_);
    std::filesystem::permissions(home_, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    const std::string params = (dir_.path() / "params").string();
    {
      std::ofstream p(params);
      if (algo == "ecc")
        p << "Key-Type: EDDSA\nKey-Curve: ed25519\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\n";
      else
        p << "Key-Type: RSA\nKey-Length: 3072\nSubkey-Type: RSA\nSubkey-Length: 3072\n";
      p << "Name-Real: aquaduct test\nName-Email: test@aquaduct.invalid\nExpire-Date: 0\n";
      if (passphrase_.empty()) p << "%no-protection\n";
      else p << "Passphrase: " << passphrase_ << "\n";
      p << "%commit\n";
    }
    gpg("--gen-key " + quote(params));
    public_file_ = (dir_.path() / "public.pgp").string();
    secret_file_ = (dir_.path() / "secret.pgp").string();
    gpg("--export -o " + quote(public_file_) + " test@aquaduct.invalid");
    gpg("--pinentry-mode loopback --passphrase " + quote(passphrase_) + " --export-secret-keys -o " +
        quote(secret_file_) + " test@aquaduct.invalid");
  }

  ~pgp_keys() {
    const std::string cmd = "GNUPGHOME=" + quote(home_) + " gpgconf --kill gpg-agent >/dev/null 2>&1";
    (void)std::system(cmd.c_str());
  }

  pgp_keys(const pgp_keys&) = delete;
  pgp_keys& operator=(const pgp_keys&) = delete;

  const std::string& public_file() const { return public_file_; }
  const std::string& secret_file() const { return secret_file_; }
  std::string secret_bytes() const { return read(secret_file_); }
  const std::string& passphrase() const { return passphrase_; }

  // `plain` encrypted by gpg to this key (integrity-protected, no compression).
  std::string encrypt(const std::string& plain) const {
    const std::string in = (dir_.path() / "plain.bin").string(), out = (dir_.path() / "cipher.pgp").string();
    {
      std::ofstream f(in, std::ios::binary);
      f << plain;
    }
    std::filesystem::remove(out);
    gpg("--trust-model always --compress-algo none -r test@aquaduct.invalid -o " + quote(out) + " -e " + quote(in));
    return read(out);
  }

 private:
  static std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  static std::string read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  void gpg(const std::string& args) const {
    const std::string cmd = "GNUPGHOME=" + quote(home_) + " gpg --batch --yes -q " + args + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("gpg failed: " + cmd);
  }

  temp_dir dir_;
  std::string passphrase_, home_, public_file_, secret_file_;
};

}  // namespace aquaduct::test

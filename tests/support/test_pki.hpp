#pragma once
// Certificates made at test time (nothing committed): a CA, and server
// certificates it issues for given names and validity windows, as PEM text.
// EC P-256 keys, so a test pays microseconds, not a second of RSA keygen.
#include <asio/ssl/context.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace aquaduct::test {

struct pem_identity {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key
};

// A TLS server context presenting `id`.
inline std::unique_ptr<asio::ssl::context> server_context(const pem_identity& id) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->use_certificate_chain(asio::buffer(id.cert));
  ctx->use_private_key(asio::buffer(id.key), asio::ssl::context::pem);
  return ctx;
}

class test_ca {
 public:
  explicit test_ca(const std::string& name = "aquaduct test CA") : key_(new_key()), cert_(X509_new(), X509_free) {
    build(cert_.get(), name, key_.get(), -3600, 10 * 86400, /*ca=*/true, {});
    X509_sign(cert_.get(), key_.get(), EVP_sha256());
  }

  std::string cert_pem() const { return pem_of(cert_.get()); }

  // A server certificate for `names` (DNS names, or IP addresses as "IP:1.2.3.4"),
  // valid from now + not_before_s to now + not_after_s.
  pem_identity issue(const std::vector<std::string>& names, long not_before_s = -3600,
                     long not_after_s = 86400) const {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key = new_key();
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    X509_NAME* issuer = X509_get_subject_name(cert_.get());
    build(cert.get(), names.empty() ? "server" : names.front(), key.get(), not_before_s, not_after_s, false,
          names, issuer, cert_.get());
    X509_sign(cert.get(), key_.get(), EVP_sha256());
    pem_identity out;
    out.cert = pem_of(cert.get());
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    out.key = bio_text(bio.get());
    return out;
  }

 private:
  static std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> new_key() {
    return {EVP_EC_gen("P-256"), EVP_PKEY_free};
  }
  static std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(n));
  }
  static std::string pem_of(X509* cert) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_X509(bio.get(), cert);
    return bio_text(bio.get());
  }
  static void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw std::runtime_error("test_pki: bad extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  static void build(X509* cert, const std::string& cn, EVP_PKEY* key, long not_before_s,
                    long not_after_s, bool ca, const std::vector<std::string>& names, X509_NAME* issuer = nullptr,
                    X509* issuer_cert = nullptr) {
    X509_set_version(cert, 2);
    unsigned char serial[8];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert), not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(cert), not_after_s);
    X509_set_pubkey(cert, key);
    X509_NAME* subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                               0);
    X509_set_issuer_name(cert, issuer ? issuer : subject);
    X509* signer = issuer_cert ? issuer_cert : cert;
    if (ca) {
      add_ext(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
      add_ext(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
      add_ext(cert, signer, NID_subject_key_identifier, "hash");
    } else {
      add_ext(cert, signer, NID_basic_constraints, "CA:FALSE");
      add_ext(cert, signer, NID_ext_key_usage, "serverAuth");
      std::string san;
      for (const auto& n : names) san += (san.empty() ? "" : ",") + (n.rfind("IP:", 0) == 0 ? n : "DNS:" + n);
      if (!san.empty()) add_ext(cert, signer, NID_subject_alt_name, san);
    }
  }

  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_;
  std::unique_ptr<X509, decltype(&X509_free)> cert_;
};

}  // namespace aquaduct::test

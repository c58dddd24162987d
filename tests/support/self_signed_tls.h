// A throwaway self-signed server context for tests that need a TLS listener (P-256, CN=test,
// valid for a day). Header-only: the sanitizer build (tests/fuzz) uses it too.
#ifndef BERTH_TESTS_SUPPORT_SELF_SIGNED_TLS_H_
#define BERTH_TESTS_SUPPORT_SELF_SIGNED_TLS_H_

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace berth::testing {

inline std::shared_ptr<SSL_CTX> SelfSignedServerContext() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate(ctx, cert);
  SSL_CTX_use_PrivateKey(ctx, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return std::shared_ptr<SSL_CTX>(ctx, SSL_CTX_free);
}

}  // namespace berth::testing

#endif  // BERTH_TESTS_SUPPORT_SELF_SIGNED_TLS_H_

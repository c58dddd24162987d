#include "export/tls_identity.h"

#include <arpa/inet.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::agent {
namespace {

using exportwire::SslErrorText;

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct ExtDeleter {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using UniqueBio = std::unique_ptr<BIO, BioDeleter>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, n);
}

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

absl::Status AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtDeleter> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return absl::InternalError(absl::StrCat("certificate extension ", value, ": ", SslErrorText()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<TlsIdentity> GenerateSelfSigned(const std::vector<std::string>& names) {
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(EVP_EC_gen("P-256"));
  if (!key) return absl::InternalError(absl::StrCat("EC key: ", SslErrorText()));
  std::unique_ptr<X509, X509Deleter> cert(X509_new());
  X509_set_version(cert.get(), 2);
  auto serial = exportwire::RandomHex(8);
  if (!serial.ok()) return serial.status();
  BIGNUM* bn = nullptr;
  BN_hex2bn(&bn, serial->c_str());
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("berth-agent export"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  std::vector<std::string> alt;
  for (const std::string& n : names) {
    if (!n.empty()) alt.push_back(absl::StrCat(IsIp(n) ? "IP:" : "DNS:", n));
  }
  if (!alt.empty()) {
    absl::Status st = AddExtension(cert.get(), NID_subject_alt_name, absl::StrJoin(alt, ","));
    if (!st.ok()) return st;
  }
  absl::Status st = AddExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  if (!st.ok()) return st;
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(absl::StrCat("signing: ", SslErrorText()));
  }
  UniqueBio cert_bio(BIO_new(BIO_s_mem())), key_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cert_bio.get(), cert.get());
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return TlsIdentity{BioText(cert_bio.get()), BioText(key_bio.get())};
}

absl::StatusOr<TlsIdentity> LoadIdentity(const std::string& cert_file,
                                         const std::string& key_file) {
  auto cert = ReadFile(cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(key_file);
  if (!key.ok()) return key.status();
  return TlsIdentity{*cert, *key};
}

absl::StatusOr<exportwire::UniqueSslCtx> NewServerContext(const TlsIdentity& id) {
  exportwire::UniqueSslCtx ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return absl::InternalError(SslErrorText());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // AES-128-GCM first: with AES-NI it is the cheapest AEAD per byte on x86.
  SSL_CTX_set_cipher_list(ctx.get(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384");
  SSL_CTX_set_ciphersuites(ctx.get(),
                           "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                           "TLS_CHACHA20_POLY1305_SHA256");
  UniqueBio cert_bio(BIO_new_mem_buf(id.cert_pem.data(), static_cast<int>(id.cert_pem.size())));
  std::unique_ptr<X509, X509Deleter> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  UniqueBio key_bio(BIO_new_mem_buf(id.key_pem.data(), static_cast<int>(id.key_pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!cert || !key) return absl::InvalidArgumentError("export certificate or key: not PEM");
  if (SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("export certificate: ", SslErrorText()));
  }
  return ctx;
}

}  // namespace berth::agent

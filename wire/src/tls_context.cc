// ReloadingTlsContext: mutual TLS contexts rebuilt when the certificate files change.
#include "berth/exportwire/tls_context.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace berth::exportwire {
namespace {

// The export server's choice: AES-128-GCM first (cheapest AEAD per byte with AES-NI).
constexpr char kCiphers12[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
constexpr char kSuites13[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<ReloadingTlsContext>> ReloadingTlsContext::Create(
    Role role, const TlsFiles& files, bool own_chain_from_ca) {
  std::shared_ptr<ReloadingTlsContext> r(new ReloadingTlsContext(role, files, own_chain_from_ca));
  auto stamp = r->Stat();
  if (!stamp.ok()) return stamp.status();
  std::string ca;
  auto ctx = r->Build(&ca);
  if (!ctx.ok()) return ctx.status();
  absl::MutexLock l(&r->mu_);
  r->ctx_ = *std::move(ctx);
  r->ca_pem_ = std::move(ca);
  r->stamp_ = *stamp;
  r->checked_ = absl::Now();
  r->generation_ = 1;
  return r;
}

absl::StatusOr<ReloadingTlsContext::Stamp> ReloadingTlsContext::Stat() const {
  Stamp s;
  const std::string* paths[3] = {&files_.ca, &files_.cert, &files_.key};
  for (int i = 0; i < 3; ++i) {
    struct stat st {};
    if (::stat(paths[i]->c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("cannot read ", *paths[i], ": ", strerror(errno)));
    }
    s.ino[i] = st.st_ino;
    s.size[i] = st.st_size;
    s.mtime_ns[i] = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  }
  return s;
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> ReloadingTlsContext::Build(std::string* ca_pem) const {
  // The same checks as the gRPC side (key matches, chains to the CA), with errors naming files.
  if (check_chain_) {
    if (absl::Status s = files_.Check(); !s.ok()) return s;
  }
  std::shared_ptr<SSL_CTX> ctx(
      SSL_CTX_new(role_ == Role::kServer ? TLS_server_method() : TLS_client_method()),
      SSL_CTX_free);
  if (!ctx) return absl::InternalError(SslErrorText());
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cipher_list(c, kCiphers12);
  SSL_CTX_set_ciphersuites(c, kSuites13);
  SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(c, files_.cert.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(files_.cert, ": ", SslErrorText()));
  }
  if (SSL_CTX_use_PrivateKey_file(c, files_.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(c) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(files_.key, ": ", SslErrorText()));
  }
  if (SSL_CTX_load_verify_locations(c, files_.ca.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(files_.ca, ": ", SslErrorText()));
  }
  if (role_ == Role::kServer) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files_.ca.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(c, names);  // takes ownership
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // Resumed sessions would skip the client certificate check against a rotated CA.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(c, 0);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  }
  ERR_clear_error();
  auto ca = ReadText(files_.ca);
  if (!ca.ok()) return ca.status();
  *ca_pem = *std::move(ca);
  return ctx;
}

std::shared_ptr<SSL_CTX> ReloadingTlsContext::Get() {
  absl::MutexLock l(&mu_);
  absl::Time now = absl::Now();
  if (now - checked_ < absl::Seconds(std::max(0, files_.reload_seconds))) return ctx_;
  checked_ = now;
  auto stamp = Stat();
  if (!stamp.ok() || *stamp == stamp_) return ctx_;
  std::string ca;
  auto ctx = Build(&ca);
  if (!ctx.ok()) {
    if (!(*stamp == failed_)) {
      std::cerr << "berth: WARNING: certificate files changed but do not load (keeping the "
                   "previous ones, retrying): "
                << ctx.status().message() << "\n";
    }
    failed_ = *stamp;
    return ctx_;
  }
  ctx_ = *std::move(ctx);
  ca_pem_ = std::move(ca);
  stamp_ = *stamp;
  ++generation_;
  std::cerr << "berth: reloaded certificates from " << files_.cert << "\n";
  return ctx_;
}

std::string ReloadingTlsContext::CaPem() {
  Get();
  absl::MutexLock l(&mu_);
  return ca_pem_;
}

int ReloadingTlsContext::generation() {
  absl::MutexLock l(&mu_);
  return generation_;
}

absl::Status UseCertificate(SSL_CTX* ctx, const std::string& cert_file,
                            const std::string& key_file) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(cert_file, ": ", SslErrorText()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(key_file, ": ", SslErrorText()));
  }
  return absl::OkStatus();
}

}  // namespace berth::exportwire

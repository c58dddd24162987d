#include "berth/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace berth {
namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

absl::StatusOr<FilePtr> OpenPem(const std::string& path, const char* what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("no ", what, " file given"));
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", what, " ", path, ": ", std::strerror(errno)));
  }
  return FilePtr(f);
}

std::shared_ptr<grpc::experimental::CertificateProviderInterface> Provider(const TlsFiles& f) {
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      f.key, f.cert, f.ca, static_cast<unsigned int>(std::max(1, f.reload_seconds)));
}

}  // namespace

TlsFiles TlsFiles::FromDir(const std::string& dir) {
  std::string d(absl::StripSuffix(dir, "/"));
  TlsFiles f;
  f.ca = d + "/ca.crt";
  f.cert = d + "/tls.crt";
  f.key = d + "/tls.key";
  return f;
}

absl::Status TlsFiles::Check() const {
  auto ca_file = OpenPem(ca, "CA certificate");
  if (!ca_file.ok()) return ca_file.status();
  auto cert_file = OpenPem(cert, "certificate");
  if (!cert_file.ok()) return cert_file.status();
  auto key_file = OpenPem(key, "private key");
  if (!key_file.ok()) return key_file.status();

  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  int cas = 0;
  while (X509* c = PEM_read_X509(ca_file->get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store.get(), c);
    X509_free(c);
    ++cas;
  }
  ERR_clear_error();
  if (cas == 0) return absl::InvalidArgumentError(absl::StrCat(ca, ": no PEM certificate in it"));
  std::unique_ptr<X509, decltype(&X509_free)> leaf(
      PEM_read_X509(cert_file->get(), nullptr, nullptr, nullptr), X509_free);
  if (!leaf) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert, ": not a PEM certificate (", OpenSslError(), ")"));
  }
  std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> chain(
      sk_X509_new_null(), [](STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); });
  while (X509* c = PEM_read_X509(cert_file->get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(chain.get(), c);
  }
  ERR_clear_error();
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_PrivateKey(key_file->get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!pkey) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": not a PEM private key (", OpenSslError(), ")"));
  }
  if (X509_check_private_key(leaf.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(key, " is not the private key of the certificate in ", cert));
  }
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), chain.get());
  if (X509_verify_cert(ctx.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert, " does not verify against ", ca, ": ",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(const TlsFiles& files) {
  grpc::experimental::TlsServerCredentialsOptions options(Provider(files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MutualTlsChannelCredentials(const TlsFiles& files) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(Provider(files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(options);
}

std::shared_ptr<grpc::ServerCredentials> Transport::ServerCredentials() const {
  return insecure ? grpc::InsecureServerCredentials() : MutualTlsServerCredentials(files);
}

std::shared_ptr<grpc::ChannelCredentials> Transport::ChannelCredentials() const {
  return insecure ? grpc::InsecureChannelCredentials() : MutualTlsChannelCredentials(files);
}

namespace {

class GroupGate : public grpc::AuthMetadataProcessor {
 public:
  explicit GroupGate(std::vector<std::string> groups) : groups_(std::move(groups)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata&, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    PeerIdentity id;
    std::vector<grpc::string_ref> subject =
        context->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
    if (!subject.empty()) id = ParseSubject(std::string(subject[0].data(), subject[0].size()));
    for (const std::string& g : groups_) {
      if (id.InGroup(g)) return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this service accepts only certificates of the groups " +
                            absl::StrJoin(groups_, ", ") + "; the client is \"" + id.name + "\"");
  }

 private:
  std::vector<std::string> groups_;
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> Transport::ServerCredentialsFor(
    std::vector<std::string> groups) const {
  std::shared_ptr<grpc::ServerCredentials> creds = ServerCredentials();
  if (!insecure) creds->SetAuthMetadataProcessor(std::make_shared<GroupGate>(std::move(groups)));
  return creds;
}

absl::StatusOr<Transport> TransportFromFlags(const std::string& program, const std::string& tls_dir,
                                             bool insecure) {
  if (!tls_dir.empty() && insecure) {
    return absl::InvalidArgumentError("--tls_dir and --insecure exclude each other");
  }
  if (insecure) {
    std::cerr << program
              << ": WARNING: --insecure: every connection is plaintext and unauthenticated; "
                 "any local process can act as the cluster admin\n";
    return Transport::Insecure();
  }
  if (tls_dir.empty()) {
    return absl::InvalidArgumentError(
        "no certificates: pass --tls_dir=DIR (ca.crt, tls.crt, tls.key; `scripts/certs init` "
        "creates them) or --insecure for a plaintext test setup");
  }
  TlsFiles files = TlsFiles::FromDir(tls_dir);
  if (absl::Status s = files.Check(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("--tls_dir: ", s.message()));
  }
  return Transport::Tls(std::move(files));
}

bool PeerIdentity::InGroup(const std::string& group) const {
  for (const std::string& g : groups) {
    if (g == group) return true;
  }
  return false;
}

PeerIdentity ParseSubject(const std::string& subject) {
  // RFC 2253: attributes separated by ',' with '\' escapes. Split by hand to honour escapes.
  PeerIdentity id;
  std::string cur;
  std::vector<std::string> parts;
  for (size_t i = 0; i < subject.size(); ++i) {
    char c = subject[i];
    if (c == '\\' && i + 1 < subject.size()) {
      cur += subject[++i];
    } else if (c == ',' || c == '+') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  for (const std::string& p : parts) {
    size_t eq = p.find('=');
    if (eq == std::string::npos) continue;
    std::string key(absl::StripAsciiWhitespace(p.substr(0, eq)));
    std::string value = p.substr(eq + 1);
    if (key == "CN") id.name = value;
    if (key == "O") id.groups.push_back(value);
  }
  return id;
}

PeerIdentity PeerOf(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return {};
  std::vector<grpc::string_ref> subject = auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
  if (!subject.empty()) return ParseSubject(std::string(subject[0].data(), subject[0].size()));
  PeerIdentity id;
  for (const grpc::string_ref& cn : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
    id.name = std::string(cn.data(), cn.size());
  }
  return id;
}

}  // namespace berth

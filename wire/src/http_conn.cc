// HTTP messages over a net::Stream (the export server's and clients' connections), the client
// context with a pinned CA, export URLs and the SIGPIPE guard.
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "berth/exportwire/export_wire.h"
#include "berth/exportwire/tls_context.h"

namespace berth::exportwire {
namespace {

constexpr char kCiphers12[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
constexpr char kSuites13[] = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};

// A clean end of stream where more bytes were due.
absl::Status Closed(const char* what) {
  return absl::UnavailableError(absl::StrCat(what, ": closed"));
}

}  // namespace

absl::StatusOr<std::string> HttpConn::ReadHead(size_t max_bytes) {
  constexpr char kWhat[] = "reading the HTTP head";
  char buf[4096];
  while (true) {
    size_t end = pending_.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string head = pending_.substr(0, end);
      pending_.erase(0, end + 4);
      return head;
    }
    if (pending_.size() > max_bytes) return absl::DataLossError("HTTP head too large");
    absl::StatusOr<size_t> r = stream_->ReadSome(buf, sizeof(buf), kWhat);
    if (!r.ok() || *r == 0) {
      absl::Status st = r.ok() ? Closed(kWhat) : r.status();
      if (pending_.empty()) return st;
      return absl::DataLossError(st.message());
    }
    pending_.append(buf, *r);
  }
}

absl::Status HttpConn::ReadExact(char* out, size_t n) {
  constexpr char kWhat[] = "reading the body";
  size_t from_pending = std::min(n, pending_.size());
  memcpy(out, pending_.data(), from_pending);
  pending_.erase(0, from_pending);
  size_t got = from_pending;
  while (got < n) {
    absl::StatusOr<size_t> r = stream_->ReadSome(out + got, n - got, kWhat);
    if (!r.ok()) return r.status();
    if (*r == 0) return Closed(kWhat);
    got += *r;
  }
  return absl::OkStatus();
}

ScopedSigpipeBlock::ScopedSigpipeBlock() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old_);
}

ScopedSigpipeBlock::~ScopedSigpipeBlock() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  timespec zero{0, 0};
  while (sigtimedwait(&pipe, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

absl::StatusOr<HttpsUrl> ParseHttpsUrl(const std::string& url) {
  absl::string_view v(url);
  if (!absl::ConsumePrefix(&v, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat("not an https:// URL: ", url));
  }
  size_t slash = v.find('/');
  absl::string_view authority = v.substr(0, slash);
  HttpsUrl out;
  out.path = slash == absl::string_view::npos ? "/" : std::string(v.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon == absl::string_view::npos || authority.find(']', colon) != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("URL without a port: ", url));
  }
  out.host = std::string(authority.substr(0, colon));
  out.port = std::string(authority.substr(colon + 1));
  if (out.host.size() > 2 && out.host.front() == '[')
    out.host = out.host.substr(1, out.host.size() - 2);
  if (out.host.empty() || out.port.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("bad URL: ", url));
  }
  return out;
}

absl::StatusOr<UniqueSslCtx> NewClientContext(const std::string& ca_pem) {
  UniqueSslCtx ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return absl::InternalError(SslErrorText());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx.get(), kCiphers12);
  SSL_CTX_set_ciphersuites(ctx.get(), kSuites13);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
  std::unique_ptr<BIO, BioDeleter> bio(
      BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  int added = 0;
  while (true) {
    std::unique_ptr<X509, X509Deleter> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    if (X509_STORE_add_cert(store, cert.get()) == 1) ++added;
  }
  ERR_clear_error();
  if (added == 0) return absl::InvalidArgumentError("no certificate in the CA PEM");
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  return ctx;
}

}  // namespace berth::exportwire

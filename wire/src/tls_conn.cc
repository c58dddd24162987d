// TLS plumbing shared by the export server and client: buffered I/O on one connection, the
// client context with a pinned CA, and dialing.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
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

absl::Status IoError(SSL* ssl, int ret, const char* what) {
  int err = SSL_get_error(ssl, ret);
  if (err == SSL_ERROR_ZERO_RETURN) return absl::UnavailableError(absl::StrCat(what, ": closed"));
  if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    return absl::UnavailableError(
        absl::StrCat(what, ": connection lost", errno ? ": " : "", errno ? strerror(errno) : ""));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", SslErrorText()));
}

}  // namespace

std::string SslErrorText() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

absl::StatusOr<std::string> TlsConn::ReadHead(size_t max_bytes) {
  char buf[4096];
  while (true) {
    size_t end = pending_.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string head = pending_.substr(0, end);
      pending_.erase(0, end + 4);
      return head;
    }
    if (pending_.size() > max_bytes) return absl::DataLossError("HTTP head too large");
    int r = SSL_read(ssl_.get(), buf, sizeof(buf));
    if (r <= 0) {
      absl::Status st = IoError(ssl_.get(), r, "reading the HTTP head");
      if (pending_.empty()) return st;
      return absl::DataLossError(st.message());
    }
    pending_.append(buf, r);
  }
}

absl::Status TlsConn::ReadExact(char* out, size_t n) {
  size_t from_pending = std::min(n, pending_.size());
  memcpy(out, pending_.data(), from_pending);
  pending_.erase(0, from_pending);
  size_t got = from_pending;
  while (got < n) {
    size_t want = std::min<size_t>(n - got, 1 << 30);
    int r = SSL_read(ssl_.get(), out + got, static_cast<int>(want));
    if (r <= 0) return IoError(ssl_.get(), r, "reading the body");
    got += r;
  }
  return absl::OkStatus();
}

absl::Status TlsConn::WriteAll(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    size_t chunk = std::min<size_t>(n, 1 << 30);
    int w = SSL_write(ssl_.get(), p, static_cast<int>(chunk));
    if (w <= 0) return IoError(ssl_.get(), w, "writing");
    p += w;
    n -= w;
  }
  return absl::OkStatus();
}

absl::Status TlsConn::Flush() {
  if (BIO_flush(SSL_get_wbio(ssl_.get())) != 1) {
    return absl::UnavailableError(absl::StrCat("flushing: ", SslErrorText()));
  }
  return absl::OkStatus();
}

void TlsConn::Shutdown() {
  SSL_shutdown(ssl_.get());
  BIO_flush(SSL_get_wbio(ssl_.get()));
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

absl::Status AttachBufferedFd(SSL* ssl, int fd) {
  constexpr int kBuffer = 256 << 10;
  BIO* sock = BIO_new_socket(fd, BIO_NOCLOSE);
  BIO* buffered = BIO_new(BIO_f_buffer());
  if (sock == nullptr || buffered == nullptr) {
    BIO_free(sock);
    BIO_free(buffered);
    return absl::InternalError(SslErrorText());
  }
  BIO_set_write_buffer_size(buffered, kBuffer);
  BIO_push(buffered, sock);
  BIO_up_ref(sock);
  SSL_set_bio(ssl, sock, buffered);  // ssl owns both
  SSL_set_read_ahead(ssl, 1);
  SSL_set_default_read_buffer_len(ssl, kBuffer);
  return absl::OkStatus();
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

absl::StatusOr<std::unique_ptr<TlsConn>> Dial(SSL_CTX* ctx, const std::string& host,
                                              const std::string& port) {
  absl::StatusOr<UniqueFd> dialled = net::DialTcp(host, port);
  if (!dialled.ok()) return absl::UnavailableError(dialled.status().message());
  UniqueFd fd = *std::move(dialled);
  UniqueSsl ssl(SSL_new(ctx));
  if (!ssl) return absl::InternalError(SslErrorText());
  absl::Status attached = AttachBufferedFd(ssl.get(), fd.get());
  if (!attached.ok()) return attached;
  ConfigureClient(ssl.get(), host);
  int connected = SSL_connect(ssl.get());
  BIO_flush(SSL_get_wbio(ssl.get()));
  if (connected != 1) {
    long verify = SSL_get_verify_result(ssl.get());
    if (verify != X509_V_OK) {
      return absl::PermissionDeniedError(
          absl::StrCat("TLS: the server's certificate does not verify: ",
                       X509_verify_cert_error_string(verify)));
    }
    return absl::UnavailableError(
        absl::StrCat("TLS handshake with ", host, ":", port, ": ", SslErrorText()));
  }
  return std::make_unique<TlsConn>(std::move(fd), std::move(ssl));
}

}  // namespace berth::exportwire

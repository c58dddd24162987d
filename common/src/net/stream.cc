#include "berth/net/stream.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace berth::net {

// ---- TLS helpers ----

std::string SslErrorText() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
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

void ConfigureClient(SSL* ssl, const std::string& host) {
  SSL_set_tlsext_host_name(ssl, host.c_str());
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
    ERR_clear_error();
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
}

namespace {

std::string NameEntry(X509_NAME* name, int nid, int* last) {
  *last = X509_NAME_get_index_by_NID(name, nid, *last);
  if (*last < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, *last));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), n);
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

PeerIdentity VerifiedPeer(SSL* ssl) {
  PeerIdentity id;
  if (SSL_get_verify_result(ssl) != X509_V_OK) return id;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return id;
  X509_NAME* name = X509_get_subject_name(cert);
  int last = -1;
  id.name = NameEntry(name, NID_commonName, &last);
  last = -1;
  while (true) {
    std::string o = NameEntry(name, NID_organizationName, &last);
    if (last < 0) break;
    id.groups.push_back(o);
  }
  return id;
}

std::string HandshakeError(SSL* ssl) {
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return absl::StrCat("the peer's certificate does not verify: ",
                        X509_verify_cert_error_string(verify));
  }
  return SslErrorText();
}

// ---- Stream ----

absl::Status Stream::ReadFull(void* buf, size_t n) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    absl::StatusOr<size_t> r = Read(p, n, {});
    if (!r.ok()) return r.status();
    if (*r == 0) return absl::UnavailableError(absl::StrCat(prefix_, "peer closed the connection"));
    p += *r;
    n -= *r;
  }
  return absl::OkStatus();
}

void Stream::Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

void Stream::CloseFd() {
  if (owns_fd_) ::close(fd_);
}

absl::Status Stream::Error(absl::string_view what, absl::string_view fallback,
                           absl::string_view why) const {
  return absl::UnavailableError(absl::StrCat(prefix_, what.empty() ? fallback : what, ": ", why));
}

namespace {

// Why a TLS read or write failed (right after the call: reads errno).
std::string IoWhy(int err) {
  if (err == SSL_ERROR_ZERO_RETURN) return "closed";
  if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    int e = errno;
    return e != 0 ? absl::StrCat("connection lost: ", strerror(e)) : "connection lost";
  }
  return SslErrorText();
}

constexpr size_t kMaxChunk = size_t{1} << 30;  // per SSL_read / SSL_write (an int)

class Plain final : public Stream {
 public:
  Plain(int fd, bool owns, std::string prefix) : Stream(fd, owns, std::move(prefix)) {}
  ~Plain() override { CloseFd(); }

 protected:
  absl::StatusOr<size_t> Read(void* buf, size_t n, absl::string_view what) override {
    for (;;) {
      ssize_t r = ::recv(fd(), buf, n, 0);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EINTR) continue;
      return Error(what, "recv", strerror(errno));
    }
  }
  absl::Status Write(const void* buf, size_t n, absl::string_view what) override {
    absl::MutexLock l(&write_mu_);
    const auto* p = static_cast<const uint8_t*>(buf);
    while (n > 0) {
      ssize_t w = ::send(fd(), p, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Error(what, "send", strerror(errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return absl::OkStatus();
  }

 private:
  absl::Mutex write_mu_;
};

// Shared mode: a non-blocking socket behind a NewSocketBio (MSG_NOSIGNAL); one reader, writers
// serialized.
class SharedTls final : public Stream {
 public:
  SharedTls(int fd, bool owns, std::string prefix, UniqueSsl ssl)
      : Stream(fd, owns, std::move(prefix)), ssl_(std::move(ssl)), peer_(VerifiedPeer(ssl_.get())) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  ~SharedTls() override {
    {
      absl::MutexLock l(&ssl_mu_);
      SSL_shutdown(ssl_.get());  // close_notify, best effort (non-blocking)
      ssl_.reset();
    }
    ERR_clear_error();
    CloseFd();
  }

  bool IsTls() const override { return true; }
  PeerIdentity Peer() const override { return peer_; }
  SSL* ssl() const override { return ssl_.get(); }
  void CloseNotify() override {
    absl::MutexLock l(&ssl_mu_);
    SSL_shutdown(ssl_.get());
  }

 protected:
  // One SSL call at a time under ssl_mu_; waiting for the socket happens outside it, so a
  // reader blocked on an idle connection does not hold up writers (URB completions).
  absl::StatusOr<size_t> Read(void* buf, size_t n, absl::string_view what) override {
    for (;;) {
      int err;
      {
        absl::MutexLock l(&ssl_mu_);
        int r = SSL_read(ssl_.get(), buf, static_cast<int>(std::min(n, kMaxChunk)));
        if (r > 0) return static_cast<size_t>(r);
        err = SSL_get_error(ssl_.get(), r);
        if (err == SSL_ERROR_ZERO_RETURN) return 0;
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          return Error(what, "TLS read", IoWhy(err));
        }
      }
      Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
    }
  }

  absl::Status Write(const void* buf, size_t n, absl::string_view what) override {
    absl::MutexLock w(&write_mu_);  // a retried SSL_write must see the same bytes
    const auto* p = static_cast<const uint8_t*>(buf);
    while (n > 0) {
      int chunk = static_cast<int>(std::min(n, kMaxChunk));
      int err;
      {
        absl::MutexLock l(&ssl_mu_);
        int r = SSL_write(ssl_.get(), p, chunk);
        if (r > 0) {
          p += r;
          n -= static_cast<size_t>(r);
          continue;
        }
        err = SSL_get_error(ssl_.get(), r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          return Error(what, "TLS write", IoWhy(err));
        }
      }
      Wait(err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN);
    }
    return absl::OkStatus();
  }

 private:
  void Wait(short events) {
    pollfd p{fd(), events, 0};
    // Bounded, so a wait for readability in a writer (TLS 1.3 post-handshake traffic that the
    // reader consumes) cannot sleep forever.
    while (::poll(&p, 1, 1000) < 0 && errno == EINTR) {
    }
  }

  UniqueSsl ssl_;
  const PeerIdentity peer_;
  absl::Mutex ssl_mu_;
  absl::Mutex write_mu_;
};

// Bulk mode: a blocking socket behind AttachBufferedFd's BIOs; one user at a time, no locks.
class BulkTls final : public Stream {
 public:
  BulkTls(int fd, bool owns, std::string prefix, UniqueSsl ssl)
      : Stream(fd, owns, std::move(prefix)),
        ssl_(std::move(ssl)),
        peer_(VerifiedPeer(ssl_.get())) {}
  ~BulkTls() override {
    ssl_.reset();
    CloseFd();
  }

  bool IsTls() const override { return true; }
  PeerIdentity Peer() const override { return peer_; }
  SSL* ssl() const override { return ssl_.get(); }

  absl::Status Flush() override {
    if (BIO_flush(SSL_get_wbio(ssl_.get())) != 1) {
      return absl::UnavailableError(absl::StrCat(prefix(), "flushing: ", SslErrorText()));
    }
    return absl::OkStatus();
  }
  void CloseNotify() override {
    SSL_shutdown(ssl_.get());
    BIO_flush(SSL_get_wbio(ssl_.get()));
  }

 protected:
  absl::StatusOr<size_t> Read(void* buf, size_t n, absl::string_view what) override {
    int r = SSL_read(ssl_.get(), buf, static_cast<int>(std::min(n, kMaxChunk)));
    if (r > 0) return static_cast<size_t>(r);
    int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    return Error(what, "TLS read", IoWhy(err));
  }

  absl::Status Write(const void* buf, size_t n, absl::string_view what) override {
    const auto* p = static_cast<const uint8_t*>(buf);
    while (n > 0) {
      int w = SSL_write(ssl_.get(), p, static_cast<int>(std::min(n, kMaxChunk)));
      if (w <= 0) return Error(what, "TLS write", IoWhy(SSL_get_error(ssl_.get(), w)));
      p += w;
      n -= static_cast<size_t>(w);
    }
    return absl::OkStatus();
  }

 private:
  UniqueSsl ssl_;
  const PeerIdentity peer_;
};

std::unique_ptr<Stream> Wrap(int fd, bool owns, const StreamOptions& o, UniqueSsl ssl) {
  if (o.bulk) return std::make_unique<BulkTls>(fd, owns, o.error_prefix, std::move(ssl));
  return std::make_unique<SharedTls>(fd, owns, o.error_prefix, std::move(ssl));
}

// Puts `fd` under `ssl`: the buffered BIOs (bulk) or a NewSocketBio (shared).
absl::Status Attach(SSL* ssl, int fd, const StreamOptions& o) {
  if (o.eof_without_close_notify) SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (o.bulk) return AttachBufferedFd(ssl, fd);
  BIO* bio = NewSocketBio(fd);  // MSG_NOSIGNAL, EAGAIN as retry
  if (bio == nullptr) return absl::InternalError(SslErrorText());
  SSL_set_bio(ssl, bio, bio);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Stream>> Handshake(int fd, bool owns, SSL_CTX* ctx, bool server,
                                                  const std::string& host, const std::string& port,
                                                  const StreamOptions& o) {
  UniqueFd closer(owns ? fd : -1);  // closes the fd on failure
  const std::string& prefix = o.error_prefix;
  UniqueSsl ssl(SSL_new(ctx));
  if (!ssl) return absl::InternalError(absl::StrCat(prefix, "TLS: ", SslErrorText()));
  if (absl::Status s = Attach(ssl.get(), fd, o); !s.ok()) {
    return absl::InternalError(absl::StrCat(prefix, "TLS: ", s.message()));
  }
  if (!server) ConfigureClient(ssl.get(), host);
  std::string peer = server ? PeerIp(fd) : absl::StrCat(host, ":", port);  // while connected
  bool limited = o.handshake_timeout > absl::ZeroDuration();
  if (limited) SetIoTimeout(fd, o.handshake_timeout);
  int r = server ? SSL_accept(ssl.get()) : SSL_connect(ssl.get());
  if (o.bulk) BIO_flush(SSL_get_wbio(ssl.get()));
  if (r != 1) {
    std::string why = HandshakeError(ssl.get());
    long verify = SSL_get_verify_result(ssl.get());
    bool refused = verify != X509_V_OK || why.find("certificate") != std::string::npos;
    std::string text = absl::StrCat(prefix, "TLS handshake with ", peer, ": ", why);
    return refused ? absl::PermissionDeniedError(text) : absl::UnavailableError(text);
  }
  if (limited) SetIoTimeout(fd, absl::ZeroDuration());
  closer.release();
  return Wrap(fd, owns, o, std::move(ssl));
}

}  // namespace

std::unique_ptr<Stream> PlainStream(int fd, bool owns_fd, const StreamOptions& options) {
  return std::make_unique<Plain>(fd, owns_fd, options.error_prefix);
}

absl::StatusOr<std::unique_ptr<Stream>> TlsAcceptedStream(int fd, bool owns_fd, UniqueSsl ssl,
                                                          const StreamOptions& options) {
  UniqueFd closer(owns_fd ? fd : -1);  // closes the fd on failure
  if (!ssl) return absl::InvalidArgumentError(absl::StrCat(options.error_prefix, "TLS: no SSL"));
  if (options.eof_without_close_notify) SSL_set_options(ssl.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  // The handshake ran on the listener's socket BIO; bulk I/O uses the buffered one.
  if (options.bulk) {
    if (absl::Status s = AttachBufferedFd(ssl.get(), fd); !s.ok()) {
      return absl::InternalError(absl::StrCat(options.error_prefix, "TLS: ", s.message()));
    }
  }
  closer.release();
  return Wrap(fd, owns_fd, options, std::move(ssl));
}

absl::StatusOr<std::unique_ptr<Stream>> TlsServerStream(int fd, bool owns_fd, SSL_CTX* ctx,
                                                        const StreamOptions& options) {
  return Handshake(fd, owns_fd, ctx, /*server=*/true, "", "", options);
}

absl::StatusOr<std::unique_ptr<Stream>> TlsClientStream(int fd, bool owns_fd, SSL_CTX* ctx,
                                                        const std::string& host,
                                                        const std::string& port,
                                                        const StreamOptions& options) {
  return Handshake(fd, owns_fd, ctx, /*server=*/false, host, port, options);
}

absl::StatusOr<std::unique_ptr<Stream>> Dial(const std::string& host, const std::string& port,
                                             SSL_CTX* tls_client, const StreamOptions& options) {
  absl::StatusOr<UniqueFd> fd = DialTcp(host, port);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(),
                        absl::StrCat(options.error_prefix, fd.status().message()));
  }
  if (tls_client == nullptr) return PlainStream(fd->release(), true, options);
  return TlsClientStream(fd->release(), true, tls_client, host, port, options);
}

}  // namespace berth::net

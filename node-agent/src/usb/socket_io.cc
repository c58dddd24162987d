#include "usb/socket_io.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/exportwire/tls_context.h"
#include "berth/net/socket.h"

namespace berth::agent::usbsock {

absl::Status ReadFull(int fd, uint8_t* buf, size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd, buf, n, 0);
    if (r == 0) return absl::UnavailableError("usbip: peer closed the connection");
    if (r < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("usbip: recv: ", strerror(errno)));
    }
    buf += r;
    n -= static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const uint8_t* buf, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, buf, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("usbip: send: ", strerror(errno)));
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status SplitHostPort(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), port) || *port < 0 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("usbip: address \"", address, "\" is not HOST:PORT"));
  }
  *host = address.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Connect(const std::string& host, int port) {
  absl::StatusOr<net::UniqueFd> fd = net::DialTcp(host, absl::StrCat(port));
  if (!fd.ok()) {
    return absl::Status(fd.status().code(), absl::StrCat("usbip: ", fd.status().message()));
  }
  return fd->release();
}

bool IsWildcardListen(const std::string& address) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port).ok()) {
    // ":PORT" (empty host) does not split; it listens everywhere.
    return !address.empty() && address.front() == ':';
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) {
    return buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0;
  }
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    for (unsigned char b : buf) {
      if (b != 0) return false;
    }
    return true;
  }
  return host.empty() || host == "*";
}

// ---- streams ----

absl::Status Stream::ReadFull(uint8_t* buf, size_t n) {
  while (n > 0) {
    auto r = ReadSome(buf, n);
    if (!r.ok()) return r.status();
    if (*r == 0) return absl::UnavailableError("usbip: peer closed the connection");
    buf += *r;
    n -= *r;
  }
  return absl::OkStatus();
}

void Stream::Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

void Stream::CloseFd() {
  if (owns_fd_) ::close(fd_);
}

namespace {

class Plain : public Stream {
 public:
  Plain(int fd, bool owns) : Stream(fd, owns) {}
  ~Plain() override { CloseFd(); }
  absl::StatusOr<size_t> ReadSome(uint8_t* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::recv(fd(), buf, n, 0);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("usbip: recv: ", strerror(errno)));
    }
  }
  absl::Status WriteAll(const uint8_t* buf, size_t n) override {
    absl::MutexLock l(&write_mu_);
    return usbsock::WriteAll(fd(), buf, n);
  }

 private:
  absl::Mutex write_mu_;
};

class Tls : public Stream {
 public:
  Tls(int fd, bool owns, SSL* ssl) : Stream(fd, owns), ssl_(ssl) {}
  ~Tls() override {
    {
      absl::MutexLock l(&ssl_mu_);
      SSL_shutdown(ssl_);  // close_notify, best effort (non-blocking)
      SSL_free(ssl_);
    }
    ERR_clear_error();
    CloseFd();
  }

  bool IsTls() const override { return true; }
  PeerIdentity Peer() const override { return peer_; }

  // One SSL call at a time under ssl_mu_; waiting for the socket happens outside it, so a
  // reader blocked on an idle connection does not hold up writers (URB completions).
  absl::StatusOr<size_t> ReadSome(uint8_t* buf, size_t n) override {
    for (;;) {
      int err;
      {
        absl::MutexLock l(&ssl_mu_);
        int r = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(n, 1 << 30)));
        if (r > 0) return static_cast<size_t>(r);
        err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_ZERO_RETURN) return 0;
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          return absl::UnavailableError(absl::StrCat("usbip: TLS read: ", Error(err)));
        }
      }
      Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
    }
  }

  absl::Status WriteAll(const uint8_t* buf, size_t n) override {
    absl::MutexLock w(&write_mu_);  // a retried SSL_write must see the same bytes
    while (n > 0) {
      int chunk = static_cast<int>(std::min<size_t>(n, 1 << 30));
      int err;
      {
        absl::MutexLock l(&ssl_mu_);
        int r = SSL_write(ssl_, buf, chunk);
        if (r > 0) {
          buf += r;
          n -= static_cast<size_t>(r);
          continue;
        }
        err = SSL_get_error(ssl_, r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          return absl::UnavailableError(absl::StrCat("usbip: TLS write: ", Error(err)));
        }
      }
      Wait(err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN);
    }
    return absl::OkStatus();
  }

  // Handshake on the still-blocking socket, then switches it to non-blocking.
  absl::Status Handshake(bool server) {
    std::string peer = net::PeerIp(fd());  // while still connected
    timeval limit{10, 0}, none{0, 0};
    setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    setsockopt(fd(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    int r = server ? SSL_accept(ssl_) : SSL_connect(ssl_);
    if (r != 1) {
      std::string why = exportwire::HandshakeError(ssl_);
      long verify = SSL_get_verify_result(ssl_);
      bool refused = verify != X509_V_OK || why.find("certificate") != std::string::npos;
      std::string text = absl::StrCat("usbip: TLS handshake with ", peer, ": ", why);
      return refused ? absl::PermissionDeniedError(text) : absl::UnavailableError(text);
    }
    setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    setsockopt(fd(), SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
    Adopted();
    return absl::OkStatus();
  }

  // After a handshake done elsewhere (net::Listener): switches the socket to non-blocking.
  void Adopted() {
    fcntl(fd(), F_SETFL, fcntl(fd(), F_GETFL) | O_NONBLOCK);
    peer_ = exportwire::VerifiedPeer(ssl_);
  }

 private:
  std::string Error(int err) {
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      return errno != 0 ? strerror(errno) : "connection lost";
    }
    return exportwire::SslErrorText();
  }
  void Wait(short events) {
    pollfd p{fd(), events, 0};
    // Bounded, so a wait for readability in a writer (TLS 1.3 post-handshake traffic that the
    // reader consumes) cannot sleep forever.
    while (::poll(&p, 1, 1000) < 0 && errno == EINTR) {
    }
  }

  SSL* const ssl_;
  absl::Mutex ssl_mu_;
  absl::Mutex write_mu_;
  PeerIdentity peer_;
};

absl::StatusOr<std::unique_ptr<Stream>> NewTls(int fd, bool owns, SSL_CTX* ctx, bool server,
                                               const std::string& host) {
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) {
    if (owns) ::close(fd);
    return absl::InternalError(absl::StrCat("usbip: TLS: ", exportwire::SslErrorText()));
  }
  BIO* bio = net::NewSocketBio(fd);  // MSG_NOSIGNAL, EAGAIN as retry
  SSL_set_bio(ssl, bio, bio);
  // USB/IP messages carry their own lengths, so a missing close_notify truncates nothing.
  SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (!server) exportwire::ConfigureClient(ssl, host);
  auto stream = std::make_unique<Tls>(fd, owns, ssl);
  if (absl::Status s = stream->Handshake(server); !s.ok()) return s;
  return stream;
}

}  // namespace

std::unique_ptr<Stream> PlainStream(int fd, bool owns_fd) {
  return std::make_unique<Plain>(fd, owns_fd);
}

absl::StatusOr<std::unique_ptr<Stream>> TlsServerStream(int fd, bool owns_fd, SSL_CTX* ctx) {
  return NewTls(fd, owns_fd, ctx, true, "");
}

std::unique_ptr<Stream> TlsAcceptedStream(int fd, bool owns_fd, net::UniqueSsl ssl) {
  SSL_set_options(ssl.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  auto stream = std::make_unique<Tls>(fd, owns_fd, ssl.release());
  stream->Adopted();
  return stream;
}

absl::StatusOr<std::unique_ptr<Stream>> TlsClientStream(int fd, bool owns_fd, SSL_CTX* ctx,
                                                        const std::string& host) {
  return NewTls(fd, owns_fd, ctx, false, host);
}

absl::StatusOr<std::unique_ptr<Stream>> Dial(const std::string& host, int port,
                                             SSL_CTX* tls_client) {
  auto fd = Connect(host, port);
  if (!fd.ok()) return fd.status();
  if (tls_client == nullptr) return PlainStream(*fd, true);
  return TlsClientStream(*fd, true, tls_client, host);
}

absl::Status SocketPair(int fds[2]) {
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError(absl::StrCat("usbip: socketpair: ", strerror(errno)));
  }
  return absl::OkStatus();
}

void Pump(Stream& stream, int fd) {
  auto stop = [&] {
    stream.Shutdown();
    ::shutdown(fd, SHUT_RDWR);
  };
  std::thread up([&] {  // fd -> stream
    std::vector<uint8_t> buf(64 << 10);
    for (;;) {
      ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || !stream.WriteAll(buf.data(), static_cast<size_t>(r)).ok()) break;
    }
    stop();
  });
  std::vector<uint8_t> buf(64 << 10);
  for (;;) {  // stream -> fd
    auto r = stream.ReadSome(buf.data(), buf.size());
    if (!r.ok() || *r == 0 || !WriteAll(fd, buf.data(), *r).ok()) break;
  }
  stop();
  up.join();
}

Bridge::Bridge(std::unique_ptr<Stream> stream, int fd) : stream_(std::move(stream)), fd_(fd) {
  thread_ = std::thread([this] {
    Pump(*stream_, fd_);
    done_ = true;
  });
}

Bridge::~Bridge() {
  stream_->Shutdown();
  ::shutdown(fd_, SHUT_RDWR);
  thread_.join();
  ::close(fd_);
}

}  // namespace berth::agent::usbsock

// The one connected byte stream of the daemons and the CLI, plain or TLS over a socket, and the
// one dialer. Library berth_net (socket.h is the layer below; net::Listener hands its served
// connections over as UniqueFd + UniqueSsl, which the factories here wrap).
//
// A TLS stream runs in one of two modes (StreamOptions::bulk):
//   - shared (default; USB/IP relays): the socket is non-blocking after the handshake; one
//     thread may read while others write (writes are serialized inside) and Shutdown wakes
//     both. A reader waiting on an idle connection does not hold up writers.
//   - bulk (export HTTPS): blocking, one user at a time, large-block I/O: records are written
//     through a 256 KiB buffer (Flush at the end of each message) and read ahead 256 KiB at a
//     time, so a stream costs one syscall per 256 KiB instead of per 16 KiB TLS record.
// Plain streams behave the same in both modes (Flush does nothing).
//
// Errors are Unavailable "<error_prefix><what>: <why>", where `what` is the operation ("recv",
// "send", "TLS read", "TLS write", "flushing"; a caller may name its own, e.g. "reading the
// body") and `why` the system's or OpenSSL's reason ("connection lost[: <errno text>]" when the
// peer went away without a TLS error). A clean end of stream is a read of 0 bytes.
// Nothing here raises SIGPIPE except bulk TLS writes, whose callers hold a ScopedSigpipeBlock
// (berth/exportwire/export_wire.h) as they always have.
#ifndef BERTH_NET_STREAM_H_
#define BERTH_NET_STREAM_H_

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "berth/net/socket.h"
#include "berth/tls.h"

namespace berth::net {

struct StreamOptions {
  // TLS: bulk (buffered, blocking, single user) instead of shared (non-blocking, one reader and
  // serialized writers). See the top of this file.
  bool bulk = false;
  // Prepended to every error message (e.g. "usbip: "), so a caller's errors keep naming it.
  std::string error_prefix;
  // The whole TLS handshake of a client (Dial) or server (TlsServerStream) must finish within
  // this (SO_RCVTIMEO/SO_SNDTIMEO during the handshake, cleared after). Zero: no limit.
  absl::Duration handshake_timeout = absl::ZeroDuration();
  // TLS: a peer that closes without close_notify reads as a clean end of stream (for protocols
  // whose messages carry their own lengths). Otherwise it is an error ("connection lost").
  bool eof_without_close_notify = false;
};

// A connected byte stream over a socket. See the top of this file for the threading rules.
class Stream {
 public:
  virtual ~Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Reads at least one byte (up to n); 0 at a clean end of stream.
  absl::StatusOr<size_t> ReadSome(void* buf, size_t n, absl::string_view what = {}) {
    return Read(buf, n, what);
  }
  // Reads exactly n bytes; Unavailable "<prefix>peer closed the connection" at an end of stream.
  absl::Status ReadFull(void* buf, size_t n);
  // Writes all n bytes (bulk TLS: into the buffer; Flush sends it).
  absl::Status WriteAll(const void* buf, size_t n, absl::string_view what = {}) {
    return Write(buf, n, what);
  }
  absl::Status WriteAll(const std::vector<uint8_t>& b) { return Write(b.data(), b.size(), {}); }
  // Sends what bulk TLS writes buffered; nothing to do otherwise.
  virtual absl::Status Flush() { return absl::OkStatus(); }
  // shutdown(2) both directions: blocked reads and writes fail from now on.
  void Shutdown();
  // TLS: sends close_notify and flushes (best effort). Plain: nothing.
  virtual void CloseNotify() {}

  int fd() const { return fd_; }
  virtual bool IsTls() const { return false; }
  // The identity in the peer's verified certificate; empty for a plain socket.
  virtual PeerIdentity Peer() const { return {}; }
  // The SSL object (null for a plain stream). For inspection only: I/O goes through the stream.
  virtual SSL* ssl() const { return nullptr; }

 protected:
  Stream(int fd, bool owns_fd, std::string error_prefix)
      : fd_(fd), owns_fd_(owns_fd), prefix_(std::move(error_prefix)) {}
  virtual absl::StatusOr<size_t> Read(void* buf, size_t n, absl::string_view what) = 0;
  virtual absl::Status Write(const void* buf, size_t n, absl::string_view what) = 0;
  // Unavailable "<prefix><what or fallback>: <why>".
  absl::Status Error(absl::string_view what, absl::string_view fallback,
                     absl::string_view why) const;
  const std::string& prefix() const { return prefix_; }
  void CloseFd();

 private:
  const int fd_;
  const bool owns_fd_;
  const std::string prefix_;
};

// A plain stream over a connected socket; closes it on destruction when `owns_fd`. Writes send
// with MSG_NOSIGNAL.
std::unique_ptr<Stream> PlainStream(int fd, bool owns_fd, const StreamOptions& options = {});

// Wraps a server-side TLS connection whose handshake is done (net::Listener's, over a
// NewSocketBio on `fd`). Bulk: moves it onto the buffered BIO (AttachBufferedFd). On failure
// the fd is closed when `owns_fd`.
absl::StatusOr<std::unique_ptr<Stream>> TlsAcceptedStream(int fd, bool owns_fd, UniqueSsl ssl,
                                                          const StreamOptions& options = {});

// Runs the server side of the TLS handshake on a connected, blocking socket with `ctx` and
// returns the stream (tests; the daemons' servers get handshaken connections from
// net::Listener). Errors as for TlsClientStream; `host` there is the peer's address here.
absl::StatusOr<std::unique_ptr<Stream>> TlsServerStream(int fd, bool owns_fd, SSL_CTX* ctx,
                                                        const StreamOptions& options = {});

// Runs the client side of the TLS handshake on a connected, blocking socket with `ctx` (the
// server's certificate must name `host`; ConfigureClient). On failure the fd is closed when
// `owns_fd`: PermissionDenied "<prefix>TLS handshake with HOST:PORT: <why>" when a certificate
// was refused (ours or the server's), Unavailable otherwise.
absl::StatusOr<std::unique_ptr<Stream>> TlsClientStream(int fd, bool owns_fd, SSL_CTX* ctx,
                                                        const std::string& host,
                                                        const std::string& port,
                                                        const StreamOptions& options = {});

// Connects to host:port (DialTcp: TCP_NODELAY, each address in turn) and returns the stream:
// TLS with `tls_client` (a client SSL_CTX; the server's certificate must name `host`), plain
// when null. Errors carry the prefix: DialTcp's (Unavailable; InvalidArgument when the name
// does not resolve), then TlsClientStream's.
absl::StatusOr<std::unique_ptr<Stream>> Dial(const std::string& host, const std::string& port,
                                             SSL_CTX* tls_client,
                                             const StreamOptions& options = {});

// ---- TLS helpers (also for code that runs its own handshakes) ----

// Attaches `fd` to `ssl` for large-block I/O: reads ahead into a 256 KiB buffer and writes
// records through a 256 KiB buffer. Replaces any BIO `ssl` had; the socket BIO does not use
// MSG_NOSIGNAL (callers block SIGPIPE).
absl::Status AttachBufferedFd(SSL* ssl, int fd);

// Per-connection client settings: SNI and the check that the server's certificate names `host`
// (an IP literal is matched against IP SANs, anything else against DNS names).
void ConfigureClient(SSL* ssl, const std::string& host);

// The identity in the verified certificate of the peer of `ssl` (CN and every O), empty when
// the peer presented none or it did not verify.
PeerIdentity VerifiedPeer(SSL* ssl);

// Error text for a failed SSL_accept / SSL_connect, naming a certificate verification failure.
std::string HandshakeError(SSL* ssl);

// Returns the last OpenSSL error as text (and clears the queue); "unknown TLS error" when none.
std::string SslErrorText();

}  // namespace berth::net

#endif  // BERTH_NET_STREAM_H_

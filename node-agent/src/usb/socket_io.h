// Blocking socket helpers shared by the USB/IP server and client, and the byte stream they relay
// URBs over: a plain socket or mutual TLS over one (agent-to-agent USB/IP with --tls_dir).
#ifndef BERTH_AGENT_USB_SOCKET_IO_H_
#define BERTH_AGENT_USB_SOCKET_IO_H_

#include <openssl/ssl.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/net/socket.h"
#include "berth/tls.h"

namespace berth::agent::usbsock {

// Reads exactly n bytes; Unavailable on EOF or error ("peer closed" on clean EOF).
absl::Status ReadFull(int fd, uint8_t* buf, size_t n);
absl::Status WriteAll(int fd, const uint8_t* buf, size_t n);
inline absl::Status WriteAll(int fd, const std::vector<uint8_t>& b) {
  return WriteAll(fd, b.data(), b.size());
}
// Connects over TCP to host:port with TCP_NODELAY; returns the owned fd.
absl::StatusOr<int> Connect(const std::string& host, int port);
// Splits "HOST:PORT"; InvalidArgument naming the text when malformed.
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);
// Whether HOST of "HOST:PORT" is a wildcard (empty, 0.0.0.0, ::, [::]): listening there accepts
// connections on every interface.
bool IsWildcardListen(const std::string& address);

// A connected byte stream over a socket: plain, or TLS. One thread may read while others write
// (writes are serialized inside); Shutdown wakes both. TLS streams never raise SIGPIPE.
class Stream {
 public:
  virtual ~Stream() = default;
  // Reads exactly n bytes; Unavailable on EOF ("peer closed") or error.
  absl::Status ReadFull(uint8_t* buf, size_t n);
  // Reads at least one byte (up to n); 0 on a clean EOF.
  virtual absl::StatusOr<size_t> ReadSome(uint8_t* buf, size_t n) = 0;
  virtual absl::Status WriteAll(const uint8_t* buf, size_t n) = 0;
  absl::Status WriteAll(const std::vector<uint8_t>& b) { return WriteAll(b.data(), b.size()); }
  // shutdown(2) both directions: blocked reads and writes fail from now on.
  void Shutdown();
  int fd() const { return fd_; }
  virtual bool IsTls() const { return false; }
  // The identity in the peer's verified certificate; empty for a plain socket.
  virtual PeerIdentity Peer() const { return {}; }

 protected:
  Stream(int fd, bool owns_fd) : fd_(fd), owns_fd_(owns_fd) {}
  void CloseFd();

 private:
  const int fd_;
  const bool owns_fd_;
};

// The socket as it is; closes it on destruction when `owns_fd`.
std::unique_ptr<Stream> PlainStream(int fd, bool owns_fd);
// Runs the TLS handshake on a connected socket (10 s timeout) and returns the stream. Server:
// `ctx` from a kServer ReloadingTlsContext (the client must present a certificate the CA
// signed). Client: pass the dialled `host`; the server's certificate must name it. On failure
// the fd is closed when `owns_fd`; PermissionDenied when a certificate was refused.
absl::StatusOr<std::unique_ptr<Stream>> TlsServerStream(int fd, bool owns_fd, SSL_CTX* ctx);
// Wraps a server-side TLS connection whose handshake net::Listener completed (its BIO is
// net::NewSocketBio on `fd`).
std::unique_ptr<Stream> TlsAcceptedStream(int fd, bool owns_fd, net::UniqueSsl ssl);
absl::StatusOr<std::unique_ptr<Stream>> TlsClientStream(int fd, bool owns_fd, SSL_CTX* ctx,
                                                        const std::string& host);
// Connects to host:port: TLS with `tls_client` (a client SSL_CTX), plain when null.
absl::StatusOr<std::unique_ptr<Stream>> Dial(const std::string& host, int port,
                                             SSL_CTX* tls_client);

// Copies bytes between `stream` and the plain socket `fd` in both directions until either side
// closes or fails, then shuts both down. Blocks the caller (one direction runs on a helper
// thread). This is how a TLS stream reaches code that needs a kernel socket (vhci attach,
// usbip-host's usbip_sockfd): the kernel gets the other end of a socketpair.
void Pump(Stream& stream, int fd);
// A connected AF_UNIX SOCK_STREAM pair (close-on-exec).
absl::Status SocketPair(int fds[2]);

// Pump on an owned thread: owns the stream and the fd; the destructor shuts both down and
// joins.
class Bridge {
 public:
  Bridge(std::unique_ptr<Stream> stream, int fd);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;
  bool Done() const { return done_; }

 private:
  std::unique_ptr<Stream> stream_;
  const int fd_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace berth::agent::usbsock

#endif  // BERTH_AGENT_USB_SOCKET_IO_H_

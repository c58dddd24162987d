// Sockets for the daemons and the CLI: the one fd owner, the TCP dialer and listening socket,
// HOST:PORT parsing, and the no-SIGPIPE socket BIO TLS connections use. Library berth_net;
// net::Listener (listener.h) builds on it.
#ifndef BERTH_NET_SOCKET_H_
#define BERTH_NET_SOCKET_H_

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace berth::net {

// Owns a file descriptor; closes it on destruction. Move-only; not thread-safe.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership and returns the descriptor.
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  // Closes the owned descriptor (if any) and takes `fd`.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using UniqueSsl = std::unique_ptr<SSL, SslFree>;

// A socket BIO over `fd` (not owned) that sends with MSG_NOSIGNAL (a peer that went away never
// raises SIGPIPE) and reports EAGAIN as "retry", so non-blocking sockets work with SSL_accept,
// SSL_read and SSL_write and the caller waits in poll/epoll. The listener's handshakes use it.
BIO* NewSocketBio(int fd);

// Sets SO_RCVTIMEO and SO_SNDTIMEO (zero: wait forever).
void SetIoTimeout(int fd, absl::Duration timeout);

// Returns the numeric IP address in `ss` ("?" for other families).
std::string AddressText(const sockaddr_storage& ss);

// Returns the numeric IP address of the socket's peer ("?" when unknown).
std::string PeerIp(int fd);

// Splits "HOST:PORT" ("[v6]:PORT" too); InvalidArgument naming the text when malformed.
absl::StatusOr<std::pair<std::string, std::string>> SplitHostPort(const std::string& hp);

// Binds and listens on "HOST:PORT" (numeric host, empty: any). Returns the socket.
absl::StatusOr<UniqueFd> ListenTcp(const std::string& host_port, int backlog);

// The port a bound socket listens on.
int BoundPort(int fd);

// Connects over TCP to host:port (a name or a numeric address; each resolved address is tried
// in turn), close-on-exec, with TCP_NODELAY. Unavailable naming the address when nothing
// answers, InvalidArgument when the name does not resolve.
absl::StatusOr<UniqueFd> DialTcp(const std::string& host, const std::string& port);

}  // namespace berth::net

#endif  // BERTH_NET_SOCKET_H_

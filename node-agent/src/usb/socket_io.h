// Blocking socket helpers shared by the USB/IP server and client, the options of the byte
// stream they relay URBs over (net::Stream: a plain socket or mutual TLS over one, for
// agent-to-agent USB/IP with --tls_dir), and the relay that hands a TLS stream to the kernel.
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
#include "berth/net/stream.h"

namespace berth::agent::usbsock {

// Reads exactly n bytes; Unavailable on EOF or error ("peer closed" on clean EOF).
absl::Status ReadFull(int fd, uint8_t* buf, size_t n);
absl::Status WriteAll(int fd, const uint8_t* buf, size_t n);
inline absl::Status WriteAll(int fd, const std::vector<uint8_t>& b) {
  return WriteAll(fd, b.data(), b.size());
}
// Splits "HOST:PORT"; InvalidArgument naming the text when malformed.
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);
// Whether HOST of "HOST:PORT" is a wildcard (empty, 0.0.0.0, ::, [::]): listening there accepts
// connections on every interface.
bool IsWildcardListen(const std::string& address);

// The options of every USB/IP stream (net::Stream in shared mode): errors start with "usbip: ",
// the TLS handshake must finish within 10 s, and a peer closing without close_notify is a clean
// end of stream (USB/IP messages carry their own lengths, so nothing is truncated unnoticed).
// Dial with them: net::Dial(host, port, tls_client, usbsock::Options()).
net::StreamOptions Options();

// Copies bytes between `stream` and the plain socket `fd` in both directions until either side
// closes or fails, then shuts both down. Blocks the caller (one direction runs on a helper
// thread). This is how a TLS stream reaches code that needs a kernel socket (vhci attach,
// usbip-host's usbip_sockfd): the kernel gets the other end of a socketpair.
void Pump(net::Stream& stream, int fd);
// A connected AF_UNIX SOCK_STREAM pair (close-on-exec).
absl::Status SocketPair(int fds[2]);

// Pump on an owned thread: owns the stream and the fd; the destructor shuts both down and
// joins.
class Bridge {
 public:
  Bridge(std::unique_ptr<net::Stream> stream, int fd);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;
  bool Done() const { return done_; }

 private:
  std::unique_ptr<net::Stream> stream_;
  const int fd_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace berth::agent::usbsock

#endif  // BERTH_AGENT_USB_SOCKET_IO_H_

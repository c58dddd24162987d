// Blocking socket helpers shared by the USB/IP server and client.
#ifndef BERTH_AGENT_USB_SOCKET_IO_H_
#define BERTH_AGENT_USB_SOCKET_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::agent::usbsock {

// Reads exactly n bytes; Unavailable on EOF or error ("peer closed" on clean EOF).
absl::Status ReadFull(int fd, uint8_t* buf, size_t n);
absl::Status WriteAll(int fd, const uint8_t* buf, size_t n);
inline absl::Status WriteAll(int fd, const std::vector<uint8_t>& b) {
  return WriteAll(fd, b.data(), b.size());
}
// Connects over TCP to host:port with TCP_NODELAY; returns the owned fd.
absl::StatusOr<int> Connect(const std::string& host, int port);
// Listens on "HOST:PORT" (port 0: any); returns the fd and fills the bound port.
absl::StatusOr<int> Listen(const std::string& address, int* port);
// Returns the numeric IP address of the socket's peer.
std::string PeerAddress(int fd);
// Splits "HOST:PORT"; InvalidArgument naming the text when malformed.
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace berth::agent::usbsock

#endif  // BERTH_AGENT_USB_SOCKET_IO_H_

#include "usb/socket_io.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

net::StreamOptions Options() {
  net::StreamOptions o;
  o.error_prefix = "usbip: ";
  o.handshake_timeout = absl::Seconds(10);
  o.eof_without_close_notify = true;
  return o;
}

absl::Status SocketPair(int fds[2]) {
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError(absl::StrCat("usbip: socketpair: ", strerror(errno)));
  }
  return absl::OkStatus();
}

void Pump(net::Stream& stream, int fd) {
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

Bridge::Bridge(std::unique_ptr<net::Stream> stream, int fd) : stream_(std::move(stream)), fd_(fd) {
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

#include "berth/metrics_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth::metrics {
namespace {

constexpr int kReadTimeoutMs = 2000;
constexpr size_t kMaxRequest = 8192;

std::string Response(int code, const char* reason, const std::string& content_type,
                     const std::string& body, bool head = false) {
  return absl::StrCat("HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n",
                      head ? "" : body);
}

void WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Reads until the end of the request head; returns its first line ("" on timeout or error).
std::string ReadRequestLine(int fd) {
  std::string buf;
  char chunk[1024];
  while (buf.find("\r\n\r\n") == std::string::npos && buf.find("\n\n") == std::string::npos &&
         buf.size() < kMaxRequest) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kReadTimeoutMs) <= 0) return "";
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  size_t eol = buf.find('\n');
  std::string line = buf.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

std::string HttpResponseFor(const std::string& request_line, const Registry& registry,
                            const std::function<bool()>& ready) {
  std::vector<std::string> parts = absl::StrSplit(request_line, ' ', absl::SkipEmpty());
  if (parts.size() < 2) return Response(400, "Bad Request", "text/plain", "bad request\n");
  bool head = parts[0] == "HEAD";
  if (parts[0] != "GET" && !head) {
    return Response(405, "Method Not Allowed", "text/plain", "only GET\n");
  }
  std::string path = parts[1].substr(0, parts[1].find('?'));
  if (path == "/metrics") {
    return Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", registry.Render(), head);
  }
  if (path == "/healthz") return Response(200, "OK", "text/plain", "ok\n", head);
  if (path == "/readyz") {
    if (!ready || ready()) return Response(200, "OK", "text/plain", "ready\n", head);
    return Response(503, "Service Unavailable", "text/plain", "not ready\n", head);
  }
  return Response(404, "Not Found", "text/plain", "not found\n", head);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                                    const Registry& registry,
                                                                    std::function<bool()> ready) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: want HOST:PORT, got \"", listen, "\""));
  }
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    return absl::InvalidArgumentError(absl::StrCat("metrics: ", listen, ": ", gai_strerror(gai)));
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  bool ok = fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, 16) == 0;
  freeaddrinfo(res);
  if (!ok) {
    std::string err = strerror(errno);
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", listen, ": ", err));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(fd, wake, host, bound, registry, std::move(ready)));
}

MetricsServer::MetricsServer(int fd, int wake_fd, std::string host, int port,
                             const Registry& registry, std::function<bool()> ready)
    : fd_(fd),
      wake_fd_(wake_fd),
      host_(std::move(host)),
      port_(port),
      registry_(registry),
      ready_(std::move(ready)) {
  thread_ = std::thread([this] { Serve(); });
}

MetricsServer::~MetricsServer() {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
  close(fd_);
  close(wake_fd_);
}

std::string MetricsServer::address() const {
  std::string h = host_.find(':') != std::string::npos ? absl::StrCat("[", host_, "]") : host_;
  return absl::StrCat(h, ":", port_);
}

void MetricsServer::Serve() {
  while (true) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN)) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Answer(client);
    close(client);
  }
}

void MetricsServer::Answer(int client) {
  std::string line = ReadRequestLine(client);
  if (line.empty()) return;
  WriteAll(client, HttpResponseFor(line, registry_, ready_));
}

}  // namespace berth::metrics

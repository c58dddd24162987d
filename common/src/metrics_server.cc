#include "berth/metrics_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

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
  // Each recv waits at most the idle timeout; the whole head must arrive within it too, so a
  // client trickling one byte at a time cannot hold a handler thread.
  absl::Time deadline = absl::Now() + absl::Milliseconds(kReadTimeoutMs);
  while (absl::Now() < deadline && buf.find("\r\n\r\n") == std::string::npos &&
         buf.find("\n\n") == std::string::npos && buf.size() < kMaxRequest) {
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);  // SO_RCVTIMEO: the listener's idle timeout
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
                            const std::function<bool()>& ready,
                            const std::function<std::string()>& detail) {
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
    const bool is_ready = !ready || ready();
    std::string body = is_ready ? "ready" : "not ready";
    if (detail) absl::StrAppend(&body, ": ", detail());
    body += "\n";
    if (is_ready) return Response(200, "OK", "text/plain", body, head);
    return Response(503, "Service Unavailable", "text/plain", body, head);
  }
  return Response(404, "Not Found", "text/plain", "not found\n", head);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, const Registry& registry, std::function<bool()> ready,
    net::ListenerLimits limits, Registry* count_into, std::function<std::string()> detail) {
  auto server = std::unique_ptr<MetricsServer>(
      new MetricsServer(registry, std::move(ready), std::move(detail)));
  net::ListenerConfig config;
  config.name = "metrics";
  config.listen = listen;
  config.limits = limits;
  config.metrics = count_into;
  auto listener = net::Listener::Serve(
      std::move(config), [s = server.get()](net::Connection c) { s->Answer(c.fd.get()); });
  if (!listener.ok()) {
    return absl::Status(listener.status().code(),
                        absl::StrCat("metrics: ", listener.status().message()));
  }
  server->listener_ = *std::move(listener);
  return server;
}

MetricsServer::~MetricsServer() = default;  // handlers end within the listener's idle timeout

int MetricsServer::port() const { return listener_->port(); }
std::string MetricsServer::address() const { return listener_->address(); }

net::ListenerLimits MetricsServer::DefaultLimits() {
  net::ListenerLimits l;
  l.max_connections = 32;
  l.max_unserved = 32;
  l.max_unserved_per_peer = 8;
  // A peer that opens connections and sends half a request holds a serving thread each until
  // the read timeout: without this cap one address could take all 32 and starve the scraper.
  l.max_served_per_peer = 16;
  l.first_byte_timeout = absl::Seconds(2);
  l.idle_timeout = absl::Seconds(kReadTimeoutMs / 1000);
  return l;
}

void MetricsServer::Answer(int client) {
  std::string line = ReadRequestLine(client);
  if (line.empty()) return;
  WriteAll(client, HttpResponseFor(line, registry_, ready_, detail_));
}

}  // namespace berth::metrics

// The HTTPS side of the Kubernetes REST API: Boost.Beast over Boost.Asio. Connections pass the
// daemon's bounded net::Listener (caps, per-peer limits, first-byte deadline), are handed to a
// small pool of Asio threads, and are served asynchronously: a watch that streams for hours
// holds a socket and a queue, never a thread.
//
// The client certificate is optional on this port (browsers and token-only clients connect);
// when presented it must verify against the cluster CA, or against the front-proxy CA when one
// is configured. The request handler decides what a request may do.
#ifndef BERTH_CONTROLLER_KUBEAPI_HTTP_SERVER_H_
#define BERTH_CONTROLLER_KUBEAPI_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/net/listener.h"
#include "berth/tls.h"

namespace berth::metrics {
class Registry;
}

namespace berth::kubeapi {

// The TLS peer of a request.
struct PeerCert {
  std::string subject_cn;
  std::vector<std::string> subject_o;
  bool front_proxy = false;  // verified against the front-proxy (request-header) CA
};

struct HttpRequest {
  std::string method;                               // GET, POST, PUT, PATCH, DELETE
  std::string target;                               // as sent: path and query
  std::string path;                                 // decoded path without the query
  std::map<std::string, std::string> query;         // decoded; the last value of a repeated key
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string peer_ip;
  std::optional<PeerCert> cert;

  // The first value of header `name` (lower case), or "".
  std::string Header(const std::string& name) const;
  std::string Query(const std::string& key, const std::string& fallback = "") const;
};

struct HttpResponse {
  int code = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A long-lived streamed response (a watch). The server writes `content_type` with chunked
// encoding, then each line given to `emit`, until the watch calls `end`, the client goes away,
// or the timeout passes.
class Stream {
 public:
  virtual ~Stream() = default;  // must stop calling emit/end (e.g. unsubscribe) before return
  using Emit = std::function<void(std::string chunk)>;
  using End = std::function<void()>;
  // Called once on a server thread; emit and end may then be called from any thread.
  virtual void Start(Emit emit, End end) = 0;
  // Called every heartbeat interval on a server thread; a non-empty return is sent (bookmarks).
  virtual std::string Heartbeat() { return ""; }
  std::string content_type = "application/json";
  absl::Duration timeout = absl::Minutes(30);
  absl::Duration heartbeat = absl::Minutes(1);
  // Queued chunks past this end the stream: a client that does not read is dropped, as
  // kube-apiserver drops a watcher whose buffer fills.
  size_t max_queued = 10000;

  // A download instead of a watch: the status line and headers to send, and with
  // content_length a plain body of that many bytes (not chunked), so a browser shows progress.
  int code = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<uint64_t> content_length;
  // Flow control for a producer thread: above this many queued bytes, emit blocks until the
  // client has taken them (or is gone). 0: emit never blocks (watches).
  size_t block_above_bytes = 0;
};

using HttpReply = std::variant<HttpResponse, std::unique_ptr<Stream>>;
using HttpHandler = std::function<HttpReply(const HttpRequest&)>;

struct HttpServerOptions {
  net::ListenerConfig listener;  // name, listen address, limits, metrics
  // Server certificate and the CA client certificates are verified against; none: plain HTTP.
  std::optional<TlsFiles> tls;
  // PEM file of the front-proxy (request-header) client CA; empty: not accepted.
  std::string front_proxy_ca_file;
  size_t max_body_bytes = 3 << 20;  // kube-apiserver's limit for one object
  int threads = 2;
  absl::Duration idle_timeout = absl::Seconds(120);  // between requests of a connection
};

class HttpServer {
 public:
  // Listens and serves; the handler runs on the server's threads and must be thread-safe.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                           HttpHandler handler);
  // Stops accepting, ends every stream and connection, joins the threads.
  ~HttpServer();
  std::string address() const;
  int port() const;
  size_t open_streams() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_HTTP_SERVER_H_

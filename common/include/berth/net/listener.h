// The daemons' one TCP listener: every port of the agent and the controller accepts through it
// (gRPC, USB/IP, export HTTPS, metrics). It bounds what a peer can make the daemon hold before
// the peer has proven anything:
//
//   accept ─▶ refused at once (capacity, per-peer limit, peer not allowed): accept + close
//          ─▶ waiting for the first byte        (first_byte_timeout, no thread, no buffer)
//          ─▶ [TLS] handshake, non-blocking     (handshake_timeout, one SSL object)
//          ─▶ [TLS] waiting for the first request after it (idle_timeout)
//          ─▶ served: the handler runs on a thread of its own, joined as soon as it returns
//             (or, for gRPC, the socket is handed to gRPC's own event loop)
//
// One owned thread runs an epoll loop over the listening socket and every connection not yet
// served, so a flood of silent or half-handshaken connections costs a file descriptor and a
// few hundred bytes each (an SSL object during a handshake), never a thread, and only up to
// the limits below. Every refusal and drop is counted (Counts(), and /metrics when a registry
// is given): accepted = refused + dropped + abandoned + served + waiting.
#ifndef BERTH_NET_LISTENER_H_
#define BERTH_NET_LISTENER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/net/socket.h"

namespace berth::metrics {
class Registry;
}

namespace berth::net {

// What one listener lets peers hold. Zero durations disable that deadline (not recommended).
struct ListenerLimits {
  // Connections open at once, in every stage. Past it new connections are closed at once.
  int max_connections = 256;
  // Connections not yet served (waiting for a first byte, in a handshake) at once, and from one
  // peer IP address. The per-peer limit keeps one flooding address from starving the others.
  int max_unserved = 128;
  int max_unserved_per_peer = 32;
  // Served connections from one peer IP address (0: no limit besides max_connections).
  int max_served_per_peer = 0;
  // A connection that sends nothing for this long after connecting is dropped.
  absl::Duration first_byte_timeout = absl::Seconds(5);
  // The whole TLS handshake must finish within this, however slowly the bytes trickle.
  absl::Duration handshake_timeout = absl::Seconds(5);
  // Served connections: the socket's SO_RCVTIMEO/SO_SNDTIMEO (a handler that waits longer on
  // purpose clears them), and the wait for the first request after a TLS handshake.
  absl::Duration idle_timeout = absl::Seconds(60);
};

struct ListenerConfig {
  std::string name;    // the `listener` label of the metrics, e.g. "agent-grpc"
  std::string listen;  // HOST:PORT; port 0 picks a free one; [v6] literals allowed
  ListenerLimits limits;
  // Peer IP addresses allowed to connect; empty: any. Others are refused at accept.
  std::vector<std::string> allowed_peers;
  // When set, the listener runs the TLS handshake (server side) before serving; called once per
  // connection, so a rotated certificate is picked up. The handler gets the SSL object.
  std::function<std::shared_ptr<SSL_CTX>()> tls;
  // Called on the listener's thread when a TLS handshake fails (not when it times out), with
  // the peer's address and OpenSSL's reason; must be quick. Optional.
  std::function<void(const std::string& peer, const std::string& error)> on_tls_failure;
  // Hand-off mode only (gRPC does its own TLS): wait until the TLS ClientHello record has fully
  // arrived (within handshake_timeout) before handing the socket over, when the first byte
  // says TLS. A client that stalls mid-ClientHello is then dropped and counted here.
  bool wait_client_hello = false;
  // Where to export the counters (may be null). Must outlive the listener.
  metrics::Registry* metrics = nullptr;
  int backlog = 1024;
};

// One served connection, handed to the handler. The fd is blocking, with TCP_NODELAY and the
// idle timeouts set; when TLS, `ssl` completed its handshake over a socket BIO on `fd`.
struct Connection {
  UniqueFd fd;
  UniqueSsl ssl;
  std::string peer;  // numeric IP address
};

// Totals since start (atomically read, each on its own; see the invariant at the top).
struct ListenerCounts {
  uint64_t accepted = 0;
  uint64_t refused_capacity = 0;  // max_connections or max_unserved reached
  uint64_t refused_peer = 0;      // a per-peer limit reached
  uint64_t refused_not_allowed = 0;
  uint64_t dropped_first_byte = 0;  // first_byte_timeout
  uint64_t dropped_handshake = 0;   // handshake_timeout (or ClientHello not complete in time)
  uint64_t dropped_tls_error = 0;   // handshake failed (bad certificate, not TLS, ...)
  uint64_t dropped_idle = 0;        // no request within idle_timeout after the handshake
  uint64_t abandoned = 0;           // the peer closed before being served
  uint64_t served = 0;
  int64_t open = 0;     // open now, every stage
  int64_t waiting = 0;  // open now and not yet served
  int64_t handler_threads = 0;
};

class Listener {
 public:
  using Handler = std::function<void(Connection)>;
  using HandOff = std::function<void(int fd)>;

  // Serves each connection that passed the gate on a thread of its own running `handler`. The
  // thread is joined as soon as the handler returns. The handler owns the connection.
  static absl::StatusOr<std::unique_ptr<Listener>> Serve(ListenerConfig config, Handler handler);
  // Hands each connection that passed the gate to `hand_off` on the listener's thread: it takes
  // the (non-blocking) fd and must return quickly. The listener keeps a duplicate of the fd,
  // watched for hang-up only, so the connection is counted open until the peer or the new
  // owner shuts it down (gRPC shuts a socket down before it closes it).
  static absl::StatusOr<std::unique_ptr<Listener>> HandOffTo(ListenerConfig config,
                                                             HandOff hand_off);
  // Stops accepting, closes every connection not yet served and joins the handler threads:
  // the owner must first make its handlers return (e.g. shut their sockets down).
  ~Listener();

  // "HOST:PORT" as bound (IPv6 hosts in brackets) and the port.
  std::string address() const;
  int port() const;
  const std::string& name() const;
  ListenerCounts Counts() const;

  class Impl;

 private:
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Applies the overrides of `spec` for the listener `name` to `limits`. `spec` is the daemons'
// --listener_limits: comma-separated NAME.KEY=VALUE, KEY one of max_connections,
// max_unserved, max_unserved_per_peer, max_served_per_peer (integers) or first_byte_timeout,
// handshake_timeout, idle_timeout (durations: 5s, 250ms, 2m). InvalidArgument naming the item
// for an unknown listener (not in `known`), key or value.
absl::Status ApplyLimitOverrides(const std::string& spec, const std::string& name,
                                 const std::vector<std::string>& known, ListenerLimits* limits);

}  // namespace berth::net

#endif  // BERTH_NET_LISTENER_H_

#ifndef BERTH_METRICS_SERVER_H_
#define BERTH_METRICS_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "berth/metrics.h"
#include "berth/net/listener.h"

namespace berth::metrics {

// Serves a Registry over plain HTTP/1.0-style exchanges (one request per connection):
//   GET /metrics  -> 200, the text exposition format (version 0.0.4)
//   GET /healthz  -> 200 "ok" while the process runs (liveness)
//   GET /readyz   -> 200 "ready" when `ready()` says so, else 503 (readiness); `detail()`, when
//                    given, follows on the same line ("ready: follower, leader controller-2")
// Anything else is 404 (405 for methods other than GET/HEAD). Connections go through the
// bounded net::Listener (see DefaultLimits); a client that sends nothing for 2 s is dropped.
// Meant for a loopback or cluster-internal port: there is no authentication.
class MetricsServer {
 public:
  // Binds `listen` ("HOST:PORT"; port 0 picks a free one) and starts serving. `registry` must
  // outlive the server. `ready` (optional) is called on the serving thread. The listener's
  // own counters go to `count_into` when given (usually `registry`).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& listen, const Registry& registry, std::function<bool()> ready = nullptr,
      net::ListenerLimits limits = DefaultLimits(), Registry* count_into = nullptr,
      std::function<std::string()> detail = nullptr);
  ~MetricsServer();  // Stops and joins.

  // 32 connections, 8 unserved per peer, 2 s to the first byte and to the whole request.
  static net::ListenerLimits DefaultLimits();

  int port() const;
  // Returns "HOST:PORT" as bound.
  std::string address() const;

 private:
  MetricsServer(const Registry& registry, std::function<bool()> ready,
                std::function<std::string()> detail)
      : registry_(registry), ready_(std::move(ready)), detail_(std::move(detail)) {}
  void Answer(int client);

  const Registry& registry_;
  const std::function<bool()> ready_;
  const std::function<std::string()> detail_;
  std::unique_ptr<net::Listener> listener_;  // last: its handlers use the members above
};

// Builds the HTTP response for a request's first line (e.g. "GET /metrics HTTP/1.1"); exposed
// for tests.
std::string HttpResponseFor(const std::string& request_line, const Registry& registry,
                            const std::function<bool()>& ready,
                            const std::function<std::string()>& detail = nullptr);

}  // namespace berth::metrics

#endif  // BERTH_METRICS_SERVER_H_

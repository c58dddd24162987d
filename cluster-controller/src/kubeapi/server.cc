#include "berth/controller/kube_api.h"
#include "kubeapi/api.h"
#include "kubeapi/http_server.h"

namespace berth::controller {

net::ListenerLimits KubeApiOptions::DefaultLimits() {
  net::ListenerLimits l;
  l.max_connections = 2048;
  l.max_unserved = 256;
  l.max_unserved_per_peer = 64;
  l.idle_timeout = absl::Seconds(120);
  return l;
}

namespace {

class Server : public KubeApiServer {
 public:
  Server(std::unique_ptr<kubeapi::Api> api) : api_(std::move(api)) {}
  absl::Status Start(const KubeApiOptions& o) {
    kubeapi::HttpServerOptions h;
    h.listener.name = "kube-api";
    h.listener.listen = o.listen;
    h.listener.limits = o.limits;
    h.listener.metrics = o.metrics;
    h.tls = o.tls;
    h.front_proxy_ca_file = o.front_proxy_ca_file;
    h.max_body_bytes = o.max_body_bytes;
    h.threads = o.threads;
    h.idle_timeout = o.limits.idle_timeout;
    auto http = kubeapi::HttpServer::Start(
        std::move(h), [this](const kubeapi::HttpRequest& req) { return api_->Handle(req); });
    if (!http.ok()) return http.status();
    http_ = *std::move(http);
    return absl::OkStatus();
  }
  std::string address() const override { return http_->address(); }
  int port() const override { return http_->port(); }

 private:
  std::unique_ptr<kubeapi::Api> api_;
  std::unique_ptr<kubeapi::HttpServer> http_;  // after api_: stops (and joins) first
};

}  // namespace

absl::StatusOr<std::unique_ptr<KubeApiServer>> KubeApiServer::Start(KubeApiOptions options,
                                                                    ObjectStore& store,
                                                                    const AccessControl& access,
                                                                    const Clock& clock) {
  auto server =
      std::make_unique<Server>(std::make_unique<kubeapi::Api>(store, access, clock, options));
  if (absl::Status s = server->Start(options); !s.ok()) return s;
  return std::unique_ptr<KubeApiServer>(std::move(server));
}

}  // namespace berth::controller

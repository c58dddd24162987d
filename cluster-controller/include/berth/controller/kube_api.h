// The controller's second door: the Kubernetes REST API (virtualization.deckhouse.io/v1alpha2
// and the core v1 objects Berth keeps) over HTTPS, for kubectl and Kubernetes client libraries.
// Same store, admission, access control and watch fan-out as the gRPC API. docs/api.md says
// what is served and how authentication maps.
#ifndef BERTH_CONTROLLER_KUBE_API_H_
#define BERTH_CONTROLLER_KUBE_API_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/controller/access.h"
#include "berth/controller/object_store.h"
#include "berth/net/listener.h"
#include "berth/time_util.h"
#include "berth/tls.h"

namespace berth::metrics {
class Registry;
}

namespace berth::controller {

struct KubeApiOptions {
  std::string listen = "127.0.0.1:6443";
  // Server certificate, and the cluster CA client certificates are verified against. None:
  // plain HTTP (only with an insecure controller, for tests).
  std::optional<TlsFiles> tls;
  // kube-apiserver's front proxy (aggregation): a client certificate from this CA, with a CN in
  // front_proxy_allowed_names (empty: any), may name the user in the request headers.
  std::string front_proxy_ca_file;
  std::vector<std::string> front_proxy_allowed_names;
  std::vector<std::string> username_headers = {"X-Remote-User"};
  std::vector<std::string> group_headers = {"X-Remote-Group"};
  std::vector<std::string> extra_headers_prefix = {"X-Remote-Extra-"};
  // "berth": Berth's grants decide (docs/security.md). "kubernetes": requests forwarded by the
  // front proxy are decided by kube-apiserver through SubjectAccessReviews to
  // `review_server` (https://HOST:PORT) with the token in `review_token_file`, verified
  // against `review_ca_file`; other callers still by Berth's grants.
  std::string authorization = "berth";
  std::string review_server;
  std::string review_token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string review_ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  net::ListenerLimits limits = DefaultLimits();
  metrics::Registry* metrics = nullptr;
  int threads = 2;
  size_t max_body_bytes = 3 << 20;

  // Watches are long-lived connections: more of them than the other listeners allow.
  static net::ListenerLimits DefaultLimits();
};

class KubeApiServer {
 public:
  static absl::StatusOr<std::unique_ptr<KubeApiServer>> Start(KubeApiOptions options,
                                                              ObjectStore& store,
                                                              const AccessControl& access,
                                                              const Clock& clock);
  virtual ~KubeApiServer() = default;
  virtual std::string address() const = 0;
  virtual int port() const = 0;
};

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_KUBE_API_H_

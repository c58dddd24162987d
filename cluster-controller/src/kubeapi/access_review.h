// --authorization=kubernetes: kube-apiserver decides what a user forwarded by its front proxy
// may do, through a SubjectAccessReview (authorization.k8s.io/v1), as metrics-server and other
// aggregated APIs ask it. Decisions are cached as kube's webhook authorizer caches them
// (allowed 5 min, denied 30 s) so a watch storm does not become a review storm. Thread-safe.
#ifndef BERTH_CONTROLLER_KUBEAPI_ACCESS_REVIEW_H_
#define BERTH_CONTROLLER_KUBEAPI_ACCESS_REVIEW_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/json.h"
#include "berth/time_util.h"

namespace berth::kubeapi {

// What a request wants to do, in SubjectAccessReview's terms.
struct AccessRequest {
  std::string user;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
  std::string verb;  // get, list, watch, create, update, patch, delete, deletecollection
  std::string group;
  std::string version;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
};

struct AccessDecision {
  bool allowed = false;
  std::string reason;
};

class AccessReviewer {
 public:
  // POSTs a SubjectAccessReview (JSON text) and returns the response body.
  using Transport = std::function<absl::StatusOr<std::string>(const std::string& body)>;

  AccessReviewer(Transport transport, const Clock& clock)
      : transport_(std::move(transport)), clock_(clock) {}

  // The review's answer; Unavailable when kube-apiserver cannot be asked (the request is then
  // refused: an authorizer that cannot decide does not allow).
  absl::StatusOr<AccessDecision> Review(const AccessRequest& request);

  // The SubjectAccessReview object for `request`.
  static Json ReviewObject(const AccessRequest& request);

  // A transport to kube-apiserver at `server` (https://HOST:PORT) with the bearer token in
  // `token_file` (re-read on each call: service-account tokens rotate), verifying the server
  // against `ca_file`. In a pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT and
  // /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}.
  static Transport Https(std::string server, std::string token_file, std::string ca_file);

 private:
  struct Cached {
    AccessDecision decision;
    absl::Time expires;
  };
  const Transport transport_;
  const Clock& clock_;
  absl::Mutex mu_;
  std::map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_ACCESS_REVIEW_H_

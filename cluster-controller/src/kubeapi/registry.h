// The resources the Kubernetes REST API serves, built once from the CRDs (berth/schema.h) and
// the core kinds Berth keeps (Secret, Event; Namespace, which Berth keeps implicitly), the
// authentication.k8s.io/v1 SelfSubjectReview (who am I), and the discovery documents that
// describe them (/api, /apis, APIResourceList).
#ifndef BERTH_CONTROLLER_KUBEAPI_REGISTRY_H_
#define BERTH_CONTROLLER_KUBEAPI_REGISTRY_H_

#include <string>
#include <vector>

#include "berth/json.h"
#include "berth/kinds.h"
#include "berth/schema.h"

namespace berth::kubeapi {

struct Resource {
  std::string group;  // "" for core
  std::string version;
  std::string kind;
  std::string list_kind;
  std::string plural;
  std::string singular;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool namespaced = true;
  bool status_subresource = false;
  bool implicit = false;  // Namespace: derived from the objects, read-only
  bool review = false;    // SelfSubjectReview: create-only, answered from the caller, never stored
  const KindInfo* info = nullptr;  // the store's kind and the authorizer's view; null: implicit
  const schema::KindSchema* schema = nullptr;  // null for core kinds

  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  std::vector<std::string> Verbs() const;
};

class Registry {
 public:
  Registry();

  // The resource served at GROUP/VERSION with `plural`, or nullptr.
  const Resource* Find(const std::string& group, const std::string& version,
                       const std::string& plural) const;
  const std::vector<Resource>& resources() const { return resources_; }

  // Discovery documents.
  Json RootPaths() const;                      // GET /: {"paths": [...]}
  Json Versions() const;                       // GET /api
  Json Groups() const;                         // GET /apis
  Json Group(const std::string& group) const;  // GET /apis/GROUP (null when unknown)
  Json ResourceList(const std::string& group, const std::string& version) const;  // or null
  static Json Version();                                                          // GET /version

 private:
  std::vector<Resource> resources_;
};

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_REGISTRY_H_

// Who the caller is: SelfSubjectReview (kubectl auth whoami, the console's sign-in) and the
// namespaces a caller may see.
#include <algorithm>

#include "berth/time_util.h"
#include "kubeapi/api.h"

namespace berth::kubeapi {

HttpResponse Api::SelfSubjectReview(const Caller& caller) {
  // The request's review is empty (kubectl sends it as protobuf): its body is not read.
  std::vector<std::string> groups = caller.groups;
  if (std::find(groups.begin(), groups.end(), "system:authenticated") == groups.end()) {
    groups.push_back("system:authenticated");
  }
  Json extra = {{"berth.deckhouse.io/admin", {caller.admin ? "true" : "false"}},
                {"berth.deckhouse.io/namespaces", access_.Namespaces(caller.user)}};
  Json review = {
      {"apiVersion", "authentication.k8s.io/v1"},
      {"kind", "SelfSubjectReview"},
      {"metadata", {{"creationTimestamp", FormatRfc3339(clock_.Now())}}},
      {"status",
       {{"userInfo", {{"username", caller.user}, {"groups", groups}, {"extra", extra}}}}}};
  return JsonResponse(201, review);
}

std::optional<std::vector<std::string>> Api::VisibleNamespaces(const Caller& caller) const {
  if (caller.admin || (reviewer_ && caller.via == "front-proxy")) return std::nullopt;
  return access_.Namespaces(caller.user);  // sorted
}

}  // namespace berth::kubeapi

// The fieldSelector of list and watch requests, parsed, checked against the fields kube lets
// each kind select on, and matched, with kube-apiserver's error messages. Label selectors are
// berth/labels.h (kube's full grammar). Pure functions.
#ifndef BERTH_CONTROLLER_KUBEAPI_SELECTORS_H_
#define BERTH_CONTROLLER_KUBEAPI_SELECTORS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/json.h"

namespace berth::kubeapi {

// One term of a field selector: `field=value` / `field==value` (equals) or `field!=value`.
struct FieldRequirement {
  std::string field;  // e.g. metadata.name, involvedObject.kind
  bool equals = true;
  std::string value;  // unescaped
};

// Parses a fieldSelector (k8s.io/apimachinery/pkg/fields.ParseSelector: comma-joined terms,
// `\,` `\=` `\\` escapes in values) for objects of `kind`, then checks every field the way
// kube's field label conversion does: Event, Secret and Namespace have kube's lists, CRD kinds
// allow metadata.name and (namespaced only) metadata.namespace ("field label not supported:
// X"), and other kinds only those two ("\"X\" is not a known field selector: only
// \"metadata.name\", \"metadata.namespace\""). Errors are InvalidArgument with kube's message
// (a BadRequest). Terms come back sorted, as kube sorts them.
absl::StatusOr<std::vector<FieldRequirement>> ParseFieldSelector(const std::string& text,
                                                                 const std::string& kind);

// The value kube's field set holds for `field` of `obj`: the string at that dotted path ("" when
// absent), except Event's `source` (source.component, else reportingComponent).
std::string FieldValue(const Json& obj, const std::string& field);

// Whether `obj` satisfies every requirement.
bool MatchesFields(const Json& obj, const std::vector<FieldRequirement>& reqs);

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_SELECTORS_H_

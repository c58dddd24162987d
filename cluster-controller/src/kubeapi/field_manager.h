// Server-side apply and metadata.managedFields, as kube-apiserver keeps them for custom resources
// (k8s.io/apimachinery/pkg/util/managedfields and sigs.k8s.io/structured-merge-diff). Pure
// functions over JSON objects: no I/O, no shared state, so thread-safe.
//
// The shape of an object comes from the CRD's openAPIV3Schema when the caller passes it, as
// kube's type converter does: declared properties are struct fields, additionalProperties and
// x-kubernetes-preserve-unknown-fields maps hold keys that are not fields (owned with a "."
// marker of their own), lists are atomic unless x-kubernetes-list-type says set or map.
// metadata always has ObjectMeta's shape: labels and annotations per key, finalizers a set,
// ownerReferences a map list keyed by uid. Without a schema every map key is a struct field.
#ifndef BERTH_CLUSTER_CONTROLLER_KUBEAPI_FIELD_MANAGER_H_
#define BERTH_CLUSTER_CONTROLLER_KUBEAPI_FIELD_MANAGER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/json.h"

namespace berth::kubeapi {

// One step of a field path, serialized in FieldsV1 as f:<name>, k:<key fields as JSON>,
// v:<set item as JSON> or i:<index>.
struct PathElement {
  enum class Kind { kField, kKey, kValue, kIndex };  // also the sort order of kinds
  Kind kind = Kind::kField;
  std::string name;   // kField
  Json value;         // kKey: object of the key fields; kValue: the item
  int64_t index = 0;  // kIndex

  static PathElement Field(std::string name);
  static PathElement Key(Json fields);
  static PathElement Value(Json item);
  static PathElement Index(int64_t index);
  // The FieldsV1 key, e.g. `f:spec`, `k:{"uid":"1"}`, `v:"x"`.
  std::string Serialize() const;
  // Parses a FieldsV1 key. NotFound for an unknown kind letter (kube skips those).
  static absl::StatusOr<PathElement> Parse(std::string_view key);
  // The printed form used in conflicts: `.spec`, `[uid="1"]`, `[="x"]`, `[3]`.
  std::string String() const;
  int Compare(const PathElement& other) const;
  bool operator<(const PathElement& other) const { return Compare(other) < 0; }
  bool operator==(const PathElement& other) const { return Compare(other) == 0; }
};

using FieldPath = std::vector<PathElement>;

// `.spec.x`, the way kube prints a path in conflicts.
std::string PathString(const FieldPath& path);

// A set of field paths (structured-merge-diff's fieldpath.Set): `members` are owned paths ending
// here, `children` the subtrees below. A path may be both, which FieldsV1 writes as ".".
class FieldSet {
 public:
  void Insert(const FieldPath& path);
  // Adds `subtree` below `element`.
  void InsertSubtree(const PathElement& element, const FieldSet& subtree);
  bool Has(const FieldPath& path) const;
  bool Empty() const;
  FieldSet Union(const FieldSet& other) const;
  FieldSet Intersection(const FieldSet& other) const;
  // Removes the members of `other` (a member here keeps its subtree).
  FieldSet Difference(const FieldSet& other) const;
  // Removes the members of `other` and everything below them.
  FieldSet RecursiveDifference(const FieldSet& other) const;
  // The subtree below `element`, or nullptr.
  const FieldSet* WithPrefix(const PathElement& element) const;
  // Every path, members of a node before its children, in element order (kube's Iterate).
  std::vector<FieldPath> Paths() const;
  Json ToFieldsV1() const;
  static absl::StatusOr<FieldSet> FromFieldsV1(const Json& fields);
  bool operator==(const FieldSet& other) const;

  const std::vector<PathElement>& members() const { return members_; }
  const std::vector<std::pair<PathElement, FieldSet>>& children() const { return children_; }

 private:
  FieldSet* Descend(const PathElement& element);
  void IterateInto(FieldPath& prefix, std::vector<FieldPath>& out) const;

  std::vector<PathElement> members_;                        // sorted
  std::vector<std::pair<PathElement, FieldSet>> children_;  // sorted by element, never empty
};

// A field another manager owns that the apply would change.
struct ManagerConflict {
  std::string manager;
  std::string operation;    // "Apply" or "Update"
  std::string api_version;  // of an Update entry; printed for those
  std::string subresource;  // "" or "status"
  std::string field;        // kube's printed path, e.g. `.spec.requiredConsistency`
  std::string message;      // the StatusCause message, e.g. `conflict with "kubectl"`
};

struct ApplyResult {
  // The object to store, metadata.managedFields set. Empty when there are conflicts.
  Json object;
  // Whether `object` differs from the live object, managedFields aside. When it does not, the
  // applier's entry keeps its timestamp (a new one has none), as in kube; the object must still
  // be written if its managedFields changed (compare `object` with the live object).
  bool changed = false;
  // Non-empty: the apply failed, nothing may be written.
  std::vector<ManagerConflict> conflicts;

  // kube's message: `Apply failed with 1 conflict: conflict with "m": .spec.x`, or for several
  // "Apply failed with N conflicts: conflicts with \"m\":\n- .spec.x\n- .spec.y" per manager.
  std::string ConflictMessage() const;
  // kube's 409 Status: reason Conflict, details.causes of type FieldManagerConflict.
  Json ConflictStatus() const;
};

// Server-side apply of `applied` (the caller's partial configuration, with apiVersion, kind and
// metadata.name) by `manager` onto `live` (nullptr: the object does not exist and the result is
// the object to create). `subresource` "" manages everything but status (kube resets status
// through the main endpoint of a resource with a status subresource); "status" manages status
// only. `now` is an RFC 3339 UTC time. `schema` is the kind's openAPIV3Schema or nullptr.
// Errors: InvalidArgument "metadata.managedFields must be nil" (kube's 400) when `applied`
// carries managedFields, Internal when live's managedFields or a keyed list cannot be read.
// The fieldManager itself is checked by ValidateManager. An empty manager is "unknown".
absl::StatusOr<ApplyResult> Apply(const Json* live, const Json& applied, const std::string& manager,
                                  bool force, const std::string& subresource,
                                  const std::string& now, const Json* schema = nullptr);

// Records a non-apply write (create, update, merge or JSON patch) by `manager`: `before` is the
// stored object (nullptr for a create), `after` the object about to be stored. Fields whose
// values changed become owned by {manager, Update, after's apiVersion, subresource} and leave
// every other manager's set (updates never conflict). Returns `after` with managedFields set.
// As kube does: managedFields the client sent in `after` are kept when valid and non-empty
// (main resource only), `managedFields: []` resets them (then nothing is tracked), an object
// stored without managedFields stays without until its first apply, and more than 10 Update
// entries are folded into "ancient-changes".
Json RecordUpdate(const Json* before, const Json& after, const std::string& manager,
                  const std::string& subresource, const std::string& now,
                  const Json* schema = nullptr);

// The manager kube names after a User-Agent when the request has no fieldManager: the part
// before the first '/', without unprintable characters, cut to 128 bytes
// ("kubectl/v1.32.0 (linux/amd64) kubernetes/abc" -> "kubectl").
std::string ManagerFromUserAgent(std::string_view user_agent);

// Checks a fieldManager query parameter as kube does: at most 128 bytes, printable characters,
// and required for an apply patch. InvalidArgument carries kube's 422 message, e.g.
// `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply
// patch`; `options_kind` is CreateOptions, UpdateOptions or PatchOptions.
absl::Status ValidateManager(std::string_view manager, std::string_view options_kind,
                             bool apply_patch);

}  // namespace berth::kubeapi

#endif  // BERTH_CLUSTER_CONTROLLER_KUBEAPI_FIELD_MANAGER_H_

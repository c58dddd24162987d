// structured-merge-diff's typed walkers over JSON (tofieldset.go, compare.go, merge.go,
// remove.go): the shape of each node from the CRD's OpenAPI schema, and the walks the field
// manager (field_manager.cc) builds on. Internal to the Kubernetes API.
#ifndef BERTH_CONTROLLER_KUBEAPI_TYPED_WALK_H_
#define BERTH_CONTROLLER_KUBEAPI_TYPED_WALK_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "berth/json.h"
#include "kubeapi/field_manager.h"

namespace berth::kubeapi {

// obj[key] when obj is an object and the value a string; else null (or "").
inline const std::string* StringAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}
inline std::string StringOr(const Json& obj, const char* key) {
  const std::string* s = StringAt(obj, key);
  return s ? *s : "";
}

struct NodeType {
  enum class Mode {
    kStruct,   // no schema: every key is a struct field
    kSchema,   // `schema` describes the node
    kDeduced,  // x-kubernetes-preserve-unknown-fields: keys are not fields, lists atomic
  };
  Mode mode = Mode::kStruct;
  const Json* schema = nullptr;
  bool root = false;
};

struct Comparison {
  FieldSet removed, modified, added;
};

struct ListType;  // how a list merges: atomic, set, or a map keyed by some fields

// structured-merge-diff's typed walkers (tofieldset.go, compare.go, merge.go, remove.go) over
// JSON. A keyed list item without its keys is an error kube reports; the walker records the
// first one and goes on with the item's index.
class Walker {
 public:
  const absl::Status& status() const { return status_; }

  FieldSet ToFieldSet(const Json& v, const NodeType& t) {
    FieldSet set;
    FieldPath path;
    ToFieldSetNode(v, t, path, set);
    return set;
  }

  Comparison Compare(const Json& lhs, const Json& rhs, const NodeType& t) {
    Comparison out;
    FieldPath path;
    CompareNode(&lhs, &rhs, t, path, out);
    return out;
  }

  // live.Merge(config): the config's values win, maps and set/map lists merge item by item.
  Json Merge(const Json* lhs, const Json* rhs, const NodeType& t);

  // RemoveItems; nullopt where a container ends up empty (kube's null, which CRD defaulting
  // then prunes).
  std::optional<Json> Remove(const Json& v, const FieldSet& set, const NodeType& t);

  FieldSet EnsureNamedFieldsAreMembers(const FieldSet& set, const NodeType& t);

 private:
  PathElement ItemElement(const Json& item, const ListType& list, size_t index);
  void ToFieldSetNode(const Json& v, const NodeType& t, FieldPath& path, FieldSet& set);
  void ToFieldSetItems(const Json& list, const NodeType& t, FieldPath& path, FieldSet& set);
  void CompareNode(const Json* l, const Json* r, const NodeType& t, FieldPath& path,
                   Comparison& out);
  void CompareMixed(const Json& l, const Json& r, const NodeType& t, FieldPath& path,
                    Comparison& out);
  void CompareItems(const Json* l, const Json* r, const NodeType& t, FieldPath& path,
                    Comparison& out);
  void CompareMapItems(const Json* l, const Json* r, const NodeType& t, FieldPath& path,
                       Comparison& out);
  void CompareListItems(const Json* l, const Json* r, const NodeType& t, FieldPath& path,
                        Comparison& out);

  struct IndexedList {
    std::vector<PathElement> elements;  // in list order, repeats included
    std::map<PathElement, const Json*> items;
    const Json* Find(const PathElement& e) const {
      auto it = items.find(e);
      return it == items.end() ? nullptr : it->second;
    }
  };
  IndexedList IndexItems(const Json& list, const ListType& type, bool config);
  Json MergeItems(const Json& lhs, const Json& rhs, const NodeType& t);

  absl::Status status_;
};

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_TYPED_WALK_H_

#include "kubeapi/typed_walk.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kubeapi/go_text.h"

namespace berth::kubeapi {

struct ListType {
  enum class Kind { kAtomic, kSet, kMap };
  Kind kind = Kind::kAtomic;
  std::vector<std::string> keys;
};

namespace {

// ObjectMeta as kube's OpenAPI describes it (the CRD's own `metadata` schema is ignored).
const Json& ObjectMetaSchema() {
  static const Json* const schema = new Json(Json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string"}, "generateName": {"type": "string"},
      "namespace": {"type": "string"}, "selfLink": {"type": "string"},
      "uid": {"type": "string"}, "resourceVersion": {"type": "string"},
      "generation": {"type": "integer"}, "creationTimestamp": {"type": "string"},
      "deletionTimestamp": {"type": "string"}, "deletionGracePeriodSeconds": {"type": "integer"},
      "labels": {"type": "object", "additionalProperties": {"type": "string"}},
      "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
      "finalizers": {"type": "array", "items": {"type": "string"},
                     "x-kubernetes-list-type": "set"},
      "ownerReferences": {"type": "array", "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["uid"],
        "items": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
          "apiVersion": {"type": "string"}, "kind": {"type": "string"},
          "name": {"type": "string"}, "uid": {"type": "string"},
          "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"}}}},
      "managedFields": {"type": "array", "items": {"type": "object"}}
    }})"));
  return *schema;
}

struct ChildType {
  NodeType type;
  bool field = true;  // a declared struct field rather than a key of a map
};

ChildType FieldType(const NodeType& t, const std::string& key) {
  using Mode = NodeType::Mode;
  if (t.root && key == "metadata") return {{Mode::kSchema, &ObjectMetaSchema()}, true};
  if (t.root && (key == "apiVersion" || key == "kind")) return {{Mode::kStruct}, true};
  if (t.mode == Mode::kStruct) return {{Mode::kStruct}, true};
  if (t.mode == Mode::kSchema && t.schema->is_object()) {
    auto props = t.schema->find("properties");
    if (props != t.schema->end() && props->is_object() && props->contains(key)) {
      return {{Mode::kSchema, &(*props)[key]}, true};
    }
    auto extra = t.schema->find("additionalProperties");
    if (extra != t.schema->end() && extra->is_object()) {
      return {{Mode::kSchema, &*extra}, false};
    }
  }
  return {{Mode::kDeduced}, false};
}

NodeType ElementType(const NodeType& t) {
  if (t.mode != NodeType::Mode::kSchema) return {t.mode};
  auto items = t.schema->find("items");
  if (items != t.schema->end() && items->is_object()) return {NodeType::Mode::kSchema, &*items};
  return {NodeType::Mode::kDeduced};
}

NodeType ChildOf(const NodeType& t, const PathElement& e) {
  return e.kind == PathElement::Kind::kField ? FieldType(t, e.name).type : ElementType(t);
}

ListType ListTypeOf(const NodeType& t) {
  ListType out;
  if (t.mode != NodeType::Mode::kSchema) return out;
  const std::string list_type = StringOr(*t.schema, "x-kubernetes-list-type");
  if (list_type == "set") out.kind = ListType::Kind::kSet;
  if (list_type == "map") {
    out.kind = ListType::Kind::kMap;
    auto keys = t.schema->find("x-kubernetes-list-map-keys");
    if (keys != t.schema->end() && keys->is_array()) {
      for (const Json& k : *keys) {
        if (k.is_string()) out.keys.push_back(k.get<std::string>());
      }
    }
  }
  return out;
}

bool MapIsAtomic(const NodeType& t) {
  return t.mode == NodeType::Mode::kSchema &&
         StringOr(*t.schema, "x-kubernetes-map-type") == "atomic";
}

// Null stands for an empty container, as structured-merge-diff reads it.
bool IsEmptyMap(const Json* v) { return !v || v->is_null() || (v->is_object() && v->empty()); }
bool IsEmptyList(const Json* v) { return !v || v->is_null() || (v->is_array() && v->empty()); }

enum class Shape { kMap, kList, kScalar };

Shape ShapeOf(const Json& v) {
  return v.is_object() ? Shape::kMap : v.is_array() ? Shape::kList : Shape::kScalar;
}

}  // namespace

PathElement Walker::ItemElement(const Json& item, const ListType& list, size_t index) {
  if (list.kind == ListType::Kind::kSet) return PathElement::Value(item);
  Json key = Json::object();
  for (const std::string& k : list.keys) {
    if (item.is_object() && item.contains(k)) key[k] = item[k];
  }
  if (key.empty()) {
    if (status_.ok()) {
      status_ = absl::InternalError(
          absl::StrCat("element ", index,
                       ": associative list with keys has an element that omits all key "
                       "fields ",
                       GoQuote(absl::StrJoin(list.keys, ",")),
                       " (and doesn't have default values for any key fields)"));
    }
    return PathElement::Index(static_cast<int64_t>(index));
  }
  return PathElement::Key(std::move(key));
}

void Walker::ToFieldSetNode(const Json& v, const NodeType& t, FieldPath& path, FieldSet& set) {
  if (v.is_array()) {
    if (ListTypeOf(t).kind == ListType::Kind::kAtomic) {
      set.Insert(path);
    } else {
      ToFieldSetItems(v, t, path, set);
    }
    return;
  }
  if (!v.is_object()) {
    set.Insert(path);
    return;
  }
  if (MapIsAtomic(t)) {
    set.Insert(path);
    return;
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    ChildType child = FieldType(t, it.key());
    path.push_back(PathElement::Field(it.key()));
    ToFieldSetNode(*it, child.type, path, set);
    // A key of a map (not a struct field) and an empty or null value are owned themselves.
    if (it->is_null() || (it->is_object() && it->empty()) || !child.field) set.Insert(path);
    path.pop_back();
  }
}

void Walker::ToFieldSetItems(const Json& list, const NodeType& t, FieldPath& path, FieldSet& set) {
  ListType type = ListTypeOf(t);
  std::vector<PathElement> elements;
  std::set<PathElement> seen, duplicates;
  for (size_t i = 0; i < list.size(); ++i) {
    elements.push_back(ItemElement(list[i], type, i));
    if (!seen.insert(elements.back()).second && duplicates.insert(elements.back()).second) {
      path.push_back(elements.back());
      set.Insert(path);  // duplicated items are owned as a whole
      path.pop_back();
    }
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (duplicates.count(elements[i])) continue;
    path.push_back(elements[i]);
    ToFieldSetNode(list[i], ElementType(t), path, set);
    set.Insert(path);
    path.pop_back();
  }
}

void Walker::CompareNode(const Json* l, const Json* r, const NodeType& t, FieldPath& path,
                         Comparison& out) {
  const Json* shaped = r && !r->is_null() ? r : l && !l->is_null() ? l : nullptr;
  if (l && r && !l->is_null() && !r->is_null() && ShapeOf(*l) != ShapeOf(*r)) {
    CompareMixed(*l, *r, t, path, out);
    return;
  }
  Shape shape = shaped ? ShapeOf(*shaped) : Shape::kScalar;
  bool leaf = shape == Shape::kScalar ||
              (shape == Shape::kMap && (MapIsAtomic(t) || (IsEmptyMap(l) && IsEmptyMap(r)))) ||
              (shape == Shape::kList && (ListTypeOf(t).kind == ListType::Kind::kAtomic ||
                                         (IsEmptyList(l) && IsEmptyList(r))));
  if (leaf) {
    if (!l) {
      out.added.Insert(path);
    } else if (!r) {
      out.removed.Insert(path);
    } else if (*l != *r) {
      out.modified.Insert(path);
    }
    return;
  }
  CompareItems(l, r, t, path, out);
  // A granular container records its own appearance and disappearance.
  if (!l) {
    out.added.Insert(path);
  } else if (!r) {
    out.removed.Insert(path);
  }
}

// One side is a map or list and the other is not: the node changed, and the container's items
// came or went.
void Walker::CompareMixed(const Json& l, const Json& r, const NodeType& t, FieldPath& path,
                          Comparison& out) {
  out.modified.Insert(path);
  auto granular = [&](const Json& v) {
    return (v.is_object() && !MapIsAtomic(t)) ||
           (v.is_array() && ListTypeOf(t).kind != ListType::Kind::kAtomic);
  };
  if (granular(l)) CompareItems(&l, nullptr, t, path, out);
  if (granular(r)) CompareItems(nullptr, &r, t, path, out);
}

void Walker::CompareItems(const Json* l, const Json* r, const NodeType& t, FieldPath& path,
                          Comparison& out) {
  const Json* shaped = r && !r->is_null() ? r : l;
  if (shaped->is_object()) {
    CompareMapItems(l, r, t, path, out);
  } else {
    CompareListItems(l, r, t, path, out);
  }
}

void Walker::CompareMapItems(const Json* l, const Json* r, const NodeType& t, FieldPath& path,
                             Comparison& out) {
  std::set<std::string> keys;
  for (const Json* side : {l, r}) {
    if (side && side->is_object()) {
      for (auto it = side->begin(); it != side->end(); ++it) keys.insert(it.key());
    }
  }
  for (const std::string& k : keys) {
    auto value = [&](const Json* side) -> const Json* {
      if (!side || !side->is_object()) return nullptr;
      auto it = side->find(k);
      return it == side->end() ? nullptr : &*it;
    };
    path.push_back(PathElement::Field(k));
    CompareNode(value(l), value(r), FieldType(t, k).type, path, out);
    path.pop_back();
  }
}

// A set or map list, item by item; items present more than once compare as a whole.
void Walker::CompareListItems(const Json* l, const Json* r, const NodeType& t, FieldPath& path,
                              Comparison& out) {
  ListType type = ListTypeOf(t);
  std::vector<PathElement> order;
  std::map<PathElement, std::pair<std::vector<const Json*>, std::vector<const Json*>>> items;
  for (int side = 0; side < 2; ++side) {
    const Json* list = side == 0 ? l : r;
    if (!list || !list->is_array()) continue;
    for (size_t i = 0; i < list->size(); ++i) {
      PathElement e = ItemElement((*list)[i], type, i);
      auto& entry = items[e];
      if (entry.first.empty() && entry.second.empty()) order.push_back(e);
      (side == 0 ? entry.first : entry.second).push_back(&(*list)[i]);
    }
  }
  for (const PathElement& e : order) {
    const auto& [ls, rs] = items[e];
    path.push_back(e);
    if (ls.size() <= 1 && rs.size() <= 1) {
      CompareNode(ls.empty() ? nullptr : ls[0], rs.empty() ? nullptr : rs[0], ElementType(t), path,
                  out);
    } else if (ls.size() >= 2 && rs.size() >= 2) {
      bool same = ls.size() == rs.size() &&
                  std::equal(ls.begin(), ls.end(), rs.begin(),
                             [](const Json* a, const Json* b) { return *a == *b; });
      if (!same) out.modified.Insert(path);
    } else if (ls.size() >= 2) {
      if (!rs.empty()) CompareNode(nullptr, rs[0], ElementType(t), path, out);
      out.removed.Insert(path);
    } else {
      if (!ls.empty()) CompareNode(ls[0], nullptr, ElementType(t), path, out);
      out.added.Insert(path);
    }
    path.pop_back();
  }
}

Json Walker::Merge(const Json* lhs, const Json* rhs, const NodeType& t) {
  if (!rhs) return *lhs;
  if (!lhs) return *rhs;
  // A null in the config leaves a granular map as it is, and sets anything else to null.
  if (rhs->is_null()) return lhs->is_object() && !MapIsAtomic(t) ? *lhs : *rhs;
  if (lhs->is_null() || ShapeOf(*lhs) != ShapeOf(*rhs)) return *rhs;
  if (rhs->is_object()) {
    if (MapIsAtomic(t) || (lhs->empty() && rhs->empty())) return *rhs;
    Json out = *lhs;
    for (auto it = rhs->begin(); it != rhs->end(); ++it) {
      auto mine = lhs->find(it.key());
      out[it.key()] =
          Merge(mine == lhs->end() ? nullptr : &*mine, &*it, FieldType(t, it.key()).type);
    }
    return out;
  }
  if (rhs->is_array()) {
    if (ListTypeOf(t).kind == ListType::Kind::kAtomic || (lhs->empty() && rhs->empty())) {
      return *rhs;
    }
    return MergeItems(*lhs, *rhs, t);
  }
  return *rhs;
}

// The items of a set or map list by path element. Live lists may repeat an element (its value
// is then null, as merge.go records it); configurations may not.
Walker::IndexedList Walker::IndexItems(const Json& list, const ListType& type, bool config) {
  static const Json kNull;
  IndexedList out;
  for (size_t i = 0; i < list.size(); ++i) {
    out.elements.push_back(ItemElement(list[i], type, i));
    if (out.items.emplace(out.elements.back(), &list[i]).second) continue;
    out.items[out.elements.back()] = &kNull;
    if (config && status_.ok()) {
      status_ = absl::InternalError(
          absl::StrCat("duplicate entries for key ", out.elements.back().String()));
    }
  }
  return out;
}

// merge.go visitListItems: the config's order wins for the items it holds, live items it does
// not hold stay where they were relative to them.
Json Walker::MergeItems(const Json& lhs, const Json& rhs, const NodeType& t) {
  ListType type = ListTypeOf(t);
  NodeType element = ElementType(t);
  IndexedList l = IndexItems(lhs, type, false), r = IndexItems(rhs, type, true);
  std::vector<const PathElement*> shared;
  for (const PathElement& e : r.elements) {
    if (l.items.count(e)) shared.push_back(&e);
  }
  size_t next = 0;
  const PathElement* next_shared = nullptr;
  auto pop = [&] { next_shared = next < shared.size() ? shared[next++] : nullptr; };
  pop();
  Json out = Json::array();
  std::set<PathElement> merged;
  for (size_t li = 0, ri = 0; li < l.elements.size() || ri < r.elements.size();) {
    const PathElement* le = li < l.elements.size() ? &l.elements[li] : nullptr;
    if (le && ri < r.elements.size()) {
      if (*le == r.elements[ri]) {
        merged.insert(*le);
        out.push_back(Merge(l.Find(*le), r.Find(*le), element));
        ++li, ++ri;
        pop();
        continue;
      }
      if (r.items.count(*le) && next_shared && !(*next_shared == *le)) {
        ++li;
        continue;
      }
    }
    if (le && !r.items.count(*le)) {
      out.push_back(lhs[li++]);
      continue;
    }
    if (le && merged.count(*le)) ++li;
    if (ri < r.elements.size()) {
      const PathElement& e = r.elements[ri++];
      merged.insert(e);
      out.push_back(Merge(l.Find(e), r.Find(e), element));
      if (next_shared && *next_shared == e) pop();
    }
  }
  return out;
}

std::optional<Json> Walker::Remove(const Json& v, const FieldSet& set, const NodeType& t) {
  if (v.is_object()) {
    if (v.empty() || MapIsAtomic(t)) return std::nullopt;
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      PathElement e = PathElement::Field(it.key());
      if (set.Has({e})) continue;
      const FieldSet* below = set.WithPrefix(e);
      if (!below) {
        out[it.key()] = *it;
      } else if (auto kept = Remove(*it, *below, FieldType(t, it.key()).type)) {
        out[it.key()] = *std::move(kept);
      }
    }
    return out.empty() ? std::nullopt : std::optional<Json>(std::move(out));
  }
  if (v.is_array()) {
    ListType type = ListTypeOf(t);
    if (v.empty() || type.kind == ListType::Kind::kAtomic) return std::nullopt;
    Json out = Json::array();
    for (size_t i = 0; i < v.size(); ++i) {
      PathElement e = ItemElement(v[i], type, i);
      if (set.Has({e})) continue;
      const FieldSet* below = set.WithPrefix(e);
      if (!below) {
        out.push_back(v[i]);
      } else if (auto kept = Remove(v[i], *below, ElementType(t))) {
        out.push_back(*std::move(kept));
      }
    }
    return out.empty() ? std::nullopt : std::optional<Json>(std::move(out));
  }
  return v;
}

// Struct fields with owned children count as owned themselves, so that pruning may remove them.
FieldSet Walker::EnsureNamedFieldsAreMembers(const FieldSet& set, const NodeType& t) {
  FieldSet out;
  for (const PathElement& m : set.members()) out.Insert({m});
  for (const auto& [element, child] : set.children()) {
    if (element.kind == PathElement::Kind::kField && FieldType(t, element.name).field) {
      out.Insert({element});
    }
    out.InsertSubtree(element, EnsureNamedFieldsAreMembers(child, ChildOf(t, element)));
  }
  return out;
}

}  // namespace berth::kubeapi

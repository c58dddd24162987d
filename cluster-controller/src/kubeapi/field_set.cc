// structured-merge-diff's fieldpath package: path elements, field sets and their FieldsV1
// encoding (see field_manager.h).
#include <algorithm>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kubeapi/field_manager.h"
#include "kubeapi/go_text.h"

namespace berth::kubeapi {
namespace {

// value.ToString: how structured-merge-diff prints key and set values in paths.
std::string ValueToString(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) return GoQuote(v.get_ref<const std::string&>());
  if (v.is_number()) return GoNumber(v);
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  std::string out;
  if (v.is_array()) {
    for (const Json& item : v) out += (out.empty() ? "" : ",") + ValueToString(item);
    return "[" + out + "]";
  }
  for (auto it = v.begin(); it != v.end(); ++it) out += it.key() + "=" + ValueToString(*it);
  return out;
}

// value.Compare: numbers < strings < booleans < lists < maps < null, then by content.
int CompareValues(const Json& a, const Json& b) {
  auto rank = [](const Json& v) {
    return v.is_number()    ? 0
           : v.is_string()  ? 1
           : v.is_boolean() ? 2
           : v.is_array()   ? 3
           : v.is_object()  ? 4
                            : 5;
  };
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (a.is_number()) {
    if (a.is_number_float() || b.is_number_float()) {
      double x = a.get<double>(), y = b.get<double>();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    int64_t x = a.get<int64_t>(), y = b.get<int64_t>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string()) {
    int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_boolean()) return static_cast<int>(a.get<bool>()) - static_cast<int>(b.get<bool>());
  if (a.is_array() || a.is_object()) {
    auto ia = a.begin(), ib = b.begin();
    for (; ia != a.end() && ib != b.end(); ++ia, ++ib) {
      if (a.is_object() && ia.key() != ib.key()) return ia.key() < ib.key() ? -1 : 1;
      if (int c = CompareValues(*ia, *ib)) return c;
    }
    return ia == a.end() ? (ib == b.end() ? 0 : -1) : 1;
  }
  return 0;  // both null
}

}  // namespace

// ---- PathElement

PathElement PathElement::Field(std::string name) {
  PathElement e;
  e.name = std::move(name);
  return e;
}

PathElement PathElement::Key(Json fields) {
  PathElement e;
  e.kind = Kind::kKey;
  e.value = std::move(fields);
  return e;
}

PathElement PathElement::Value(Json item) {
  PathElement e;
  e.kind = Kind::kValue;
  e.value = std::move(item);
  return e;
}

PathElement PathElement::Index(int64_t index) {
  PathElement e;
  e.kind = Kind::kIndex;
  e.index = index;
  return e;
}

std::string PathElement::Serialize() const {
  switch (kind) {
    case Kind::kField:
      return "f:" + name;
    case Kind::kKey: {
      std::string out = "k:{";
      for (auto it = value.begin(); it != value.end(); ++it) {
        out += (it == value.begin() ? "" : ",") + GoJsonString(it.key()) + ":" + GoJson(*it);
      }
      return out + "}";
    }
    case Kind::kValue:
      return "v:" + GoJson(value);
    case Kind::kIndex:
      return absl::StrCat("i:", index);
  }
  return "";
}

absl::StatusOr<PathElement> PathElement::Parse(std::string_view key) {
  if (key.size() < 2) return absl::InvalidArgumentError("key must be 2 characters long:");
  if (key[1] != ':')
    return absl::InvalidArgumentError(absl::StrCat("missing colon: ", std::string(key)));
  std::string_view rest = key.substr(2);
  switch (key[0]) {
    case 'f':
      return Field(std::string(rest));
    case 'k':
    case 'v': {
      Json parsed = Json::parse(rest.begin(), rest.end(), nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded() || (key[0] == 'k' && !parsed.is_object())) {
        return absl::InvalidArgumentError(
            absl::StrCat("parsing key as path element: ", std::string(key)));
      }
      return key[0] == 'k' ? Key(std::move(parsed)) : Value(std::move(parsed));
    }
    case 'i': {
      int64_t index = 0;
      if (rest.empty() || !absl::SimpleAtoi(std::string(rest), &index)) {
        return absl::InvalidArgumentError(absl::StrCat("invalid index: ", std::string(key)));
      }
      return Index(index);
    }
    default:
      return absl::NotFoundError("unknown path element type");
  }
}

std::string PathElement::String() const {
  switch (kind) {
    case Kind::kField:
      return "." + name;
    case Kind::kKey: {
      std::string out;
      for (auto it = value.begin(); it != value.end(); ++it) {
        out += (out.empty() ? "" : ",") + it.key() + "=" + ValueToString(*it);
      }
      return "[" + out + "]";
    }
    case Kind::kValue:
      return "[=" + ValueToString(value) + "]";
    case Kind::kIndex:
      return absl::StrCat("[", index, "]");
  }
  return "{{invalid path element}}";
}

int PathElement::Compare(const PathElement& other) const {
  if (kind != other.kind) return kind < other.kind ? -1 : 1;
  switch (kind) {
    case Kind::kField: {
      int c = name.compare(other.name);
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    case Kind::kKey:  // FieldList.Compare: name, then value, field by field; shorter first
    case Kind::kValue:
      return CompareValues(value, other.value);
    case Kind::kIndex:
      return index < other.index ? -1 : index > other.index ? 1 : 0;
  }
  return 0;
}

std::string PathString(const FieldPath& path) {
  std::string out;
  for (const PathElement& e : path) out += e.String();
  return out;
}

// ---- FieldSet

namespace {

template <typename T>
auto FindChild(T& children, const PathElement& e) {
  return std::lower_bound(children.begin(), children.end(), e,
                          [](const auto& node, const PathElement& x) { return node.first < x; });
}

bool HasMember(const std::vector<PathElement>& members, const PathElement& e) {
  return std::binary_search(members.begin(), members.end(), e);
}

}  // namespace

FieldSet* FieldSet::Descend(const PathElement& element) {
  auto it = FindChild(children_, element);
  if (it == children_.end() || !(it->first == element)) {
    it = children_.insert(it, {element, FieldSet()});
  }
  return &it->second;
}

void FieldSet::Insert(const FieldPath& path) {
  if (path.empty()) return;
  FieldSet* s = this;
  for (size_t i = 0; i + 1 < path.size(); ++i) s = s->Descend(path[i]);
  auto it = std::lower_bound(s->members_.begin(), s->members_.end(), path.back());
  if (it == s->members_.end() || !(*it == path.back())) s->members_.insert(it, path.back());
}

void FieldSet::InsertSubtree(const PathElement& element, const FieldSet& subtree) {
  if (subtree.Empty()) return;
  FieldSet* child = Descend(element);
  *child = child->Union(subtree);
}

bool FieldSet::Has(const FieldPath& path) const {
  const FieldSet* s = this;
  for (size_t i = 0; i < path.size(); ++i) {
    if (i + 1 == path.size()) return HasMember(s->members_, path[i]);
    s = s->WithPrefix(path[i]);
    if (s == nullptr) return false;
  }
  return false;
}

bool FieldSet::Empty() const {
  if (!members_.empty()) return false;
  return std::all_of(children_.begin(), children_.end(),
                     [](const auto& node) { return node.second.Empty(); });
}

const FieldSet* FieldSet::WithPrefix(const PathElement& element) const {
  auto it = FindChild(children_, element);
  return it != children_.end() && it->first == element ? &it->second : nullptr;
}

FieldSet FieldSet::Union(const FieldSet& other) const {
  FieldSet out;
  std::set_union(members_.begin(), members_.end(), other.members_.begin(), other.members_.end(),
                 std::back_inserter(out.members_));
  auto a = children_.begin(), b = other.children_.begin();
  while (a != children_.end() || b != other.children_.end()) {
    if (b == other.children_.end() || (a != children_.end() && a->first < b->first)) {
      out.children_.push_back(*a++);
    } else if (a == children_.end() || b->first < a->first) {
      out.children_.push_back(*b++);
    } else {
      out.children_.emplace_back(a->first, a->second.Union(b->second));
      ++a, ++b;
    }
  }
  return out;
}

FieldSet FieldSet::Intersection(const FieldSet& other) const {
  FieldSet out;
  std::set_intersection(members_.begin(), members_.end(), other.members_.begin(),
                        other.members_.end(), std::back_inserter(out.members_));
  for (const auto& [element, child] : children_) {
    const FieldSet* theirs = other.WithPrefix(element);
    if (theirs == nullptr) continue;
    FieldSet both = child.Intersection(*theirs);
    if (!both.Empty()) out.children_.emplace_back(element, std::move(both));
  }
  return out;
}

FieldSet FieldSet::Difference(const FieldSet& other) const {
  FieldSet out;
  std::set_difference(members_.begin(), members_.end(), other.members_.begin(),
                      other.members_.end(), std::back_inserter(out.members_));
  for (const auto& [element, child] : children_) {
    const FieldSet* theirs = other.WithPrefix(element);
    FieldSet rest = theirs ? child.Difference(*theirs) : child;
    if (!rest.Empty()) out.children_.emplace_back(element, std::move(rest));
  }
  return out;
}

FieldSet FieldSet::RecursiveDifference(const FieldSet& other) const {
  FieldSet out;
  std::set_difference(members_.begin(), members_.end(), other.members_.begin(),
                      other.members_.end(), std::back_inserter(out.members_));
  for (const auto& [element, child] : children_) {
    if (HasMember(other.members_, element)) continue;
    const FieldSet* theirs = other.WithPrefix(element);
    FieldSet rest = theirs ? child.RecursiveDifference(*theirs) : child;
    if (!rest.Empty()) out.children_.emplace_back(element, std::move(rest));
  }
  return out;
}

void FieldSet::IterateInto(FieldPath& prefix, std::vector<FieldPath>& out) const {
  for (const PathElement& m : members_) {
    prefix.push_back(m);
    out.push_back(prefix);
    prefix.pop_back();
  }
  for (const auto& [element, child] : children_) {
    prefix.push_back(element);
    child.IterateInto(prefix, out);
    prefix.pop_back();
  }
}

std::vector<FieldPath> FieldSet::Paths() const {
  std::vector<FieldPath> out;
  FieldPath prefix;
  IterateInto(prefix, out);
  return out;
}

namespace {

// emitContentsV1: a path that is both a member and a parent writes its children with ".".
Json EmitFieldsV1(const FieldSet& set, bool include_self) {
  Json out = Json::object();
  if (include_self && !set.Empty()) out["."] = Json::object();
  for (const PathElement& m : set.members()) {
    const FieldSet* child = set.WithPrefix(m);
    out[m.Serialize()] = child ? EmitFieldsV1(*child, true) : Json::object();
  }
  for (const auto& [element, child] : set.children()) {
    if (!HasMember(set.members(), element)) out[element.Serialize()] = EmitFieldsV1(child, false);
  }
  return out;
}

// readIterV1: a key whose object is empty, holds ".", or holds only unknown kinds is a member.
absl::Status ReadFieldsV1(const Json& fields, FieldSet* set, bool* is_member) {
  if (!fields.is_object()) return absl::InvalidArgumentError("FieldsV1 nodes must be objects");
  bool any = false;
  *is_member = false;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (it.key() == ".") {
      *is_member = true;
      continue;
    }
    absl::StatusOr<PathElement> element = PathElement::Parse(it.key());
    if (absl::IsNotFound(element.status())) continue;
    if (!element.ok()) return element.status();
    FieldSet child;
    bool child_is_member = false;
    if (absl::Status s = ReadFieldsV1(*it, &child, &child_is_member); !s.ok()) return s;
    if (child_is_member) set->Insert({*element});
    set->InsertSubtree(*element, child);
    any = any || child_is_member || !child.Empty();
  }
  if (!any) *is_member = true;
  return absl::OkStatus();
}

}  // namespace

Json FieldSet::ToFieldsV1() const { return EmitFieldsV1(*this, false); }

absl::StatusOr<FieldSet> FieldSet::FromFieldsV1(const Json& fields) {
  FieldSet set;
  bool is_member = false;
  if (absl::Status s = ReadFieldsV1(fields, &set, &is_member); !s.ok()) return s;
  return set;
}

bool FieldSet::operator==(const FieldSet& other) const {
  if (members_ != other.members_ || children_.size() != other.children_.size()) return false;
  for (size_t i = 0; i < children_.size(); ++i) {
    if (!(children_[i].first == other.children_[i].first) ||
        !(children_[i].second == other.children_[i].second)) {
      return false;
    }
  }
  return true;
}

}  // namespace berth::kubeapi

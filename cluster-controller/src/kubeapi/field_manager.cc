// Ports, in C++ and over JSON, the parts of kube-apiserver's field management that custom
// resources go through: sigs.k8s.io/structured-merge-diff (fieldpath, typed merge/compare/remove,
// merge.Updater) and the managers chain of k8s.io/apimachinery/pkg/util/managedfields/internal
// (stripmeta, managedfieldsupdater, buildmanagerinfo, capmanagers, skipnonapplied,
// lastappliedmanager, lastappliedupdater, fieldmanager). Names follow kube's so that the two can
// be read side by side.
#include "kubeapi/field_manager.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace berth::kubeapi {
namespace {

constexpr char kApply[] = "Apply";
constexpr char kUpdate[] = "Update";
constexpr char kLastApplied[] = "kubectl.kubernetes.io/last-applied-configuration";
constexpr size_t kFieldManagerMaxLength = 128;
constexpr size_t kMaxUpdateManagers = 10;

// ---- Go-compatible text: kube prints paths with %q and serializes keys with encoding/json.

// Decodes the UTF-8 rune at s[i] into *width bytes; an invalid byte is U+FFFD of width 1, as
// Go's range over a string yields it.
char32_t DecodeRune(std::string_view s, size_t i, size_t* width) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  *width = 1;
  if (c < 0x80) return c;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0xFFFD;
  char32_t r = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0xFFFD;
    r = (r << 6) | (b(k) & 0x3F);
  }
  bool overlong = (n == 3 && r < 0x800) || (n == 4 && r < 0x10000);
  if (overlong || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return 0xFFFD;
  *width = n;
  return r;
}

// Go's unicode.IsPrint for the characters that matter in names: controls, format characters,
// separators other than ' ', private use, surrogates and noncharacters are not printable.
// Unassigned code points count as printable (Go says not): a simplification.
bool IsPrint(char32_t r) {
  if (r < 0x20 || r == 0x7F) return false;
  if (r < 0x7F) return true;
  static constexpr std::pair<char32_t, char32_t> kNotPrint[] = {
      {0x80, 0xA0},       {0xAD, 0xAD},       {0x600, 0x605},     {0x61C, 0x61C},
      {0x6DD, 0x6DD},     {0x70F, 0x70F},     {0x8E2, 0x8E2},     {0x1680, 0x1680},
      {0x180E, 0x180E},   {0x2000, 0x200F},   {0x2028, 0x202F},   {0x205F, 0x206F},
      {0x3000, 0x3000},   {0xD800, 0xF8FF},   {0xFDD0, 0xFDEF},   {0xFEFF, 0xFEFF},
      {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x1343F},
      {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
      {0xF0000, 0x10FFFF}};
  for (const auto& [lo, hi] : kNotPrint) {
    if (r >= lo && r <= hi) return false;
  }
  return (r & 0xFFFE) != 0xFFFE;
}

std::string Hex(uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%0*x", digits, v);
  return buf;
}

// strconv.Quote, which %q uses.
std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0, w = 0; i < s.size(); i += w) {
    char32_t r = DecodeRune(s, i, &w);
    if (r == 0xFFFD && w == 1) {
      out += "\\x" + Hex(static_cast<unsigned char>(s[i]), 2);
    } else if (r == '"' || r == '\\') {
      out += '\\';
      out += static_cast<char>(r);
    } else if (IsPrint(r)) {
      out.append(s.substr(i, w));
    } else if (r == '\a' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t' ||
               r == '\v') {
      static constexpr char kEscapes[] = "abtnvfr";  // \a = 7 ... \r = 13
      out += '\\';
      out += kEscapes[r - '\a'];
    } else if (r < ' ' || r == 0x7F) {
      out += "\\x" + Hex(r, 2);
    } else if (r < 0x10000) {
      out += "\\u" + Hex(r, 4);
    } else {
      out += "\\U" + Hex(r, 8);
    }
  }
  return out + "\"";
}

// A string as Go's encoding/json writes it: HTML characters, U+2028 and U+2029 escaped.
std::string GoJsonString(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0, w = 0; i < s.size(); i += w) {
    char32_t r = DecodeRune(s, i, &w);
    switch (r) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029 ||
            (r == 0xFFFD && w == 1)) {
          out += "\\u" + Hex(r, 4);
        } else {
          out.append(s.substr(i, w));
        }
    }
  }
  return out + "\"";
}

// A number as Go prints a float64 decoded from JSON: integral values without a fraction.
std::string GoNumber(const Json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e21) {
      return absl::StrCat(static_cast<int64_t>(d));
    }
  }
  return v.dump();
}

// json.Marshal of an unstructured value: keys sorted, compact.
std::string GoJson(const Json& v) {
  if (v.is_string()) return GoJsonString(v.get_ref<const std::string&>());
  if (v.is_number()) return GoNumber(v);
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + GoJson(v[i]);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    for (auto it = v.begin(); it != v.end(); ++it) {
      out += (it == v.begin() ? "" : ",") + GoJsonString(it.key()) + ":" + GoJson(it.value());
    }
    return out + "}";
  }
  return v.dump();  // null, true, false
}

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

const std::string* StringAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

std::string StringOr(const Json& obj, const char* key) {
  const std::string* s = StringAt(obj, key);
  return s ? *s : "";
}

const Json* ManagedFieldsOf(const Json& obj) {
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return nullptr;
  auto mf = meta->find("managedFields");
  return mf == meta->end() ? nullptr : &*mf;
}

Json WithoutManagedFields(const Json& obj) {
  Json out = obj;
  if (out.is_object() && out.contains("metadata") && out["metadata"].is_object()) {
    out["metadata"].erase("managedFields");
  }
  return out;
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

// ---- The shape of an object: what structured-merge-diff's schema says about each node.

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

struct ListType {
  enum class Kind { kAtomic, kSet, kMap };
  Kind kind = Kind::kAtomic;
  std::vector<std::string> keys;
};

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

struct Comparison {
  FieldSet removed, modified, added;
};

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

// ---- Managers: the decoded metadata.managedFields, keyed by kube's manager identifier.

struct Entry {
  std::string manager;
  std::string operation;
  std::string api_version;
  std::string subresource;
  std::string time;  // "" when the entry has none
  FieldSet set;
};

// BuildManagerIdentifier: the entry as JSON without fields and time, and for appliers without
// apiVersion, so that an applier keeps one entry across versions.
std::string Identifier(const Entry& e) {
  std::string out = "{";
  auto add = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    out += (out.size() > 1 ? "," : "") + GoJsonString(key) + ":" + GoJsonString(value);
  };
  add("manager", e.manager);
  add("operation", e.operation);
  if (e.operation != kApply) add("apiVersion", e.api_version);
  add("subresource", e.subresource);
  return out + "}";
}

using Managers = std::map<std::string, Entry>;

absl::StatusOr<Entry> DecodeEntry(const Json& encoded, size_t i) {
  if (!encoded.is_object()) return absl::InvalidArgumentError("entries must be objects");
  Entry e{StringOr(encoded, "manager"),    StringOr(encoded, "operation"),
          StringOr(encoded, "apiVersion"), StringOr(encoded, "subresource"),
          StringOr(encoded, "time"),       FieldSet()};
  if (e.operation != kApply && e.operation != kUpdate) {
    return absl::InvalidArgumentError("operation must be `Apply` or `Update`");
  }
  if (e.api_version.empty()) return absl::InvalidArgumentError("apiVersion must not be empty");
  std::string type = StringOr(encoded, "fieldsType");
  if (type.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing fieldsType in managed fields entry ", i));
  }
  if (type != "FieldsV1") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid fieldsType ", GoQuote(type), " in managed fields entry ", i));
  }
  auto fields = encoded.find("fieldsV1");
  if (fields != encoded.end() && !fields->is_null()) {
    absl::StatusOr<FieldSet> set = FieldSet::FromFieldsV1(*fields);
    if (!set.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("error decoding set: ", set.status().message()));
    }
    e.set = *std::move(set);
  }
  return e;
}

absl::StatusOr<Managers> DecodeManagers(const Json* encoded) {
  Managers managers;
  if (!encoded || encoded->is_null()) return managers;
  if (!encoded->is_array()) return absl::InvalidArgumentError("managedFields must be a list");
  for (size_t i = 0; i < encoded->size(); ++i) {
    absl::StatusOr<Entry> e = DecodeEntry((*encoded)[i], i);
    if (!e.ok()) return e.status();
    std::string id = Identifier(*e);
    managers[id] = *std::move(e);
  }
  return managers;
}

int64_t UnixSeconds(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  if (rfc3339.empty() || !absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) return 0;
  return absl::ToUnixSeconds(t);
}

// sortEncodedManagedFields: Apply before Update, then oldest first, then by name.
Json EncodeManagers(const Managers& managers) {
  std::vector<const Entry*> entries;
  for (const auto& [id, e] : managers) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](const Entry* p, const Entry* q) {
    return std::make_tuple(p->operation, UnixSeconds(p->time), p->manager, p->api_version,
                           p->subresource) < std::make_tuple(q->operation, UnixSeconds(q->time),
                                                             q->manager, q->api_version,
                                                             q->subresource);
  });
  Json out = Json::array();
  for (const Entry* e : entries) {
    Json entry = {{"manager", e->manager},
                  {"operation", e->operation},
                  {"apiVersion", e->api_version},
                  {"fieldsType", "FieldsV1"},
                  {"fieldsV1", e->set.ToFieldsV1()}};
    if (!e->time.empty()) entry["time"] = e->time;
    if (!e->subresource.empty()) entry["subresource"] = e->subresource;
    out.push_back(std::move(entry));
  }
  return out;
}

void SetManagedFields(Json& obj, const Managers& managers) {
  if (managers.empty()) {
    if (obj.contains("metadata") && obj["metadata"].is_object()) {
      obj["metadata"].erase("managedFields");
    }
    return;
  }
  obj["metadata"]["managedFields"] = EncodeManagers(managers);
}

// stripmeta.go: fields no manager owns.
const FieldSet& StripSet() {
  static const FieldSet* const set = [] {
    auto* s = new FieldSet();
    for (const char* top : {"apiVersion", "kind", "metadata"}) s->Insert({PathElement::Field(top)});
    // deletionTimestamp and deletionGracePeriodSeconds are set by deletes, which kube records in
    // no entry; Berth may hand them to RecordUpdate.
    for (const char* meta :
         {"name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
          "managedFields", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
      s->Insert({PathElement::Field("metadata"), PathElement::Field(meta)});
    }
    return s;
  }();
  return *set;
}

// The part of an object a request manages: the main resource all but status (kube's reset
// fields for a resource with a status subresource), the status subresource only status.
FieldSet Managed(const FieldSet& set, const std::string& subresource) {
  PathElement status = PathElement::Field("status");
  if (subresource.empty()) {
    FieldSet reset;
    reset.Insert({status});
    return set.RecursiveDifference(reset);
  }
  FieldSet out;
  if (set.Has({status})) out.Insert({status});
  if (const FieldSet* below = set.WithPrefix(status)) out.InsertSubtree(status, *below);
  return out;
}

Comparison Managed(const Comparison& c, const std::string& subresource) {
  return {Managed(c.removed, subresource), Managed(c.modified, subresource),
          Managed(c.added, subresource)};
}

Json ManagedPart(const Json& obj, const std::string& subresource) {
  if (!obj.is_object()) return Json::object();
  if (subresource.empty()) {
    Json out = obj;
    out.erase("status");
    return out;
  }
  Json out = Json::object();
  if (obj.contains("status")) out["status"] = obj["status"];
  return out;
}

using ConflictSets = std::vector<std::pair<std::string, FieldSet>>;

// Updater.update: every manager but `self` loses what the change modified or added (conflicts
// unless forced) and what it removed; managers left with nothing are dropped.
ConflictSets TakeOwnership(Managers& managers, const std::string& self, const Comparison& cmp,
                           bool force) {
  FieldSet changed = cmp.modified.Union(cmp.added);
  ConflictSets conflicts;
  for (const auto& [id, e] : managers) {
    if (id == self) continue;
    FieldSet owned = e.set.Intersection(changed);
    if (!owned.Empty()) conflicts.emplace_back(id, std::move(owned));
  }
  if (!force && !conflicts.empty()) return conflicts;
  for (auto& [id, e] : managers) {
    if (id != self) e.set = e.set.Difference(changed).Difference(cmp.removed);
  }
  for (auto it = managers.begin(); it != managers.end();) {
    it = it->second.set.Empty() ? managers.erase(it) : std::next(it);
  }
  return {};
}

struct Context {
  NodeType type;
  std::string subresource;
  std::string now;
  Walker walker;
};

Context MakeContext(const Json* schema, const std::string& subresource, const std::string& now) {
  NodeType root{schema ? NodeType::Mode::kSchema : NodeType::Mode::kStruct, schema, true};
  return {root, subresource, now, Walker()};
}

// managedFieldsUpdater.Update over structured Update: the change is taken as a manager of its
// own, then folded into `self`'s entry, which gets a new timestamp if it took anything.
void RecordChange(Managers& managers, const Json& before, const Json& after, Entry self,
                  Context& ctx) {
  Comparison cmp = Managed(ctx.walker.Compare(before, after, ctx.type), ctx.subresource);
  const std::string current = "current-operation";
  TakeOwnership(managers, current, cmp, /*force=*/true);
  FieldSet set = Managed(cmp.modified.Union(cmp.added), ctx.subresource).Difference(StripSet());
  if (set.Empty()) return;
  std::string id = Identifier(self);
  if (auto it = managers.find(id); it != managers.end()) set = set.Union(it->second.set);
  self.set = std::move(set);
  self.time = ctx.now;
  managers[id] = std::move(self);
}

// capmanagers.go: past kMaxUpdateManagers Update entries, the oldest are folded into one
// "ancient-changes" entry per apiVersion.
void CapUpdateManagers(Managers& managers) {
  std::vector<std::string> updaters;
  for (const auto& [id, e] : managers) {
    if (e.operation == kUpdate) updaters.push_back(id);
  }
  if (updaters.size() <= kMaxUpdateManagers) return;
  std::sort(updaters.begin(), updaters.end(), [&](const std::string& a, const std::string& b) {
    return std::make_pair(UnixSeconds(managers[a].time), a) <
           std::make_pair(UnixSeconds(managers[b].time), b);
  });
  std::map<std::string, std::string> first_of_version;
  size_t length = updaters.size();
  for (size_t i = 0; i < updaters.size() && length > kMaxUpdateManagers; ++i) {
    Entry e = managers[updaters[i]];
    Entry bucket{"ancient-changes", kUpdate, e.api_version, "", "", FieldSet()};
    std::string bucket_id = Identifier(bucket);
    auto first = first_of_version.find(e.api_version);
    if (first == first_of_version.end()) {
      first_of_version[e.api_version] = updaters[i];
      continue;
    }
    if (!managers.count(bucket_id)) {
      bucket.set = managers[first->second].set;
      managers.erase(first->second);
      managers[bucket_id] = bucket;
    }
    managers[bucket_id].set = e.set.Union(managers[bucket_id].set);
    if (updaters[i] != bucket_id) managers.erase(updaters[i]);  // kube would drop the bucket
    --length;
    managers[bucket_id].time = e.time;
  }
}

// Updater.prune: what the applier owned last time and no longer applies goes, unless another
// manager owns it.
Json Prune(const Json& merged, const Managers& managers, const FieldSet* last, Context& ctx) {
  if (!last || last->Empty()) return merged;
  Walker& w = ctx.walker;
  auto remove = [&](const FieldSet& set) {
    return w.Remove(merged, set, ctx.type).value_or(Json::object());
  };
  auto ensure = [&](const FieldSet& set) { return w.EnsureNamedFieldsAreMembers(set, ctx.type); };
  FieldSet last_set = ensure(*last);
  Json pruned = remove(last_set);
  // addBackOwnedItems
  FieldSet managed;
  for (const auto& [id, e] : managers) managed = managed.Union(e.set);
  FieldSet merged_set = ensure(w.ToFieldSet(merged, ctx.type));
  FieldSet pruned_set = ensure(w.ToFieldSet(pruned, ctx.type));
  pruned = remove(merged_set.Difference(pruned_set.Union(ensure(managed))));
  // addBackDanglingItems
  pruned_set = ensure(w.ToFieldSet(pruned, ctx.type));
  return remove(merged_set.Difference(pruned_set).Intersection(last_set));
}

struct ApplyOutcome {
  Json object;
  Managers managers;
  ConflictSets conflicts;
};

// Updater.Apply with stripmeta and managedFieldsUpdater around it.
ApplyOutcome ApplyOnce(const Json& live, const Json& applied, Managers managers, Entry self,
                       bool force, Context& ctx) {
  Json merged = ctx.walker.Merge(&live, &applied, ctx.type);
  std::string id = Identifier(self);
  std::optional<FieldSet> last;
  std::string time;
  if (auto it = managers.find(id); it != managers.end()) {
    last = it->second.set;
    time = it->second.time;
  }
  self.set = Managed(ctx.walker.ToFieldSet(applied, ctx.type), ctx.subresource);
  managers[id] = self;
  merged = Prune(merged, managers, last ? &*last : nullptr, ctx);
  Comparison cmp = Managed(ctx.walker.Compare(live, merged, ctx.type), ctx.subresource);
  ConflictSets conflicts = TakeOwnership(managers, id, cmp, force);
  if (!conflicts.empty()) return {Json(), {}, std::move(conflicts)};
  if (auto it = managers.find(id); it != managers.end()) {
    it->second.set = it->second.set.Difference(StripSet());
    // An apply that changes nothing keeps the entry's timestamp (or has none).
    it->second.time = merged != live ? ctx.now : time;
    if (it->second.set.Empty()) managers.erase(it);
  }
  return {std::move(merged), std::move(managers), {}};
}

// lastappliedmanager.go: conflicts on fields kubectl's client-side apply set, still holding the
// values it recorded, are not conflicts for kubectl's server-side apply.
std::optional<FieldSet> AllowedByLastApplied(const Json& live, const std::string& api_version,
                                             Context& ctx) {
  const Json* annotations = live.contains("metadata") && live["metadata"].is_object() &&
                                    live["metadata"].contains("annotations")
                                ? &live["metadata"]["annotations"]
                                : nullptr;
  const std::string* text = annotations ? StringAt(*annotations, kLastApplied) : nullptr;
  if (!text || text->empty()) return std::nullopt;
  Json last = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (last.is_discarded() || !last.is_object() || StringOr(last, "apiVersion") != api_version) {
    return std::nullopt;
  }
  FieldSet set = ctx.walker.ToFieldSet(last, ctx.type);
  Comparison cmp = ctx.walker.Compare(last, live, ctx.type);
  return set.Difference(cmp.modified).Difference(cmp.added).Difference(cmp.removed);
}

ConflictSets WithoutAllowed(const ConflictSets& conflicts, const FieldSet& allowed) {
  ConflictSets out;
  for (const auto& [id, set] : conflicts) {
    FieldSet rest;
    for (const FieldPath& path : set.Paths()) {
      if (!allowed.Has(path)) rest.Insert(path);
    }
    if (!rest.Empty()) out.emplace_back(id, std::move(rest));
  }
  return out;
}

// lastappliedmanager.go around ApplyOnce: kubectl may take over from its client-side apply.
ApplyOutcome ApplyWithLastApplied(const Json& live, const Json& config, const Managers& managers,
                                  const Entry& self, bool force, Context& ctx) {
  ApplyOutcome outcome = ApplyOnce(live, config, managers, self, force, ctx);
  if (outcome.conflicts.empty() || self.manager != "kubectl") return outcome;
  std::optional<FieldSet> allowed = AllowedByLastApplied(live, self.api_version, ctx);
  if (!allowed) return outcome;
  ConflictSets rest = WithoutAllowed(outcome.conflicts, *allowed);
  if (rest.empty()) return ApplyOnce(live, config, managers, self, /*force=*/true, ctx);
  return {Json(), {}, std::move(rest)};
}

// printManager in kube's conflict.go.
std::string PrintManager(const Entry& e) {
  std::string out = GoQuote(e.manager);
  if (!e.subresource.empty()) out += " with subresource " + GoQuote(e.subresource);
  if (e.operation == kUpdate) out += " using " + e.api_version;
  return out;
}

std::vector<ManagerConflict> ToConflicts(ConflictSets sets, const Managers& managers) {
  std::sort(sets.begin(), sets.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<ManagerConflict> out;
  for (const auto& [id, set] : sets) {
    const Entry& e = managers.at(id);
    for (const FieldPath& path : set.Paths()) {
      out.push_back({e.manager, e.operation, e.api_version, e.subresource, PathString(path),
                     "conflict with " + PrintManager(e)});
    }
  }
  return out;
}

// lastappliedupdater.go: kubectl's server-side apply keeps the client-side annotation current.
void UpdateLastApplied(Json& object, const Json& applied) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return;
  Json& meta = object["metadata"];
  const std::string* current =
      meta.contains("annotations") ? StringAt(meta["annotations"], kLastApplied) : nullptr;
  if (!current || current->empty()) return;
  Json config = applied;
  if (config.contains("metadata") && config["metadata"].contains("annotations") &&
      config["metadata"]["annotations"].is_object()) {
    config["metadata"]["annotations"].erase(kLastApplied);
  }
  meta["annotations"][kLastApplied] = GoJson(config) + "\n";
}

// decodeLiveOrNew: managedFields sent with a main-resource write are kept when valid and
// non-empty, an empty list (or one empty entry) resets them, otherwise the live ones stay.
Managers LiveOrNew(const Json* before, const Json& after, const std::string& subresource) {
  auto live = [&] {
    absl::StatusOr<Managers> m = DecodeManagers(before ? ManagedFieldsOf(*before) : nullptr);
    return m.ok() ? *std::move(m) : Managers();
  };
  if (!subresource.empty()) return live();
  const Json* sent = ManagedFieldsOf(after);
  if (sent && sent->is_array() &&
      (sent->empty() || (sent->size() == 1 && (*sent)[0].is_object() && (*sent)[0].empty()))) {
    return Managers();
  }
  absl::StatusOr<Managers> m = DecodeManagers(sent);
  if (m.ok() && !m->empty()) return *std::move(m);
  return live();
}

Json EmptyObjectLike(const Json& obj) {
  Json out = Json::object();
  for (const char* key : {"apiVersion", "kind"}) {
    if (obj.contains(key)) out[key] = obj[key];
  }
  return out;
}

}  // namespace

// ---- Public API

std::string ApplyResult::ConflictMessage() const {
  if (conflicts.size() == 1) {
    const ManagerConflict& c = conflicts[0];
    return absl::StrCat("Apply failed with 1 conflict: ", c.message, ": ", c.field);
  }
  std::vector<std::string> lines;
  for (size_t i = 0; i < conflicts.size(); ++i) {
    // `message` is "conflict with <manager>"; the heading says "conflicts with <manager>:".
    if (i == 0 || conflicts[i].message != conflicts[i - 1].message) {
      lines.push_back("conflicts" + conflicts[i].message.substr(8) + ":");
    }
    lines.push_back("- " + conflicts[i].field);
  }
  return absl::StrCat("Apply failed with ", conflicts.size(),
                      " conflicts: ", absl::StrJoin(lines, "\n"));
}

Json ApplyResult::ConflictStatus() const {
  Json causes = Json::array();
  for (const ManagerConflict& c : conflicts) {
    causes.push_back(
        {{"type", "FieldManagerConflict"}, {"message", c.message}, {"field", c.field}});
  }
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", Json::object()},
          {"status", "Failure"},
          {"message", ConflictMessage()},
          {"reason", "Conflict"},
          {"details", {{"causes", causes}}},
          {"code", 409}};
}

absl::StatusOr<ApplyResult> Apply(const Json* live, const Json& applied, const std::string& manager,
                                  bool force, const std::string& subresource,
                                  const std::string& now, const Json* schema) {
  if (!applied.is_object()) return absl::InvalidArgumentError("the applied object must be a map");
  if (const Json* sent = ManagedFieldsOf(applied); sent && !sent->is_null()) {
    return absl::InvalidArgumentError("metadata.managedFields must be nil");
  }
  Context ctx = MakeContext(schema, subresource, now);
  std::string name = manager.empty() ? "unknown" : manager;
  std::string api_version = StringOr(applied, "apiVersion");
  Json live_object = live ? WithoutManagedFields(*live) : Json::object();
  absl::StatusOr<Managers> managers = DecodeManagers(live ? ManagedFieldsOf(*live) : nullptr);
  if (!managers.ok()) {
    return absl::InternalError(
        absl::StrCat("failed to decode managed fields: ", managers.status().message()));
  }
  if (live && managers->empty()) {
    // skipnonapplied.go: an object nobody tracked yet is owned by "before-first-apply".
    RecordChange(*managers, EmptyObjectLike(live_object), live_object,
                 {"before-first-apply", kUpdate, api_version, subresource, "", FieldSet()}, ctx);
  }
  Json config = ManagedPart(WithoutManagedFields(applied), subresource);
  Entry self{name, kApply, api_version, subresource, "", FieldSet()};
  ApplyOutcome outcome = ApplyWithLastApplied(live_object, config, *managers, self, force, ctx);
  if (!ctx.walker.status().ok()) return ctx.walker.status();
  ApplyResult result;
  if (!outcome.conflicts.empty()) {
    result.conflicts = ToConflicts(std::move(outcome.conflicts), *managers);
    return result;
  }
  if (name == "kubectl") UpdateLastApplied(outcome.object, applied);
  result.changed = outcome.object != live_object;
  result.object = std::move(outcome.object);
  SetManagedFields(result.object, outcome.managers);
  return result;
}

Json RecordUpdate(const Json* before, const Json& after, const std::string& manager,
                  const std::string& subresource, const std::string& now, const Json* schema) {
  Json result = WithoutManagedFields(after);
  if (!result.is_object()) return result;
  Managers managers = LiveOrNew(before, after, subresource);
  // skipnonapplied.go: an existing object without managedFields is not tracked until applied.
  if (managers.empty() && before != nullptr) return result;
  Context ctx = MakeContext(schema, subresource, now);
  Json base = before ? WithoutManagedFields(*before) : EmptyObjectLike(result);
  Entry self{manager.empty() ? "unknown" : manager,
             kUpdate,
             StringOr(after, "apiVersion"),
             subresource,
             "",
             FieldSet()};
  RecordChange(managers, base, result, std::move(self), ctx);
  if (!ctx.walker.status().ok()) {
    // UpdateNoErrors: keep the stored managedFields rather than lose them.
    const Json* stored = before ? ManagedFieldsOf(*before) : nullptr;
    if (stored) result["metadata"]["managedFields"] = *stored;
    return result;
  }
  CapUpdateManagers(managers);
  SetManagedFields(result, managers);
  return result;
}

std::string ManagerFromUserAgent(std::string_view user_agent) {
  std::string_view prefix = user_agent.substr(0, user_agent.find('/'));
  std::string out;
  for (size_t i = 0, w = 0; i < prefix.size(); i += w) {
    char32_t r = DecodeRune(prefix, i, &w);
    if (!IsPrint(r)) continue;
    // An invalid byte is written as U+FFFD, three bytes, as Go's WriteRune does.
    std::string_view bytes = r == 0xFFFD && w == 1 ? "\xEF\xBF\xBD" : prefix.substr(i, w);
    if (out.size() + bytes.size() > kFieldManagerMaxLength) break;
    out.append(bytes);
  }
  return out;
}

absl::Status ValidateManager(std::string_view manager, std::string_view options_kind,
                             bool apply_patch) {
  std::vector<std::string> errors;
  if (apply_patch && manager.empty()) {
    errors.push_back("fieldManager: Required value: is required for apply patch");
  }
  if (manager.size() > kFieldManagerMaxLength) {
    errors.push_back(absl::StrCat("fieldManager: Too long: must have at most ",
                                  kFieldManagerMaxLength, " bytes"));
  }
  for (size_t i = 0, w = 0; i < manager.size(); i += w) {
    char32_t r = DecodeRune(manager, i, &w);
    if (IsPrint(r)) continue;
    char rune[16];
    std::snprintf(rune, sizeof(rune), "U+%04X", static_cast<unsigned>(r));
    errors.push_back(absl::StrCat("fieldManager: Invalid value: ", GoQuote(manager),
                                  ": invalid character ", rune, " (at position ", i, ")"));
  }
  if (errors.empty()) return absl::OkStatus();
  std::string list = errors.size() == 1 ? errors[0] : "[" + absl::StrJoin(errors, ", ") + "]";
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(options_kind), ".meta.k8s.io \"\" is invalid: ", list));
}

}  // namespace berth::kubeapi

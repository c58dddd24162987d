// Typed views over stored objects: the base of the classes that common/tools/typegen.cc
// generates from manifests/crds/ into berth/types/resources.h (one class per kind, with its spec,
// status, nested objects and string enums), so the CRDs stay the one schema source.
//
// A view holds a pointer to JSON it does not own. Views of `const Json` only read; views of
// `Json` also write (setters are generated for the top level of status, the only part a
// reconciler writes field by field). Reads never throw and never insert: a missing or mistyped
// field reads as its schema default, or as the type's zero.
#ifndef BERTH_TYPES_VIEW_H_
#define BERTH_TYPES_VIEW_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "berth/json.h"

namespace berth::types {

// Names of a generated string enum's values; index 0 is kUnset (absent, or not a known value).
template <typename E>
struct EnumNames;

template <typename E>
std::string_view Name(E value) {
  const auto& names = EnumNames<E>::kNames;
  size_t i = static_cast<size_t>(value);
  return i < std::size(names) ? names[i] : std::string_view();
}

// The value named `name`, or E::kUnset.
template <typename E>
E ParseEnum(std::string_view name) {
  const auto& names = EnumNames<E>::kNames;
  for (size_t i = 1; i < std::size(names); ++i) {
    if (names[i] == name) return static_cast<E>(i);
  }
  return static_cast<E>(0);
}

namespace detail {
// An empty object, for views of fields that are absent.
inline const Json& EmptyObject() {
  static const Json* empty = new Json(Json::object());
  return *empty;
}
inline const Json& EmptyArray() {
  static const Json* empty = new Json(Json::array());
  return *empty;
}
}  // namespace detail

// Base of every generated view: typed, tolerant access to one JSON object's members.
template <typename J>
class ObjectView {
 public:
  static_assert(std::is_same_v<std::remove_const_t<J>, Json>);
  explicit ObjectView(J& json) : j_(&json) {}
  J& json() const { return *j_; }
  bool Has(const char* key) const { return j_->is_object() && j_->contains(key); }

 protected:
  const Json* Member(const char* key) const {
    if (!j_->is_object()) return nullptr;
    auto it = j_->find(key);
    return it == j_->end() ? nullptr : &*it;
  }
  std::string Str(const char* key, const char* fallback = "") const {
    const Json* m = Member(key);
    return m && m->is_string() ? m->template get<std::string>() : fallback;
  }
  bool Bool(const char* key, bool fallback = false) const {
    const Json* m = Member(key);
    return m && m->is_boolean() ? m->template get<bool>() : fallback;
  }
  int64_t Int(const char* key, int64_t fallback = 0) const {
    const Json* m = Member(key);
    return m && m->is_number() ? m->template get<int64_t>() : fallback;
  }
  double Num(const char* key, double fallback = 0) const {
    const Json* m = Member(key);
    return m && m->is_number() ? m->template get<double>() : fallback;
  }
  // The enum value at `key`; `fallback` when absent (a schema default), kUnset when unknown.
  template <typename E>
  E Enum(const char* key, E fallback = static_cast<E>(0)) const {
    const Json* m = Member(key);
    return m && m->is_string() ? ParseEnum<E>(m->template get_ref<const std::string&>()) : fallback;
  }
  // The member object (or array) `key`; an empty one when absent or of another type.
  const Json& Object(const char* key) const {
    const Json* m = Member(key);
    return m && m->is_object() ? *m : detail::EmptyObject();
  }
  const Json& Array(const char* key) const {
    const Json* m = Member(key);
    return m && m->is_array() ? *m : detail::EmptyArray();
  }
  std::vector<std::string> Strings(const char* key) const {
    std::vector<std::string> out;
    for (const Json& v : Array(key)) {
      if (v.is_string()) out.push_back(v.template get<std::string>());
    }
    return out;
  }
  template <typename View>
  std::vector<View> Items(const char* key) const {
    std::vector<View> out;
    for (const Json& v : Array(key)) out.emplace_back(v);
    return out;
  }

  // Writers (J = Json only).
  template <typename V>
  void Set(const char* key, V&& value) const {
    (*j_)[key] = std::forward<V>(value);
  }
  template <typename E>
  void SetEnum(const char* key, E value) const {
    if (value == static_cast<E>(0)) {
      Erase(key);
    } else {
      (*j_)[key] = std::string(Name(value));
    }
  }
  void Erase(const char* key) const {
    if (j_->is_object()) j_->erase(key);
  }

 private:
  J* j_;
};

// One entry of status.conditions.
class Condition : public ObjectView<const Json> {
 public:
  using ObjectView::ObjectView;
  bool exists() const { return Has("type"); }
  std::string type() const { return Str("type"); }
  std::string status() const { return Str("status"); }
  bool is_true() const { return status() == "True"; }
  std::string reason() const { return Str("reason"); }
  std::string message() const { return Str("message"); }
  std::string last_transition_time() const { return Str("lastTransitionTime"); }
};

// status.conditions.
class Conditions {
 public:
  explicit Conditions(const Json& array) : a_(&array) {}
  // The condition of `type`; !exists() when there is none.
  Condition Get(std::string_view type) const {
    if (a_->is_array()) {
      for (const Json& c : *a_) {
        if (c.is_object() && c.value("type", "") == type) return Condition(c);
      }
    }
    return Condition(detail::EmptyObject());
  }
  bool IsTrue(std::string_view type) const { return Get(type).is_true(); }

 private:
  const Json* a_;
};

// metadata.
class ObjectMeta : public ObjectView<const Json> {
 public:
  using ObjectView::ObjectView;
  std::string name() const { return Str("name"); }
  std::string namespace_() const { return Str("namespace"); }
  std::string uid() const { return Str("uid"); }
  int64_t generation() const { return Int("generation"); }
  std::string resource_version() const { return Str("resourceVersion"); }
  std::string creation_timestamp() const { return Str("creationTimestamp"); }
  bool deleting() const { return Has("deletionTimestamp"); }
  const Json& labels() const { return Object("labels"); }
  const Json& annotations() const { return Object("annotations"); }
  bool HasAnnotation(const char* key) const { return annotations().contains(key); }
  // The annotation's value; empty when absent.
  std::string annotation(const char* key) const {
    const Json& a = annotations();
    auto it = a.find(key);
    return it != a.end() && it->is_string() ? it->get<std::string>() : std::string();
  }
  std::vector<std::string> finalizers() const { return Strings("finalizers"); }
  bool HasFinalizer(std::string_view f) const {
    for (const Json& v : Array("finalizers")) {
      if (v.is_string() && v.get_ref<const std::string&>() == f) return true;
    }
    return false;
  }
  const Json& owner_references() const { return Array("ownerReferences"); }
};

// Base of every generated kind: the object and its metadata.
template <typename J>
class ResourceView : public ObjectView<J> {
 public:
  using ObjectView<J>::ObjectView;
  ObjectMeta metadata() const { return ObjectMeta(this->Object("metadata")); }
  std::string name() const { return metadata().name(); }
  std::string namespace_() const { return metadata().namespace_(); }
  std::string uid() const { return metadata().uid(); }
  bool deleting() const { return metadata().deleting(); }
  std::string kind() const { return this->Str("kind"); }
};

}  // namespace berth::types

#endif  // BERTH_TYPES_VIEW_H_

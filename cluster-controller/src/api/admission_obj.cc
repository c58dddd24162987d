// Obj: the typed, error-collecting reader over one JSON object (see admission_internal.h).
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/admission_internal.h"
#include "berth/quantity.h"

namespace berth::controller::admission_internal {

void Obj::Error(const std::string& key, const std::string& problem) {
  errs_.Add(Path(key), problem);
}

void Obj::Allow(std::initializer_list<const char*> known) {
  for (auto it = obj_.begin(); it != obj_.end(); ++it) {
    bool found =
        std::any_of(known.begin(), known.end(), [&](const char* k) { return it.key() == k; });
    if (!found) {
      Error(it.key(),
            absl::StrCat("unknown field (supported fields: ", absl::StrJoin(known, ", "), ")"));
    }
  }
}

Json* Obj::Typed(const char* key, Json::value_t t, const char* type_name, Need need) {
  auto it = obj_.find(key);
  if (it == obj_.end()) {
    if (need == Need::kRequired) Error(key, kRequired);
    return nullptr;
  }
  bool ok = it->type() == t;
  if (t == Json::value_t::number_integer) ok = it->is_number_integer();
  if (!ok) {
    Error(key, WrongType(type_name, *it));
    return nullptr;
  }
  return &*it;
}

const std::string* Obj::Str(const char* key, Need need) {
  Json* v = Typed(key, Json::value_t::string, "string", need);
  if (v == nullptr) return nullptr;
  const std::string* s = &v->get_ref<const std::string&>();
  if (need == Need::kRequired && s->empty()) {
    Error(key, kRequired);
    return nullptr;
  }
  return s;
}

const std::string* Obj::Name(const char* key, NameRule rule, Need need) {
  const std::string* s = Str(key, need);
  if (s == nullptr) return nullptr;
  std::string problem = CheckName(*s, rule);
  if (!problem.empty()) {
    Error(key, InvalidValue(*s, problem));
    return nullptr;
  }
  return s;
}

const std::string* Obj::Enum(const char* key, const Strings& allowed, Need need,
                             const char* fallback) {
  if (fallback != nullptr && !obj_.contains(key)) obj_[key] = fallback;
  const std::string* s = Str(key, need);
  if (s == nullptr) return nullptr;
  if (std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
    Error(key, Unsupported(*s, allowed));
    return nullptr;
  }
  return s;
}

std::optional<bool> Obj::Bool(const char* key, std::optional<bool> fallback) {
  if (fallback.has_value() && !obj_.contains(key)) obj_[key] = *fallback;
  Json* v = Typed(key, Json::value_t::boolean, "boolean", Need::kOptional);
  if (v == nullptr) return std::nullopt;
  return v->get<bool>();
}

std::optional<int64_t> Obj::Int(const char* key, Need need, int64_t min) {
  Json* v = Typed(key, Json::value_t::number_integer, "integer", need);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    Error(key, "Invalid value: too large");
    return std::nullopt;
  }
  int64_t n = v->get<int64_t>();
  if (n < min) {
    Error(key, absl::StrCat("Invalid value ", n, ": must be greater than or equal to ", min));
    return std::nullopt;
  }
  return n;
}

std::optional<uint64_t> Obj::Quantity(const char* key, Need need) {
  auto it = obj_.find(key);
  if (it == obj_.end()) {
    if (need == Need::kRequired) Error(key, kRequired);
    return std::nullopt;
  }
  std::string text;
  if (it->is_string()) {
    text = it->get<std::string>();
  } else if (it->is_number_integer()) {
    text = it->dump();
  } else {
    Error(key, WrongType("quantity (string or integer)", *it));
    return std::nullopt;
  }
  absl::StatusOr<uint64_t> bytes = ParseQuantity(text);
  if (!bytes.ok()) {
    Error(key, InvalidValue(text, absl::StrCat("must be a quantity such as 10Gi or 512Mi (",
                                               bytes.status().message(), ")")));
    return std::nullopt;
  }
  if (*bytes == 0) {
    Error(key, InvalidValue(text, "must be greater than zero"));
    return std::nullopt;
  }
  return *bytes;
}

std::optional<Obj> Obj::Sub(const char* key, Need need) {
  if (need == Need::kDefault && !obj_.contains(key)) obj_[key] = Json::object();
  Json* v = Typed(key, Json::value_t::object, "object", need);
  if (v == nullptr) return std::nullopt;
  return Obj(*v, Path(key), errs_);
}

Json* Obj::Array(const char* key, Need need, size_t max_items) {
  Json* v = Typed(key, Json::value_t::array, "array", need);
  if (v == nullptr) return nullptr;
  if (need == Need::kRequired && v->empty()) {
    Error(key, "Required value: must have at least 1 item");
    return nullptr;
  }
  if (v->size() > max_items) {
    Error(key, absl::StrCat("Too many: ", v->size(), ": must have at most ", max_items, " items"));
    return nullptr;
  }
  return v;
}

void Obj::StringMap(const char* key) {
  Json* v = Typed(key, Json::value_t::object, "object", Need::kOptional);
  if (v == nullptr) return;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it->is_string()) {
      errs_.Add(JoinPath(Path(key), it.key()), WrongType("string", *it));
    }
  }
}

void Obj::AnyArray(const char* key) {
  Json* v = Typed(key, Json::value_t::array, "array", Need::kOptional);
  if (v == nullptr) return;
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_object()) errs_.Add(IndexPath(Path(key), i), WrongType("object", (*v)[i]));
  }
}

}  // namespace berth::controller::admission_internal

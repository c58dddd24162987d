#include "berth/schema.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/manifest.h"

namespace berth::schema {

// Defined in the generated crd_bundle.cc (common/cmake/embed_crds.cmake).
const std::vector<std::string_view>& EmbeddedCrdTexts();

namespace {

std::vector<std::string> Strings(const Json& arr) {
  std::vector<std::string> out;
  if (!arr.is_array()) return out;
  for (const Json& s : arr) out.push_back(s.get<std::string>());
  return out;
}

KindSchema FromCrd(const Json& crd) {
  const Json& spec = crd.at("spec");
  const Json& names = spec.at("names");
  const Json& version = spec.at("versions").at(0);
  KindSchema k;
  k.group = spec.at("group").get<std::string>();
  k.version = version.at("name").get<std::string>();
  k.kind = names.at("kind").get<std::string>();
  k.list_kind = names.value("listKind", k.kind + "List");
  k.plural = names.at("plural").get<std::string>();
  k.singular = names.value("singular", "");
  k.short_names = Strings(names.value("shortNames", Json::array()));
  k.categories = Strings(names.value("categories", Json::array()));
  k.namespaced = spec.value("scope", "Namespaced") == "Namespaced";
  k.status_subresource =
      version.contains("subresources") && version["subresources"].contains("status");
  for (const Json& c : version.value("additionalPrinterColumns", Json::array())) {
    k.columns.push_back(PrinterColumn{c.value("name", ""), c.value("type", "string"),
                                      c.value("format", ""), c.value("description", ""),
                                      c.value("jsonPath", ""), c.value("priority", 0)});
  }
  k.open_api_v3 = version.at("schema").at("openAPIV3Schema");
  k.crd = crd;
  return k;
}

std::vector<KindSchema>* LoadKinds() {
  auto* kinds = new std::vector<KindSchema>();
  for (std::string_view text : EmbeddedCrdTexts()) {
    absl::StatusOr<std::vector<Json>> docs = ParseManifests(text);
    if (!docs.ok()) {
      std::fprintf(stderr, "embedded CRD does not parse: %s\n", docs.status().ToString().c_str());
      std::abort();
    }
    for (const Json& d : *docs) kinds->push_back(FromCrd(d));
  }
  std::sort(kinds->begin(), kinds->end(),
            [](const KindSchema& a, const KindSchema& b) { return a.kind < b.kind; });
  return kinds;
}

bool Preserves(const Json& s) { return s.value("x-kubernetes-preserve-unknown-fields", false); }

std::string Quoted(const Json& v) { return v.dump(); }

class Validator {
 public:
  explicit Validator(bool report_unknown) : report_unknown_(report_unknown) {}

  void Check(const Json& s, const Json& v, const std::string& path) {
    if (s.value("x-kubernetes-int-or-string", false)) {
      if (!v.is_number_integer() && !v.is_string()) {
        Add(FieldError::Type::kTypeInvalid, path, "must be an integer or a string");
      } else if (v.is_string()) {
        CheckString(s, v, path);
      }
      return;
    }
    if (v.is_null() && s.value("nullable", false)) return;
    std::string type = s.value("type", "");
    if (type == "object") {
      CheckObject(s, v, path);
    } else if (type == "array") {
      if (!v.is_array()) return TypeError(path, v, "array");
      if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) {
        Add(FieldError::Type::kTooMany, path,
            absl::StrCat("must have at most ", s["maxItems"].get<size_t>(), " items"));
      }
      if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) {
        Add(FieldError::Type::kInvalid, path,
            absl::StrCat("should have at least ", s["minItems"].get<size_t>(), " items"));
      }
      for (size_t i = 0; i < v.size() && s.contains("items"); ++i) {
        Check(s["items"], v[i], absl::StrCat(path, "[", i, "]"));
      }
    } else if (type == "string") {
      if (!v.is_string()) return TypeError(path, v, "string");
      CheckString(s, v, path);
    } else if (type == "integer" || type == "number") {
      if (type == "integer" ? !v.is_number_integer() : !v.is_number()) {
        return TypeError(path, v, type);
      }
      if (s.contains("minimum") && v.get<double>() < s["minimum"].get<double>()) {
        Add(FieldError::Type::kInvalid, path,
            absl::StrCat("Invalid value: ", Quoted(v), ": should be greater than or equal to ",
                         s["minimum"].dump()));
      }
      if (s.contains("maximum") && v.get<double>() > s["maximum"].get<double>()) {
        Add(FieldError::Type::kInvalid, path,
            absl::StrCat("Invalid value: ", Quoted(v), ": should be less than or equal to ",
                         s["maximum"].dump()));
      }
    } else if (type == "boolean") {
      if (!v.is_boolean()) TypeError(path, v, "boolean");
    }
  }

  std::vector<FieldError> errors;

 private:
  void Add(FieldError::Type t, const std::string& path, std::string detail) {
    errors.push_back(FieldError{t, path, std::move(detail)});
  }

  void TypeError(const std::string& path, const Json& v, const std::string& want) {
    Add(FieldError::Type::kTypeInvalid, path,
        absl::StrCat("Invalid value: \"", v.type_name(), "\": ", path, " in body must be of type ",
                     want, ": \"", v.type_name(), "\""));
  }

  void CheckObject(const Json& s, const Json& v, const std::string& path) {
    if (!v.is_object()) return TypeError(path, v, "object");
    const Json props = s.value("properties", Json::object());
    for (const Json& r : s.value("required", Json::array())) {
      if (!v.contains(r.get<std::string>())) {
        Add(FieldError::Type::kRequired, Join(path, r.get<std::string>()), "Required value");
      }
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string sub = Join(path, it.key());
      if (path.empty() && it.key() == "metadata") continue;  // the server checks metadata
      if (props.contains(it.key())) {
        Check(props[it.key()], *it, sub);
      } else if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
        Check(s["additionalProperties"], *it, sub);
      } else if (report_unknown_ && !Preserves(s) &&
                 !(path.empty() && (it.key() == "apiVersion" || it.key() == "kind"))) {
        Add(FieldError::Type::kUnknown, sub, "field not declared in schema");
      }
    }
  }

  void CheckString(const Json& s, const Json& v, const std::string& path) {
    const std::string& str = v.get_ref<const std::string&>();
    if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) {
      std::vector<std::string> allowed;
      for (const Json& e : s["enum"]) allowed.push_back(e.dump());
      Add(FieldError::Type::kNotSupported, path,
          absl::StrCat("Unsupported value: ", Quoted(v),
                       ": supported values: ", absl::StrJoin(allowed, ", ")));
    }
    if (s.contains("maxLength") && str.size() > s["maxLength"].get<size_t>()) {
      Add(FieldError::Type::kTooLong, path,
          absl::StrCat("Too long: may not be longer than ", s["maxLength"].get<size_t>()));
    }
    if (s.contains("minLength") && str.size() < s["minLength"].get<size_t>()) {
      Add(FieldError::Type::kInvalid, path,
          absl::StrCat("Invalid value: ", Quoted(v), ": ", path, " in body should be at least ",
                       s["minLength"].get<size_t>(), " chars long"));
    }
    if (s.contains("pattern") &&
        !std::regex_search(str, std::regex(s["pattern"].get<std::string>()))) {
      Add(FieldError::Type::kInvalid, path,
          absl::StrCat("Invalid value: ", Quoted(v), ": ", path, " in body should match '",
                       s["pattern"].get<std::string>(), "'"));
    }
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  bool report_unknown_;
};

void PruneInto(const Json& s, Json& v, const std::string& path, std::vector<std::string>& out) {
  if (Preserves(s) || s.value("x-kubernetes-int-or-string", false)) return;
  if (v.is_object() && s.value("type", "") == "object") {
    const Json props = s.value("properties", Json::object());
    bool additional = s.contains("additionalProperties") && s["additionalProperties"].is_object();
    for (auto it = v.begin(); it != v.end();) {
      std::string sub = path.empty() ? it.key() : path + "." + it.key();
      bool top_meta = path.empty() &&
                      (it.key() == "metadata" || it.key() == "apiVersion" || it.key() == "kind");
      if (top_meta) {
        ++it;
      } else if (props.contains(it.key())) {
        PruneInto(props[it.key()], *it, sub, out);
        ++it;
      } else if (additional) {
        PruneInto(s["additionalProperties"], *it, sub, out);
        ++it;
      } else {
        out.push_back(sub);
        it = v.erase(it);
      }
    }
  } else if (v.is_array() && s.contains("items")) {
    for (size_t i = 0; i < v.size(); ++i) {
      PruneInto(s["items"], v[i], absl::StrCat(path, "[", i, "]"), out);
    }
  }
}

}  // namespace

const std::vector<KindSchema>& Kinds() {
  static const std::vector<KindSchema>* kinds = LoadKinds();
  return *kinds;
}

const KindSchema* Find(std::string_view kind) {
  for (const KindSchema& k : Kinds()) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

std::string FieldError::Reason() const {
  switch (type) {
    case Type::kRequired:
      return "FieldValueRequired";
    case Type::kNotSupported:
      return "FieldValueNotSupported";
    case Type::kInvalid:
      return "FieldValueInvalid";
    case Type::kTypeInvalid:
      return "FieldValueTypeInvalid";
    case Type::kTooLong:
      return "FieldValueTooLong";
    case Type::kTooMany:
      return "FieldValueTooMany";
    case Type::kUnknown:
      return "FieldValueInvalid";
  }
  return "FieldValueInvalid";
}

std::string FieldError::Message() const { return field + ": " + detail; }

std::vector<FieldError> Validate(const Json& schema, const Json& value, bool report_unknown) {
  Validator v(report_unknown);
  v.Check(schema, value, "");
  return std::move(v.errors);
}

void ApplyDefaults(const Json& s, Json& v) {
  if (v.is_object() && s.contains("properties")) {
    for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
      if (!v.contains(it.key()) && it->contains("default")) v[it.key()] = (*it)["default"];
      if (v.contains(it.key())) ApplyDefaults(*it, v[it.key()]);
    }
  } else if (v.is_array() && s.contains("items")) {
    for (Json& item : v) ApplyDefaults(s["items"], item);
  }
}

std::vector<std::string> Prune(const Json& schema, Json& value) {
  std::vector<std::string> out;
  PruneInto(schema, value, "", out);
  return out;
}

}  // namespace berth::schema

#include "berth/manifest.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace berth {
namespace {

bool LooksLikeInt(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// Converts a YAML scalar by YAML 1.2 core-schema rules, honouring quoted strings.
Json ScalarToJson(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s == "null" || s == "~" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (LooksLikeInt(s)) return std::stoll(s);
  if (!s.empty() && (isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.')) {
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == '\0' && s.find_first_of(".eE") != std::string::npos) return d;
  }
  return s;
}

absl::StatusOr<Json> NodeToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : node) {
        auto v = NodeToJson(item);
        if (!v.ok()) return v.status();
        arr.push_back(*std::move(v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", kv.first.Mark().line + 1, ": mapping keys must be scalars"));
        }
        auto v = NodeToJson(kv.second);
        if (!v.ok()) return v.status();
        obj[kv.first.Scalar()] = *std::move(v);
      }
      return obj;
    }
  }
  return Json(nullptr);
}

void AppendItems(const Json& doc, std::vector<Json>& out) {
  if (doc.is_object() && doc.value("kind", "") == "List" && doc.contains("items") &&
      doc["items"].is_array()) {
    for (const Json& item : doc["items"]) out.push_back(item);
  } else {
    out.push_back(doc);
  }
}

}  // namespace

absl::StatusOr<std::vector<Json>> ParseManifests(std::string_view text) {
  std::vector<Json> out;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return absl::InvalidArgumentError("manifest: invalid JSON");
    if (doc.is_array()) {
      for (const Json& item : doc) out.push_back(item);
    } else {
      AppendItems(doc, out);
    }
    return out;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: invalid YAML at line ",
                                                   e.mark.line + 1, ", column ", e.mark.column + 1,
                                                   ": ", e.msg));
  }
  for (size_t i = 0; i < docs.size(); ++i) {
    if (docs[i].IsNull()) continue;
    auto doc = NodeToJson(docs[i]);
    if (!doc.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest document ", i + 1, ": ", doc.status().message()));
    }
    if (!doc->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest document ", i + 1, ": expected a mapping (an object)"));
    }
    AppendItems(*doc, out);
  }
  return out;
}

namespace {

void EmitJson(YAML::Emitter& e, const Json& v) {
  if (v.is_object()) {
    e << YAML::BeginMap;
    for (auto it = v.begin(); it != v.end(); ++it) {
      e << YAML::Key << it.key() << YAML::Value;
      EmitJson(e, it.value());
    }
    e << YAML::EndMap;
  } else if (v.is_array()) {
    e << YAML::BeginSeq;
    for (const Json& item : v) EmitJson(e, item);
    e << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    // Quote strings that would otherwise read back as another type.
    Json back = ScalarToJson(YAML::Load(s.empty() ? "''" : s));
    bool needs_quotes = s.empty() || !back.is_string() || back.get<std::string>() != s;
    if (needs_quotes) {
      e << YAML::DoubleQuoted << s;
    } else {
      e << s;
    }
  } else if (v.is_null()) {
    e << YAML::Null;
  } else {
    e << v.dump();
  }
}

}  // namespace

std::string ToYaml(const Json& value) {
  YAML::Emitter e;
  EmitJson(e, value);
  return std::string(e.c_str()) + "\n";
}

}  // namespace berth

#include "controllers/common/placement.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::controller {

NodeSelector SelectorFrom(const Json& selector) {
  NodeSelector out;
  if (!selector.is_object()) return out;
  for (const auto& [k, v] : selector.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::optional<std::string> Unmatched(const std::string& node_name,
                                     const std::map<std::string, std::string>& labels,
                                     const NodeSelector& selector) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    std::string have = it != labels.end() ? it->second : "";
    if (key == kHostnameLabel && it == labels.end()) have = node_name;
    if (have != value) return absl::StrCat(key, "=", value);
  }
  return std::nullopt;
}

std::optional<std::string> Unmatched(const Json& node, const NodeSelector& selector) {
  std::map<std::string, std::string> labels =
      SelectorFrom(node.value(Json::json_pointer("/metadata/labels"), Json::object()));
  return Unmatched(node.value(Json::json_pointer("/metadata/name"), std::string()), labels,
                   selector);
}

std::string SelectorString(const NodeSelector& selector) {
  return absl::StrJoin(selector, ",", absl::PairFormatter("="));
}

}  // namespace berth::controller

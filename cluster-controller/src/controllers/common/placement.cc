#include "controllers/common/placement.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::controller {
namespace {

std::string Str(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> Values(const Json& expr) {
  std::vector<std::string> out;
  auto it = expr.find("values");
  if (it == expr.end() || !it->is_array()) return out;
  for (const Json& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// One matchExpressions / matchFields entry against the node.
bool ExpressionMatches(const Json& expr, const std::map<std::string, std::string>& fields) {
  if (!expr.is_object()) return false;
  const std::string key = Str(expr, "key"), op = Str(expr, "operator");
  auto it = fields.find(key);
  const bool has = it != fields.end();
  std::vector<std::string> values = Values(expr);
  auto in = [&] {
    for (const std::string& v : values) {
      if (has && v == it->second) return true;
    }
    return false;
  };
  if (op == "In") return in();
  if (op == "NotIn") return !in();
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  if (op == "Gt" || op == "Lt") {
    int64_t have = 0, want = 0;
    if (!has || values.size() != 1 || !absl::SimpleAtoi(it->second, &have) ||
        !absl::SimpleAtoi(values[0], &want)) {
      return false;
    }
    return op == "Gt" ? have > want : have < want;
  }
  return false;  // an operator Kubernetes does not know matches nothing
}

bool TermMatches(const Json& term, const std::string& name,
                 const std::map<std::string, std::string>& labels) {
  if (!term.is_object()) return false;
  bool any = false;
  for (const Json& e : term.value("matchExpressions", Json::array())) {
    any = true;
    if (!ExpressionMatches(e, labels)) return false;
  }
  for (const Json& e : term.value("matchFields", Json::array())) {
    any = true;
    if (!ExpressionMatches(e, {{"metadata.name", name}})) return false;
  }
  return any;  // an empty term matches nothing, as in Kubernetes
}

bool Tolerates(const Json& tolerations, const Json& taint) {
  const std::string key = Str(taint, "key"), value = Str(taint, "value"),
                    effect = Str(taint, "effect");
  for (const Json& t : tolerations) {
    if (!t.is_object()) continue;
    const std::string op = Str(t, "operator").empty() ? "Equal" : Str(t, "operator");
    if (!Str(t, "effect").empty() && Str(t, "effect") != effect) continue;
    if (Str(t, "key").empty()) {
      if (op == "Exists") return true;  // tolerates everything (of that effect)
      continue;
    }
    if (Str(t, "key") != key) continue;
    if (op == "Exists" || Str(t, "value") == value) return true;
  }
  return false;
}

}  // namespace

NodeSelector SelectorFrom(const Json& selector) {
  NodeSelector out;
  if (!selector.is_object()) return out;
  for (const auto& [k, v] : selector.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

NodeConstraints NodeConstraints::Of(const Json& vm_spec) {
  NodeConstraints c;
  if (!vm_spec.is_object()) return c;
  c.selector = SelectorFrom(vm_spec.value("nodeSelector", Json::object()));
  const Json& terms = vm_spec.value(
      Json::json_pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/"
                         "nodeSelectorTerms"),
      Json::array());
  if (terms.is_array()) c.terms = terms;
  const Json& tolerations = vm_spec.value("tolerations", Json::array());
  if (tolerations.is_array()) c.tolerations = tolerations;
  return c;
}

std::string NodeConstraints::Describe() const {
  std::vector<std::string> parts;
  if (!selector.empty()) parts.push_back(SelectorString(selector));
  if (!terms.empty()) parts.push_back(absl::StrCat("nodeAffinity ", terms.dump()));
  return absl::StrJoin(parts, "; ");
}

std::optional<std::string> Unmet(const std::string& node_name,
                                 const std::map<std::string, std::string>& labels,
                                 const Json& taints, const NodeConstraints& c, bool running) {
  std::map<std::string, std::string> with_host = labels;
  with_host.emplace(kHostnameLabel, node_name);
  for (const auto& [key, value] : c.selector) {
    auto it = with_host.find(key);
    if (it == with_host.end() || it->second != value) return absl::StrCat(key, "=", value);
  }
  if (!c.terms.empty()) {
    bool any = false;
    for (const Json& term : c.terms) any = any || TermMatches(term, node_name, with_host);
    if (!any) return std::string("no nodeAffinity term matches");
  }
  if (taints.is_array()) {
    for (const Json& taint : taints) {
      if (!taint.is_object()) continue;
      const std::string effect = Str(taint, "effect");
      if (effect != "NoExecute" && (running || effect != "NoSchedule")) continue;
      if (!Tolerates(c.tolerations, taint)) {
        return absl::StrCat("taint ", Str(taint, "key"), Str(taint, "value").empty() ? "" : "=",
                            Str(taint, "value"), ":", effect, " not tolerated");
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> Unmet(const Json& node, const NodeConstraints& c, bool running) {
  std::map<std::string, std::string> labels =
      SelectorFrom(node.value(Json::json_pointer("/metadata/labels"), Json::object()));
  return Unmet(node.value(Json::json_pointer("/metadata/name"), std::string()), labels,
               node.value(Json::json_pointer("/spec/taints"), Json::array()), c, running);
}

std::string SelectorString(const NodeSelector& selector) {
  return absl::StrJoin(selector, ",", absl::PairFormatter("="));
}

}  // namespace berth::controller

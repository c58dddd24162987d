// Admission for the supporting kinds: NodeUSBDevice, USBDevice, Secret, Node.
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/admission_internal.h"

namespace berth::controller::admission_internal {
namespace {

// Kubernetes secret keys: [-._a-zA-Z0-9]+, at most 253 characters.
bool IsSecretKey(const std::string& key) {
  if (key.empty() || key.size() > 253 || key == "." || key == "..") return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Checks a map of secret keys to strings; base64 says whether the values must be base64.
void CheckSecretMap(Obj& top, const char* key, bool base64) {
  Json* map = top.Typed(key, Json::value_t::object, "object", Need::kOptional);
  if (map == nullptr) return;
  for (auto it = map->begin(); it != map->end(); ++it) {
    std::string path = JoinPath(top.Path(key), it.key());
    if (!IsSecretKey(it.key())) {
      top.Error(key, InvalidValue(it.key(),
                                  "a valid secret key must consist of alphanumeric "
                                  "characters, '-', '_' or '.'"));
    } else if (!it->is_string()) {
      top.errs().Add(path, WrongType("string", *it));
    } else if (base64 && !IsBase64(it->get_ref<const std::string&>())) {
      top.errs().Add(path, "Invalid value: must be base64-encoded (use stringData for plain text)");
    }
  }
}

// Folds stringData into data as Kubernetes does on write: stringData wins on a shared key.
void MergeStringData(Json& secret) {
  auto sd = secret.find("stringData");
  if (sd == secret.end()) return;
  Json& data = secret["data"];
  if (data.is_null()) data = Json::object();
  for (auto it = sd->begin(); it != sd->end(); ++it) {
    data[it.key()] = absl::Base64Escape(it->get<std::string>());
  }
  secret.erase("stringData");
}

}  // namespace

void ValidateNodeUSBDevice(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kOptional);
  if (!spec) return;
  spec->Allow({"assignedNamespace"});
  const std::string* ns = spec->Str("assignedNamespace", Need::kOptional);
  if (ns != nullptr && !ns->empty()) {  // "" means unassigned
    std::string problem = CheckName(*ns, NameRule::kLabel);
    if (!problem.empty()) spec->Error("assignedNamespace", InvalidValue(*ns, problem));
  }
}

void ValidateUSBDevice(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kOptional);
  if (spec && !spec->json().empty()) {
    top.Error("spec",
              "Forbidden: USBDevice is status-only and has no spec fields: assign a "
              "device through NodeUSBDevice spec.assignedNamespace");
  }
}

void ValidateSecret(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"});
  if (!top.Has("type")) top.json()["type"] = "Opaque";
  top.Str("type", Need::kOptional);
  top.Bool("immutable");
  CheckSecretMap(top, "data", /*base64=*/true);
  CheckSecretMap(top, "stringData", /*base64=*/false);
  if (top.errs().empty()) MergeStringData(top.json());
}

void ValidateEvent(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "involvedObject", "type", "reason", "message",
             "source", "firstTimestamp", "lastTimestamp", "count"});
  std::optional<Obj> involved = top.Sub("involvedObject", Need::kRequired);
  if (involved) {
    involved->Allow({"apiVersion", "kind", "namespace", "name", "uid"});
    involved->Str("kind", Need::kRequired);
    involved->Str("name", Need::kRequired);
    // References never cross namespaces: an Event describes an object of its own namespace
    // (or a cluster-scoped one, which has none).
    const Json* ns = Member(involved->json(), "namespace");
    std::string own = JsonString(top.json(), "/metadata/namespace");
    if (ns != nullptr && ns->is_string() && !ns->get<std::string>().empty() &&
        ns->get<std::string>() != own) {
      involved->Error("namespace",
                      absl::StrCat("Forbidden: must be the Event's own namespace \"", own,
                                   "\" (cross-namespace references are refused)"));
    }
  }
  top.Enum("type", {"Normal", "Warning"}, Need::kOptional, "Normal");
  top.Str("reason", Need::kOptional);
  top.Str("message", Need::kOptional);
}

void CheckSecretUpdate(const Json& incoming, const Json& existing, Errors& errs) {
  if (!SameAt(incoming, existing, "type")) errs.Add("type", kImmutable);
  const Json* was_immutable = Member(existing, "immutable");
  if (was_immutable == nullptr || *was_immutable != true) return;
  if (!SameAt(incoming, existing, "data")) {
    errs.Add("data", "field is immutable when `immutable` is set");
  }
  if (!SameAt(incoming, existing, "immutable")) {
    errs.Add("immutable", "field is immutable when `immutable` is set");
  }
}

void ValidateNode(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  top.AnyObject("spec");  // free-form: the agent's registration details
  if (std::optional<Obj> spec = top.Sub("spec", Need::kOptional)) {
    spec->Bool("unschedulable");  // berth node cordon
  }
}

}  // namespace berth::controller::admission_internal

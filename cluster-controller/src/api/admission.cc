// Admit: kind and apiVersion, metadata, per-kind dispatch, update checks, error formatting.
//
// Incoming `status` is dropped: status belongs to the controllers, which write it through their
// own path, so a client can neither create nor change it (an applied `get -o yaml` round-trips).
// Null members are pruned first, as Kubernetes does, so `field: null` equals an absent field.
#include "berth/controller/admission.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/admission_internal.h"
#include "berth/kinds.h"

namespace berth::controller {
namespace {

using admission_internal::Errors;
using admission_internal::NameRule;
using admission_internal::Need;
using admission_internal::Obj;

struct KindRules {
  const char* kind;
  NameRule name_rule;
  void (*validate)(Obj& top);
  void (*check_update)(const Json& incoming, const Json& existing, Errors& errs);
};

const KindRules* FindRules(const std::string& kind) {
  namespace ai = admission_internal;
  static const KindRules kRules[] = {
      {"VirtualDisk", NameRule::kLabel, ai::ValidateVirtualDisk, ai::CheckVirtualDiskUpdate},
      {"VirtualDiskSnapshot", NameRule::kSubdomain, ai::ValidateVirtualDiskSnapshot,
       ai::CheckSpecImmutable},
      {"VirtualMachine", NameRule::kLabel, ai::ValidateVirtualMachine, nullptr},
      {"VirtualMachineSnapshot", NameRule::kSubdomain, ai::ValidateVirtualMachineSnapshot,
       ai::CheckSpecImmutable},
      {"VirtualMachineOperation", NameRule::kSubdomain, ai::ValidateVirtualMachineOperation,
       ai::CheckSpecImmutable},
      {"VirtualMachineSnapshotOperation", NameRule::kSubdomain,
       ai::ValidateVirtualMachineSnapshotOperation, ai::CheckSpecImmutable},
      {"VirtualImage", NameRule::kSubdomain, ai::ValidateVirtualImage, nullptr},
      {"ClusterVirtualImage", NameRule::kSubdomain, ai::ValidateClusterVirtualImage, nullptr},
      {"VirtualMachineClass", NameRule::kSubdomain, ai::ValidateVirtualMachineClass, nullptr},
      {"VirtualMachineIPAddress", NameRule::kLabel, ai::ValidateVirtualMachineIPAddress, nullptr},
      {"VirtualMachineMACAddress", NameRule::kLabel, ai::ValidateVirtualMachineMACAddress, nullptr},
      {"NodeUSBDevice", NameRule::kSubdomain, ai::ValidateNodeUSBDevice, nullptr},
      {"USBDevice", NameRule::kSubdomain, ai::ValidateUSBDevice, nullptr},
      {"Secret", NameRule::kSubdomain, ai::ValidateSecret, ai::CheckSecretUpdate},
      {"Node", NameRule::kSubdomain, ai::ValidateNode, nullptr},
      {"DataExport", NameRule::kSubdomain, ai::ValidateDataExport, ai::CheckSpecImmutable},
      {"Event", NameRule::kSubdomain, ai::ValidateEvent, nullptr},
  };
  for (const KindRules& r : kRules) {
    if (kind == r.kind) return &r;
  }
  return nullptr;
}

const KindInfo* FindKindExact(const std::string& kind) {
  for (const KindInfo& k : AllKinds()) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

// Validates metadata.{labels, annotations} and the server-managed fields' types.
void ValidateLabelsAndAnnotations(Obj& md) {
  for (const char* key : {"labels", "annotations"}) {
    Json* map = md.Typed(key, Json::value_t::object, "object", Need::kOptional);
    if (map == nullptr) continue;
    bool labels = std::string(key) == "labels";
    for (auto it = map->begin(); it != map->end(); ++it) {
      std::string problem = admission_internal::CheckQualifiedName(it.key());
      if (!problem.empty()) {
        md.Error(key, admission_internal::InvalidValue(it.key(), problem));
      } else if (!it->is_string()) {
        md.errs().Add(admission_internal::JoinPath(md.Path(key), it.key()),
                      admission_internal::WrongType("string", *it));
      } else if (labels && !(problem = admission_internal::CheckLabelValue(*it)).empty()) {
        md.errs().Add(admission_internal::JoinPath(md.Path(key), it.key()),
                      admission_internal::InvalidValue(it->get<std::string>(), problem));
      }
    }
  }
}

void ValidateMetadata(Obj& top, const KindInfo& info, NameRule rule) {
  std::optional<Obj> md = top.Sub("metadata", Need::kDefault);
  if (!md) return;
  md->Allow({"name", "namespace", "labels", "annotations", "uid", "generation", "resourceVersion",
             "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers",
             "ownerReferences", "managedFields", "generateName"});
  md->Name("name", rule, Need::kRequired);
  const Json* ns = admission_internal::Member(md->json(), "namespace");
  bool ns_empty = ns != nullptr && ns->is_string() && ns->get_ref<const std::string&>().empty();
  if (info.namespaced) {
    if (ns == nullptr || ns_empty) md->json()["namespace"] = "default";
    md->Name("namespace", NameRule::kLabel, Need::kRequired);
  } else if (ns_empty) {
    md->json().erase("namespace");
  } else if (ns != nullptr) {
    md->Error("namespace",
              absl::StrCat("Forbidden: ", info.kind, " is cluster-scoped and takes no namespace"));
  }
  ValidateLabelsAndAnnotations(*md);
  md->Str("uid", Need::kOptional);
  md->Str("resourceVersion", Need::kOptional);
  md->Str("creationTimestamp", Need::kOptional);
  md->Str("deletionTimestamp", Need::kOptional);
  md->Int("generation", Need::kOptional, 0);
  md->Int("deletionGracePeriodSeconds", Need::kOptional, 0);
  if (Json* f = md->Array("finalizers", Need::kOptional)) {
    for (size_t i = 0; i < f->size(); ++i) {
      if (!(*f)[i].is_string()) {
        md->errs().Add(admission_internal::IndexPath(md->Path("finalizers"), i),
                       admission_internal::WrongType("string", (*f)[i]));
      }
    }
  }
  md->AnyArray("ownerReferences");
  md->AnyArray("managedFields");  // server-side apply's field ownership (the Kubernetes API)
  md->Str("generateName", Need::kOptional);
}

// Returns `unknown kind "Foo"`, with a hint when another spelling resolves.
absl::Status UnknownKind(const std::string& kind) {
  std::string msg = absl::StrCat("unknown kind \"", kind, "\"");
  if (const KindInfo* k = ResolveKind(kind)) {
    absl::StrAppend(&msg, " (did you mean \"", k->kind, "\"?)");
  } else {
    std::vector<std::string> kinds;
    for (const KindInfo& k : AllKinds()) kinds.push_back(k.kind);
    absl::StrAppend(&msg, " (supported kinds: ", absl::StrJoin(kinds, ", "), ")");
  }
  return absl::InvalidArgumentError(msg);
}

absl::Status Failed(const std::string& kind, const Json& obj, const Errors& errs) {
  const Json* name = admission_internal::AtPath(obj, "metadata.name");
  std::string n = (name != nullptr && name->is_string()) ? name->get<std::string>() : "";
  return absl::InvalidArgumentError(
      absl::StrCat(kind, " \"", n, "\": ", absl::StrJoin(errs.list(), "; ")));
}

// Returns the string at `dotted`, or "" when absent or not a string.
std::string StringAt(const Json& obj, const std::string& dotted) {
  const Json* v = admission_internal::AtPath(obj, dotted);
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

// Checks what no update may change whatever the kind: the object's identity. An absent and an
// empty namespace are the same (cluster-scoped objects may be stored either way).
void CheckIdentity(const Json& incoming, const Json& existing, Errors& errs) {
  for (const char* path : {"kind", "metadata.name", "metadata.namespace"}) {
    if (StringAt(incoming, path) != StringAt(existing, path)) {
      errs.Add(path, admission_internal::kImmutable);
    }
  }
}

absl::StatusOr<Json> AdmitImpl(const Json& incoming, const Json* existing) {
  if (!incoming.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("object: Invalid type: expected object, got ",
                                                   admission_internal::TypeName(incoming)));
  }
  Json obj = incoming;
  admission_internal::PruneNulls(obj);
  const Json* kind_value = admission_internal::Member(obj, "kind");
  if (kind_value == nullptr) return absl::InvalidArgumentError("kind: Required value");
  if (!kind_value->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: ", admission_internal::WrongType("string", *kind_value)));
  }
  const std::string kind = kind_value->get<std::string>();
  const KindInfo* info = FindKindExact(kind);
  const KindRules* rules = FindRules(kind);
  if (info == nullptr || rules == nullptr) return UnknownKind(kind);

  obj.erase("status");
  Errors errs;
  Obj top(obj, "", errs);
  top.Enum("apiVersion", {info->api_version}, Need::kRequired);
  ValidateMetadata(top, *info, rules->name_rule);
  rules->validate(top);
  if (!errs.empty()) return Failed(kind, obj, errs);

  if (existing != nullptr) {
    CheckIdentity(obj, *existing, errs);
    if (errs.empty() && rules->check_update != nullptr) rules->check_update(obj, *existing, errs);
    if (!errs.empty()) return Failed(kind, obj, errs);
  }
  return obj;
}

}  // namespace

absl::StatusOr<Json> Admit(const Json& incoming, const Json* existing) {
  try {
    return AdmitImpl(incoming, existing);
  } catch (const Json::exception& e) {
    // Every access above is type-checked first; this is a safety net, not a code path.
    return absl::InternalError(absl::StrCat("admission: unexpected JSON error: ", e.what()));
  }
}

}  // namespace berth::controller

// Admission for VirtualMachineSnapshot and the operations that restore or clone from it:
// VirtualMachineOperation and VirtualMachineSnapshotOperation.
#include <string>

#include "absl/strings/str_cat.h"
#include "api/admission_internal.h"

namespace berth::controller::admission_internal {
namespace {

// Clone prefixes, suffixes and replacement names are 1-59 characters: what is left of a 63
// character label once the shortest generated part is added.
constexpr size_t kMaxAffix = 59;

const Strings& Modes() {
  static const Strings kModes = {"DryRun", "Strict", "BestEffort"};
  return kModes;
}

// Checks a prefix/suffix/replacement length; returns false (after recording) when out of range.
bool CheckLength(Obj& obj, const char* key, const std::string& value) {
  if (value.empty()) {
    obj.Error(key, InvalidValue(value, "must have at least 1 character"));
    return false;
  }
  if (value.size() > kMaxAffix) {
    obj.Error(key, absl::StrCat("Too long: must have at most ", kMaxAffix, " characters (got ",
                                value.size(), ")"));
    return false;
  }
  return true;
}

// Checks a name prefix or suffix: lowercase alphanumerics and '-', alphanumeric on the side
// that ends up at the edge of the generated name.
void CheckAffix(Obj& cust, const char* key, bool is_prefix) {
  const std::string* v = cust.Str(key, Need::kOptional);
  if (v == nullptr || !CheckLength(cust, key, *v)) return;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = lower_alnum(is_prefix ? v->front() : v->back());
  for (char c : *v) ok = ok && (lower_alnum(c) || c == '-');
  if (!ok) {
    cust.Error(key, InvalidValue(*v, absl::StrCat("must consist of lower case alphanumeric "
                                                  "characters or '-', and must ",
                                                  is_prefix ? "start" : "end",
                                                  " with an alphanumeric character")));
  }
}

void ValidateReplacement(Json& item, const std::string& path, Errors& errs) {
  if (!item.is_object()) {
    errs.Add(path, WrongType("object", item));
    return;
  }
  Obj rep(item, path, errs);
  rep.Allow({"from", "to"});
  if (std::optional<Obj> from = rep.Sub("from", Need::kRequired)) {
    from->Allow({"kind", "name"});
    from->Enum("kind",
               {"VirtualMachine", "VirtualDisk", "VirtualMachineIPAddress",
                "VirtualMachineMACAddress", "Secret"},
               Need::kOptional);
    from->Name("name", NameRule::kSubdomain, Need::kRequired);
  }
  if (std::optional<Obj> to = rep.Sub("to", Need::kRequired)) {
    to->Allow({"name"});
    const std::string* name = to->Str("name", Need::kRequired);
    if (name != nullptr && CheckLength(*to, "name", *name)) {
      std::string problem = CheckName(*name, NameRule::kSubdomain);
      if (!problem.empty()) to->Error("name", InvalidValue(*name, problem));
    }
  }
}

// Accepts the reference platform's singular `nameReplacement` and stores it as the spec's
// plural `nameReplacements`.
void NormaliseNameReplacement(Obj& clone) {
  Json& j = clone.json();
  auto singular = j.find("nameReplacement");
  if (singular == j.end()) return;
  if (!singular->is_array()) {
    clone.Error("nameReplacement", WrongType("array", *singular));
    return;
  }
  auto plural = j.find("nameReplacements");
  if (plural != j.end() && *plural != *singular) {
    clone.Error("nameReplacement",
                "Forbidden: set either nameReplacement or nameReplacements, not both");
    return;
  }
  Json moved = std::move(*singular);
  j.erase("nameReplacement");
  j["nameReplacements"] = std::move(moved);
}

void ValidateCloneSpec(Obj& clone) {
  NormaliseNameReplacement(clone);
  // A leftover nameReplacement is a spelling conflict NormaliseNameReplacement reported.
  clone.Allow({"mode", "nameReplacements", "nameReplacement", "customization"});
  clone.Enum("mode", Modes(), Need::kRequired);
  bool renames = false;
  if (Json* reps = clone.Array("nameReplacements", Need::kOptional)) {
    renames = !reps->empty();
    for (size_t i = 0; i < reps->size(); ++i) {
      ValidateReplacement((*reps)[i], IndexPath(clone.Path("nameReplacements"), i), clone.errs());
    }
  }
  if (std::optional<Obj> cust = clone.Sub("customization", Need::kOptional)) {
    cust->Allow({"namePrefix", "nameSuffix"});
    renames = renames || cust->Has("namePrefix") || cust->Has("nameSuffix");
    CheckAffix(*cust, "namePrefix", /*is_prefix=*/true);
    CheckAffix(*cust, "nameSuffix", /*is_prefix=*/false);
  }
  if (!renames && !clone.Has("nameReplacement")) {
    clone.errs().Add(clone.path(),
                     "Required value: the clone needs new names: set customization.namePrefix, "
                     "customization.nameSuffix or at least one of nameReplacements");
  }
}

// Validates spec.<key>, required when spec.type is `type_value` and forbidden otherwise.
void OperationBlock(Obj& spec, const char* key, const std::string* type, const char* type_value,
                    void (*validate)(Obj&)) {
  if (type == nullptr) return;
  if (*type != type_value) {
    if (spec.Has(key)) spec.Error(key, ForbiddenUnlessType(type_value));
    return;
  }
  if (std::optional<Obj> block = spec.Sub(key, Need::kRequired)) validate(*block);
}

void ValidateRestoreSpec(Obj& restore) {
  restore.Allow({"mode", "virtualMachineSnapshotName"});
  restore.Enum("mode", Modes(), Need::kRequired);
  restore.Name("virtualMachineSnapshotName", NameRule::kSubdomain, Need::kRequired);
}

}  // namespace

void ValidateVirtualMachineSnapshot(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kDefault);
  if (!spec) return;
  spec->Allow(
      {"virtualMachineName", "requiredConsistency", "keepIPAddress", "volumeSnapshotClasses"});
  spec->Name("virtualMachineName", NameRule::kLabel, Need::kRequired);
  spec->Bool("requiredConsistency", true);
  spec->Enum("keepIPAddress", {"Always", "Never"}, Need::kOptional, "Always");
  Json* classes = spec->Array("volumeSnapshotClasses", Need::kOptional);
  for (size_t i = 0; classes != nullptr && i < classes->size(); ++i) {
    std::string path = IndexPath(spec->Path("volumeSnapshotClasses"), i);
    if (!(*classes)[i].is_object()) {
      spec->errs().Add(path, WrongType("object", (*classes)[i]));
      continue;
    }
    Obj c((*classes)[i], path, spec->errs());
    c.Allow({"storageClassName", "volumeSnapshotClassName"});
    c.Str("storageClassName", Need::kRequired);
    c.Str("volumeSnapshotClassName", Need::kRequired);
  }
}

void ValidateVirtualMachineOperation(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kDefault);
  if (!spec) return;
  spec->Allow({"type", "virtualMachineName", "force", "restore", "clone", "migrate"});
  const std::string* type =
      spec->Enum("type", {"Start", "Stop", "Restart", "Migrate", "Evict", "Restore", "Clone"},
                 Need::kRequired);
  spec->Name("virtualMachineName", NameRule::kLabel, Need::kRequired);
  spec->Bool("force");
  OperationBlock(*spec, "restore", type, "Restore", ValidateRestoreSpec);
  OperationBlock(*spec, "clone", type, "Clone", ValidateCloneSpec);
  // migrate: optional, for Migrate and Evict only.
  if (type != nullptr && *type != "Migrate" && *type != "Evict") {
    if (spec->Has("migrate")) {
      spec->Error("migrate", "Forbidden: may only be set when type is \"Migrate\" or \"Evict\"");
    }
  } else if (std::optional<Obj> migrate = spec->Sub("migrate", Need::kOptional)) {
    migrate->Allow({"nodeSelector", "maxDowntimeMilliseconds", "timeoutSeconds"});
    migrate->StringMap("nodeSelector");
    if (auto ms = migrate->Int("maxDowntimeMilliseconds", Need::kOptional, 1); ms && *ms > 60000) {
      migrate->Error("maxDowntimeMilliseconds", "must be at most 60000");
    }
    if (auto s = migrate->Int("timeoutSeconds", Need::kOptional, 1); s && *s > 86400) {
      migrate->Error("timeoutSeconds", "must be at most 86400");
    }
  }
}

void ValidateVirtualMachineSnapshotOperation(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kDefault);
  if (!spec) return;
  spec->Allow({"type", "virtualMachineSnapshotName", "createVirtualMachine"});
  const std::string* type = spec->Enum("type", {"CreateVirtualMachine"}, Need::kRequired);
  spec->Name("virtualMachineSnapshotName", NameRule::kSubdomain, Need::kRequired);
  OperationBlock(*spec, "createVirtualMachine", type, "CreateVirtualMachine", ValidateCloneSpec);
}

}  // namespace berth::controller::admission_internal

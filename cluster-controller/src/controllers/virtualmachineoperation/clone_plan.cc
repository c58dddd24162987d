#include "controllers/virtualmachineoperation/clone_plan.h"

#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"

namespace berth::controller {
namespace {

// Returns what is wrong with `name` as a name of `kind`; nullopt when it is a valid name.
std::optional<std::string> NameProblem(const std::string& kind, const std::string& name) {
  size_t max = kind == "Secret" ? 253 : 63;
  if (name.empty() || name.size() > max) {
    return absl::StrCat("the new name \"", name, "\" is ", name.size(), " characters long; a ",
                        kind, " name has 1-", max);
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = alnum(name.front()) && alnum(name.back());
  for (char c : name) ok = ok && (alnum(c) || c == '-' || (kind == "Secret" && c == '.'));
  if (!ok) {
    return absl::StrCat("the new name \"", name, "\" is not a valid ", kind,
                        " name (lower case alphanumerics and '-', alphanumeric at both ends)");
  }
  return std::nullopt;
}

// Collects entries and tracks names so that two objects never get the same new name.
class Checker {
 public:
  Checker(ObjectStore& store, const std::string& ns, const std::string& op_uid, ResourceList& out)
      : store_(store), ns_(ns), op_uid_(op_uid), out_(out) {}

  // Checks a target name: valid, unique in the plan, not taken. Returns the stamped existing
  // object (null when absent), or nullopt after recording a conflict.
  absl::StatusOr<std::optional<Json>> Target(const std::string& kind, const std::string& from,
                                             const std::string& name) {
    std::optional<std::string> problem = NameProblem(kind, name);
    if (problem) {
      out_.Conflict(kind, name, absl::StrCat(kind, " \"", from, "\": ", *problem));
      return std::nullopt;
    }
    if (!seen_.insert(kind + "/" + name).second) {
      out_.Conflict(kind, name,
                    absl::StrCat("two objects of the clone would be named ", kind, " \"", name,
                                 "\": adjust nameReplacements"));
      return std::nullopt;
    }
    auto got = store_.Get(ObjectKey{kind, ns_, name});
    if (absl::IsNotFound(got.status())) return std::optional<Json>(Json());
    if (!got.ok()) return got.status();
    if (!StampedBy(*got, op_uid_)) {
      out_.Conflict(kind, name, absl::StrCat(kind, " \"", name, "\" already exists"));
      return std::nullopt;
    }
    return std::optional<Json>(*std::move(got));
  }

 private:
  ObjectStore& store_;
  const std::string& ns_;
  const std::string& op_uid_;
  ResourceList& out_;
  std::set<std::string> seen_;
};

// Returns the entry status for an object of the plan: what a dry run would do, or how far the
// real run got.
std::string Progress(Mode mode, const Json& existing) {
  if (mode == Mode::kDryRun) return "Completed";
  return existing.is_null() ? "InProgress" : "Completed";
}

std::string Would(Mode mode, const std::string& what) {
  return mode == Mode::kDryRun ? absl::StrCat("dry run: would be ", what) : "";
}

absl::Status PlanDisks(ObjectStore& store, const std::string& ns, const SnapshotPayload& payload,
                       const CloneNaming& naming, Mode mode, const std::string& op_uid,
                       Checker& check, ClonePlan& plan) {
  for (const Json& src : payload.disks) {
    std::string from = JsonString(src, "/metadata/name");
    std::string name = naming.Rename("VirtualDisk", from);
    BERTH_ASSIGN_OR_RETURN(std::optional<Json> existing, check.Target("VirtualDisk", from, name));
    if (!existing) continue;
    Json disk = Copyable(src);  // labels are kept on disks
    disk["apiVersion"] = kApiVersion;
    disk["kind"] = "VirtualDisk";
    disk["metadata"]["name"] = name;
    disk["metadata"]["namespace"] = ns;
    Stamp(disk, op_uid);
    auto vds = payload.disk_snapshots.find(from);
    if (vds != payload.disk_snapshots.end()) {
      disk["spec"]["dataSource"] = {
          {"type", "ObjectRef"},
          {"objectRef", {{"kind", "VirtualDiskSnapshot"}, {"name", vds->second}}}};
    }
    plan.disks.push_back(disk);
    std::string phase = JsonString(*existing, "/status/phase");
    if (phase == "Failed") {
      plan.resources.Conflict("VirtualDisk", name,
                              absl::StrCat("VirtualDisk \"", name, "\" failed: ",
                                           GetCondition(*existing, "Ready").value("message", "")));
      continue;
    }
    bool ready = phase == "Ready";
    plan.complete = plan.complete && ready;
    plan.resources.Add("VirtualDisk", name,
                       mode == Mode::kDryRun ? "Completed"
                       : ready               ? "Completed"
                                             : "InProgress",
                       mode == Mode::kDryRun
                           ? Would(mode, absl::StrCat("cloned from VirtualDisk \"", from, "\""))
                       : ready ? ""
                               : "provisioning");
  }
  return absl::OkStatus();
}

// Applies the mode to what the VM needs from outside the snapshot: images, class, USB devices.
void PlanDependencies(ObjectStore& store, const std::string& ns, Mode mode, Json& vm,
                      ResourceList& out) {
  std::vector<std::pair<std::string, std::string>> missing = MissingDependencies(store, ns, vm);
  std::vector<std::pair<std::string, std::string>> images;
  for (const auto& [kind, name] : missing) {
    bool image = kind != "VirtualMachineClass";
    if (image) images.emplace_back(kind, name);
    std::string what = absl::StrCat(kind, " \"", name, "\" does not exist");
    if (mode == Mode::kBestEffort) {
      out.Add(kind, name, "Completed",
              image ? absl::StrCat(what, ": reference dropped (BestEffort)")
                    : absl::StrCat(what, ": kept; the clone stays Pending until it exists"));
    } else {
      out.Conflict(kind, name, absl::StrCat(what, " (Strict needs it; BestEffort drops images)"));
    }
  }
  if (mode == Mode::kBestEffort) DropImageRefs(vm, images);
  Json usb = JsonAt(vm, "/spec/usbDevices");
  if (usb.is_array() && !usb.empty()) {
    for (const Json& dev : usb) {
      std::string name = dev.value("name", "");
      if (mode == Mode::kBestEffort) {
        out.Add("USBDevice", name, "Completed",
                "a USB device is attached to one VM only: dropped from the clone (BestEffort)");
      } else {
        out.Conflict("USBDevice", name,
                     absl::StrCat("USBDevice \"", name,
                                  "\" is attached to the source VM and cannot be cloned (use "
                                  "BestEffort to drop it)"));
      }
    }
    if (mode == Mode::kBestEffort) vm["spec"].erase("usbDevices");
  }
}

absl::Status PlanSecret(ObjectStore& store, const std::string& ns, const SnapshotPayload& payload,
                        const CloneNaming& naming, Mode mode, Json& vm, ResourceList& out,
                        Json& secret_out) {
  if (JsonString(vm, "/spec/provisioning/type") != "UserDataRef") return absl::OkStatus();
  std::string from = JsonString(vm, "/spec/provisioning/userDataRef/name");
  std::string name = naming.Rename("Secret", from);
  vm["spec"]["provisioning"]["userDataRef"]["name"] = name;
  auto live = store.Get(ObjectKey{"Secret", ns, name});
  if (!live.ok() && !absl::IsNotFound(live.status())) return live.status();
  const Json& want = payload.provisioning;
  if (live.ok()) {
    if (want.is_null() || JsonAt(*live, "/data") == JsonAt(want, "/data")) {
      out.Add("Secret", name, "Completed", "shared with the source VM");
    } else if (mode == Mode::kBestEffort) {
      out.Add("Secret", name, "Completed",
              "exists with other data than the snapshot's: the clone uses it (BestEffort)");
    } else {
      out.Conflict("Secret", name,
                   absl::StrCat("Secret \"", name,
                                "\" exists with other data than the snapshot's provisioning"));
    }
    return absl::OkStatus();
  }
  if (want.is_null()) {
    out.Conflict("Secret", name, absl::StrCat("provisioning Secret \"", name, "\" is missing"));
    return absl::OkStatus();
  }
  secret_out = Copyable(want);
  secret_out["apiVersion"] = "v1";
  secret_out["kind"] = "Secret";
  secret_out["metadata"]["name"] = name;
  secret_out["metadata"]["namespace"] = ns;
  out.Add("Secret", name, mode == Mode::kDryRun ? "Completed" : "InProgress",
          Would(mode, "created from the snapshot"));
  return absl::OkStatus();
}

}  // namespace

CloneNaming CloneNaming::FromSpec(const Json& block) {
  CloneNaming n;
  Json reps = JsonAt(block, "/nameReplacements");
  if (!reps.is_array()) reps = JsonAt(block, "/nameReplacement");
  if (reps.is_array()) n.replacements = reps;
  n.prefix = JsonString(block, "/customization/namePrefix");
  n.suffix = JsonString(block, "/customization/nameSuffix");
  return n;
}

std::string CloneNaming::Rename(const std::string& kind, const std::string& name) const {
  std::string out = name;
  for (const Json& r : replacements) {
    std::string k = JsonString(r, "/from/kind");
    if (JsonString(r, "/from/name") == name && (k.empty() || k == kind)) {
      out = JsonString(r, "/to/name", name);
      break;
    }
  }
  if (kind == "Secret") return out;
  return absl::StrCat(prefix, out, suffix);
}

absl::StatusOr<ClonePlan> PlanClone(ObjectStore& store, const std::string& ns,
                                    const SnapshotPayload& payload, const CloneNaming& naming,
                                    Mode mode, const std::string& op_uid) {
  ClonePlan plan;
  plan.complete = true;
  Checker check(store, ns, op_uid, plan.resources);
  std::string from = JsonString(payload.vm, "/metadata/name");
  std::string vm_name = naming.Rename("VirtualMachine", from);
  BERTH_ASSIGN_OR_RETURN(std::optional<Json> vm_existing,
                         check.Target("VirtualMachine", from, vm_name));
  Json vm = Copyable(payload.vm);
  vm["apiVersion"] = kApiVersion;
  vm["kind"] = "VirtualMachine";
  vm["metadata"]["name"] = vm_name;
  vm["metadata"]["namespace"] = ns;
  vm["metadata"].erase("labels");  // labels would route Service traffic to the clone
  Stamp(vm, op_uid);
  for (Json& ref : vm["spec"]["blockDeviceRefs"]) {
    if (ref.value("kind", "") == "VirtualDisk") {
      ref["name"] = naming.Rename("VirtualDisk", ref.value("name", ""));
    }
  }
  if (vm_existing) {
    plan.complete = plan.complete && !vm_existing->is_null();
    plan.resources.Add("VirtualMachine", vm_name, Progress(mode, *vm_existing),
                       Would(mode, absl::StrCat("cloned from VirtualMachine \"", from, "\"")));
  }
  // A fresh address: the VM reconciler creates Auto IP and MAC objects for the new names.
  std::string ip_from = JsonString(payload.vm, "/spec/virtualMachineIPAddressName");
  std::string ip_name =
      ip_from.empty() ? vm_name : naming.Rename("VirtualMachineIPAddress", ip_from);
  if (!ip_from.empty()) vm["spec"]["virtualMachineIPAddressName"] = ip_name;
  bool own_vm = vm_existing && !vm_existing->is_null();
  for (const char* kind : {"VirtualMachineIPAddress", "VirtualMachineMACAddress"}) {
    std::string name = std::string(kind) == "VirtualMachineIPAddress" ? ip_name : vm_name;
    if (own_vm) {
      plan.resources.Add(kind, name, "Completed", "allocated fresh for the clone");
      continue;
    }
    BERTH_ASSIGN_OR_RETURN(std::optional<Json> existing, check.Target(kind, name, name));
    if (existing) {
      plan.resources.Add(
          kind, name, mode == Mode::kDryRun ? "Completed" : "InProgress",
          mode == Mode::kDryRun ? Would(mode, "allocated fresh") : "allocated fresh for the clone");
    }
  }
  PlanDependencies(store, ns, mode, vm, plan.resources);
  BERTH_RETURN_IF_ERROR(
      PlanSecret(store, ns, payload, naming, mode, vm, plan.resources, plan.secret));
  BERTH_RETURN_IF_ERROR(PlanDisks(store, ns, payload, naming, mode, op_uid, check, plan));
  plan.vm = std::move(vm);
  plan.complete = plan.complete && !plan.resources.HasConflict();
  return plan;
}

absl::Status CreateClone(ObjectStore& store, const ClonePlan& plan, const std::string& op_uid) {
  std::vector<Json> objects = plan.disks;
  if (!plan.secret.is_null()) {
    Json s = plan.secret;
    Stamp(s, op_uid);
    objects.push_back(s);
  }
  objects.push_back(plan.vm);  // last: it starts as soon as its disks are Ready
  for (const Json& obj : objects) {
    auto created = store.Create(obj);
    if (created.ok()) continue;
    if (!absl::IsAlreadyExists(created.status())) return created.status();
    auto got = store.Get(ObjectKey::Of(obj));
    if (!got.ok()) return got.status();
    if (!StampedBy(*got, op_uid)) {
      return absl::FailedPreconditionError(absl::StrCat(
          obj.value("kind", ""), " \"", JsonString(obj, "/metadata/name"), "\" already exists"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CloneProgress> RunClone(ObjectStore& store, const std::string& ns,
                                       const SnapshotPayload& payload, const CloneNaming& naming,
                                       Mode mode, const std::string& op_uid, Json& status) {
  CloneProgress progress;
  BERTH_ASSIGN_OR_RETURN(ClonePlan plan, PlanClone(store, ns, payload, naming, mode, op_uid));
  if (!plan.resources.HasConflict()) {
    absl::Status created = CreateClone(store, plan, op_uid);
    if (!created.ok() && !absl::IsFailedPrecondition(created)) return created;
    if (created.ok()) {
      BERTH_ASSIGN_OR_RETURN(plan, PlanClone(store, ns, payload, naming, mode, op_uid));
    } else {
      plan.resources.Conflict("VirtualMachine", JsonString(plan.vm, "/metadata/name"),
                              std::string(created.message()));
    }
  }
  // Keep earlier entries' names so a rollback finds everything this operation created.
  Json previous = status.value("resources", Json::array());
  status["resources"] = plan.resources.json();
  if (plan.resources.HasConflict()) {
    BERTH_RETURN_IF_ERROR(RollBackClone(store, ns, previous, op_uid).status());
    BERTH_RETURN_IF_ERROR(RollBackClone(store, ns, plan.resources.json(), op_uid).status());
    progress.failure = plan.resources.ConflictSummary();
    return progress;
  }
  progress.done = plan.complete;
  return progress;
}

absl::StatusOr<int> RollBackClone(ObjectStore& store, const std::string& ns, const Json& resources,
                                  const std::string& op_uid) {
  int deleted = 0;
  for (const Json& e : resources.is_array() ? resources : Json::array()) {
    std::string kind = e.value("kind", "");
    if (kind != "VirtualMachine" && kind != "VirtualDisk" && kind != "Secret") continue;
    ObjectKey key{kind, ns, e.value("name", "")};
    auto got = store.Get(key);
    if (absl::IsNotFound(got.status())) continue;
    if (!got.ok()) return got.status();
    if (!StampedBy(*got, op_uid)) continue;
    auto d = store.Delete(key, JsonString(*got, "/metadata/uid"));
    if (!d.ok() && !absl::IsNotFound(d.status())) return d.status();
    ++deleted;
  }
  return deleted;
}

}  // namespace berth::controller

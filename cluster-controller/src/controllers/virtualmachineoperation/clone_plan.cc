#include "controllers/virtualmachineoperation/clone_plan.h"

#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/controller/vocabulary.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"

namespace berth::controller {
namespace {

// Returns what is wrong with `name` as a name of `kind`; nullopt when it is a valid name.
std::optional<std::string> NameProblem(const std::string& kind, const std::string& name) {
  size_t max = kind == kinds::kSecret ? 253 : 63;
  if (name.empty() || name.size() > max) {
    return absl::StrCat("the new name \"", name, "\" is ", name.size(), " characters long; a ",
                        kind, " name has 1-", max);
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = alnum(name.front()) && alnum(name.back());
  for (char c : name) ok = ok && (alnum(c) || c == '-' || (kind == kinds::kSecret && c == '.'));
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
ResourceState Progress(Mode mode, const Json& existing) {
  if (mode == Mode::kDryRun) return ResourceState::kCompleted;
  return existing.is_null() ? ResourceState::kInProgress : ResourceState::kCompleted;
}

// A new object is written in full; a dry run writes nothing.
ResourceState Pending(Mode mode) {
  return mode == Mode::kDryRun ? ResourceState::kCompleted : ResourceState::kInProgress;
}

std::string Would(Mode mode, const std::string& what) {
  return mode == Mode::kDryRun ? absl::StrCat("dry run: would be ", what) : "";
}

absl::Status PlanDisks(ObjectStore& store, const std::string& ns, const SnapshotPayload& payload,
                       const CloneNaming& naming, Mode mode, const std::string& op_uid,
                       Checker& check, ClonePlan& plan) {
  for (const Json& src : payload.disks) {
    std::string from = types::VirtualDisk(src).name();
    std::string name = naming.Rename(kinds::kVirtualDisk, from);
    BERTH_ASSIGN_OR_RETURN(std::optional<Json> existing,
                           check.Target(kinds::kVirtualDisk, from, name));
    if (!existing) continue;
    Json disk = Copyable(src);  // labels are kept on disks
    disk["apiVersion"] = kApiVersion;
    disk["kind"] = kinds::kVirtualDisk;
    disk["metadata"]["name"] = name;
    disk["metadata"]["namespace"] = ns;
    Stamp(disk, op_uid);
    auto vds = payload.disk_snapshots.find(from);
    if (vds != payload.disk_snapshots.end()) {
      disk["spec"]["dataSource"] = {
          {"type", "ObjectRef"},
          {"objectRef", {{"kind", kinds::kVirtualDiskSnapshot}, {"name", vds->second}}}};
    }
    plan.disks.push_back(disk);
    types::VirtualDiskStatus live = types::VirtualDisk(*existing).status();  // null: none yet
    if (live.phase() == types::VirtualDiskPhase::kFailed) {
      plan.resources.Conflict(kinds::kVirtualDisk, name,
                              absl::StrCat("VirtualDisk \"", name, "\" failed: ",
                                           live.conditions().Get(vd::kReady).message()));
      continue;
    }
    bool ready = live.phase() == types::VirtualDiskPhase::kReady;
    plan.complete = plan.complete && ready;
    plan.resources.Add(kinds::kVirtualDisk, name,
                       mode == Mode::kDryRun ? ResourceState::kCompleted
                       : ready               ? ResourceState::kCompleted
                                             : ResourceState::kInProgress,
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
    bool image = kind != kinds::kVirtualMachineClass;
    if (image) images.emplace_back(kind, name);
    std::string what = absl::StrCat(kind, " \"", name, "\" does not exist");
    if (mode == Mode::kBestEffort) {
      out.Add(kind, name, ResourceState::kCompleted,
              image ? absl::StrCat(what, ": reference dropped (BestEffort)")
                    : absl::StrCat(what, ": kept; the clone stays Pending until it exists"));
    } else {
      out.Conflict(kind, name, absl::StrCat(what, " (Strict needs it; BestEffort drops images)"));
    }
  }
  if (mode == Mode::kBestEffort) DropImageRefs(vm, images);
  std::vector<types::VirtualMachineSpecUsbDevice> usb =
      types::VirtualMachine(vm).spec().usb_devices();
  if (!usb.empty()) {
    for (const types::VirtualMachineSpecUsbDevice& dev : usb) {
      std::string name = dev.name();
      if (mode == Mode::kBestEffort) {
        out.Add(kinds::kUSBDevice, name, ResourceState::kCompleted,
                "a USB device is attached to one VM only: dropped from the clone (BestEffort)");
      } else {
        out.Conflict(kinds::kUSBDevice, name,
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
  types::VirtualMachineSpecProvisioning provisioning =
      types::VirtualMachine(vm).spec().provisioning();
  if (provisioning.type() != types::VirtualMachineSpecProvisioningType::kUserDataRef) {
    return absl::OkStatus();
  }
  std::string from = provisioning.user_data_ref().name();
  std::string name = naming.Rename(kinds::kSecret, from);
  vm["spec"]["provisioning"]["userDataRef"]["name"] = name;
  auto live = store.Get(ObjectKey{kinds::kSecret, ns, name});
  if (!live.ok() && !absl::IsNotFound(live.status())) return live.status();
  const Json& want = payload.provisioning;
  if (live.ok()) {
    if (want.is_null() || JsonAt(*live, "/data") == JsonAt(want, "/data")) {
      out.Add(kinds::kSecret, name, ResourceState::kCompleted, "shared with the source VM");
    } else if (mode == Mode::kBestEffort) {
      out.Add(kinds::kSecret, name, ResourceState::kCompleted,
              "exists with other data than the snapshot's: the clone uses it (BestEffort)");
    } else {
      out.Conflict(kinds::kSecret, name,
                   absl::StrCat("Secret \"", name,
                                "\" exists with other data than the snapshot's provisioning"));
    }
    return absl::OkStatus();
  }
  if (want.is_null()) {
    out.Conflict(kinds::kSecret, name,
                 absl::StrCat("provisioning Secret \"", name, "\" is missing"));
    return absl::OkStatus();
  }
  secret_out = Copyable(want);
  secret_out["apiVersion"] = "v1";
  secret_out["kind"] = kinds::kSecret;
  secret_out["metadata"]["name"] = name;
  secret_out["metadata"]["namespace"] = ns;
  out.Add(kinds::kSecret, name, Pending(mode), Would(mode, "created from the snapshot"));
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
  if (kind == kinds::kSecret) return out;
  return absl::StrCat(prefix, out, suffix);
}

absl::StatusOr<ClonePlan> PlanClone(ObjectStore& store, const std::string& ns,
                                    const SnapshotPayload& payload, const CloneNaming& naming,
                                    Mode mode, const std::string& op_uid) {
  ClonePlan plan;
  plan.complete = true;
  Checker check(store, ns, op_uid, plan.resources);
  types::VirtualMachine source(payload.vm);
  std::string from = source.name();
  std::string vm_name = naming.Rename(kinds::kVirtualMachine, from);
  BERTH_ASSIGN_OR_RETURN(std::optional<Json> vm_existing,
                         check.Target(kinds::kVirtualMachine, from, vm_name));
  Json vm = Copyable(payload.vm);
  vm["apiVersion"] = kApiVersion;
  vm["kind"] = kinds::kVirtualMachine;
  vm["metadata"]["name"] = vm_name;
  vm["metadata"]["namespace"] = ns;
  vm["metadata"].erase("labels");  // labels would route Service traffic to the clone
  Stamp(vm, op_uid);
  for (Json& ref : vm["spec"]["blockDeviceRefs"]) {
    types::VirtualMachineSpecBlockDeviceRef r(ref);
    if (r.kind() == types::VirtualMachineSpecBlockDeviceRefKind::kVirtualDisk) {
      ref["name"] = naming.Rename(kinds::kVirtualDisk, r.name());
    }
  }
  if (vm_existing) {
    plan.complete = plan.complete && !vm_existing->is_null();
    plan.resources.Add(kinds::kVirtualMachine, vm_name, Progress(mode, *vm_existing),
                       Would(mode, absl::StrCat("cloned from VirtualMachine \"", from, "\"")));
  }
  // A fresh address: the VM reconciler creates Auto IP and MAC objects for the new names.
  std::string ip_from = source.spec().virtual_machine_ip_address_name();
  std::string ip_name =
      ip_from.empty() ? vm_name : naming.Rename(kinds::kVirtualMachineIPAddress, ip_from);
  if (!ip_from.empty()) vm["spec"]["virtualMachineIPAddressName"] = ip_name;
  bool own_vm = vm_existing && !vm_existing->is_null();
  for (const char* kind : {kinds::kVirtualMachineIPAddress, kinds::kVirtualMachineMACAddress}) {
    std::string name = kind == std::string(kinds::kVirtualMachineIPAddress) ? ip_name : vm_name;
    if (own_vm) {
      plan.resources.Add(kind, name, ResourceState::kCompleted, "allocated fresh for the clone");
      continue;
    }
    BERTH_ASSIGN_OR_RETURN(std::optional<Json> existing, check.Target(kind, name, name));
    if (existing) {
      plan.resources.Add(
          kind, name, Pending(mode),
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
                                       Mode mode, const std::string& op_uid, const Json& previous) {
  CloneProgress progress;
  BERTH_ASSIGN_OR_RETURN(ClonePlan plan, PlanClone(store, ns, payload, naming, mode, op_uid));
  if (!plan.resources.HasConflict()) {
    absl::Status created = CreateClone(store, plan, op_uid);
    if (!created.ok() && !absl::IsFailedPrecondition(created)) return created;
    if (created.ok()) {
      BERTH_ASSIGN_OR_RETURN(plan, PlanClone(store, ns, payload, naming, mode, op_uid));
    } else {
      plan.resources.Conflict(kinds::kVirtualMachine, types::VirtualMachine(plan.vm).name(),
                              std::string(created.message()));
    }
  }
  // Keep earlier entries' names so a rollback finds everything this operation created.
  progress.resources = plan.resources.json();
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
    types::VirtualMachineOperationResource entry(e);
    std::string kind = entry.kind();
    if (kind != kinds::kVirtualMachine && kind != kinds::kVirtualDisk && kind != kinds::kSecret) {
      continue;
    }
    ObjectKey key{kind, ns, entry.name()};
    auto got = store.Get(key);
    if (absl::IsNotFound(got.status())) continue;
    if (!got.ok()) return got.status();
    if (!StampedBy(*got, op_uid)) continue;
    auto d = store.Delete(key, types::VirtualMachine(*got).uid());  // any kind: metadata.uid
    if (!d.ok() && !absl::IsNotFound(d.status())) return d.status();
    ++deleted;
  }
  return deleted;
}

}  // namespace berth::controller

// VirtualMachineOperation Restore. Steps, recorded in status.step so a crash resumes where it
// stopped: stop (remember the power state, hold the VM off) → disks (delete each disk, create it
// again from its VirtualDiskSnapshot) → objects (IP, MAC, provisioning Secret, VM spec) →
// start (release the VM at its former power state) → Completed. Every object written is stamped
// with the operation's uid, so a repeated pass skips it. The decisions are vmop_machine.h's
// (PlanRestore, PlanDisk, FinishDisks); this file observes and acts.
#include <optional>

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"
#include "controllers/virtualmachineoperation/vmop_internal.h"

namespace berth::controller {
namespace {

std::string Q(const std::string& kind, const std::string& name) {
  return absl::StrCat(kind, " \"", name, "\"");
}

// What a dry run reports for an object it would restore, or a real run for one it is restoring.
ResourceState Planned(Mode mode) {
  return mode == Mode::kDryRun ? ResourceState::kCompleted : ResourceState::kInProgress;
}

// A Secret's data (null when it has none).
const Json& SecretData(const Json& secret) {
  static const Json* none = new Json();
  auto it = secret.find("data");
  return it != secret.end() ? *it : *none;
}

// Returns the holder VM of another address object leasing `address`, as text; nullopt when
// free.
absl::StatusOr<std::optional<std::string>> AddressHeldElsewhere(
    ObjectStore& store, const char* kind, const std::string& ns, const std::string& name,
    const std::string& address, const std::string& vm_name) {
  if (address.empty()) return std::nullopt;
  BERTH_ASSIGN_OR_RETURN(std::vector<Json> all, store.List(kind, ""));
  for (const Json& json : all) {
    // IP and MAC address objects alike: metadata, status.address, status.virtualMachine.
    types::VirtualMachineIPAddress o(json);
    if (o.namespace_() == ns && o.name() == name) continue;
    if (o.status().address() != address) continue;
    std::string holder = o.status().virtual_machine();
    if (o.namespace_() == ns && holder == vm_name) continue;
    return absl::StrCat("address ", address, " is held by ", Q(kind, o.name()),
                        holder.empty() ? std::string(" (no VM)")
                                       : absl::StrCat(" of VirtualMachine \"", holder, "\""));
  }
  return std::nullopt;
}

// Checks one address object of the snapshot (IP or MAC; null: none) with its saved `address`
// against the cluster.
absl::Status CheckAddress(ObjectStore& store, const std::string& ns, const char* kind,
                          const Json& saved, const std::string& address, const std::string& vm,
                          Mode mode, ResourceList& out) {
  if (saved.is_null()) return absl::OkStatus();
  std::string name = types::VirtualMachineIPAddress(saved).name();  // IP and MAC alike
  auto live = store.Get(ObjectKey{kind, ns, name});
  if (!live.ok() && !absl::IsNotFound(live.status())) return live.status();
  std::string holder =
      live.ok() ? types::VirtualMachineIPAddress(*live).status().virtual_machine() : "";
  if (!holder.empty() && holder != vm) {
    out.Conflict(kind, name,
                 absl::StrCat(Q(kind, name), " is used by VirtualMachine \"", holder, "\""));
    return absl::OkStatus();
  }
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> elsewhere,
                         AddressHeldElsewhere(store, kind, ns, name, address, vm));
  if (elsewhere) {
    out.Conflict(kind, name, absl::StrCat(Q(kind, name), ": ", *elsewhere));
    return absl::OkStatus();
  }
  out.Add(kind, name, Planned(mode),
          absl::StrCat(mode == Mode::kDryRun ? "dry run: would be restored" : "restoring",
                       address.empty() ? "" : absl::StrCat(" with address ", address)));
  return absl::OkStatus();
}

absl::Status CheckDisks(ObjectStore& store, const std::string& ns, const SnapshotPayload& p,
                        const std::string& vm, Mode mode, ResourceList& out) {
  for (const Json& d : p.disks) {
    std::string name = types::VirtualDisk(d).name();
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> users, VmsUsingDisk(store, ns, name));
    std::string other;
    for (const Json& u : users) {
      std::string user = types::VirtualMachine(u).name();
      if (user != vm) other = user;
    }
    if (!other.empty()) {
      out.Conflict(kinds::kVirtualDisk, name,
                   absl::StrCat(Q(kinds::kVirtualDisk, name), " is attached to VirtualMachine \"",
                                other, "\""));
      continue;
    }
    out.Add(kinds::kVirtualDisk, name, Planned(mode),
            absl::StrCat(mode == Mode::kDryRun ? "dry run: would be restored" : "restoring",
                         " from VirtualDiskSnapshot \"", p.disk_snapshots.at(name), "\""));
  }
  return absl::OkStatus();
}

void CheckSecret(ObjectStore& store, const std::string& ns, const SnapshotPayload& p, Mode mode,
                 ResourceList& out) {
  if (p.provisioning.is_null()) return;
  std::string name = types::VirtualMachine(p.provisioning).name();  // any kind: metadata.name
  auto live = store.Get(ObjectKey{kinds::kSecret, ns, name});
  if (!live.ok() || SecretData(*live) == SecretData(p.provisioning)) {
    out.Add(kinds::kSecret, name, Planned(mode),
            live.ok() ? "unchanged since the snapshot" : "missing: will be created");
  } else if (mode == Mode::kBestEffort) {
    out.Add(kinds::kSecret, name, ResourceState::kCompleted,
            "differs from the snapshot: the current data is kept (BestEffort)");
  } else {
    out.Conflict(kinds::kSecret, name,
                 absl::StrCat("provisioning ", Q(kinds::kSecret, name),
                              " has other data than in the snapshot (BestEffort keeps it)"));
  }
}

// Returns the VM as the restore writes it: the live object with the snapshot's labels,
// annotations and spec (BestEffort drops missing images), stamped.
Json RestoredVm(ObjectStore& store, const Json& live, const SnapshotPayload& p, Mode mode,
                const std::string& op_uid, ResourceList* out) {
  Json vm = live;
  std::string ns = types::VirtualMachine(live).namespace_();
  types::VirtualMachine saved(p.vm);
  vm["spec"] = JsonAt(p.vm, "/spec");  // as saved: null when the snapshot has none
  vm["metadata"]["labels"] = saved.metadata().labels();
  vm["metadata"]["annotations"] = saved.metadata().annotations();
  Stamp(vm, op_uid);
  auto missing = MissingDependencies(store, ns, vm);
  std::vector<std::pair<std::string, std::string>> images;
  for (const auto& [kind, name] : missing) {
    bool image = kind != kinds::kVirtualMachineClass;
    if (image && mode == Mode::kBestEffort) images.emplace_back(kind, name);
    if (out == nullptr) continue;
    out->Add(kind, name, ResourceState::kCompleted,
             absl::StrCat(Q(kind, name), " does not exist: ",
                          image && mode == Mode::kBestEffort
                              ? "reference dropped (BestEffort)"
                              : "reference kept; the VM stays Pending until it exists"));
  }
  DropImageRefs(vm, images);
  return vm;
}

// Validates a restore against the cluster (`live`: the VM, null when missing). All conflicts
// of the spec become Failed entries.
absl::StatusOr<ResourceList> CheckRestore(ObjectStore& store, const std::string& ns,
                                          const SnapshotPayload& p, const std::string& vm_name,
                                          const Json* live, Mode mode) {
  ResourceList out;
  std::string snap_vm = types::VirtualMachine(p.vm).name();
  if (snap_vm != vm_name) {
    out.Conflict(
        kinds::kVirtualMachine, vm_name,
        absl::StrCat("VirtualMachineSnapshot \"", p.snapshot_name,
                     "\" was taken of VirtualMachine \"", snap_vm, "\", not \"", vm_name, "\""));
  } else if (live == nullptr) {
    out.Conflict(kinds::kVirtualMachine, vm_name,
                 absl::StrCat(Q(kinds::kVirtualMachine, vm_name), " does not exist"));
  } else if (std::string uid = types::VirtualMachine(*live).uid(); uid != p.vm_uid) {
    out.Conflict(kinds::kVirtualMachine, vm_name,
                 absl::StrCat(Q(kinds::kVirtualMachine, vm_name), " has uid ", uid,
                              " but the snapshot was taken of ", p.vm_uid,
                              ": it is another VM of the same name"));
  } else {
    out.Add(kinds::kVirtualMachine, vm_name, Planned(mode),
            mode == Mode::kDryRun ? "dry run: would be restored" : "restoring");
    RestoredVm(store, *live, p, mode, "", &out);
  }
  BERTH_RETURN_IF_ERROR(CheckAddress(store, ns, kinds::kVirtualMachineIPAddress, p.ip,
                                     types::VirtualMachineIPAddress(p.ip).spec().static_ip(),
                                     vm_name, mode, out));
  BERTH_RETURN_IF_ERROR(CheckAddress(store, ns, kinds::kVirtualMachineMACAddress, p.mac,
                                     types::VirtualMachineMACAddress(p.mac).spec().address(),
                                     vm_name, mode, out));
  CheckSecret(store, ns, p, mode, out);
  BERTH_RETURN_IF_ERROR(CheckDisks(store, ns, p, vm_name, mode, out));
  return out;
}

// One Restore pass: observe -> vmop::PlanRestore -> act -> store. Not thread-safe; lives for
// one Reconcile.
class Restore {
 public:
  Restore(ObjectStore& store, const Json& op, absl::Time now)
      : store_(store),
        op_(op),
        view_(op),
        ns_(view_.namespace_()),
        uid_(view_.uid()),
        vm_name_(view_.spec().virtual_machine_name()),
        now_(now) {}

  absl::StatusOr<ReconcileResult> Run();

 private:
  using DiskAction = vmop::DiskAction;

  // Writes the VM's power wishes: held off for the restore, or released.
  absl::Status Power(const Json& vm, vmop::Hold hold);
  absl::Status Annotate(const std::string& result);
  // The disks step: each disk of the snapshot as PlanDisk says, then FinishDisks.
  absl::StatusOr<Step<vmop::Rebuild>> ReplaceDisks(const SnapshotPayload& p);
  absl::Status Act(const DiskAction& action, const Json& src, const SnapshotPayload& p,
                   const Json* live);
  absl::Status RestoreAddress(const Json& saved, const char* kind, const std::string& want,
                              const Json& vm);
  absl::Status RestoreObjects(const SnapshotPayload& p, const Json& vm);

  ObjectStore& store_;
  const Json& op_;
  const types::VirtualMachineOperation view_;
  const std::string ns_;
  const std::string uid_;
  const std::string vm_name_;
  const absl::Time now_;
};

absl::StatusOr<ReconcileResult> Restore::Run() {
  switch (vmop::Preamble(view_)) {
    case vmop::Held::kDone:
    case vmop::Held::kCancel:  // not for a Restore: it finishes first
      return ReconcileResult{};
    case vmop::Held::kRemoveFinalizer:
      BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, op_, kOperationFinalizer).status());
      return ReconcileResult{};
    case vmop::Held::kRun:
      break;
  }
  // Observe.
  vmop::RestoreObservation obs;
  const std::string snap_name = view_.spec().restore().virtual_machine_snapshot_name();
  auto snap = store_.Get(ObjectKey{kinds::kVirtualMachineSnapshot, ns_, snap_name});
  if (!snap.ok() && !absl::IsNotFound(snap.status())) return snap.status();
  if (snap.ok()) obs.snapshot = &*snap;
  absl::StatusOr<SnapshotPayload> p = absl::FailedPreconditionError("not loaded");
  std::optional<Json> vm;
  std::optional<ResourceList> plan;
  types::VirtualMachineOperationStatus st = view_.status();
  if (st.phase() != vmop::Phase::kInProgress) {
    if (snap.ok() && types::VirtualMachineSnapshot(*snap).status().phase() ==
                         types::VirtualMachineSnapshotPhase::kReady) {
      p = LoadPayload(store_, *snap);
      if (!p.ok() && !absl::IsFailedPrecondition(p.status()) && !absl::IsDataLoss(p.status())) {
        return p.status();
      }
      obs.payload = p.status();
    }
    if (p.ok()) {
      auto live = store_.Get(ObjectKey{kinds::kVirtualMachine, ns_, vm_name_});
      if (!live.ok() && !absl::IsNotFound(live.status())) return live.status();
      if (live.ok()) vm = *std::move(live);
      Mode mode = ParseMode(std::string(types::Name(view_.spec().restore().mode())));
      BERTH_ASSIGN_OR_RETURN(plan,
                             CheckRestore(store_, ns_, *p, vm_name_, vm ? &*vm : nullptr, mode));
      obs.plan = &*plan;
      if (vm) obs.vm = &*vm;
    }
  } else {
    BERTH_ASSIGN_OR_RETURN(vm, store_.Get(ObjectKey{kinds::kVirtualMachine, ns_, vm_name_}));
    obs.vm = &*vm;  // the VM's finalizer keeps it while we hold it
    const std::string step = st.has_step() ? st.step() : vmop::kStepStop;
    if (snap.ok() && !(view_.deleting() && step == vmop::kStepStop)) {
      p = LoadPayload(store_, *snap);
      obs.payload = p.status();
    }
    if (step == vmop::kStepStart &&
        types::VirtualMachine(*vm).status().phase() == types::VirtualMachinePhase::kPending) {
      obs.vm_stuck = !MissingDependencies(store_, ns_, *vm).empty();
    }
  }
  // Plan, act, store.
  BERTH_ASSIGN_OR_RETURN(Step<vmop::Rebuild> step, vmop::PlanRestore(view_, obs, now_));
  if (step.action.vm != vmop::Hold::kKeep) BERTH_RETURN_IF_ERROR(Power(*vm, step.action.vm));
  if (step.action.replace_disks) {
    BERTH_ASSIGN_OR_RETURN(step, ReplaceDisks(*p));
  }
  if (step.action.restore_objects) BERTH_RETURN_IF_ERROR(RestoreObjects(*p, *vm));
  if (!step.action.annotation.empty()) BERTH_RETURN_IF_ERROR(Annotate(step.action.annotation));
  BERTH_RETURN_IF_ERROR(StoreOpStatus(store_, op_, step.status, step.add_finalizer));
  return step.Result();
}

absl::Status Restore::Power(const Json& vm, vmop::Hold hold) {
  Json vs = types::VirtualMachine(vm).status().json();
  types::VirtualMachineStatusWriter w(vs);
  if (hold == vmop::Hold::kHold) {
    w.set_maintenance(true);
    w.set_desired_power(types::VirtualMachineDesiredPower::kOff);
  } else {
    w.clear_maintenance();
    w.set_desired_power(view_.status().was_running() ? types::VirtualMachineDesiredPower::kOn
                                                     : types::VirtualMachineDesiredPower::kOff);
  }
  return WriteStatus(store_, vm, vs).status();
}

absl::Status Restore::Annotate(const std::string& result) {
  BERTH_ASSIGN_OR_RETURN(Json vm, store_.Get(ObjectKey{kinds::kVirtualMachine, ns_, vm_name_}));
  if (types::VirtualMachine(vm).metadata().annotation(kRestoreResultAnnotation) == result) {
    return absl::OkStatus();
  }
  vm["metadata"]["annotations"][kRestoreResultAnnotation] = result;
  return store_.Update(vm).status();
}

absl::StatusOr<Step<vmop::Rebuild>> Restore::ReplaceDisks(const SnapshotPayload& p) {
  vmop::DiskProgress progress;
  for (const Json& src : p.disks) {
    std::string name = types::VirtualDisk(src).name();
    auto live = store_.Get(ObjectKey{kinds::kVirtualDisk, ns_, name});
    if (!live.ok() && !absl::IsNotFound(live.status())) return live.status();
    const Json* found = live.ok() ? &*live : nullptr;
    vmop::DiskStep disk = vmop::PlanDisk(name, found, uid_);
    BERTH_RETURN_IF_ERROR(Act(disk.action, src, p, found));
    progress.Add(disk);
  }
  // The disks as they are now, for the entries of status.resources.
  std::vector<std::optional<Json>> found;
  std::vector<std::pair<std::string, const Json*>> disks;
  if (!progress.failure) {
    std::vector<std::string> names;
    for (const types::VirtualMachineOperationResource& e : view_.status().resources()) {
      if (e.kind() != kinds::kVirtualDisk) continue;
      auto d = store_.Get(ObjectKey{kinds::kVirtualDisk, ns_, e.name()});
      found.push_back(d.ok() ? std::optional<Json>(*std::move(d)) : std::nullopt);
      names.push_back(e.name());
    }
    for (size_t i = 0; i < names.size(); ++i) {
      disks.emplace_back(names[i], found[i] ? &*found[i] : nullptr);
    }
  }
  return vmop::FinishDisks(view_, progress, disks, now_);
}

absl::Status Restore::Act(const DiskAction& action, const Json& src, const SnapshotPayload& p,
                          const Json* live) {
  std::string name = types::VirtualDisk(src).name();
  if (action == DiskAction::kDelete) {
    auto d =
        store_.Delete(ObjectKey{kinds::kVirtualDisk, ns_, name}, types::VirtualDisk(*live).uid());
    if (!d.ok() && !absl::IsNotFound(d.status())) return d.status();
  } else if (action == DiskAction::kCreate) {
    Json disk = Copyable(src);
    disk["apiVersion"] = kApiVersion;
    disk["kind"] = kinds::kVirtualDisk;
    disk["metadata"]["namespace"] = ns_;
    disk["spec"]["dataSource"] = {
        {"type", types::Name(types::VirtualDiskSpecDataSourceType::kObjectRef)},
        {"objectRef",
         {{"kind", kinds::kVirtualDiskSnapshot}, {"name", p.disk_snapshots.at(name)}}}};
    Stamp(disk, uid_);
    auto created = store_.Create(disk);
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
  }
  return absl::OkStatus();
}

absl::Status Restore::RestoreAddress(const Json& saved, const char* kind, const std::string& want,
                                     const Json& vm) {
  if (saved.is_null()) return absl::OkStatus();
  // IP and MAC address objects alike: metadata, status.address.
  ObjectKey key{kind, ns_, types::VirtualMachineIPAddress(saved).name()};
  auto live = store_.Get(key);
  if (absl::IsNotFound(live.status())) {
    Json obj = Copyable(saved);
    obj["metadata"]["namespace"] = ns_;
    obj["metadata"]["ownerReferences"] = Json::array({{{"apiVersion", kApiVersion},
                                                       {"kind", kinds::kVirtualMachine},
                                                       {"name", vm_name_},
                                                       {"uid", types::VirtualMachine(vm).uid()}}});
    Stamp(obj, uid_);
    auto created = store_.Create(obj);
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
    return absl::OkStatus();
  }
  if (!live.ok()) return live.status();
  if (StampedBy(*live, uid_)) return absl::OkStatus();
  Json obj = *live;
  if (!want.empty() && types::VirtualMachineIPAddress(obj).status().address() != want) {
    obj["spec"] = saved["spec"];
    obj["status"].erase("address");  // the address reconciler leases the saved one again
  }
  Stamp(obj, uid_);
  return store_.Update(obj).status();
}

absl::Status Restore::RestoreObjects(const SnapshotPayload& p, const Json& vm) {
  BERTH_RETURN_IF_ERROR(RestoreAddress(p.ip, kinds::kVirtualMachineIPAddress,
                                       types::VirtualMachineIPAddress(p.ip).spec().static_ip(),
                                       vm));
  BERTH_RETURN_IF_ERROR(RestoreAddress(p.mac, kinds::kVirtualMachineMACAddress,
                                       types::VirtualMachineMACAddress(p.mac).spec().address(),
                                       vm));
  if (!p.provisioning.is_null()) {
    Json secret = Copyable(p.provisioning);
    secret["apiVersion"] = "v1";
    secret["metadata"]["namespace"] = ns_;
    Stamp(secret, uid_);
    auto created = store_.Create(secret);  // an existing one is kept (checked at validation)
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
  }
  if (StampedBy(vm, uid_)) return absl::OkStatus();
  Mode mode = ParseMode(std::string(types::Name(view_.spec().restore().mode())));
  return store_.Update(RestoredVm(store_, vm, p, mode, uid_, nullptr)).status();
}

}  // namespace

absl::StatusOr<ReconcileResult> ReconcileRestore(ObjectStore& store, const Json& op,
                                                 absl::Time now) {
  return Restore(store, op, now).Run();
}

}  // namespace berth::controller

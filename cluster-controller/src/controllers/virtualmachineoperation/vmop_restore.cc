// VirtualMachineOperation Restore. Steps, recorded in status.step so a crash resumes where it
// stopped: stop (remember the power state, hold the VM off) → disks (delete each disk, create it
// again from its VirtualDiskSnapshot) → objects (IP, MAC, provisioning Secret, VM spec) →
// start (release the VM at its former power state) → Completed. Every object written is stamped
// with the operation's uid, so a repeated pass skips it.
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

// Checks one address object of the snapshot (IP or MAC) against the cluster.
absl::Status CheckAddress(ObjectStore& store, const std::string& ns, const char* kind,
                          const Json& saved, const char* address_field, const std::string& vm,
                          Mode mode, ResourceList& out) {
  if (saved.is_null()) return absl::OkStatus();
  std::string name = JsonString(saved, "/metadata/name");
  std::string address = JsonString(saved, address_field);
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
  out.Add(kind, name, mode == Mode::kDryRun ? "Completed" : "InProgress",
          absl::StrCat(mode == Mode::kDryRun ? "dry run: would be restored" : "restoring",
                       address.empty() ? "" : absl::StrCat(" with address ", address)));
  return absl::OkStatus();
}

absl::Status CheckDisks(ObjectStore& store, const std::string& ns, const SnapshotPayload& p,
                        const std::string& vm, Mode mode, ResourceList& out) {
  for (const Json& d : p.disks) {
    std::string name = JsonString(d, "/metadata/name");
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> users, VmsUsingDisk(store, ns, name));
    std::string other;
    for (const Json& u : users) {
      if (JsonString(u, "/metadata/name") != vm) other = JsonString(u, "/metadata/name");
    }
    if (!other.empty()) {
      out.Conflict(
          "VirtualDisk", name,
          absl::StrCat(Q("VirtualDisk", name), " is attached to VirtualMachine \"", other, "\""));
      continue;
    }
    out.Add("VirtualDisk", name, mode == Mode::kDryRun ? "Completed" : "InProgress",
            absl::StrCat(mode == Mode::kDryRun ? "dry run: would be restored" : "restoring",
                         " from VirtualDiskSnapshot \"", p.disk_snapshots.at(name), "\""));
  }
  return absl::OkStatus();
}

void CheckSecret(ObjectStore& store, const std::string& ns, const SnapshotPayload& p, Mode mode,
                 ResourceList& out) {
  if (p.provisioning.is_null()) return;
  std::string name = JsonString(p.provisioning, "/metadata/name");
  auto live = store.Get(ObjectKey{"Secret", ns, name});
  if (!live.ok() || JsonAt(*live, "/data") == JsonAt(p.provisioning, "/data")) {
    out.Add("Secret", name, mode == Mode::kDryRun ? "Completed" : "InProgress",
            live.ok() ? "unchanged since the snapshot" : "missing: will be created");
  } else if (mode == Mode::kBestEffort) {
    out.Add("Secret", name, "Completed",
            "differs from the snapshot: the current data is kept (BestEffort)");
  } else {
    out.Conflict("Secret", name,
                 absl::StrCat("provisioning ", Q("Secret", name),
                              " has other data than in the snapshot (BestEffort keeps it)"));
  }
}

// Returns the VM as the restore writes it: the live object with the snapshot's labels,
// annotations and spec (BestEffort drops missing images), stamped.
Json RestoredVm(ObjectStore& store, const Json& live, const SnapshotPayload& p, Mode mode,
                const std::string& op_uid, ResourceList* out) {
  Json vm = live;
  std::string ns = JsonString(live, "/metadata/namespace");
  vm["spec"] = JsonAt(p.vm, "/spec");
  vm["metadata"]["labels"] = JsonAt(p.vm, "/metadata/labels").is_object()
                                 ? JsonAt(p.vm, "/metadata/labels")
                                 : Json::object();
  Json ann = JsonAt(p.vm, "/metadata/annotations");
  vm["metadata"]["annotations"] = ann.is_object() ? ann : Json::object();
  Stamp(vm, op_uid);
  auto missing = MissingDependencies(store, ns, vm);
  std::vector<std::pair<std::string, std::string>> images;
  for (const auto& [kind, name] : missing) {
    bool image = kind != "VirtualMachineClass";
    if (image && mode == Mode::kBestEffort) images.emplace_back(kind, name);
    if (out == nullptr) continue;
    out->Add(kind, name, "Completed",
             absl::StrCat(Q(kind, name), " does not exist: ",
                          image && mode == Mode::kBestEffort
                              ? "reference dropped (BestEffort)"
                              : "reference kept; the VM stays Pending until it exists"));
  }
  DropImageRefs(vm, images);
  return vm;
}

// Validates a restore. All conflicts of the spec become Failed entries.
absl::StatusOr<ResourceList> PlanRestore(ObjectStore& store, const std::string& ns,
                                         const SnapshotPayload& p, const std::string& vm_name,
                                         Mode mode) {
  ResourceList out;
  auto live = store.Get(ObjectKey{"VirtualMachine", ns, vm_name});
  if (!live.ok() && !absl::IsNotFound(live.status())) return live.status();
  std::string snap_vm = JsonString(p.vm, "/metadata/name");
  if (snap_vm != vm_name) {
    out.Conflict(
        "VirtualMachine", vm_name,
        absl::StrCat("VirtualMachineSnapshot \"", p.snapshot_name,
                     "\" was taken of VirtualMachine \"", snap_vm, "\", not \"", vm_name, "\""));
  } else if (!live.ok()) {
    out.Conflict("VirtualMachine", vm_name,
                 absl::StrCat(Q("VirtualMachine", vm_name), " does not exist"));
  } else if (JsonString(*live, "/metadata/uid") != p.vm_uid) {
    out.Conflict("VirtualMachine", vm_name,
                 absl::StrCat(Q("VirtualMachine", vm_name), " has uid ",
                              JsonString(*live, "/metadata/uid"), " but the snapshot was taken of ",
                              p.vm_uid, ": it is another VM of the same name"));
  } else {
    out.Add("VirtualMachine", vm_name, mode == Mode::kDryRun ? "Completed" : "InProgress",
            mode == Mode::kDryRun ? "dry run: would be restored" : "restoring");
    RestoredVm(store, *live, p, mode, "", &out);
  }
  BERTH_RETURN_IF_ERROR(CheckAddress(store, ns, "VirtualMachineIPAddress", p.ip, "/spec/staticIP",
                                     vm_name, mode, out));
  BERTH_RETURN_IF_ERROR(CheckAddress(store, ns, "VirtualMachineMACAddress", p.mac, "/spec/address",
                                     vm_name, mode, out));
  CheckSecret(store, ns, p, mode, out);
  BERTH_RETURN_IF_ERROR(CheckDisks(store, ns, p, vm_name, mode, out));
  return out;
}

// Where the disks step stands after one pass.
struct DiskProgress {
  std::optional<std::string> failure;  // a restored disk Failed: the restore fails
  std::optional<std::string> waiting;  // what the step still waits for
};

class Restore : OpRun {
 public:
  Restore(ObjectStore& store, OpStatus& out, const Json& op, Json status)
      : OpRun(store, out, op, std::move(status)),
        view_(op),
        vm_name_(view_.spec().virtual_machine_name()),
        mode_(ParseMode(std::string(types::Name(view_.spec().restore().mode())))) {}

  absl::StatusOr<ReconcileResult> Run();

 private:
  absl::StatusOr<ReconcileResult> Validate(const Json& snap);
  absl::StatusOr<ReconcileResult> Step(const SnapshotPayload& p, const Json& vm);
  absl::StatusOr<ReconcileResult> RollBack(const Json& vm);
  std::string CurrentStep() const {
    types::VirtualMachineOperationStatus st(status_);
    return st.has_step() ? st.step() : vmop::kStepStop;
  }
  absl::StatusOr<ReconcileResult> Next(const std::string& step) {
    types::VirtualMachineOperationStatusWriter(status_).set_step(step);
    BERTH_RETURN_IF_ERROR(out_.Write(op_, status_).status());
    return ReconcileResult{};
  }
  absl::StatusOr<ReconcileResult> Fail(const std::string& reason, const std::string& msg) {
    return out_.Finish(op_, status_, false, reason, msg);
  }
  // Writes the VM's power wishes: held off for the restore, or released.
  absl::Status Power(const Json& vm, bool hold);
  absl::StatusOr<DiskProgress> ReplaceDisks(const SnapshotPayload& p);
  absl::Status RestoreAddress(const Json& saved, const char* kind, const char* field,
                              const Json& vm);
  absl::Status RestoreObjects(const SnapshotPayload& p, const Json& vm);
  absl::Status Annotate(const std::string& result);
  // Records progress in the Completed condition; while the operation is being deleted the
  // reason says the restore is finished first.
  absl::StatusOr<ReconcileResult> Progress(const std::string& reason, const std::string& msg) {
    if (view_.deleting()) {
      SetCondition(status_, vmop::kCompleted, false, vmop::kReasonFinishingBeforeDeletion,
                   absl::StrCat("deleted while InProgress after the disks were touched: "
                                "finishing the restore before removal (",
                                reason, msg.empty() ? "" : ": ", msg, ")"),
                   op_, out_.Now());
    } else {
      SetCondition(status_, vmop::kCompleted, false, reason, msg, op_, out_.Now());
    }
    BERTH_RETURN_IF_ERROR(out_.Write(op_, status_).status());
    return ReconcileResult{vmop::kPoll};
  }

  const types::VirtualMachineOperation view_;
  const std::string vm_name_;
  const Mode mode_;
};

absl::StatusOr<ReconcileResult> Restore::Run() {
  const bool deleting = view_.deleting();
  const vmop::Phase phase = types::VirtualMachineOperationStatus(status_).phase();
  if (deleting) {
    if (!view_.metadata().HasFinalizer(kOperationFinalizer)) return ReconcileResult{};
    if (phase != vmop::Phase::kInProgress) {
      BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, op_, kOperationFinalizer).status());
      return ReconcileResult{};
    }
  } else if (vmop::Terminal(phase)) {
    return ReconcileResult{};
  }
  std::string snap_name = view_.spec().restore().virtual_machine_snapshot_name();
  auto snap = store_.Get(ObjectKey{kinds::kVirtualMachineSnapshot, ns_, snap_name});
  if (!snap.ok() && !absl::IsNotFound(snap.status())) return snap.status();
  if (phase != vmop::Phase::kInProgress) {
    if (!snap.ok()) {
      return Fail(vmop::kReasonVirtualMachineSnapshotNotFound,
                  absl::StrCat("VirtualMachineSnapshot \"", snap_name, "\" not found"));
    }
    return Validate(*snap);
  }
  auto vm = store_.Get(ObjectKey{kinds::kVirtualMachine, ns_, vm_name_});
  if (!vm.ok()) return vm.status();  // the VM's finalizer keeps it while we hold it
  std::string step = CurrentStep();
  if (deleting && step == vmop::kStepStop) return RollBack(*vm);
  absl::StatusOr<SnapshotPayload> p =
      snap.ok() ? LoadPayload(store_, *snap)
                : absl::FailedPreconditionError(
                      absl::StrCat("VirtualMachineSnapshot \"", snap_name, "\" was deleted"));
  if (!p.ok() && step == vmop::kStepStop) {
    BERTH_RETURN_IF_ERROR(Power(*vm, /*hold=*/false));
    return Fail(vmop::kReasonVirtualMachineSnapshotLost,
                absl::StrCat(p.status().message(), "; nothing was changed"));
  }
  if (!p.ok() && step == vmop::kStepDisks) {
    return Fail(vmop::kReasonVirtualMachineSnapshotLost,
                absl::StrCat(p.status().message(),
                             " while disks were being restored: the VM is held stopped; "
                             "restore it from another snapshot"));
  }
  if (!p.ok() && step != vmop::kStepStart) return p.status();
  return Step(p.ok() ? *p : SnapshotPayload{}, *vm);
}

absl::StatusOr<ReconcileResult> Restore::Validate(const Json& snap) {
  types::VirtualMachineSnapshot s(snap);
  const types::VirtualMachineSnapshotPhase snap_phase = s.status().phase();
  if (snap_phase != types::VirtualMachineSnapshotPhase::kReady) {
    if (snap_phase == types::VirtualMachineSnapshotPhase::kFailed) {
      return Fail(vmop::kReasonVirtualMachineSnapshotFailed,
                  absl::StrCat("VirtualMachineSnapshot \"", s.name(), "\" is Failed"));
    }
    types::VirtualMachineOperationStatusWriter(status_).set_phase(vmop::Phase::kPending);
    SetCondition(status_, vmop::kSnapshotReady, false, vmop::kReasonWaitingForTheSnapshot,
                 absl::StrCat("VirtualMachineSnapshot \"", s.name(), "\" is not Ready"), op_,
                 out_.Now());
    BERTH_RETURN_IF_ERROR(out_.Write(op_, status_).status());
    return ReconcileResult{vmop::kPoll};
  }
  SetCondition(status_, vmop::kSnapshotReady, true, vmop::kReasonSnapshotReady, "", op_,
               out_.Now());
  auto p = LoadPayload(store_, snap);
  if (absl::IsFailedPrecondition(p.status()) || absl::IsDataLoss(p.status())) {
    return Fail(vmop::kReasonVirtualMachineSnapshotLost, std::string(p.status().message()));
  }
  if (!p.ok()) return p.status();
  BERTH_ASSIGN_OR_RETURN(ResourceList plan, PlanRestore(store_, ns_, *p, vm_name_, mode_));
  types::VirtualMachineOperationStatusWriter w(status_);
  w.set_resources(plan.json());
  if (mode_ == Mode::kDryRun) {
    return out_.Finish(
        op_, status_, !plan.HasConflict(),
        plan.HasConflict() ? vmop::kReasonConflictsFound : vmop::kReasonDryRunCompleted,
        plan.HasConflict() ? plan.ConflictSummary() : "dry run: the restore would succeed");
  }
  if (plan.HasConflict()) return Fail(vmop::kReasonConflictsFound, plan.ConflictSummary());
  BERTH_ASSIGN_OR_RETURN(Json vm, store_.Get(ObjectKey{kinds::kVirtualMachine, ns_, vm_name_}));
  types::VirtualMachineStatus vs = types::VirtualMachine(vm).status();
  // Where the VM is headed; a VM that has never been asked is as its phase shows.
  w.set_was_running(vs.desired_power() == types::VirtualMachineDesiredPower::kUnset
                        ? VmActive(JsonString(vm, "/status/phase"))
                        : vs.desired_power() == types::VirtualMachineDesiredPower::kOn);
  w.set_step(vmop::kStepStop);
  SetCondition(status_, vmop::kMaintenanceMode, true, vmop::kReasonMaintenanceMode,
               "the VM is held stopped while it is restored", op_, out_.Now());
  BERTH_RETURN_IF_ERROR(out_.Begin(op_, status_, vmop::kReasonStoppingVirtualMachine).status());
  return ReconcileResult{};
}

absl::Status Restore::Power(const Json& vm, bool hold) {
  Json vs = types::VirtualMachine(vm).status().json();
  types::VirtualMachineStatusWriter w(vs);
  if (hold) {
    w.set_maintenance(true);
    w.set_desired_power(types::VirtualMachineDesiredPower::kOff);
  } else {
    w.clear_maintenance();
    w.set_desired_power(types::VirtualMachineOperationStatus(status_).was_running()
                            ? types::VirtualMachineDesiredPower::kOn
                            : types::VirtualMachineDesiredPower::kOff);
  }
  return WriteStatus(store_, vm, vs).status();
}

absl::StatusOr<ReconcileResult> Restore::RollBack(const Json& vm) {
  BERTH_RETURN_IF_ERROR(Power(vm, /*hold=*/false));
  BERTH_RETURN_IF_ERROR(Annotate(absl::StrCat("vmop/", view_.name(),
                                              " deleted before any disk was replaced: rolled "
                                              "back, nothing changed")));
  return out_.Finish(op_, status_, false, vmop::kReasonRolledBack,
                     "deleted while InProgress before any disk was replaced: rolled back, the "
                     "VM is unchanged");
}

absl::Status Restore::Annotate(const std::string& result) {
  BERTH_ASSIGN_OR_RETURN(Json vm, store_.Get(ObjectKey{kinds::kVirtualMachine, ns_, vm_name_}));
  if (types::VirtualMachine(vm).metadata().annotation(kRestoreResultAnnotation) == result) {
    return absl::OkStatus();
  }
  vm["metadata"]["annotations"][kRestoreResultAnnotation] = result;
  return store_.Update(vm).status();
}

absl::StatusOr<DiskProgress> Restore::ReplaceDisks(const SnapshotPayload& p) {
  DiskProgress progress;
  for (const Json& src : p.disks) {
    std::string name = JsonString(src, "/metadata/name");
    ObjectKey key{kinds::kVirtualDisk, ns_, name};
    auto live = store_.Get(key);
    if (!live.ok() && !absl::IsNotFound(live.status())) return live.status();
    if (live.ok() && StampedBy(*live, uid_)) {
      types::VirtualDisk disk(*live);
      types::VirtualDiskPhase phase = disk.status().phase();
      if (phase == types::VirtualDiskPhase::kFailed) {
        progress.failure = absl::StrCat(Q(kinds::kVirtualDisk, name), " failed to restore: ",
                                        disk.status().conditions().Get(vd::kReady).message());
      } else if (phase != types::VirtualDiskPhase::kReady) {
        std::string text = JsonString(*live, "/status/phase");  // as stored, even if unknown
        progress.waiting =
            absl::StrCat(Q(kinds::kVirtualDisk, name), " is ", text.empty() ? "Pending" : text);
      }
      continue;
    }
    if (live.ok()) {  // the old disk: delete it, then create it again from the snapshot
      if (!IsDeleting(*live)) {
        auto d = store_.Delete(key, types::VirtualDisk(*live).uid());
        if (!d.ok() && !absl::IsNotFound(d.status())) return d.status();
      }
      progress.waiting =
          absl::StrCat("the old ", Q(kinds::kVirtualDisk, name), " is being deleted");
      continue;
    }
    Json disk = Copyable(src);
    disk["apiVersion"] = kApiVersion;
    disk["kind"] = kinds::kVirtualDisk;
    disk["metadata"]["namespace"] = ns_;
    disk["spec"]["dataSource"] = {
        {"type", "ObjectRef"},
        {"objectRef",
         {{"kind", kinds::kVirtualDiskSnapshot}, {"name", p.disk_snapshots.at(name)}}}};
    Stamp(disk, uid_);
    auto created = store_.Create(disk);
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
    progress.waiting = absl::StrCat(Q(kinds::kVirtualDisk, name), " is being restored");
  }
  return progress;
}

absl::Status Restore::RestoreAddress(const Json& saved, const char* kind, const char* field,
                                     const Json& vm) {
  if (saved.is_null()) return absl::OkStatus();
  ObjectKey key{kind, ns_, JsonString(saved, "/metadata/name")};
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
  std::string want = JsonString(saved, field);
  // IP and MAC address objects alike: status.address.
  if (!want.empty() && types::VirtualMachineIPAddress(obj).status().address() != want) {
    obj["spec"] = saved["spec"];
    obj["status"].erase("address");  // the address reconciler leases the saved one again
  }
  Stamp(obj, uid_);
  return store_.Update(obj).status();
}

absl::Status Restore::RestoreObjects(const SnapshotPayload& p, const Json& vm) {
  BERTH_RETURN_IF_ERROR(
      RestoreAddress(p.ip, kinds::kVirtualMachineIPAddress, "/spec/staticIP", vm));
  BERTH_RETURN_IF_ERROR(
      RestoreAddress(p.mac, kinds::kVirtualMachineMACAddress, "/spec/address", vm));
  if (!p.provisioning.is_null()) {
    Json secret = Copyable(p.provisioning);
    secret["apiVersion"] = "v1";
    secret["metadata"]["namespace"] = ns_;
    Stamp(secret, uid_);
    auto created = store_.Create(secret);  // an existing one is kept (checked at validation)
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
  }
  if (StampedBy(vm, uid_)) return absl::OkStatus();
  return store_.Update(RestoredVm(store_, vm, p, mode_, uid_, nullptr)).status();
}

absl::StatusOr<ReconcileResult> Restore::Step(const SnapshotPayload& p, const Json& vm) {
  std::string step = CurrentStep();
  const std::string vm_phase = JsonString(vm, "/status/phase");  // VmActive knows "Pausing"
  if (step == vmop::kStepStop) {
    BERTH_RETURN_IF_ERROR(Power(vm, /*hold=*/true));
    if (VmActive(vm_phase)) {
      return Progress(vmop::kReasonStoppingVirtualMachine, "waiting for the VM to stop");
    }
    return Next(vmop::kStepDisks);
  }
  if (step == vmop::kStepDisks) {
    BERTH_ASSIGN_OR_RETURN(DiskProgress progress, ReplaceDisks(p));
    if (progress.failure) {
      return Fail(
          vmop::kReasonVirtualDiskRestoreFailed,
          absl::StrCat(*progress.failure, "; the VM is held stopped until it is restored again"));
    }
    for (Json& e : status_["resources"]) {
      if (e.value("kind", "") == kinds::kVirtualDisk) {
        auto d = store_.Get(ObjectKey{kinds::kVirtualDisk, ns_, e.value("name", "")});
        bool done = d.ok() && StampedBy(*d, uid_) &&
                    types::VirtualDisk(*d).status().phase() == types::VirtualDiskPhase::kReady;
        e["status"] = done ? "Completed" : "InProgress";
      }
    }
    if (progress.waiting) return Progress(vmop::kReasonRestoringDisks, *progress.waiting);
    return Next(vmop::kStepObjects);
  }
  if (step == vmop::kStepObjects) {
    BERTH_RETURN_IF_ERROR(RestoreObjects(p, vm));
    return Next(vmop::kStepStart);
  }
  BERTH_RETURN_IF_ERROR(Power(vm, /*hold=*/false));
  using RunPolicy = types::VirtualMachineSpecRunPolicy;
  RunPolicy policy = types::VirtualMachine(vm).spec().run_policy();
  bool want_running = policy == RunPolicy::kAlwaysOn ||
                      (types::VirtualMachineOperationStatus(status_).was_running() &&
                       policy != RunPolicy::kAlwaysOff);
  // A VM whose images are gone stays Pending (Strict keeps the references): that is the end.
  bool stuck = vm_phase == "Pending" && !MissingDependencies(store_, ns_, vm).empty();
  if (want_running ? vm_phase != "Running" && !stuck : VmActive(vm_phase)) {
    return Progress(
        want_running ? vmop::kReasonStartingVirtualMachine : vmop::kReasonStoppingVirtualMachine,
        "");
  }
  for (Json& e : status_["resources"]) {
    if (e.value("status", "") == "InProgress") e["status"] = "Completed";
  }
  SetCondition(status_, vmop::kMaintenanceMode, false, vmop::kReasonMaintenanceModeOff, "", op_,
               out_.Now());
  const bool deleting = view_.deleting();
  std::string msg = deleting ? "deleted while InProgress: the restore was finished first" : "";
  BERTH_RETURN_IF_ERROR(Annotate(absl::StrCat(
      "vmop/", view_.name(), " ", deleting ? "finished after its deletion" : "completed")));
  return out_.Finish(op_, status_, true,
                     deleting ? vmop::kReasonFinishedBeforeDeletion : vmop::kReasonCompleted, msg);
}

}  // namespace

absl::StatusOr<ReconcileResult> ReconcileRestore(ObjectStore& store, OpStatus& out, const Json& op,
                                                 Json status) {
  return Restore(store, out, op, std::move(status)).Run();
}

}  // namespace berth::controller

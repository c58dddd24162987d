#include "controllers/virtualmachineoperation/vmop_machine.h"

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "controllers/common/vm_common.h"

namespace berth::controller::vmop {

bool Terminal(Phase phase) { return phase == Phase::kCompleted || phase == Phase::kFailed; }

bool Terminal(const types::VirtualMachineOperation& op) { return Terminal(op.status().phase()); }

bool Rebuilds(const types::VirtualMachineOperation& op) {
  Type type = op.spec().type();
  return type == Type::kRestore || type == Type::kClone || type == Type::kMigrate ||
         type == Type::kEvict;
}

namespace {

using ResourceState = types::VirtualMachineOperationResourceStatus;

Step<Action> Store(Json status, absl::Duration requeue = absl::ZeroDuration()) {
  Step<Action> step;
  step.status = std::move(status);
  step.requeue = requeue;
  return step;
}

}  // namespace

Json Concluded(const Json& op, Json status, bool ok, const std::string& reason,
               const std::string& message, absl::Time now) {
  // The phase names of VirtualMachineSnapshotOperation are the same.
  types::VirtualMachineOperationStatusWriter(status).set_phase(ok ? Phase::kCompleted
                                                                  : Phase::kFailed);
  if (!ok && status.contains("resources") && status["resources"].is_array()) {
    for (Json& e : status["resources"]) {
      if (types::VirtualMachineOperationResource(e).status() != ResourceState::kInProgress) {
        continue;
      }
      e["status"] = types::Name(ResourceState::kSkipped);
      e["message"] = absl::StrCat("not done: the operation failed (", reason, ")");
    }
  }
  SetCondition(status, kCompleted, ok, reason, message, op, now);
  return status;
}

Step<Action> Conclude(const Json& op, Json status, bool ok, const std::string& reason,
                      const std::string& message, absl::Time now) {
  return Store(Concluded(op, std::move(status), ok, reason, message, now));
}

Step<Action> Wait(const types::VirtualMachineOperation& op, absl::Time now) {
  Json status = op.status().json();
  types::VirtualMachineOperationStatusWriter(status).set_phase(Phase::kPending);
  SetCondition(status, kCompleted, false, kReasonWaitingForOtherOperation,
               "another operation on this VM is in progress", op.json(), now);
  return Store(std::move(status), kPoll);
}

Step<Action> PlanPower(const types::VirtualMachineOperation& op, const PowerObservation& obs,
                       absl::Time now) {
  const Json& self = op.json();
  Json status = op.status().json();
  const Type type = op.spec().type();
  if (type != Type::kStart && type != Type::kStop && type != Type::kRestart) {  // Migrate, Evict
    return Conclude(self, std::move(status), false, kReasonNotSupported,
                    absl::StrCat("operation type ", JsonString(self, "/spec/type"),
                                 " is not supported by this controller"),
                    now);
  }
  if (obs.vm == nullptr) {
    return Conclude(
        self, std::move(status), false, kReasonVirtualMachineNotFound,
        absl::StrCat("VirtualMachine \"", op.spec().virtual_machine_name(), "\" not found"), now);
  }
  if (obs.other_in_progress) return Wait(op, now);
  types::VirtualMachine vm(*obs.vm);
  using RunPolicy = types::VirtualMachineSpecRunPolicy;
  const RunPolicy policy = vm.spec().run_policy();
  if ((type == Type::kStart || type == Type::kRestart) && policy == RunPolicy::kAlwaysOff) {
    return Conclude(self, std::move(status), false, kReasonRunPolicyForbids,
                    "the VM's runPolicy AlwaysOff does not allow it to be started", now);
  }
  if (type == Type::kStop && policy == RunPolicy::kAlwaysOn) {
    return Conclude(self, std::move(status), false, kReasonRunPolicyForbids,
                    "the VM's runPolicy AlwaysOn restarts it; change runPolicy to stop it", now);
  }
  types::VirtualMachineOperationStatusWriter w(status);
  std::string step = w.has_step() ? w.step() : (type == Type::kRestart ? kStepStop : "");
  if (w.phase() != Phase::kInProgress) {
    w.set_phase(Phase::kInProgress);
    w.set_step(step);
    SetCondition(status, kCompleted, false, kReasonInProgress, "", self, now);
    return Store(std::move(status));
  }
  const types::VirtualMachinePhase vm_phase = vm.status().phase();
  Step<Action> wait;  // the VM is on its way: nothing to store
  wait.requeue = kPoll;
  if (type == Type::kStop || step == kStepStop) {
    wait.action = op.spec().force() ? Action::kPowerOffForce : Action::kPowerOff;
    if (vm_phase != types::VirtualMachinePhase::kStopped) return wait;
    Step<Action> done;
    if (type == Type::kStop) {
      done = Conclude(self, std::move(status), true, kReasonCompleted, "", now);
    } else {
      w.set_step(kStepStart);
      done = Store(std::move(status));
    }
    done.action = wait.action;
    return done;
  }
  wait.action = Action::kPowerOn;
  if (vm_phase != types::VirtualMachinePhase::kRunning) return wait;
  Step<Action> done = Conclude(self, std::move(status), true, kReasonCompleted, "", now);
  done.action = Action::kPowerOn;
  return done;
}

// ---- Restore and Clone

Held Preamble(bool deleting, bool has_finalizer, bool in_progress, bool terminal,
              bool finish_first) {
  if (deleting) {
    if (!has_finalizer) return Held::kDone;
    if (!in_progress) return Held::kRemoveFinalizer;
    return finish_first ? Held::kRun : Held::kCancel;
  }
  return terminal ? Held::kDone : Held::kRun;
}

Held Preamble(const types::VirtualMachineOperation& op) {
  return Preamble(op.deleting(), op.metadata().HasFinalizer(kOperationFinalizer),
                  op.status().phase() == Phase::kInProgress, Terminal(op),
                  op.spec().type() == Type::kRestore || op.spec().type() == Type::kMigrate ||
                      op.spec().type() == Type::kEvict);
}

namespace {

Step<Rebuild> Stored(Json status, absl::Duration requeue = absl::ZeroDuration()) {
  Step<Rebuild> step;
  step.status = std::move(status);
  step.requeue = requeue;
  return step;
}

Step<Rebuild> Concluding(const Json& op, Json status, bool ok, const std::string& reason,
                         const std::string& message, absl::Time now) {
  return Stored(Concluded(op, std::move(status), ok, reason, message, now));
}

// Moves to InProgress with the Completed condition's `reason`, kOperationFinalizer added first.
Step<Rebuild> Begin(const Json& op, Json status, const std::string& reason, absl::Time now) {
  // The phase names of VirtualMachineSnapshotOperation are the same.
  types::VirtualMachineOperationStatusWriter(status).set_phase(Phase::kInProgress);
  SetCondition(status, kCompleted, false, reason, "", op, now);
  Step<Rebuild> step = Stored(std::move(status));
  step.add_finalizer = true;
  return step;
}

std::string Quoted(const std::string& kind, const std::string& name) {
  return absl::StrCat(kind, " \"", name, "\"");
}

// status.phase as stored, even one the schema does not know (VmActive knows "Pausing").
std::string RawPhase(const Json& obj) {
  const Json& status = types::VirtualDisk(obj).status().json();  // any kind: status.phase
  auto it = status.find("phase");
  return it != status.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The phase as stored; empty reads as Pending.
std::string PhaseText(const Json& obj) {
  std::string text = RawPhase(obj);
  return text.empty() ? "Pending" : text;
}

Mode RestoreMode(const types::VirtualMachineOperation& op) {
  return ParseMode(std::string(types::Name(op.spec().restore().mode())));
}

// Records progress in the Completed condition (1s); while the operation is being deleted the
// reason says the restore is finished first.
Step<Rebuild> RestoreProgress(const types::VirtualMachineOperation& op, Json status,
                              const std::string& reason, const std::string& msg, absl::Time now) {
  if (op.deleting()) {
    SetCondition(status, kCompleted, false, kReasonFinishingBeforeDeletion,
                 absl::StrCat("deleted while InProgress after the disks were touched: "
                              "finishing the restore before removal (",
                              reason, msg.empty() ? "" : ": ", msg, ")"),
                 op.json(), now);
  } else {
    SetCondition(status, kCompleted, false, reason, msg, op.json(), now);
  }
  return Stored(std::move(status), kPoll);
}

// status.step moves on at once.
Step<Rebuild> NextStep(Json status, const std::string& step) {
  types::VirtualMachineOperationStatusWriter(status).set_step(step);
  return Stored(std::move(status));
}

Step<Rebuild> ValidateRestore(const types::VirtualMachineOperation& op,
                              const RestoreObservation& obs, absl::Time now) {
  const Json& self = op.json();
  Json status = op.status().json();
  std::optional<Step<Rebuild>> gate =
      GateSnapshot(self, status, op.spec().restore().virtual_machine_snapshot_name(), obs.snapshot,
                   obs.payload, now);
  if (gate) return *std::move(gate);
  const ResourceList& plan = *obs.plan;
  types::VirtualMachineOperationStatusWriter w(status);
  w.set_resources(plan.json());
  if (RestoreMode(op) == Mode::kDryRun) {
    return Concluding(
        self, std::move(status), !plan.HasConflict(),
        plan.HasConflict() ? kReasonConflictsFound : kReasonDryRunCompleted,
        plan.HasConflict() ? plan.ConflictSummary() : "dry run: the restore would succeed", now);
  }
  if (plan.HasConflict()) {
    return Concluding(self, std::move(status), false, kReasonConflictsFound, plan.ConflictSummary(),
                      now);
  }
  types::VirtualMachine vm(*obs.vm);
  types::VirtualMachineStatus vs = vm.status();
  // Where the VM is headed; a VM that has never been asked is as its phase shows.
  w.set_was_running(vs.desired_power() == types::VirtualMachineDesiredPower::kUnset
                        ? VmActive(RawPhase(*obs.vm))
                        : vs.desired_power() == types::VirtualMachineDesiredPower::kOn);
  w.set_step(kStepStop);
  SetCondition(status, kMaintenanceMode, true, kReasonMaintenanceMode,
               "the VM is held stopped while it is restored", self, now);
  return Begin(self, std::move(status), kReasonStoppingVirtualMachine, now);
}

}  // namespace

std::optional<Step<Rebuild>> GateSnapshot(const Json& op, Json& status, const std::string& name,
                                          const Json* snapshot, const absl::Status& payload,
                                          absl::Time now) {
  if (snapshot == nullptr) {
    return Concluding(op, std::move(status), false, kReasonVirtualMachineSnapshotNotFound,
                      absl::StrCat(Quoted(kinds::kVirtualMachineSnapshot, name), " not found"),
                      now);
  }
  const types::VirtualMachineSnapshotPhase phase =
      types::VirtualMachineSnapshot(*snapshot).status().phase();
  if (phase == types::VirtualMachineSnapshotPhase::kFailed) {
    return Concluding(op, std::move(status), false, kReasonVirtualMachineSnapshotFailed,
                      absl::StrCat(Quoted(kinds::kVirtualMachineSnapshot, name), " is Failed"),
                      now);
  }
  if (phase != types::VirtualMachineSnapshotPhase::kReady) {
    // The phase names of VirtualMachineSnapshotOperation are the same.
    types::VirtualMachineOperationStatusWriter(status).set_phase(Phase::kPending);
    SetCondition(status, kSnapshotReady, false, kReasonWaitingForTheSnapshot,
                 absl::StrCat(Quoted(kinds::kVirtualMachineSnapshot, name), " is not Ready"), op,
                 now);
    return Stored(std::move(status), kPoll);
  }
  SetCondition(status, kSnapshotReady, true, kReasonSnapshotReady, "", op, now);
  if (!payload.ok()) {
    return Concluding(op, std::move(status), false, kReasonVirtualMachineSnapshotLost,
                      std::string(payload.message()), now);
  }
  return std::nullopt;
}

absl::StatusOr<Step<Rebuild>> PlanRestore(const types::VirtualMachineOperation& op,
                                          const RestoreObservation& obs, absl::Time now) {
  const Json& self = op.json();
  types::VirtualMachineOperationStatus st = op.status();
  if (st.phase() != Phase::kInProgress) return ValidateRestore(op, obs, now);
  Json status = st.json();
  const std::string step = st.has_step() ? st.step() : kStepStop;
  if (op.deleting() && step == kStepStop) {
    Step<Rebuild> done = Concluding(self, std::move(status), false, kReasonRolledBack,
                                    "deleted while InProgress before any disk was replaced: "
                                    "rolled back, the VM is unchanged",
                                    now);
    done.action.vm = Hold::kRelease;
    done.action.annotation = absl::StrCat(
        "vmop/", op.name(), " deleted before any disk was replaced: rolled back, nothing changed");
    return done;
  }
  const std::string snap_name = op.spec().restore().virtual_machine_snapshot_name();
  absl::Status payload =
      obs.snapshot != nullptr
          ? obs.payload
          : absl::FailedPreconditionError(
                absl::StrCat(Quoted(kinds::kVirtualMachineSnapshot, snap_name), " was deleted"));
  if (!payload.ok() && step == kStepStop) {
    Step<Rebuild> lost =
        Concluding(self, std::move(status), false, kReasonVirtualMachineSnapshotLost,
                   absl::StrCat(payload.message(), "; nothing was changed"), now);
    lost.action.vm = Hold::kRelease;
    return lost;
  }
  if (!payload.ok() && step == kStepDisks) {
    return Concluding(self, std::move(status), false, kReasonVirtualMachineSnapshotLost,
                      absl::StrCat(payload.message(),
                                   " while disks were being restored: the VM is held stopped; "
                                   "restore it from another snapshot"),
                      now);
  }
  if (!payload.ok() && step != kStepStart) return payload;
  types::VirtualMachine vm(*obs.vm);
  const types::VirtualMachinePhase vm_phase = vm.status().phase();
  const bool active = VmActive(RawPhase(*obs.vm));
  if (step == kStepStop) {
    Step<Rebuild> next = active
                             ? RestoreProgress(op, std::move(status), kReasonStoppingVirtualMachine,
                                               "waiting for the VM to stop", now)
                             : NextStep(std::move(status), kStepDisks);
    next.action.vm = Hold::kHold;
    return next;
  }
  if (step == kStepDisks) {
    Step<Rebuild> disks;  // FinishDisks decides once the disks were acted on
    disks.action.replace_disks = true;
    return disks;
  }
  if (step == kStepObjects) {
    Step<Rebuild> next = NextStep(std::move(status), kStepStart);
    next.action.restore_objects = true;
    return next;
  }
  using RunPolicy = types::VirtualMachineSpecRunPolicy;
  const RunPolicy policy = vm.spec().run_policy();
  const bool want_running =
      policy == RunPolicy::kAlwaysOn || (st.was_running() && policy != RunPolicy::kAlwaysOff);
  // A VM whose images are gone stays Pending (Strict keeps the references): that is the end.
  const bool stuck = vm_phase == types::VirtualMachinePhase::kPending && obs.vm_stuck;
  Step<Rebuild> next;
  if (want_running ? vm_phase != types::VirtualMachinePhase::kRunning && !stuck : active) {
    next = RestoreProgress(
        op, std::move(status),
        want_running ? kReasonStartingVirtualMachine : kReasonStoppingVirtualMachine, "", now);
  } else {
    for (Json& e : status["resources"]) {
      if (types::VirtualMachineOperationResource(e).status() == ResourceState::kInProgress) {
        e["status"] = types::Name(ResourceState::kCompleted);
      }
    }
    SetCondition(status, kMaintenanceMode, false, kReasonMaintenanceModeOff, "", self, now);
    const bool deleting = op.deleting();
    next = Concluding(
        self, std::move(status), true, deleting ? kReasonFinishedBeforeDeletion : kReasonCompleted,
        deleting ? "deleted while InProgress: the restore was finished first" : "", now);
    next.action.annotation = absl::StrCat("vmop/", op.name(), " ",
                                          deleting ? "finished after its deletion" : "completed");
  }
  next.action.vm = Hold::kRelease;
  return next;
}

DiskStep PlanDisk(const std::string& name, const Json* live, const std::string& op_uid) {
  DiskStep out;
  const std::string disk = Quoted(kinds::kVirtualDisk, name);
  if (live == nullptr) {
    out.action = DiskAction::kCreate;
    out.waiting = absl::StrCat(disk, " is being restored");
    return out;
  }
  types::VirtualDisk vd(*live);
  if (StampedBy(*live, op_uid)) {
    types::VirtualDiskPhase phase = vd.status().phase();
    if (phase == types::VirtualDiskPhase::kFailed) {
      out.failure = absl::StrCat(
          disk, " failed to restore: ", vd.status().conditions().Get(vd::kReady).message());
    } else if (phase != types::VirtualDiskPhase::kReady) {
      out.waiting = absl::StrCat(disk, " is ", PhaseText(*live));
    }
    return out;
  }
  // The old disk: delete it, then create it again from the snapshot.
  if (!vd.deleting()) out.action = DiskAction::kDelete;
  out.waiting = absl::StrCat("the old ", disk, " is being deleted");
  return out;
}

void DiskProgress::Add(const DiskStep& disk) {
  if (disk.failure) failure = disk.failure;
  if (disk.waiting) waiting = disk.waiting;
}

Step<Rebuild> FinishDisks(const types::VirtualMachineOperation& op, const DiskProgress& progress,
                          const std::vector<std::pair<std::string, const Json*>>& disks,
                          absl::Time now) {
  Json status = op.status().json();
  if (progress.failure) {
    return Concluding(
        op.json(), std::move(status), false, kReasonVirtualDiskRestoreFailed,
        absl::StrCat(*progress.failure, "; the VM is held stopped until it is restored again"),
        now);
  }
  const std::string uid = op.uid();
  for (Json& e : status["resources"]) {
    types::VirtualMachineOperationResource entry(e);
    if (entry.kind() != kinds::kVirtualDisk) continue;
    bool done = false;
    for (const auto& [name, d] : disks) {
      if (name != entry.name()) continue;
      done = d != nullptr && StampedBy(*d, uid) &&
             types::VirtualDisk(*d).status().phase() == types::VirtualDiskPhase::kReady;
      break;
    }
    e["status"] = types::Name(done ? ResourceState::kCompleted : ResourceState::kInProgress);
  }
  if (progress.waiting) {
    return RestoreProgress(op, std::move(status), kReasonRestoringDisks, *progress.waiting, now);
  }
  return NextStep(std::move(status), kStepObjects);
}

// ---- Clone

std::string TempSnapshotName(const types::VirtualMachineOperation& op) {
  return absl::StrCat("vmop-clone-", op.uid());
}

Json TempSnapshot(const types::VirtualMachineOperation& op) {
  return {
      {"apiVersion", kApiVersion},
      {"kind", kinds::kVirtualMachineSnapshot},
      {"metadata",
       {{"name", TempSnapshotName(op)},
        {"namespace", op.namespace_()},
        {"annotations", {{kOperationAnnotation, op.uid()}}},
        {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                          {"kind", kinds::kVirtualMachineOperation},
                                          {"name", op.name()},
                                          {"uid", op.uid()},
                                          {"controller", true}}})}}},
      {"spec",
       {{"virtualMachineName", op.spec().virtual_machine_name()},
        {"requiredConsistency", true},
        {"keepIPAddress", types::Name(types::VirtualMachineSnapshotSpecKeepIPAddress::kNever)}}}};
}

namespace {

// A Clone fails: what it created is rolled back and the temporary snapshot deleted.
Step<Rebuild> CloneFailed(const Json& op, Json status, const std::string& reason,
                          const std::string& message, absl::Time now) {
  Step<Rebuild> failed = Concluding(op, std::move(status), false, reason, message, now);
  failed.action.roll_back = true;
  failed.action.delete_snapshot = true;
  return failed;
}

Step<Rebuild> ValidateClone(const types::VirtualMachineOperation& op, const CloneObservation& obs,
                            absl::Time now) {
  const Json& self = op.json();
  Json status = op.status().json();
  if (obs.vm == nullptr) {
    return Concluding(self, std::move(status), false, kReasonVirtualMachineNotFound,
                      absl::StrCat(Quoted(kinds::kVirtualMachine, op.spec().virtual_machine_name()),
                                   " not found"),
                      now);
  }
  if (!obs.live.ok()) {  // FailedPrecondition: one of its disks is missing
    return Concluding(self, std::move(status), false, kReasonVirtualMachineNotReady,
                      std::string(obs.live.message()), now);
  }
  const ResourceList& plan = *obs.plan;
  types::VirtualMachineOperationStatusWriter w(status);
  w.set_resources(plan.json());
  if (ParseMode(std::string(types::Name(op.spec().clone().mode()))) == Mode::kDryRun) {
    return Concluding(
        self, std::move(status), !plan.HasConflict(),
        plan.HasConflict() ? kReasonConflictsFound : kReasonDryRunCompleted,
        plan.HasConflict() ? plan.ConflictSummary() : "dry run: the clone would succeed", now);
  }
  if (plan.HasConflict()) {
    return Concluding(self, std::move(status), false, kReasonConflictsFound, plan.ConflictSummary(),
                      now);
  }
  w.set_step(kStepSnapshot);
  w.set_virtual_machine_snapshot_name(TempSnapshotName(op));
  return Begin(self, std::move(status), kReasonSnapshotting, now);
}

}  // namespace

Step<Rebuild> PlanClone(const types::VirtualMachineOperation& op, const CloneObservation& obs,
                        absl::Time now) {
  types::VirtualMachineOperationStatus st = op.status();
  if (st.phase() != Phase::kInProgress) return ValidateClone(op, obs, now);
  if (!st.has_step() || st.step() == kStepSnapshot) {
    Step<Rebuild> ensure;  // FinishTempSnapshot decides on what it finds
    ensure.action.ensure_snapshot = true;
    return ensure;
  }
  if (obs.snapshot == nullptr) {
    return CloneFailed(op.json(), st.json(), kReasonSnapshotLost,
                       "the temporary VirtualMachineSnapshot was deleted", now);
  }
  if (!obs.payload.ok()) {
    return CloneFailed(op.json(), st.json(), kReasonSnapshotLost,
                       std::string(obs.payload.message()), now);
  }
  Step<Rebuild> create;  // FinishClone decides on what RunClone did
  create.action.run_clone = true;
  return create;
}

Step<Rebuild> FinishTempSnapshot(const types::VirtualMachineOperation& op, const Json& snap,
                                 absl::Time now) {
  const Json& self = op.json();
  Json status = op.status().json();
  types::VirtualMachineSnapshot temp(snap);
  const types::VirtualMachineSnapshotPhase phase = temp.status().phase();
  if (phase == types::VirtualMachineSnapshotPhase::kFailed) {
    types::Condition ready =
        temp.status().conditions().Get(vmsnapshot::kVirtualMachineSnapshotReady);
    return CloneFailed(self, std::move(status), kReasonSnapshotFailed,
                       absl::StrCat("the temporary VirtualMachineSnapshot failed: ",
                                    ready.json().value("message", "no message")),
                       now);
  }
  if (phase != types::VirtualMachineSnapshotPhase::kReady) {
    SetCondition(status, kSnapshotReady, false, kReasonWaitingForTheSnapshot,
                 absl::StrCat(Quoted(kinds::kVirtualMachineSnapshot, TempSnapshotName(op)), " is ",
                              PhaseText(snap)),
                 self, now);
    return Stored(std::move(status), kPoll);
  }
  SetCondition(status, kSnapshotReady, true, kReasonSnapshotReady, "", self, now);
  return NextStep(std::move(status), kStepCreate);
}

Step<Rebuild> FinishClone(const Json& op, Json status, const CloneProgress& progress,
                          const std::string& creating, bool temporary_snapshot, absl::Time now) {
  // The field names of VirtualMachineSnapshotOperation's status are the same.
  types::VirtualMachineOperationStatusWriter(status).set_resources(progress.resources);
  if (progress.failure) {
    Step<Rebuild> failed =
        Concluding(op, std::move(status), false, kReasonConflictsFound, *progress.failure, now);
    failed.action.roll_back = true;
    failed.action.delete_snapshot = temporary_snapshot;
    return failed;
  }
  if (!progress.done) {
    SetCondition(status, kCompleted, false, creating, "waiting for the cloned disks", op, now);
    return Stored(std::move(status), kPoll);
  }
  Step<Rebuild> done = Concluding(op, std::move(status), true, kReasonCompleted, "", now);
  done.action.delete_snapshot = temporary_snapshot;  // every cloned disk is Ready
  return done;
}

}  // namespace berth::controller::vmop

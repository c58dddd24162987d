#include "controllers/virtualdisksnapshot/vds_machine.h"

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "controllers/common/vm_common.h"

namespace berth::controller::vds {

bool Finished(const types::VirtualDiskSnapshot& snap) {
  Phase phase = snap.status().phase();
  return phase == Phase::kReady || phase == Phase::kFailed;
}

namespace {

Json StatusOf(const types::VirtualDiskSnapshot& snap) { return snap.status().json(); }

// Stores `status` in `phase`; the write adds the finalizer (it precedes any agent call).
Step<Action> BeforeCut(Json status, Phase phase, Action action = Action::kNone,
                       PhaseEvent event = PhaseEvent::kRecord) {
  types::VirtualDiskSnapshotStatusWriter(status).set_phase(phase);
  Step<Action> step;
  step.status = std::move(status);
  step.action = action;
  step.add_finalizer = true;
  step.event = event;
  return step;
}

}  // namespace

Step<Action> Fail(const types::VirtualDiskSnapshot& snap, const std::string& reason,
                  const std::string& message, absl::Time now, bool before_cut) {
  Json status = StatusOf(snap);
  types::VirtualDiskSnapshotStatusWriter w(status);
  if (w.phase() != Phase::kReady) w.clear_consistent();  // never cut
  SetCondition(status, kVirtualDiskSnapshotReady, false, reason, message, snap.json(), now);
  w.set_phase(Phase::kFailed);
  Step<Action> step;
  step.status = std::move(status);
  step.add_finalizer = before_cut;
  return step;
}

Step<Action> Plan(const types::VirtualDiskSnapshot& snap, const Observation& obs, absl::Time now) {
  Json status = StatusOf(snap);
  types::VirtualDiskSnapshotStatusWriter w(status);
  const std::string disk_name = snap.spec().virtual_disk_name();
  const bool managed = snap.metadata().HasAnnotation(kManagedByAnnotation);
  const Json& self = snap.json();

  if (obs.disk == nullptr ||
      types::VirtualDisk(*obs.disk).status().phase() != types::VirtualDiskPhase::kReady ||
      types::VirtualDisk(*obs.disk).deleting()) {
    std::string why = obs.disk != nullptr
                          ? absl::StrCat("VirtualDisk \"", disk_name, "\" is not Ready")
                          : absl::StrCat("VirtualDisk \"", disk_name, "\" not found");
    SetCondition(status, kVirtualDiskReady, false, kReasonVirtualDiskNotReady, why, self, now);
    SetCondition(status, kVirtualDiskSnapshotReady, false, kReasonWaitingForTheVirtualDisk, why,
                 self, now);
    Step<Action> step = BeforeCut(std::move(status), Phase::kPending);
    step.requeue = kPendingPoll;
    return step;
  }
  SetCondition(status, kVirtualDiskReady, true, kReasonVirtualDiskReady, "", self, now);

  if (w.phase() == Phase::kInProgress) {  // announced: the finalizer is stored
    Step<Action> step;
    if (!managed) {
      step.action = Action::kCut;
      step.status = std::move(status);
      return step;
    }
    std::string owner = snap.metadata().annotation(kManagedByAnnotation);
    if (obs.vm_snapshot == nullptr ||
        types::VirtualMachineSnapshot(*obs.vm_snapshot).status().phase() ==
            types::VirtualMachineSnapshotPhase::kFailed) {
      return Fail(snap, kReasonFailed,
                  absl::StrCat("VirtualMachineSnapshot \"", owner, "\" ",
                               obs.vm_snapshot != nullptr ? "failed" : "is gone"),
                  now);
    }
    types::VirtualMachineSnapshotStatus vms(
        types::VirtualMachineSnapshot(*obs.vm_snapshot).status());
    if (!vms.json().contains("cutDone") || !vms.json()["cutDone"].is_boolean()) {
      step.requeue = kPendingPoll;  // nothing to store until it has cut
      return step;
    }
    if (vms.has_consistent() && vms.json()["consistent"].is_boolean()) {
      w.set_consistent(vms.consistent());
    }
    step.action = Action::kCollectCut;
    step.status = std::move(status);
    return step;
  }

  types::VirtualDisk disk(*obs.disk);
  w.set_node(disk.status().node());
  w.set_pool(disk.status().pool());
  w.set_virtual_disk_uid(disk.uid());
  if (managed) {
    SetCondition(status, kVirtualDiskSnapshotReady, false, kReasonSnapshotting,
                 "cut together with the other disks of its VirtualMachineSnapshot", self, now);
    return BeforeCut(std::move(status), Phase::kInProgress);
  }
  if (obs.running_vm == nullptr) {
    w.set_consistent(true);  // no guest writes to it
  } else if (!snap.spec().required_consistency()) {
    w.clear_consistent();  // cut without freezing: consistency unknown
  } else {
    types::VirtualMachine vm(*obs.running_vm);
    types::Condition agent = vm.status().conditions().Get(vm::kAgentReady);
    if (agent.is_true() && vm.status().phase() == types::VirtualMachinePhase::kRunning) {
      w.set_freeze_domain(DomainName(*obs.running_vm));
      w.set_consistent(true);
    } else {
      return Fail(
          snap, kReasonPotentiallyInconsistent,
          absl::StrCat("VirtualDisk \"", disk_name, "\" is attached to running VirtualMachine \"",
                       vm.name(), "\" whose guest agent is not ready (",
                       agent.exists() ? agent.message() : "no report",
                       "), so its filesystems cannot be frozen; install and start "
                       "qemu-guest-agent, stop the VM, or set requiredConsistency: false"),
          now, /*before_cut=*/true);
    }
  }
  const bool freeze = w.has_freeze_domain();
  SetCondition(status, kVirtualDiskSnapshotReady, false,
               freeze ? kReasonFileSystemFreezing : kReasonSnapshotting, "taking the snapshot",
               self, now);
  // InProgress (with the node, pool and finalizer) is durable before the cut, which follows in
  // the same pass. Without a freeze the cut takes milliseconds: the Event of its outcome
  // ("phase InProgress -> Ready", or "-> Failed") is the only one. A freeze can take seconds
  // and is recorded.
  return BeforeCut(std::move(status), Phase::kInProgress, Action::kCut,
                   freeze ? PhaseEvent::kRecord : PhaseEvent::kSkip);
}

absl::StatusOr<Step<Action>> Finish(const types::VirtualDiskSnapshot& snap, Json status,
                                    const absl::StatusOr<agentpb::Snapshot>& cut, absl::Time now,
                                    absl::Duration lost_check_interval) {
  // ResourceExhausted is the pool out of space (ENOSPC): the agent removed the partial copy;
  // fail with its message rather than retry unseen in InProgress.
  const absl::Status& s = cut.status();
  if (absl::IsNotFound(s) || absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) ||
      absl::IsResourceExhausted(s)) {
    return Fail(snap, kReasonFailed, std::string(s.message()), now);
  }
  if (!cut.ok()) return s;
  types::VirtualDiskSnapshotStatusWriter w(status);
  w.set_size_bytes(static_cast<int64_t>(cut->size_bytes()));
  w.set_path(cut->path());
  SetCondition(status, kVirtualDiskSnapshotReady, true, kReasonReady, "", snap.json(), now);
  w.set_phase(Phase::kReady);
  Step<Action> step;
  step.status = std::move(status);
  step.requeue = lost_check_interval;
  return step;
}

Step<Action> PlanDeletion(const types::VirtualDiskSnapshot& snap) {
  Step<Action> step;
  if (snap.status().phase() != Phase::kTerminating) {
    Json status = StatusOf(snap);
    types::VirtualDiskSnapshotStatusWriter(status).set_phase(Phase::kTerminating);
    step.status = std::move(status);
    return step;
  }
  step.action = !snap.status().node().empty() && snap.metadata().HasFinalizer(kSnapshotFinalizer)
                    ? Action::kDelete
                    : Action::kRemoveFinalizer;
  return step;
}

}  // namespace berth::controller::vds

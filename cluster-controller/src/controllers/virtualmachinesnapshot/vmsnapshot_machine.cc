#include "controllers/virtualmachinesnapshot/vmsnapshot_machine.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/controller/status_util.h"
#include "berth/quantity.h"
#include "controllers/common/vm_common.h"

namespace berth::controller::vmsnapshot {

bool Done(const types::VirtualMachineSnapshot& snap) {
  return snap.deleting() || snap.status().phase() == Phase::kFailed;
}

namespace {

// The phase as stored: VmActive knows phases the CRD's enum does not (Pausing).
std::string VmPhase(const types::VirtualMachine& vm) {
  const Json& s = vm.status().json();
  auto it = s.find("phase");
  return it != s.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Step<Action> Store(Json status, Phase phase, absl::Duration requeue = absl::ZeroDuration()) {
  types::VirtualMachineSnapshotStatusWriter(status).set_phase(phase);
  Step<Action> step;
  step.status = std::move(status);
  step.requeue = requeue;
  return step;
}

// What keeps the VM's disks from being cut: each missing, not Ready or still resizing.
std::vector<std::string> DiskProblems(const Observation& obs) {
  std::vector<std::string> bad;
  for (const auto& [name, json] : obs.disks) {
    if (json == nullptr ||
        types::VirtualDisk(*json).status().phase() != types::VirtualDiskPhase::kReady) {
      bad.push_back(absl::StrCat("VirtualDisk \"", name, "\" is not Ready"));
      continue;
    }
    types::VirtualDisk disk(*json);
    const Json& size = disk.spec().persistent_volume_claim().size_json();
    auto want = ParseQuantity(size.is_string() ? size.get<std::string>() : "0");
    const Json& status = disk.status().json();
    if (want.ok() && disk.status().has_size_bytes() && status["sizeBytes"].is_number() &&
        *want > status["sizeBytes"].get<uint64_t>()) {
      bad.push_back(absl::StrCat("VirtualDisk \"", name, "\" is resizing"));
    }
  }
  return bad;
}

// Ready snapshots: Failed when a disk snapshot is gone or Failed.
Step<Action> CheckLost(const types::VirtualMachineSnapshot& snap, const Observation& obs,
                       absl::Time now) {
  for (const auto& [name, vds] : obs.disk_snapshots) {
    if (vds == nullptr || types::VirtualDiskSnapshot(*vds).status().phase() ==
                              types::VirtualDiskSnapshotPhase::kFailed) {
      return Fail(snap, snap.status().json(), kReasonVirtualDiskSnapshotLost,
                  absl::StrCat("VirtualDiskSnapshot \"", name, "\" is lost"), now);
    }
  }
  Step<Action> step;
  step.requeue = kLostCheck;
  return step;
}

// Cut: Ready once every disk snapshot is.
Step<Action> Complete(const types::VirtualMachineSnapshot& snap, Json status,
                      const Observation& obs, absl::Time now) {
  for (const auto& [name, vds] : obs.disk_snapshots) {
    std::string phase =
        vds == nullptr
            ? "Missing"
            : std::string(types::Name(types::VirtualDiskSnapshot(*vds).status().phase()));
    if (phase == "Failed" || phase == "Missing") {
      return Fail(snap, std::move(status), kReasonVirtualDiskSnapshotLost,
                  absl::StrCat("VirtualDiskSnapshot \"", name, "\" is ", phase), now);
    }
    if (phase != "Ready") {
      Step<Action> wait;  // nothing to store until they are
      wait.requeue = kPoll;
      return wait;
    }
  }
  types::VirtualMachineSnapshotStatusWriter w(status);
  Json captured = w.pending_resources();
  w.set_resources(std::move(captured));
  w.clear_pending_resources();
  SetCondition(status, kVirtualMachineSnapshotReady, true, kReasonReady, "", snap.json(), now);
  return Store(std::move(status), Phase::kReady, kLostCheck);
}

}  // namespace

Step<Action> Fail(const types::VirtualMachineSnapshot& snap, Json status, const std::string& reason,
                  const std::string& message, absl::Time now) {
  types::VirtualMachineSnapshotStatusWriter(status).clear_consistent();
  SetCondition(status, kVirtualMachineSnapshotReady, false, reason, message, snap.json(), now);
  return Store(std::move(status), Phase::kFailed);
}

Step<Action> Plan(const types::VirtualMachineSnapshot& snap, const Observation& obs,
                  absl::Time now) {
  if (snap.status().phase() == Phase::kReady) return CheckLost(snap, obs, now);
  Json status = snap.status().json();
  const Json& self = snap.json();
  if (obs.vm == nullptr) {
    SetCondition(status, kVirtualMachineReady, false, kReasonVirtualMachineNotFound,
                 "the VM does not exist", self, now);
    SetCondition(status, kVirtualMachineSnapshotReady, false, kReasonWaitingForTheVirtualMachine,
                 "", self, now);
    return Store(std::move(status), Phase::kPending, kVmPoll);
  }
  SetCondition(status, kVirtualMachineReady, true, kReasonVirtualMachineReady, "", self, now);
  if (snap.status().cut_done()) return Complete(snap, std::move(status), obs, now);

  std::vector<std::string> problems = DiskProblems(obs);
  if (!problems.empty()) {
    return Fail(snap, std::move(status), kReasonBlockDevicesNotReady, absl::StrJoin(problems, "; "),
                now);
  }
  types::VirtualMachine vm(*obs.vm);
  std::string vm_phase = VmPhase(vm);
  types::Condition agent = vm.status().conditions().Get(vm::kAgentReady);
  const bool freeze = VmActive(vm_phase) && snap.spec().required_consistency();
  if (freeze && (vm_phase != "Running" || !agent.is_true())) {
    return Fail(snap, std::move(status), kReasonPotentiallyInconsistent,
                absl::StrCat("VirtualMachine \"", vm.name(), "\" is ", vm_phase,
                             " and its guest agent is not ready (",
                             agent.json().value("message", "no report"),
                             "): a consistent snapshot needs the filesystems frozen"),
                now);
  }
  if (snap.status().phase() != Phase::kInProgress) {
    types::VirtualMachineSnapshotStatusWriter(status).set_virtual_machine_uid(vm.uid());
    SetCondition(status, kVirtualMachineSnapshotReady, false,
                 freeze ? kReasonFileSystemFreezing : kReasonSnapshotting, "", self, now);
    return Store(std::move(status), Phase::kInProgress);
  }
  // InProgress is stored: the cut follows, and Finish folds its outcome into this status.
  Step<Action> step;
  step.status = std::move(status);
  step.action = freeze ? Action::kCutFrozen : Action::kCut;
  return step;
}

absl::StatusOr<Step<Action>> Finish(const types::VirtualMachineSnapshot& snap,
                                    const types::VirtualMachine& vm, Json status, const Cut& cut,
                                    absl::Time now) {
  types::VirtualMachineSnapshotStatusWriter w(status);
  w.set_virtual_machine_snapshot_secret_name(cut.secret_name);
  w.set_pending_resources(cut.resources);
  w.set_virtual_disk_snapshot_names(Json(cut.disk_snapshot_names));
  const absl::Status& s = cut.freeze_window_us.status();
  if (absl::IsFailedPrecondition(s) || absl::IsInvalidArgument(s) || absl::IsNotFound(s)) {
    return Fail(snap, std::move(status), kReasonFailed, std::string(s.message()), now);
  }
  if (!s.ok()) return s;
  if (cut.freeze_window_us->has_value()) w.set_freeze_window_micros(**cut.freeze_window_us);
  if (VmActive(VmPhase(vm)) && !snap.spec().required_consistency()) {
    w.clear_consistent();  // cut without freezing a running guest: consistency unknown
  } else {
    w.set_consistent(true);
  }
  w.set_cut_done(true);
  SetCondition(status, kVirtualMachineSnapshotReady, false, kReasonSnapshotting,
               "waiting for the disk snapshots", snap.json(), now);
  return Store(std::move(status), Phase::kInProgress, kPoll);
}

}  // namespace berth::controller::vmsnapshot

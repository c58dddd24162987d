// VirtualMachineOperation Clone: validate against the live VM, take a temporary consistent
// VirtualMachineSnapshot (owned by the operation, keepIPAddress Never), create the clone from
// it, and delete the snapshot once every cloned disk is Ready. Steps live in status.step.
#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"
#include "controllers/virtualmachineoperation/clone_plan.h"
#include "controllers/virtualmachineoperation/vmop_internal.h"

namespace berth::controller {
namespace {

// The temporary snapshot's name: fixed by the operation's uid, so a pass after a crash finds
// the one it created.
std::string TempSnapshotName(const Json& op) {
  return absl::StrCat("vmop-clone-", types::VirtualMachineOperation(op).uid());
}

absl::Status DeleteTempSnapshot(ObjectStore& store, const Json& op) {
  auto d = store.Delete(ObjectKey{kinds::kVirtualMachineSnapshot,
                                  types::VirtualMachineOperation(op).namespace_(),
                                  TempSnapshotName(op)});
  return d.ok() || absl::IsNotFound(d.status()) ? absl::OkStatus() : d.status();
}

absl::StatusOr<Json> EnsureTempSnapshot(ObjectStore& store, const Json& op) {
  types::VirtualMachineOperation o(op);
  Json snap = {{"apiVersion", kApiVersion},
               {"kind", kinds::kVirtualMachineSnapshot},
               {"metadata",
                {{"name", TempSnapshotName(op)},
                 {"namespace", o.namespace_()},
                 {"annotations", {{kOperationAnnotation, o.uid()}}},
                 {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                                   {"kind", kinds::kVirtualMachineOperation},
                                                   {"name", o.name()},
                                                   {"uid", o.uid()},
                                                   {"controller", true}}})}}},
               {"spec",
                {{"virtualMachineName", o.spec().virtual_machine_name()},
                 {"requiredConsistency", true},
                 {"keepIPAddress", "Never"}}}};
  auto created = store.Create(snap);
  if (absl::IsAlreadyExists(created.status())) return store.Get(ObjectKey::Of(snap));
  return created;
}

class Clone : OpRun {
 public:
  Clone(ObjectStore& store, OpStatus& out, const Json& op, Json status)
      : OpRun(store, out, op, std::move(status)),
        view_(op),
        naming_(CloneNaming::FromSpec(JsonAt(op, "/spec/clone"))),
        mode_(ParseMode(std::string(types::Name(view_.spec().clone().mode())))) {}

  absl::StatusOr<ReconcileResult> Run() {
    types::VirtualMachineOperationStatus st(status_);
    const vmop::Phase phase = st.phase();
    if (view_.deleting()) {
      if (!view_.metadata().HasFinalizer(kOperationFinalizer)) return ReconcileResult{};
      if (phase == vmop::Phase::kInProgress) {
        BERTH_RETURN_IF_ERROR(
            RollBackClone(store_, ns_, status_.value("resources", Json::array()), uid_).status());
        BERTH_RETURN_IF_ERROR(DeleteTempSnapshot(store_, op_));
      }
      BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, op_, kOperationFinalizer).status());
      return ReconcileResult{};
    }
    if (vmop::Terminal(phase)) return ReconcileResult{};
    if (phase != vmop::Phase::kInProgress) return Validate();
    if (!st.has_step() || st.step() == vmop::kStepSnapshot) return AwaitSnapshot();
    return Create();
  }

 private:
  absl::StatusOr<ReconcileResult> Fail(const std::string& reason, const std::string& msg) {
    BERTH_RETURN_IF_ERROR(
        RollBackClone(store_, ns_, status_.value("resources", Json::array()), uid_).status());
    BERTH_RETURN_IF_ERROR(DeleteTempSnapshot(store_, op_));
    return out_.Finish(op_, status_, false, reason, msg);
  }

  absl::StatusOr<ReconcileResult> Validate() {
    std::string vm_name = view_.spec().virtual_machine_name();
    auto vm = store_.Get(ObjectKey{kinds::kVirtualMachine, ns_, vm_name});
    if (absl::IsNotFound(vm.status())) {
      return out_.Finish(op_, status_, false, vmop::kReasonVirtualMachineNotFound,
                         absl::StrCat("VirtualMachine \"", vm_name, "\" not found"));
    }
    if (!vm.ok()) return vm.status();
    auto live = LivePayload(store_, *vm);
    if (absl::IsFailedPrecondition(live.status())) {
      return out_.Finish(op_, status_, false, vmop::kReasonVirtualMachineNotReady,
                         std::string(live.status().message()));
    }
    if (!live.ok()) return live.status();
    BERTH_ASSIGN_OR_RETURN(ClonePlan plan, PlanClone(store_, ns_, *live, naming_, mode_, uid_));
    types::VirtualMachineOperationStatusWriter w(status_);
    w.set_resources(plan.resources.json());
    if (mode_ == Mode::kDryRun) {
      return out_.Finish(
          op_, status_, !plan.resources.HasConflict(),
          plan.resources.HasConflict() ? vmop::kReasonConflictsFound : vmop::kReasonDryRunCompleted,
          plan.resources.HasConflict() ? plan.resources.ConflictSummary()
                                       : "dry run: the clone would succeed");
    }
    if (plan.resources.HasConflict()) {
      return out_.Finish(op_, status_, false, vmop::kReasonConflictsFound,
                         plan.resources.ConflictSummary());
    }
    w.set_step(vmop::kStepSnapshot);
    w.set_virtual_machine_snapshot_name(TempSnapshotName(op_));
    BERTH_RETURN_IF_ERROR(out_.Begin(op_, status_, vmop::kReasonSnapshotting).status());
    return ReconcileResult{};
  }

  absl::StatusOr<ReconcileResult> AwaitSnapshot() {
    BERTH_ASSIGN_OR_RETURN(Json snap, EnsureTempSnapshot(store_, op_));
    types::VirtualMachineSnapshot temp(snap);
    const types::VirtualMachineSnapshotPhase phase = temp.status().phase();
    if (phase == types::VirtualMachineSnapshotPhase::kFailed) {
      types::Condition ready =
          temp.status().conditions().Get(vmsnapshot::kVirtualMachineSnapshotReady);
      return Fail(vmop::kReasonSnapshotFailed,
                  absl::StrCat("the temporary VirtualMachineSnapshot failed: ",
                               ready.json().value("message", "no message")));
    }
    if (phase != types::VirtualMachineSnapshotPhase::kReady) {
      std::string text = JsonString(snap, "/status/phase");  // as stored, even if unknown
      SetCondition(status_, vmop::kSnapshotReady, false, vmop::kReasonWaitingForTheSnapshot,
                   absl::StrCat("VirtualMachineSnapshot \"", TempSnapshotName(op_), "\" is ",
                                text.empty() ? "Pending" : text),
                   op_, out_.Now());
      BERTH_RETURN_IF_ERROR(out_.Write(op_, status_).status());
      return ReconcileResult{vmop::kPoll};
    }
    SetCondition(status_, vmop::kSnapshotReady, true, vmop::kReasonSnapshotReady, "", op_,
                 out_.Now());
    types::VirtualMachineOperationStatusWriter(status_).set_step(vmop::kStepCreate);
    BERTH_RETURN_IF_ERROR(out_.Write(op_, status_).status());
    return ReconcileResult{};
  }

  absl::StatusOr<ReconcileResult> Create() {
    auto snap = store_.Get(ObjectKey{kinds::kVirtualMachineSnapshot, ns_, TempSnapshotName(op_)});
    if (absl::IsNotFound(snap.status())) {
      return Fail(vmop::kReasonSnapshotLost, "the temporary VirtualMachineSnapshot was deleted");
    }
    if (!snap.ok()) return snap.status();
    auto payload = LoadPayload(store_, *snap);
    if (absl::IsFailedPrecondition(payload.status()) || absl::IsDataLoss(payload.status())) {
      return Fail(vmop::kReasonSnapshotLost, std::string(payload.status().message()));
    }
    if (!payload.ok()) return payload.status();
    BERTH_ASSIGN_OR_RETURN(CloneProgress progress,
                           RunClone(store_, ns_, *payload, naming_, mode_, uid_, status_));
    if (progress.failure) return Fail(vmop::kReasonConflictsFound, *progress.failure);
    if (!progress.done) {
      SetCondition(status_, vmop::kCompleted, false, vmop::kReasonCreatingClone,
                   "waiting for the cloned disks", op_, out_.Now());
      BERTH_RETURN_IF_ERROR(out_.Write(op_, status_).status());
      return ReconcileResult{vmop::kPoll};
    }
    BERTH_RETURN_IF_ERROR(DeleteTempSnapshot(store_, op_));  // every cloned disk is Ready
    return out_.Finish(op_, status_, true, vmop::kReasonCompleted, "");
  }

  const types::VirtualMachineOperation view_;
  const CloneNaming naming_;
  const Mode mode_;
};

}  // namespace

absl::StatusOr<ReconcileResult> ReconcileClone(ObjectStore& store, OpStatus& out, const Json& op,
                                               Json status) {
  return Clone(store, out, op, std::move(status)).Run();
}

}  // namespace berth::controller

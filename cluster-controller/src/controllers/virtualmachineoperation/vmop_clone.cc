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
  return absl::StrCat("vmop-clone-", JsonString(op, "/metadata/uid"));
}

absl::Status DeleteTempSnapshot(ObjectStore& store, const Json& op) {
  auto d = store.Delete(ObjectKey{"VirtualMachineSnapshot", JsonString(op, "/metadata/namespace"),
                                  TempSnapshotName(op)});
  return d.ok() || absl::IsNotFound(d.status()) ? absl::OkStatus() : d.status();
}

absl::StatusOr<Json> EnsureTempSnapshot(ObjectStore& store, const Json& op) {
  Json snap = {{"apiVersion", kApiVersion},
               {"kind", "VirtualMachineSnapshot"},
               {"metadata",
                {{"name", TempSnapshotName(op)},
                 {"namespace", JsonString(op, "/metadata/namespace")},
                 {"annotations", {{kOperationAnnotation, JsonString(op, "/metadata/uid")}}},
                 {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                                   {"kind", "VirtualMachineOperation"},
                                                   {"name", JsonString(op, "/metadata/name")},
                                                   {"uid", JsonString(op, "/metadata/uid")},
                                                   {"controller", true}}})}}},
               {"spec",
                {{"virtualMachineName", JsonString(op, "/spec/virtualMachineName")},
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
        naming_(CloneNaming::FromSpec(JsonAt(op, "/spec/clone"))),
        mode_(ParseMode(JsonString(op, "/spec/clone/mode"))) {}

  absl::StatusOr<ReconcileResult> Run() {
    std::string phase = status_.value("phase", "");
    if (IsDeleting(op_)) {
      if (!HasFinalizer(op_, kOperationFinalizer)) return ReconcileResult{};
      if (phase == "InProgress") {
        BERTH_RETURN_IF_ERROR(
            RollBackClone(store_, ns_, status_.value("resources", Json::array()), uid_).status());
        BERTH_RETURN_IF_ERROR(DeleteTempSnapshot(store_, op_));
      }
      BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, op_, kOperationFinalizer).status());
      return ReconcileResult{};
    }
    if (TerminalPhase(phase)) return ReconcileResult{};
    if (phase != "InProgress") return Validate();
    if (status_.value("step", "snapshot") == "snapshot") return AwaitSnapshot();
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
    std::string vm_name = JsonString(op_, "/spec/virtualMachineName");
    auto vm = store_.Get(ObjectKey{"VirtualMachine", ns_, vm_name});
    if (absl::IsNotFound(vm.status())) {
      return out_.Finish(op_, status_, false, "VirtualMachineNotFound",
                         absl::StrCat("VirtualMachine \"", vm_name, "\" not found"));
    }
    if (!vm.ok()) return vm.status();
    auto live = LivePayload(store_, *vm);
    if (absl::IsFailedPrecondition(live.status())) {
      return out_.Finish(op_, status_, false, "VirtualMachineNotReady",
                         std::string(live.status().message()));
    }
    if (!live.ok()) return live.status();
    BERTH_ASSIGN_OR_RETURN(ClonePlan plan, PlanClone(store_, ns_, *live, naming_, mode_, uid_));
    status_["resources"] = plan.resources.json();
    if (mode_ == Mode::kDryRun) {
      return out_.Finish(op_, status_, !plan.resources.HasConflict(),
                         plan.resources.HasConflict() ? "ConflictsFound" : "DryRunCompleted",
                         plan.resources.HasConflict() ? plan.resources.ConflictSummary()
                                                      : "dry run: the clone would succeed");
    }
    if (plan.resources.HasConflict()) {
      return out_.Finish(op_, status_, false, "ConflictsFound", plan.resources.ConflictSummary());
    }
    status_["step"] = "snapshot";
    status_["virtualMachineSnapshotName"] = TempSnapshotName(op_);
    BERTH_RETURN_IF_ERROR(out_.Begin(op_, status_, "Snapshotting").status());
    return ReconcileResult{};
  }

  absl::StatusOr<ReconcileResult> AwaitSnapshot() {
    BERTH_ASSIGN_OR_RETURN(Json snap, EnsureTempSnapshot(store_, op_));
    std::string phase = JsonString(snap, "/status/phase");
    if (phase == "Failed") {
      return Fail(
          "SnapshotFailed",
          absl::StrCat(
              "the temporary VirtualMachineSnapshot failed: ",
              GetCondition(snap, "VirtualMachineSnapshotReady").value("message", "no message")));
    }
    if (phase != "Ready") {
      SetCondition(status_, "SnapshotReady", false, "WaitingForTheSnapshot",
                   absl::StrCat("VirtualMachineSnapshot \"", TempSnapshotName(op_), "\" is ",
                                phase.empty() ? "Pending" : phase),
                   op_, out_.Now());
      BERTH_RETURN_IF_ERROR(out_.Write(op_, status_).status());
      return ReconcileResult{kOpPoll};
    }
    SetCondition(status_, "SnapshotReady", true, "SnapshotReady", "", op_, out_.Now());
    status_["step"] = "create";
    BERTH_RETURN_IF_ERROR(out_.Write(op_, status_).status());
    return ReconcileResult{};
  }

  absl::StatusOr<ReconcileResult> Create() {
    auto snap = store_.Get(ObjectKey{"VirtualMachineSnapshot", ns_, TempSnapshotName(op_)});
    if (absl::IsNotFound(snap.status())) {
      return Fail("SnapshotLost", "the temporary VirtualMachineSnapshot was deleted");
    }
    if (!snap.ok()) return snap.status();
    auto payload = LoadPayload(store_, *snap);
    if (absl::IsFailedPrecondition(payload.status()) || absl::IsDataLoss(payload.status())) {
      return Fail("SnapshotLost", std::string(payload.status().message()));
    }
    if (!payload.ok()) return payload.status();
    BERTH_ASSIGN_OR_RETURN(CloneProgress progress,
                           RunClone(store_, ns_, *payload, naming_, mode_, uid_, status_));
    if (!progress.failure.empty()) return Fail("ConflictsFound", progress.failure);
    if (!progress.done) {
      SetCondition(status_, "Completed", false, "CreatingClone", "waiting for the cloned disks",
                   op_, out_.Now());
      BERTH_RETURN_IF_ERROR(out_.Write(op_, status_).status());
      return ReconcileResult{kOpPoll};
    }
    BERTH_RETURN_IF_ERROR(DeleteTempSnapshot(store_, op_));  // every cloned disk is Ready
    return out_.Finish(op_, status_, true, "Completed", "");
  }

  const CloneNaming naming_;
  const Mode mode_;
};

}  // namespace

absl::StatusOr<ReconcileResult> ReconcileClone(ObjectStore& store, OpStatus& out, const Json& op,
                                               Json status) {
  return Clone(store, out, op, std::move(status)).Run();
}

}  // namespace berth::controller

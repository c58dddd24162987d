// VirtualMachineSnapshotOperation CreateVirtualMachine: builds a new VM (a clone) from an
// existing VirtualMachineSnapshot. No temporary snapshot: the clone's disks are created from
// the snapshot's disk snapshots. Deleting the operation while InProgress rolls the clone back.
// The state table is vmsop_machine.h.
#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "controllers/virtualmachineoperation/clone_plan.h"
#include "controllers/virtualmachineoperation/op_common.h"
#include "controllers/vmsnapshotoperation/vmsop_machine.h"

namespace berth::controller {
namespace {

using types::VirtualMachineSnapshotOperation;

bool TerminalJson(const Json& op) { return vmsop::Terminal(VirtualMachineSnapshotOperation(op)); }

class VmsopReconciler : public Reconciler {
 public:
  VmsopReconciler(ObjectStore& store, const Clock& clock) : store_(store), out_(store, clock) {}

  std::string Kind() const override { return kinds::kVirtualMachineSnapshotOperation; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    types::VirtualDisk obj(event.object());  // any kind: only metadata and kind are read
    if (obj.kind() != kinds::kVirtualDisk && obj.kind() != kinds::kVirtualMachineSnapshot) {
      return {};
    }
    return ActiveOperations(store_, Kind(), obj.namespace_(), &TerminalJson);
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Peek(key);  // read-only: every write below copies what it changes
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    std::shared_ptr<const Json> obj = *std::move(got);
    const Json& op = *obj;
    VirtualMachineSnapshotOperation view(op);
    Json status = view.status().json();
    const vmsop::Phase phase = view.status().phase();
    if (view.deleting()) {
      if (!view.metadata().HasFinalizer(kOperationFinalizer)) return ReconcileResult{};
      if (phase == vmsop::Phase::kInProgress) {
        BERTH_RETURN_IF_ERROR(
            RollBackClone(store_, key.ns, status.value("resources", Json::array()), view.uid())
                .status());
      }
      BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, op, kOperationFinalizer).status());
      return ReconcileResult{};
    }
    if (vmsop::Terminal(view)) return ReconcileResult{};
    std::string snap_name = view.spec().virtual_machine_snapshot_name();
    auto snap = store_.Get(ObjectKey{kinds::kVirtualMachineSnapshot, key.ns, snap_name});
    if (absl::IsNotFound(snap.status())) {
      return Fail(op, status, vmsop::kReasonVirtualMachineSnapshotNotFound,
                  absl::StrCat("VirtualMachineSnapshot \"", snap_name, "\" not found"));
    }
    if (!snap.ok()) return snap.status();
    const types::VirtualMachineSnapshotPhase snap_phase =
        types::VirtualMachineSnapshot(*snap).status().phase();
    if (snap_phase == types::VirtualMachineSnapshotPhase::kFailed) {
      return Fail(op, status, vmsop::kReasonVirtualMachineSnapshotFailed,
                  absl::StrCat("VirtualMachineSnapshot \"", snap_name, "\" is Failed"));
    }
    if (snap_phase != types::VirtualMachineSnapshotPhase::kReady) {
      types::VirtualMachineSnapshotOperationStatusWriter(status).set_phase(vmsop::Phase::kPending);
      SetCondition(status, vmsop::kSnapshotReady, false, vmsop::kReasonWaitingForTheSnapshot,
                   absl::StrCat("VirtualMachineSnapshot \"", snap_name, "\" is not Ready"), op,
                   out_.Now());
      BERTH_RETURN_IF_ERROR(out_.Write(op, status).status());
      return ReconcileResult{vmsop::kPoll};
    }
    SetCondition(status, vmsop::kSnapshotReady, true, vmsop::kReasonSnapshotReady, "", op,
                 out_.Now());
    auto payload = LoadPayload(store_, *snap);
    if (absl::IsFailedPrecondition(payload.status()) || absl::IsDataLoss(payload.status())) {
      return Fail(op, status, vmsop::kReasonVirtualMachineSnapshotLost,
                  std::string(payload.status().message()));
    }
    if (!payload.ok()) return payload.status();
    CloneNaming naming = CloneNaming::FromSpec(JsonAt(op, "/spec/createVirtualMachine"));
    Mode mode = ParseMode(std::string(types::Name(view.spec().create_virtual_machine().mode())));
    if (phase != vmsop::Phase::kInProgress) return Validate(op, status, *payload, naming, mode);
    BERTH_ASSIGN_OR_RETURN(CloneProgress progress,
                           RunClone(store_, key.ns, *payload, naming, mode, view.uid(), status));
    if (progress.failure) {
      return Fail(op, status, vmsop::kReasonConflictsFound, *progress.failure);
    }
    if (!progress.done) {
      SetCondition(status, vmsop::kCompleted, false, vmsop::kReasonCreatingVirtualMachine,
                   "waiting for the cloned disks", op, out_.Now());
      BERTH_RETURN_IF_ERROR(out_.Write(op, status).status());
      return ReconcileResult{vmsop::kPoll};
    }
    return out_.Finish(op, status, true, vmsop::kReasonCompleted, "");
  }

 private:
  absl::StatusOr<ReconcileResult> Validate(const Json& op, Json status,
                                           const SnapshotPayload& payload,
                                           const CloneNaming& naming, Mode mode) {
    VirtualMachineSnapshotOperation view(op);
    BERTH_ASSIGN_OR_RETURN(ClonePlan plan,
                           PlanClone(store_, view.namespace_(), payload, naming, mode, view.uid()));
    types::VirtualMachineSnapshotOperationStatusWriter(status).set_resources(plan.resources.json());
    bool conflict = plan.resources.HasConflict();
    if (mode == Mode::kDryRun) {
      return out_.Finish(
          op, status, !conflict,
          conflict ? vmsop::kReasonConflictsFound : vmsop::kReasonDryRunCompleted,
          conflict ? plan.resources.ConflictSummary() : "dry run: the clone would succeed");
    }
    if (conflict) {
      return Fail(op, status, vmsop::kReasonConflictsFound, plan.resources.ConflictSummary());
    }
    BERTH_RETURN_IF_ERROR(out_.Begin(op, status, vmsop::kReasonCreatingVirtualMachine).status());
    return ReconcileResult{};
  }

  absl::StatusOr<ReconcileResult> Fail(const Json& op, Json status, const std::string& reason,
                                       const std::string& msg) {
    VirtualMachineSnapshotOperation view(op);
    BERTH_RETURN_IF_ERROR(RollBackClone(store_, view.namespace_(),
                                        status.value("resources", Json::array()), view.uid())
                              .status());
    return out_.Finish(op, status, false, reason, msg);
  }

  ObjectStore& store_;
  OpStatus out_;
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualMachineSnapshotOperationReconciler(
    const ReconcilerDeps& deps) {
  return std::make_unique<VmsopReconciler>(deps.store, deps.clock);
}

}  // namespace berth::controller

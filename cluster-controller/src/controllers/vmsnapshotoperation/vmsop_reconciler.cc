// VirtualMachineSnapshotOperation CreateVirtualMachine: builds a new VM (a clone) from an
// existing VirtualMachineSnapshot. No temporary snapshot: the clone's disks are created from
// the snapshot's disk snapshots. Deleting the operation while InProgress rolls the clone back.
#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "controllers/virtualmachineoperation/clone_plan.h"
#include "controllers/virtualmachineoperation/op_common.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kPoll = absl::Seconds(1);
constexpr char kKind[] = "VirtualMachineSnapshotOperation";

class VmsopReconciler : public Reconciler {
 public:
  VmsopReconciler(ObjectStore& store, const Clock& clock) : store_(store), out_(store, clock) {}

  std::string Kind() const override { return kKind; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    std::string kind = event.object().value("kind", "");
    if (kind != "VirtualDisk" && kind != "VirtualMachineSnapshot") return {};
    return ActiveOperations(store_, kKind, JsonString(event.object(), "/metadata/namespace"));
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json op = *std::move(got);
    Json status = op.value("status", Json::object());
    std::string phase = status.value("phase", "");
    std::string uid = JsonString(op, "/metadata/uid");
    if (IsDeleting(op)) {
      if (!HasFinalizer(op, kOperationFinalizer)) return ReconcileResult{};
      if (phase == "InProgress") {
        BERTH_RETURN_IF_ERROR(
            RollBackClone(store_, key.ns, status.value("resources", Json::array()), uid).status());
      }
      BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, op, kOperationFinalizer).status());
      return ReconcileResult{};
    }
    if (TerminalPhase(phase)) return ReconcileResult{};
    std::string snap_name = JsonString(op, "/spec/virtualMachineSnapshotName");
    auto snap = store_.Get(ObjectKey{"VirtualMachineSnapshot", key.ns, snap_name});
    if (absl::IsNotFound(snap.status())) {
      return Fail(op, status, "VirtualMachineSnapshotNotFound",
                  absl::StrCat("VirtualMachineSnapshot \"", snap_name, "\" not found"));
    }
    if (!snap.ok()) return snap.status();
    std::string snap_phase = JsonString(*snap, "/status/phase");
    if (snap_phase == "Failed") {
      return Fail(op, status, "VirtualMachineSnapshotFailed",
                  absl::StrCat("VirtualMachineSnapshot \"", snap_name, "\" is Failed"));
    }
    if (snap_phase != "Ready") {
      status["phase"] = "Pending";
      SetCondition(status, "SnapshotReady", false, "WaitingForTheSnapshot",
                   absl::StrCat("VirtualMachineSnapshot \"", snap_name, "\" is not Ready"), op,
                   out_.Now());
      BERTH_RETURN_IF_ERROR(out_.Write(op, status).status());
      return ReconcileResult{kPoll};
    }
    SetCondition(status, "SnapshotReady", true, "SnapshotReady", "", op, out_.Now());
    auto payload = LoadPayload(store_, *snap);
    if (absl::IsFailedPrecondition(payload.status()) || absl::IsDataLoss(payload.status())) {
      return Fail(op, status, "VirtualMachineSnapshotLost",
                  std::string(payload.status().message()));
    }
    if (!payload.ok()) return payload.status();
    CloneNaming naming = CloneNaming::FromSpec(JsonAt(op, "/spec/createVirtualMachine"));
    Mode mode = ParseMode(JsonString(op, "/spec/createVirtualMachine/mode"));
    if (phase != "InProgress") return Validate(op, status, *payload, naming, mode);
    BERTH_ASSIGN_OR_RETURN(CloneProgress progress,
                           RunClone(store_, key.ns, *payload, naming, mode, uid, status));
    if (!progress.failure.empty()) return Fail(op, status, "ConflictsFound", progress.failure);
    if (!progress.done) {
      SetCondition(status, "Completed", false, "CreatingVirtualMachine",
                   "waiting for the cloned disks", op, out_.Now());
      BERTH_RETURN_IF_ERROR(out_.Write(op, status).status());
      return ReconcileResult{kPoll};
    }
    return out_.Finish(op, status, true, "Completed", "");
  }

 private:
  absl::StatusOr<ReconcileResult> Validate(const Json& op, Json status,
                                           const SnapshotPayload& payload,
                                           const CloneNaming& naming, Mode mode) {
    BERTH_ASSIGN_OR_RETURN(ClonePlan plan,
                           PlanClone(store_, JsonString(op, "/metadata/namespace"), payload, naming,
                                     mode, JsonString(op, "/metadata/uid")));
    status["resources"] = plan.resources.json();
    bool conflict = plan.resources.HasConflict();
    if (mode == Mode::kDryRun) {
      return out_.Finish(
          op, status, !conflict, conflict ? "ConflictsFound" : "DryRunCompleted",
          conflict ? plan.resources.ConflictSummary() : "dry run: the clone would succeed");
    }
    if (conflict) return Fail(op, status, "ConflictsFound", plan.resources.ConflictSummary());
    BERTH_RETURN_IF_ERROR(out_.Begin(op, status, "CreatingVirtualMachine").status());
    return ReconcileResult{};
  }

  absl::StatusOr<ReconcileResult> Fail(const Json& op, Json status, const std::string& reason,
                                       const std::string& msg) {
    BERTH_RETURN_IF_ERROR(RollBackClone(store_, JsonString(op, "/metadata/namespace"),
                                        status.value("resources", Json::array()),
                                        JsonString(op, "/metadata/uid"))
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

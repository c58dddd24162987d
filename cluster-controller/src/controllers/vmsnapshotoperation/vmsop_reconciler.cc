// VirtualMachineSnapshotOperation CreateVirtualMachine: builds a new VM (a clone) from an
// existing VirtualMachineSnapshot. No temporary snapshot: the clone's disks are created from
// the snapshot's disk snapshots. Deleting the operation while InProgress rolls the clone back.
// The state machine is vmsop_machine.h; this file observes and acts.
#include <optional>

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
  VmsopReconciler(ObjectStore& store, const Clock& clock) : store_(store), clock_(clock) {}

  std::string Kind() const override { return kinds::kVirtualMachineSnapshotOperation; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    types::VirtualDisk obj(event.object());  // any kind: only metadata and kind are read
    if (obj.kind() != kinds::kVirtualDisk && obj.kind() != kinds::kVirtualMachineSnapshot) {
      return {};
    }
    return ActiveOperations(store_, Kind(), obj.namespace_(), &TerminalJson);
  }

  // Observe -> Plan -> (RunClone -> Finish) -> roll back -> store.
  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Peek(key);  // read-only: every write below copies what it changes
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    std::shared_ptr<const Json> obj = *std::move(got);
    const Json& op = *obj;
    VirtualMachineSnapshotOperation view(op);
    switch (vmsop::Preamble(view)) {
      case vmsop::Held::kDone:
        return ReconcileResult{};
      case vmsop::Held::kCancel:
        BERTH_RETURN_IF_ERROR(RollBack(view, view.status().json()));
        [[fallthrough]];
      case vmsop::Held::kRemoveFinalizer:
        BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, op, kOperationFinalizer).status());
        return ReconcileResult{};
      case vmsop::Held::kRun:
        break;
    }
    // Observe.
    vmsop::Observation obs;
    std::optional<Json> snap;
    std::optional<SnapshotPayload> payload;
    std::optional<ResourceList> plan;
    auto found = store_.Get(ObjectKey{kinds::kVirtualMachineSnapshot, key.ns,
                                      view.spec().virtual_machine_snapshot_name()});
    if (!found.ok() && !absl::IsNotFound(found.status())) return found.status();
    if (found.ok()) {
      snap = *std::move(found);
      obs.snapshot = &*snap;
    }
    if (snap && types::VirtualMachineSnapshot(*snap).status().phase() ==
                    types::VirtualMachineSnapshotPhase::kReady) {
      auto loaded = LoadPayload(store_, *snap);
      if (!loaded.ok() && !absl::IsFailedPrecondition(loaded.status()) &&
          !absl::IsDataLoss(loaded.status())) {
        return loaded.status();
      }
      obs.payload = loaded.status();
      if (loaded.ok()) payload = *std::move(loaded);
    }
    const CloneNaming naming = CloneNaming::FromSpec(JsonAt(op, "/spec/createVirtualMachine"));
    const Mode mode =
        ParseMode(std::string(types::Name(view.spec().create_virtual_machine().mode())));
    if (payload && view.status().phase() != vmsop::Phase::kInProgress) {
      BERTH_ASSIGN_OR_RETURN(ClonePlan p,
                             PlanClone(store_, key.ns, *payload, naming, mode, view.uid()));
      plan = std::move(p.resources);
      obs.plan = &*plan;
    }
    // Plan, act (and finish), store.
    const absl::Time now = clock_.Now();
    Step<vmsop::Rebuild> step = vmsop::Plan(view, obs, now);
    if (step.action.run_clone) {
      BERTH_ASSIGN_OR_RETURN(
          CloneProgress progress,
          RunClone(store_, key.ns, *payload, naming, mode, view.uid(), Resources(*step.status)));
      step = vmsop::Finish(view, *std::move(step.status), progress, now);
    }
    if (step.action.roll_back) BERTH_RETURN_IF_ERROR(RollBack(view, *step.status));
    BERTH_RETURN_IF_ERROR(StoreOpStatus(store_, op, step.status, step.add_finalizer));
    return step.Result();
  }

 private:
  static Json Resources(const Json& status) { return status.value("resources", Json::array()); }

  // Deletes what the clone created (the objects named in `status`'s resources).
  absl::Status RollBack(const VirtualMachineSnapshotOperation& view, const Json& status) {
    return RollBackClone(store_, view.namespace_(), Resources(status), view.uid()).status();
  }

  ObjectStore& store_;
  const Clock& clock_;
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualMachineSnapshotOperationReconciler(
    const ReconcilerDeps& deps) {
  return std::make_unique<VmsopReconciler>(deps.store, deps.clock);
}

}  // namespace berth::controller

// VirtualMachineOperation Clone: validate against the live VM, take a temporary consistent
// VirtualMachineSnapshot (owned by the operation, keepIPAddress Never), create the clone from
// it, and delete the snapshot once every cloned disk is Ready. Steps live in status.step. The
// decisions are vmop_machine.h's (PlanClone, FinishTempSnapshot, FinishClone); this file
// observes and acts.
#include <optional>

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"
#include "controllers/virtualmachineoperation/clone_plan.h"
#include "controllers/virtualmachineoperation/vmop_internal.h"

namespace berth::controller {
namespace {

class Clone {
 public:
  Clone(ObjectStore& store, const Json& op, absl::Time now)
      : store_(store),
        op_(op),
        view_(op),
        ns_(view_.namespace_()),
        uid_(view_.uid()),
        naming_(CloneNaming::FromSpec(JsonAt(op, "/spec/clone"))),
        mode_(ParseMode(std::string(types::Name(view_.spec().clone().mode())))),
        now_(now) {}

  absl::StatusOr<ReconcileResult> Run() {
    switch (vmop::Preamble(view_)) {
      case vmop::Held::kDone:
        return ReconcileResult{};
      case vmop::Held::kCancel:
        BERTH_RETURN_IF_ERROR(RollBack(view_.status().json()));
        BERTH_RETURN_IF_ERROR(DeleteTempSnapshot());
        [[fallthrough]];
      case vmop::Held::kRemoveFinalizer:
        BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, op_, kOperationFinalizer).status());
        return ReconcileResult{};
      case vmop::Held::kRun:
        break;
    }
    // Observe.
    vmop::CloneObservation obs;
    std::optional<Json> vm, snap;
    std::optional<ResourceList> plan;
    std::optional<SnapshotPayload> payload;
    types::VirtualMachineOperationStatus st = view_.status();
    if (st.phase() != vmop::Phase::kInProgress) {
      auto got =
          store_.Get(ObjectKey{kinds::kVirtualMachine, ns_, view_.spec().virtual_machine_name()});
      if (!got.ok() && !absl::IsNotFound(got.status())) return got.status();
      if (got.ok()) {
        vm = *std::move(got);
        obs.vm = &*vm;
        auto live = LivePayload(store_, *vm);
        if (!live.ok() && !absl::IsFailedPrecondition(live.status())) return live.status();
        obs.live = live.status();
        if (live.ok()) {
          BERTH_ASSIGN_OR_RETURN(ClonePlan p, PlanClone(store_, ns_, *live, naming_, mode_, uid_));
          plan = std::move(p.resources);
          obs.plan = &*plan;
        }
      }
    } else if (st.has_step() && st.step() != vmop::kStepSnapshot) {
      auto got =
          store_.Get(ObjectKey{kinds::kVirtualMachineSnapshot, ns_, vmop::TempSnapshotName(view_)});
      if (!got.ok() && !absl::IsNotFound(got.status())) return got.status();
      if (got.ok()) {
        snap = *std::move(got);
        obs.snapshot = &*snap;
        auto loaded = LoadPayload(store_, *snap);
        if (!loaded.ok() && !absl::IsFailedPrecondition(loaded.status()) &&
            !absl::IsDataLoss(loaded.status())) {
          return loaded.status();
        }
        obs.payload = loaded.status();
        if (loaded.ok()) payload = *std::move(loaded);
      }
    }
    // Plan, act (and finish), store.
    Step<vmop::Rebuild> step = vmop::PlanClone(view_, obs, now_);
    if (step.action.ensure_snapshot) {
      BERTH_ASSIGN_OR_RETURN(Json temp, EnsureTempSnapshot());
      step = vmop::FinishTempSnapshot(view_, temp, now_);
    }
    if (step.action.run_clone) {
      BERTH_ASSIGN_OR_RETURN(CloneProgress progress, RunClone(store_, ns_, *payload, naming_, mode_,
                                                              uid_, Resources(st.json())));
      step = vmop::FinishClone(op_, st.json(), progress, vmop::kReasonCreatingClone,
                               /*temporary_snapshot=*/true, now_);
    }
    if (step.action.roll_back) BERTH_RETURN_IF_ERROR(RollBack(*step.status));
    if (step.action.delete_snapshot) BERTH_RETURN_IF_ERROR(DeleteTempSnapshot());
    BERTH_RETURN_IF_ERROR(StoreOpStatus(store_, op_, step.status, step.add_finalizer));
    return step.Result();
  }

 private:
  static Json Resources(const Json& status) { return status.value("resources", Json::array()); }

  // Deletes what the clone created (the objects named in `status`'s resources).
  absl::Status RollBack(const Json& status) {
    return RollBackClone(store_, ns_, Resources(status), uid_).status();
  }

  absl::Status DeleteTempSnapshot() {
    auto d = store_.Delete(
        ObjectKey{kinds::kVirtualMachineSnapshot, ns_, vmop::TempSnapshotName(view_)});
    return d.ok() || absl::IsNotFound(d.status()) ? absl::OkStatus() : d.status();
  }

  absl::StatusOr<Json> EnsureTempSnapshot() {
    Json snap = vmop::TempSnapshot(view_);
    auto created = store_.Create(snap);
    if (absl::IsAlreadyExists(created.status())) return store_.Get(ObjectKey::Of(snap));
    return created;
  }

  ObjectStore& store_;
  const Json& op_;
  const types::VirtualMachineOperation view_;
  const std::string ns_;
  const std::string uid_;
  const CloneNaming naming_;
  const Mode mode_;
  const absl::Time now_;
};

}  // namespace

absl::StatusOr<ReconcileResult> ReconcileClone(ObjectStore& store, const Json& op, absl::Time now) {
  return Clone(store, op, now).Run();
}

}  // namespace berth::controller

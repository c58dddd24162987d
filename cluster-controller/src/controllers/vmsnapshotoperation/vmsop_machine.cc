#include "controllers/vmsnapshotoperation/vmsop_machine.h"

#include <optional>
#include <string>
#include <utility>

#include "berth/controller/status_util.h"

namespace berth::controller::vmsop {

bool Terminal(const types::VirtualMachineSnapshotOperation& op) {
  Phase phase = op.status().phase();
  return phase == Phase::kCompleted || phase == Phase::kFailed;
}

Held Preamble(const types::VirtualMachineSnapshotOperation& op) {
  return vmop::Preamble(op.deleting(), op.metadata().HasFinalizer(kOperationFinalizer),
                        op.status().phase() == Phase::kInProgress, Terminal(op),
                        /*finish_first=*/false);
}

namespace {

Step<Rebuild> Concluding(const Json& op, Json status, bool ok, const std::string& reason,
                         const std::string& message, absl::Time now, bool roll_back) {
  Step<Rebuild> step;
  step.status = vmop::Concluded(op, std::move(status), ok, reason, message, now);
  step.action.roll_back = roll_back;
  return step;
}

}  // namespace

Step<Rebuild> Plan(const types::VirtualMachineSnapshotOperation& op, const Observation& obs,
                   absl::Time now) {
  const Json& self = op.json();
  Json status = op.status().json();
  std::optional<Step<Rebuild>> gate = vmop::GateSnapshot(
      self, status, op.spec().virtual_machine_snapshot_name(), obs.snapshot, obs.payload, now);
  if (gate) {
    // A failed operation leaves nothing behind.
    if (vmop::Terminal(types::VirtualMachineOperationStatus(*gate->status).phase())) {
      gate->action.roll_back = true;
    }
    return *std::move(gate);
  }
  if (op.status().phase() == Phase::kInProgress) {
    Step<Rebuild> create;  // Finish decides on what RunClone did
    create.status = std::move(status);
    create.action.run_clone = true;
    return create;
  }
  const ResourceList& plan = *obs.plan;
  types::VirtualMachineSnapshotOperationStatusWriter(status).set_resources(plan.json());
  const bool conflict = plan.HasConflict();
  if (ParseMode(std::string(types::Name(op.spec().create_virtual_machine().mode()))) ==
      Mode::kDryRun) {
    return Concluding(self, std::move(status), !conflict,
                      conflict ? kReasonConflictsFound : kReasonDryRunCompleted,
                      conflict ? plan.ConflictSummary() : "dry run: the clone would succeed", now,
                      /*roll_back=*/false);
  }
  if (conflict) {
    return Concluding(self, std::move(status), false, kReasonConflictsFound, plan.ConflictSummary(),
                      now, /*roll_back=*/true);
  }
  // The phase names are VirtualMachineOperation's.
  types::VirtualMachineSnapshotOperationStatusWriter(status).set_phase(Phase::kInProgress);
  SetCondition(status, kCompleted, false, kReasonCreatingVirtualMachine, "", self, now);
  Step<Rebuild> begin;
  begin.status = std::move(status);
  begin.add_finalizer = true;
  return begin;
}

Step<Rebuild> Finish(const types::VirtualMachineSnapshotOperation& op, Json status,
                     const CloneProgress& progress, absl::Time now) {
  return vmop::FinishClone(op.json(), std::move(status), progress, kReasonCreatingVirtualMachine,
                           /*temporary_snapshot=*/false, now);
}

}  // namespace berth::controller::vmsop

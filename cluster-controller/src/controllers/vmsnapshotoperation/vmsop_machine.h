// The VirtualMachineSnapshotOperation state machine as pure functions (berth/controller/step.h;
// the clone itself is clone_plan.h, shared with VirtualMachineOperation Clone, and the snapshot
// gate and FinishClone are vmop_machine.h's):
//
//   phase            observation                                 -> next phase, action
//   Completed|Failed not deleting                                -> (nothing)
//   deleting         no finalizer                                -> (nothing)
//   deleting         InProgress                                  -> roll the clone back;
//                                                                   finalizer removed
//   deleting         otherwise                                   -> finalizer removed
//   (any)            the snapshot missing                        -> roll back; Failed
//                                                                   VirtualMachineSnapshotNotFound
//   (any)            the snapshot Failed                         -> roll back; Failed
//                                                                   VirtualMachineSnapshotFailed
//   (any)            the snapshot not Ready                      -> Pending WaitingForTheSnapshot,
//                                                                   1s
//   (any)            its Secret or a disk snapshot gone          -> roll back; Failed
//                                                                   VirtualMachineSnapshotLost
//   (new)|Pending    DryRun                                      -> Completed DryRunCompleted, or
//                                                                   Failed ConflictsFound
//   (new)|Pending    conflicts                                   -> roll back; Failed
//                                                                   ConflictsFound
//   (new)|Pending    otherwise                                   -> InProgress
//                                                                   CreatingVirtualMachine
//                                                                   (finalizer first)
//   InProgress                                                   -> the clone created (RunClone),
//                                                                   then (FinishClone)
//                    a name taken meanwhile, a cloned disk Failed -> roll back; Failed
//                                                                   ConflictsFound
//                    cloned disks not all Ready                  -> CreatingVirtualMachine, 1s
//                    every object created, every disk Ready      -> Completed
// (Every Completed or Failed status is stored, then the finalizer removed. Every pass past the
// gate records SnapshotReady True.)
#ifndef BERTH_CONTROLLER_CONTROLLERS_VMSNAPSHOTOPERATION_VMSOP_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VMSNAPSHOTOPERATION_VMSOP_MACHINE_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"
#include "controllers/virtualmachineoperation/clone_plan.h"
#include "controllers/virtualmachineoperation/vmop_machine.h"

namespace berth::controller::vmsop {

using Phase = types::VirtualMachineSnapshotOperationPhase;
using vmop::Held;
using vmop::Rebuild;

inline constexpr absl::Duration kPoll = absl::Seconds(1);

// Completed and Failed operations wait for nothing (but their deletion).
bool Terminal(const types::VirtualMachineSnapshotOperation& op);

// Deleting an InProgress operation cancels it (rolls the clone back).
Held Preamble(const types::VirtualMachineSnapshotOperation& op);

// What a pass looked at besides the operation.
struct Observation {
  // spec.virtualMachineSnapshotName; null: not found.
  const Json* snapshot = nullptr;
  // LoadPayload's outcome when the snapshot is Ready: FailedPrecondition or DataLoss (the
  // reconciler returns other errors).
  absl::Status payload = absl::OkStatus();
  // Before it runs: the clone's entries (PlanClone), Failed ones are conflicts.
  const ResourceList* plan = nullptr;
};

// A pass (Preamble kRun). InProgress, past the gate, the action is run_clone: the reconciler
// then calls Finish with what RunClone did.
Step<Rebuild> Plan(const types::VirtualMachineSnapshotOperation& op, const Observation& obs,
                   absl::Time now);
// After run_clone: `status` is Plan's (SnapshotReady True).
Step<Rebuild> Finish(const types::VirtualMachineSnapshotOperation& op, Json status,
                     const CloneProgress& progress, absl::Time now);

}  // namespace berth::controller::vmsop

#endif  // BERTH_CONTROLLER_CONTROLLERS_VMSNAPSHOTOPERATION_VMSOP_MACHINE_H_

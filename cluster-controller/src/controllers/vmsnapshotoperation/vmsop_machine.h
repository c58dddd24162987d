// The VirtualMachineSnapshotOperation state machine (vmsop_reconciler.cc; the clone itself is
// clone_plan.h, shared with VirtualMachineOperation Clone):
//
//   phase            observation                                 -> next phase, action
//   Completed|Failed not deleting                                -> (nothing)
//   deleting         InProgress                                  -> roll the clone back; finalizer
//                                                                   removed
//   deleting         otherwise                                   -> finalizer removed
//   (any)            the snapshot missing                        -> Failed
//                                                                   VirtualMachineSnapshotNotFound
//   (any)            the snapshot Failed                         -> Failed
//                                                                   VirtualMachineSnapshotFailed
//   (any)            the snapshot not Ready                      -> Pending WaitingForTheSnapshot,
//   1s (any)            its Secret or a disk snapshot gone          -> Failed
//   VirtualMachineSnapshotLost (new)|Pending    DryRun                                      ->
//   Completed DryRunCompleted, or
//                                                                   Failed ConflictsFound
//   (new)|Pending    conflicts                                   -> Failed ConflictsFound
//   (new)|Pending    otherwise                                   -> InProgress
//                                                                   CreatingVirtualMachine
//                                                                   (finalizer first)
//   InProgress       a name taken meanwhile, a cloned disk Failed -> Failed ConflictsFound
//   InProgress       cloned disks not all Ready                  -> CreatingVirtualMachine, 1s
//   InProgress       every object created, every disk Ready      -> Completed; finalizer removed
//   (every Failed rolls back what the clone created.)
#ifndef BERTH_CONTROLLER_CONTROLLERS_VMSNAPSHOTOPERATION_VMSOP_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VMSNAPSHOTOPERATION_VMSOP_MACHINE_H_

#include "absl/time/time.h"
#include "berth/controller/vocabulary.h"

namespace berth::controller::vmsop {

using Phase = types::VirtualMachineSnapshotOperationPhase;

inline constexpr absl::Duration kPoll = absl::Seconds(1);

// Completed and Failed operations wait for nothing (but their deletion).
inline bool Terminal(const types::VirtualMachineSnapshotOperation& op) {
  Phase phase = op.status().phase();
  return phase == Phase::kCompleted || phase == Phase::kFailed;
}

}  // namespace berth::controller::vmsop

#endif  // BERTH_CONTROLLER_CONTROLLERS_VMSNAPSHOTOPERATION_VMSOP_MACHINE_H_

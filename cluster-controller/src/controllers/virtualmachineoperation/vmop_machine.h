// The VirtualMachineOperation state machine as pure functions (berth/controller/step.h).
//
// Every type:
//   phase            observation                                -> next phase, action
//   Completed|Failed not deleting                               -> (nothing)
//   (new)|Pending    another operation on the VM is InProgress  -> Pending
//                                                                  WaitingForOtherOperation, 1s
//
// Start, Stop, Restart (PlanPower; status.step "stop"/"start" for a Restart):
//   (any)            type Migrate or Evict                      -> Failed NotSupported
//   (any)            the VM missing                             -> Failed VirtualMachineNotFound
//   (any)            Start/Restart of an AlwaysOff VM, or Stop
//                    of an AlwaysOn one                         -> Failed RunPolicyForbids
//   (new)|Pending                                               -> InProgress (Restart: step stop)
//   InProgress       Stop, or Restart at step stop              -> kPowerOff (kPowerOffForce with
//                                                                  spec.force), then
//                      the VM not Stopped                       ->   (wait 1s)
//                      Stop                                     ->   Completed
//                      Restart                                  ->   step start
//   InProgress       Start, or Restart at step start            -> kPowerOn, then
//                      the VM not Running                       ->   (wait 1s)
//                      otherwise                                ->   Completed
//
// Restore (vmop_restore.cc; status.step stop -> disks -> objects -> start; the finalizer holds
// the operation while InProgress):
//   (new)|Pending    the snapshot missing                       -> Failed
//                                                                  VirtualMachineSnapshotNotFound
//                    the snapshot Failed                        -> Failed
//                                                                  VirtualMachineSnapshotFailed
//                    the snapshot not Ready                     -> Pending WaitingForTheSnapshot,
//                    1s its Secret or a disk snapshot gone         -> Failed
//                    VirtualMachineSnapshotLost DryRun                                     ->
//                    Completed DryRunCompleted, or
//                                                                  Failed ConflictsFound
//                    conflicts                                  -> Failed ConflictsFound
//                    otherwise                                  -> InProgress, step stop,
//                                                                  MaintenanceMode (finalizer
//                                                                  first)
//   stop             the snapshot lost                          -> VM released; Failed
//                                                                  VirtualMachineSnapshotLost
//                    deleting                                   -> VM released; Failed RolledBack
//                    the VM active                              -> VM held off; (wait 1s)
//                                                                  StoppingVirtualMachine
//                    the VM stopped                             -> VM held off; step disks
//   disks            the snapshot lost                          -> Failed
//                                                                  VirtualMachineSnapshotLost (the
//                                                                  VM stays held)
//                    a restored disk Failed                     -> Failed VirtualDiskRestoreFailed
//                    an old disk there                          -> delete it; (wait 1s)
//                                                                  RestoringDisks
//                    a disk missing                             -> create it from its disk
//                                                                  snapshot; (wait 1s)
//                    every disk restored and Ready              -> step objects
//   objects                                                     -> IP, MAC, provisioning Secret
//                                                                  and VM spec restored; step start
//   start            the VM not yet at its former power state   -> VM released; (wait 1s)
//                    (and not Pending on a missing image)          Starting/StoppingVirtualMachine
//                    otherwise                                  -> Completed (deleting:
//                                                                  FinishedBeforeDeletion);
//                                                                  finalizer removed
//   (deleting while InProgress after step stop: the restore is finished first,
//    reason FinishingBeforeDeletion.)
//
// Clone (vmop_clone.cc; status.step snapshot -> create):
//   (new)|Pending    the VM missing                             -> Failed VirtualMachineNotFound
//                    one of its disks missing                   -> Failed VirtualMachineNotReady
//                    DryRun                                     -> Completed DryRunCompleted, or
//                                                                  Failed ConflictsFound
//                    conflicts                                  -> Failed ConflictsFound
//                    otherwise                                  -> InProgress Snapshotting, step
//                                                                  snapshot (finalizer first)
//   snapshot         temporary snapshot Failed                  -> Failed SnapshotFailed
//                    not Ready                                  -> WaitingForTheSnapshot, 1s
//                    Ready                                      -> step create
//   create           temporary snapshot gone or unusable        -> Failed SnapshotLost
//                    a name taken meanwhile, a cloned disk Failed -> Failed ConflictsFound
//                    cloned disks not all Ready                 -> CreatingClone, 1s
//                    every cloned disk Ready                    -> snapshot deleted; Completed
//   (every Failed rolls back what the clone created and deletes the temporary snapshot;
//    deleting while InProgress does the same and removes the finalizer.)
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_MACHINE_H_

#include <string>

#include "absl/time/time.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"

namespace berth::controller::vmop {

using Phase = types::VirtualMachineOperationPhase;
using Type = types::VirtualMachineOperationSpecType;

// Polling interval while an operation waits on other reconcilers.
inline constexpr absl::Duration kPoll = absl::Seconds(1);

// status.step values.
inline constexpr char kStepStop[] = "stop";          // Restart, Restore
inline constexpr char kStepStart[] = "start";        // Restart, Restore
inline constexpr char kStepDisks[] = "disks";        // Restore
inline constexpr char kStepObjects[] = "objects";    // Restore
inline constexpr char kStepSnapshot[] = "snapshot";  // Clone
inline constexpr char kStepCreate[] = "create";      // Clone

// Completed and Failed operations wait for nothing (but their deletion).
bool Terminal(Phase phase);
bool Terminal(const types::VirtualMachineOperation& op);
// Restore and Clone rebuild a VM; they hold the operation with a finalizer while InProgress.
bool Rebuilds(const types::VirtualMachineOperation& op);

enum class Action {
  kNone,
  kPowerOff,       // the VM's desiredPower Off (an ACPI shutdown)
  kPowerOffForce,  // the VM's desiredPower Off, forceStop: power cut
  kPowerOn,        // the VM's desiredPower On
};

// What a Start, Stop or Restart pass looked at besides the operation.
struct PowerObservation {
  const Json* vm = nullptr;        // spec.virtualMachineName; null: not found
  bool other_in_progress = false;  // another operation on the VM is InProgress
};

// Start, Stop, Restart (and the types this controller does not support). The action, a VM
// write, comes before the status is stored: the status only records what the VM showed.
Step<Action> PlanPower(const types::VirtualMachineOperation& op, const PowerObservation& obs,
                       absl::Time now);

// Pending behind another operation on the same VM.
Step<Action> Wait(const types::VirtualMachineOperation& op, absl::Time now);

// Completed (ok) or Failed with `reason`: `status` with the Completed condition. A failed
// operation has nothing in progress: its InProgress resources become Skipped, with why.
Step<Action> Conclude(const Json& op, Json status, bool ok, const std::string& reason,
                      const std::string& message, absl::Time now);

}  // namespace berth::controller::vmop

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_MACHINE_H_

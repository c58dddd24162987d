// The VirtualMachineOperation state machine as pure functions (berth/controller/step.h).
//
// Every type:
//   phase            observation                                -> next phase, action
//   Completed|Failed not deleting                               -> (nothing)
//   (new)|Pending    another operation on the VM is InProgress  -> Pending
//                                                                  WaitingForOtherOperation, 1s
//
// Start, Stop, Restart (PlanPower; status.step "stop"/"start" for a Restart):
//   (any)            type Migrate or Evict (the reconciler sends
//                    those to migrate_machine.h)                -> Failed NotSupported
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
// Restore, Clone (and VirtualMachineSnapshotOperation) hold the operation with a finalizer
// while InProgress (Preamble):
//   deleting         no finalizer                               -> (nothing)
//   deleting         not InProgress                             -> finalizer removed
//   deleting         InProgress: Restore                        -> the restore goes on (below)
//   deleting         InProgress: Clone                          -> roll back, snapshot deleted;
//                                                                  finalizer removed
//   Completed|Failed                                            -> (nothing)
// Every Completed or Failed status below is stored, then the finalizer removed; the actions of
// a step (Rebuild) run before its status is stored, in the order VM power, disks, objects,
// annotation, temporary snapshot, clone, roll back, snapshot deleted.
//
// Restore (PlanRestore, FinishDisks; status.step stop -> disks -> objects -> start):
//   (new)|Pending    the snapshot missing                       -> Failed
//                                                                  VirtualMachineSnapshotNotFound
//                    the snapshot Failed                        -> Failed
//                                                                  VirtualMachineSnapshotFailed
//                    the snapshot not Ready                     -> Pending WaitingForTheSnapshot,
//                                                                  1s
//                    its Secret or a disk snapshot gone         -> Failed
//                                                                  VirtualMachineSnapshotLost
//                    DryRun                                     -> Completed DryRunCompleted, or
//                                                                  Failed ConflictsFound
//                    conflicts                                  -> Failed ConflictsFound
//                    otherwise                                  -> InProgress
//                                                                  StoppingVirtualMachine, step
//                                                                  stop, wasRunning,
//                                                                  MaintenanceMode (finalizer
//                                                                  first)
//   stop             deleting                                   -> VM released, annotated;
//                                                                  Failed RolledBack
//                    the snapshot lost                          -> VM released; Failed
//                                                                  VirtualMachineSnapshotLost
//                    the VM active                              -> VM held off;
//                                                                  StoppingVirtualMachine, 1s
//                    the VM stopped                             -> VM held off; step disks
//   disks            the snapshot lost                          -> Failed
//                                                                  VirtualMachineSnapshotLost (the
//                                                                  VM stays held)
//                    otherwise, per disk (PlanDisk):
//                      ours (stamped), Failed                   ->   (the restore fails)
//                      ours, not Ready                          ->   (wait)
//                      an old disk                              ->   kDelete (unless deleting)
//                      missing                                  ->   kCreate from its disk
//                                                                    snapshot
//                    then (FinishDisks):
//                      a restored disk Failed                   -> Failed VirtualDiskRestoreFailed
//                      waiting                                  -> RestoringDisks, 1s (resources:
//                                                                  disks Ready are Completed)
//                      every disk restored and Ready            -> step objects
//   objects          the snapshot lost                          -> (the error, retried)
//                    otherwise                                  -> IP, MAC, provisioning Secret
//                                                                  and VM spec restored; step start
//   start            the VM not yet at its former power state   -> VM released;
//                    (and not Pending on a missing image)          Starting/StoppingVirtualMachine,
//                                                                  1s
//                    otherwise                                  -> VM released, annotated;
//                                                                  Completed (deleting:
//                                                                  FinishedBeforeDeletion),
//                                                                  MaintenanceModeOff
//   (deleting while InProgress after step stop: the restore is finished first, every progress
//    reason becomes FinishingBeforeDeletion.)
//
// Clone (PlanClone, FinishTempSnapshot, FinishClone; status.step snapshot -> create):
//   (new)|Pending    the VM missing                             -> Failed VirtualMachineNotFound
//                    one of its disks missing                   -> Failed VirtualMachineNotReady
//                    DryRun                                     -> Completed DryRunCompleted, or
//                                                                  Failed ConflictsFound
//                    conflicts                                  -> Failed ConflictsFound
//                    otherwise                                  -> InProgress Snapshotting, step
//                                                                  snapshot (finalizer first)
//   snapshot                                                    -> the temporary snapshot
//                                                                  created (if missing), then
//                    it is Failed                               -> roll back, snapshot deleted;
//                                                                  Failed SnapshotFailed
//                    not Ready                                  -> WaitingForTheSnapshot, 1s
//                    Ready                                      -> step create
//   create           temporary snapshot gone or unusable        -> roll back, snapshot deleted;
//                                                                  Failed SnapshotLost
//                    otherwise                                  -> the clone created (RunClone),
//                                                                  then
//                      a name taken meanwhile, a disk Failed    ->   roll back, snapshot deleted;
//                                                                    Failed ConflictsFound
//                      cloned disks not all Ready               ->   CreatingClone, 1s
//                      every cloned disk Ready                  ->   snapshot deleted; Completed
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_MACHINE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"
#include "controllers/virtualmachineoperation/clone_plan.h"
#include "controllers/virtualmachineoperation/op_common.h"

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
// Conclude's status.
Json Concluded(const Json& op, Json status, bool ok, const std::string& reason,
               const std::string& message, absl::Time now);

// ---- Restore and Clone (and VirtualMachineSnapshotOperation's CreateVirtualMachine)

// What the preamble of an operation holding kOperationFinalizer decides.
enum class Held {
  kDone,             // nothing to do
  kRemoveFinalizer,  // deleted when not InProgress: let it go
  kCancel,           // deleted while InProgress: roll back, then remove the finalizer
  kRun,              // run the operation's next step
};
// `finish_first`: deleting an InProgress operation finishes it (Restore) rather than cancels it.
Held Preamble(bool deleting, bool has_finalizer, bool in_progress, bool terminal,
              bool finish_first);
Held Preamble(const types::VirtualMachineOperation& op);

// The VM's power wishes a Restore writes.
enum class Hold {
  kKeep,
  kHold,     // maintenance, desiredPower Off
  kRelease,  // maintenance cleared, desiredPower back to status.wasRunning
};

// What a Restore, Clone or CreateVirtualMachine pass does besides storing its status, in this
// order; then the status is stored (after kOperationFinalizer is added, with add_finalizer),
// and a Completed or Failed one drops kOperationFinalizer.
struct Rebuild {
  Hold vm = Hold::kKeep;         // Restore
  bool replace_disks = false;    // Restore disks: PlanDisk per disk, then FinishDisks
  bool restore_objects = false;  // Restore objects: IP, MAC, provisioning Secret, VM spec
  std::string annotation;        // Restore: non-empty, the VM's kRestoreResultAnnotation
  bool ensure_snapshot = false;  // Clone snapshot: the temporary snapshot created if missing,
                                 // then FinishTempSnapshot
  bool run_clone = false;        // RunClone, then FinishClone
  bool roll_back = false;        // RollBackClone: delete what the clone created
  bool delete_snapshot = false;  // Clone: delete the temporary snapshot
};

// The snapshot gate of Restore (before it runs) and CreateVirtualMachine (every pass): the
// Step that stops the operation there (Failed, or Pending waiting for the snapshot), or nullopt
// when the snapshot `name` is Ready and its payload loaded; `status` then has SnapshotReady
// True. `snapshot` null: not found; `payload`: LoadPayload's outcome (looked at only when the
// snapshot is Ready; any error means the snapshot is lost).
std::optional<Step<Rebuild>> GateSnapshot(const Json& op, Json& status, const std::string& name,
                                          const Json* snapshot, const absl::Status& payload,
                                          absl::Time now);

// What a Restore pass looked at besides the operation.
struct RestoreObservation {
  // spec.restore.virtualMachineSnapshotName; null: not found.
  const Json* snapshot = nullptr;
  // LoadPayload's outcome for the snapshot (not looked at when deleting at step stop). Before
  // the restore runs, the reconciler returns errors other than FailedPrecondition and DataLoss
  // itself; once InProgress any error means the snapshot is lost.
  absl::Status payload = absl::OkStatus();
  // Before it runs: the restore's entries (CheckRestore), Failed ones are conflicts.
  const ResourceList* plan = nullptr;
  // The VM (always there once InProgress: the VM's finalizer keeps it while it is held).
  const Json* vm = nullptr;
  // Step start: the VM is Pending and an image or class it needs is missing.
  bool vm_stuck = false;
};

// A Restore pass (Preamble kRun). Errors: the payload lost at step objects (retried).
absl::StatusOr<Step<Rebuild>> PlanRestore(const types::VirtualMachineOperation& op,
                                          const RestoreObservation& obs, absl::Time now);

// The disks step, one disk of the snapshot: what to do with it and where it stands.
enum class DiskAction {
  kNone,
  kDelete,  // the old disk (by its uid)
  kCreate,  // the disk again from its VirtualDiskSnapshot, stamped
};
struct DiskStep {
  DiskAction action = DiskAction::kNone;
  std::optional<std::string> failure;  // restored, but Failed: the restore fails
  std::optional<std::string> waiting;  // what the step still waits for
};
// `live`: the VirtualDisk `name` as stored; null: not found.
DiskStep PlanDisk(const std::string& name, const Json* live, const std::string& op_uid);

// Where the disks step stands after every disk was acted on (the last failure and wait win).
struct DiskProgress {
  std::optional<std::string> failure;
  std::optional<std::string> waiting;
  void Add(const DiskStep& disk);
};
// Folds the disks step into the status. `disks` (read after acting, looked up only without a
// failure): each VirtualDisk entry of status.resources by name, with the disk found (null:
// not found).
Step<Rebuild> FinishDisks(const types::VirtualMachineOperation& op, const DiskProgress& progress,
                          const std::vector<std::pair<std::string, const Json*>>& disks,
                          absl::Time now);

// The temporary VirtualMachineSnapshot a Clone is made from: named by the operation's uid (a
// pass after a crash finds the one it created), owned by the operation, keepIPAddress Never.
std::string TempSnapshotName(const types::VirtualMachineOperation& op);
Json TempSnapshot(const types::VirtualMachineOperation& op);

// What a Clone pass looked at besides the operation.
struct CloneObservation {
  // Before it runs: spec.virtualMachineName (null: not found), LivePayload's outcome
  // (FailedPrecondition: one of its disks is missing) and the clone's entries (PlanClone).
  const Json* vm = nullptr;
  absl::Status live = absl::OkStatus();
  const ResourceList* plan = nullptr;
  // Step create: the temporary snapshot (null: gone) and LoadPayload's outcome for it.
  const Json* snapshot = nullptr;
  absl::Status payload = absl::OkStatus();
};

// A Clone pass (Preamble kRun).
Step<Rebuild> PlanClone(const types::VirtualMachineOperation& op, const CloneObservation& obs,
                        absl::Time now);
// Step snapshot, after ensure_snapshot: `snap` as created or found.
Step<Rebuild> FinishTempSnapshot(const types::VirtualMachineOperation& op, const Json& snap,
                                 absl::Time now);
// After run_clone (Clone's step create, CreateVirtualMachine InProgress): the clone's entries
// into status.resources, then Failed ConflictsFound (rolled back), `creating` with a requeue,
// or Completed. `temporary_snapshot`: a Clone's, deleted with the outcome.
Step<Rebuild> FinishClone(const Json& op, Json status, const CloneProgress& progress,
                          const std::string& creating, bool temporary_snapshot, absl::Time now);

}  // namespace berth::controller::vmop

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_MACHINE_H_

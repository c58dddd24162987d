// The VirtualDiskSnapshot state machine as pure functions (berth/controller/step.h):
//
//   phase        observation                                   -> next phase, action
//   (new)|Pending disk missing, not Ready or deleting            -> Pending, poll
//   (new)|Pending disk Ready, cut by a VirtualMachineSnapshot     -> InProgress (it cuts)
//   (new)|Pending disk Ready, a running VM, consistency required,
//                 guest agent not ready                          -> Failed PotentiallyInconsistent
//   (new)|Pending disk Ready                                     -> InProgress, kCut (frozen when a
//                                                                   guest runs on the disk)
//   InProgress    own cut                                        -> kCut
//   InProgress    VirtualMachineSnapshot gone or Failed          -> Failed
//   InProgress    VirtualMachineSnapshot has not cut yet          -> (wait)
//   InProgress    VirtualMachineSnapshot has cut                  -> kCollectCut
//   (cut)         snapshot returned                              -> Ready
//   (cut)         refused (NotFound, InvalidArgument, FailedPrecondition, ResourceExhausted)
//                                                                -> Failed
//                                                                VirtualDiskSnapshotFailed
//   Ready         the node no longer has the data                -> Failed Lost
//   deleting      (phase not Terminating)                        -> Terminating
//   Terminating   node-side snapshot deleted                     -> finalizer removed
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALDISKSNAPSHOT_VDS_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALDISKSNAPSHOT_VDS_MACHINE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"

namespace berth::controller::vds {

using Phase = types::VirtualDiskSnapshotPhase;

// Unfinished snapshots wait for their disk or VirtualMachineSnapshot; Ready and Failed ones
// wait for nothing.
bool Finished(const types::VirtualDiskSnapshot& snap);

enum class Action {
  kNone,
  kCut,         // cut status.virtualDiskUID in status.pool on status.node, frozen when
                // status.freezeDomain is set
  kCollectCut,  // the VirtualMachineSnapshot cut it: ask the node for the snapshot made
  kDelete,      // delete the node-side snapshot, then remove the finalizer
  kRemoveFinalizer,
};

// What a pass looked at besides the snapshot. Null pointers: not found (or not looked for).
struct Observation {
  const Json* disk = nullptr;         // the VirtualDisk spec.virtualDiskName names
  const Json* running_vm = nullptr;   // an active VM using the disk (when not yet cut)
  const Json* vm_snapshot = nullptr;  // the VirtualMachineSnapshot cutting it (managed ones)
};

inline constexpr absl::Duration kPendingPoll = absl::Seconds(2);

// Snapshots not yet cut and not being deleted (phase "", Pending or InProgress).
Step<Action> Plan(const types::VirtualDiskSnapshot& snap, const Observation& obs, absl::Time now);

// Folds the outcome of kCut or kCollectCut into `status` (the status stored before the cut).
// Errors that say nothing about the snapshot (the node unreachable) are returned, to retry.
absl::StatusOr<Step<Action>> Finish(const types::VirtualDiskSnapshot& snap, Json status,
                                    const absl::StatusOr<agentpb::Snapshot>& cut, absl::Time now,
                                    absl::Duration lost_check_interval);

// A snapshot being deleted.
Step<Action> PlanDeletion(const types::VirtualDiskSnapshot& snap);

// Failed with `reason`: the stored status, the Ready condition false with `message`.
// `before_cut`: the write also adds the finalizer.
Step<Action> Fail(const types::VirtualDiskSnapshot& snap, const std::string& reason,
                  const std::string& message, absl::Time now, bool before_cut = false);

}  // namespace berth::controller::vds

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALDISKSNAPSHOT_VDS_MACHINE_H_

// The VirtualMachineSnapshot state machine as pure functions (berth/controller/step.h):
//
//   phase          observation                                 -> next phase, action
//   deleting | Failed                                          -> (nothing)
//   Ready          a disk snapshot gone or Failed              -> Failed VirtualDiskSnapshotLost
//   Ready          every disk snapshot there                   -> (check again in 20s)
//   (other)        the VM missing                              -> Pending
//                                                                 WaitingForTheVirtualMachine, 2s
//   (not cut)      a disk missing, not Ready or resizing       -> Failed BlockDevicesNotReady
//   (not cut)      the VM active, consistency required, and
//                  not Running or its guest agent not ready    -> Failed PotentiallyInconsistent
//   (new)|Pending  disks Ready                                 -> InProgress, FileSystemFreezing
//                                                                 (VM active, consistency
//                                                                 required) or Snapshotting
//   InProgress     not cut, disks Ready                        -> kCut (kCutFrozen: freeze the
//                                                                 guest): store the Secret and
//                                                                 the disk snapshots, then cut
//   (cut)          refused (FailedPrecondition, InvalidArgument, NotFound)
//                                                              -> Failed
//                                                                 VirtualMachineSnapshotFailed
//   (cut)          cut                                         -> InProgress, cutDone, 1s
//   InProgress     cut; a disk snapshot gone or Failed         -> Failed VirtualDiskSnapshotLost
//   InProgress     cut; a disk snapshot not yet Ready          -> (wait 1s)
//   InProgress     cut; every disk snapshot Ready              -> Ready (resources: what was
//                                                                 captured), check again in 20s
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINESNAPSHOT_VMSNAPSHOT_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINESNAPSHOT_VMSNAPSHOT_MACHINE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"

namespace berth::controller::vmsnapshot {

using Phase = types::VirtualMachineSnapshotPhase;

// Failed snapshots, and snapshots being deleted, wait for nothing. (Ready ones are still
// checked for lost disk snapshots.)
bool Done(const types::VirtualMachineSnapshot& snap);

enum class Action {
  kNone,
  kCut,        // store the Secret and the disk snapshots, cut every disk at one instant
  kCutFrozen,  // the same with the guest's filesystems frozen around the cut
};

// What a pass looked at besides the snapshot. Null pointers: not found.
struct Observation {
  const Json* vm = nullptr;  // spec.virtualMachineName (not looked for when Ready)
  // The VM's VirtualDisks in blockDeviceRefs order, by name (looked for until cut).
  std::vector<std::pair<std::string, const Json*>> disks;
  // status.virtualDiskSnapshotNames with the VirtualDiskSnapshots found (once cut).
  std::vector<std::pair<std::string, const Json*>> disk_snapshots;
};

inline constexpr absl::Duration kPoll = absl::Seconds(1);
inline constexpr absl::Duration kVmPoll = absl::Seconds(2);
inline constexpr absl::Duration kLostCheck = absl::Seconds(20);

Step<Action> Plan(const types::VirtualMachineSnapshot& snap, const Observation& obs,
                  absl::Time now);

// What kCut did: the Secret and disk snapshots it stored and the agent's answer.
struct Cut {
  std::string secret_name;
  Json resources = Json::array();  // what the Secret captures (status.pendingResources)
  std::vector<std::string> disk_snapshot_names;
  // The freeze window the agent measured; nullopt when the VM has no disk (nothing to cut).
  absl::StatusOr<std::optional<int64_t>> freeze_window_us = std::nullopt;
};

// Folds kCut's outcome into `status` (the planned one). Errors that say nothing about the
// snapshot (the node unreachable) are returned, to retry.
absl::StatusOr<Step<Action>> Finish(const types::VirtualMachineSnapshot& snap,
                                    const types::VirtualMachine& vm, Json status, const Cut& cut,
                                    absl::Time now);

// Failed with `reason`: `status` with the VirtualMachineSnapshotReady condition false.
Step<Action> Fail(const types::VirtualMachineSnapshot& snap, Json status, const std::string& reason,
                  const std::string& message, absl::Time now);

}  // namespace berth::controller::vmsnapshot

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINESNAPSHOT_VMSNAPSHOT_MACHINE_H_

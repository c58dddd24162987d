// The VirtualDisk state machine as pure functions (berth/controller/step.h). A disk is a volume
// in a storage pool on one node: blank, restored from a VirtualDiskSnapshot (copy-on-write on the
// snapshot's node), or filled by an upload. Every pass of an unfinished disk first stores the
// finalizer; the node is chosen once and recorded in status before the agent is asked, so a crash
// never provisions a disk twice.
//
//   phase          observation                                  -> next phase, action
//   Ready|Failed   (any)                                        -> (finished)
//   (any)          storage class not configured                 -> Pending StorageClassNotFound,
//                                                                  10 s
//  blank or restored (no spec.dataSource, or ObjectRef):
//   (any)          dataSource not an ObjectRef to a
//                  VirtualDiskSnapshot                          -> Failed ProvisioningFailed
//   (any)          the snapshot missing, unreadable or not Ready -> Pending WaitingForDataSource,
//                                                                  2 s
//   (any)          spec.persistentVolumeClaim.size unparsable   -> InvalidArgument (not retried)
//   (any)          spec size below the snapshot's               -> Failed ProvisioningFailed
//   (no node)      restored                                     -> Provisioning on the snapshot's
//                                                                  node, the class's pool
//   (no node)      blank                                        -> kPickNode, then Place:
//                                                                  Provisioning on the least loaded
//                                                                  Ready node serving the pool, or
//                                                                  Pending WaitingForNode, 2 s
//   (node)         -                                            -> kCreateVolume, then
//                                                                  FinishCreate:
//   (created)      volume made                                  -> Ready (capacity, sizeBytes,
//                                                                  path)
//   (created)      refused (InvalidArgument, FailedPrecondition,
//                  NotFound, ResourceExhausted)                 -> Failed ProvisioningFailed
//  dataSource Upload:
//   (any)          uploads off, or no spec size                 -> Failed ProvisioningFailed
//   (any)          upload.since: the snapshot missing           -> Failed ProvisioningFailed
//   (any)          upload.since: the snapshot not Ready         -> Pending WaitingForDataSource,
//                                                                  2 s
//   (any)          spec size below the since snapshot's         -> Failed ProvisioningFailed
//   (no node)      upload.since                                 -> Provisioning on the snapshot's
//                                                                  node and pool
//   (no node)      -                                            -> kPickNode, then Place (above)
//   (node)         -                                            -> kUpload (upload_flow.h's table)
//  deletion:
//   deleting       phase not Terminating                        -> Terminating
//   Terminating    node recorded, finalizer                     -> kDelete: the upload export
//                                                                  stopped, the volume deleted,
//                                                                  then the finalizer removed
//   Terminating    otherwise                                    -> finalizer removed
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALDISK_VD_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALDISK_VD_MACHINE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/controllers.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"
#include "controllers/common/placement.h"
#include "controllers/dataexport/upload_flow.h"

namespace berth::controller::vd {

using Phase = types::VirtualDiskPhase;

// Ready and Failed disks wait for nothing.
bool Finished(const types::VirtualDisk& disk);

// Whether spec.dataSource is an upload.
bool IsUpload(const types::VirtualDisk& disk);

enum class Action {
  kNone,
  kPickNode,      // choose a node serving Planned::pool, then Place
  kCreateVolume,  // Planned::volume on status.node, then FinishCreate
  kUpload,        // a pass of the upload flow (Planned::upload) on status.node, then FinishUpload
  kDelete,        // stop the upload export, delete the volume, then remove the finalizer
  kRemoveFinalizer,
};

// The VirtualDiskSnapshot a pass looks at: spec.dataSource's ObjectRef, or its upload.since; ""
// when none.
std::string SnapshotName(const types::VirtualDisk& disk);

// What a pass looked at besides the disk.
struct Observation {
  const Json* snapshot = nullptr;  // the SnapshotName one; null: not found (or not looked for)
  absl::Status snapshot_error;     // an error other than NotFound reading it
};

// What Plan decides: the step, and what its action needs.
struct Planned : Step<Action> {
  std::string pool;                     // kPickNode: the pool the node must serve
  agentpb::CreateVolumeRequest volume;  // kCreateVolume
  UploadVolume upload;                  // kUpload
};

inline constexpr absl::Duration kPendingPoll = absl::Seconds(2);
inline constexpr absl::Duration kStorageClassPoll = absl::Seconds(10);

// Disks neither finished nor being deleted (their finalizer is stored). `uploads`: whether this
// controller serves uploads. Errors: an unparsable spec size (blank and restored disks), an
// upload.since snapshot that could not be read.
absl::StatusOr<Planned> Plan(const types::VirtualDisk& disk, const Observation& obs,
                             const ControllerConfig& config, bool uploads, absl::Time now);

// The Ready, schedulable (not cordoned) node serving `pool` with the fewest disks (`load`: disks
// per node name), the first of equals; FailedPrecondition when none.
// A VM using the disk: the disk goes only where its node constraints allow.
struct Consumer {
  std::string vm;
  NodeConstraints constraints;
};
absl::StatusOr<std::string> LeastLoaded(const std::vector<Json>& nodes,
                                        const std::map<std::string, int>& load,
                                        const std::string& pool,
                                        const std::vector<Consumer>& consumers = {});

// Records where the disk goes (Provisioning), or Pending WaitingForNode when no node was found.
Step<Action> Place(const types::VirtualDisk& disk, const absl::StatusOr<std::string>& node,
                   const std::string& pool, const ControllerConfig& config, absl::Time now);

// Folds CreateVolume's outcome in. Errors that say nothing about the disk are returned, to retry.
absl::StatusOr<Step<Action>> FinishCreate(const types::VirtualDisk& disk,
                                          const absl::StatusOr<agentpb::Volume>& vol,
                                          absl::Time now);

// A disk being deleted.
Step<Action> PlanDeletion(const types::VirtualDisk& disk);

}  // namespace berth::controller::vd

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALDISK_VD_MACHINE_H_

// The VirtualImage and ClusterVirtualImage state machine as pure functions
// (berth/controller/step.h). Both kinds follow one table; an image is a volume in a pool on one
// node, recorded in status before any agent call:
//
//   phase          observation                                  -> next phase, action
//   Ready|Failed   (any)                                        -> (finished)
//  dataSource ObjectRef (a VirtualDiskSnapshot, VirtualDisk, VirtualImage or ClusterVirtualImage):
//   (any)          the source missing or not Ready              -> Pending WaitingForSource, 2 s
//   (any)          the source a VirtualDisk a running VM uses   -> Pending SourceInUse, 2 s
//   (no node)      the source Ready                             -> finalizer, then Provisioning on
//                                                                  the source's node and pool
//   (node)         the source Ready                             -> finalizer, kCopy (a volume cut
//                                                                  through a temporary snapshot),
//                                                                  then FinishCopy:
//   (copied)       volume made                                  -> Ready (path, sizeBytes, size)
//   (copied)       refused (InvalidArgument, FailedPrecondition,
//                  NotFound)                                    -> Failed ProvisioningFailed
//  other data sources:
//   (any)          not Upload, or uploads off                   -> Pending DataSourceNotSupported
//                                                                  (no requeue)
//   (no node)      storage class not configured                 -> finalizer, Pending
//                                                                  StorageClassNotFound, 10 s
//   (no node)      -                                            -> finalizer, kPickNode, then
//                                                                  Place: Provisioning on the first
//                                                                  Ready node serving the pool, or
//                                                                  Pending WaitingForNode, 2 s
//   (node)         -                                            -> finalizer, kUpload
//                                                                  (upload_flow.h's table); once
//                                                                  Ready, status.size in a second
//                                                                  write (WithSize)
//  deletion (no Terminating phase is written):
//   deleting       node recorded, finalizer                     -> kDelete: the upload export
//                                                                  stopped, the volume deleted,
//                                                                  then the finalizer removed
//   deleting       otherwise                                    -> finalizer removed
// "finalizer": the step's add_finalizer; the finalizer is stored on its own, before the status.
//
// Image: types::VirtualImage or types::ClusterVirtualImage.
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALIMAGE_VI_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALIMAGE_VI_MACHINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/controllers.h"
#include "berth/controller/object_store.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"
#include "controllers/dataexport/upload_flow.h"

namespace berth::controller::vi {

template <typename Image>
struct Types;
template <>
struct Types<types::VirtualImage> {
  using Writer = types::VirtualImageStatusWriter;
};
template <>
struct Types<types::ClusterVirtualImage> {
  using Writer = types::ClusterVirtualImageStatusWriter;
};
// The status writer of `Image`.
template <typename Image>
using StatusWriter = typename Types<Image>::Writer;

// Ready and Failed images wait for nothing.
template <typename Image>
bool Finished(const Image& image);

// Whether spec.dataSource is an upload.
template <typename Image>
bool IsUpload(const Image& image);

// The object a dataSource ObjectRef names; kind "" for other data sources.
template <typename Image>
ObjectKey SourceKey(const Image& image);

enum class Action {
  kNone,
  kPickNode,  // choose a Ready node serving Planned::pool, then Place
  kCopy,      // Planned::copy, then FinishCopy
  kUpload,    // a pass of the upload flow (Planned::upload) on status.node, then FinishUpload
  kDelete,    // stop the upload export, delete the volume, then remove the finalizer
  kRemoveFinalizer,
};

// What a pass looked at besides the image (dataSource ObjectRef only).
struct Observation {
  const Json* source = nullptr;      // the SourceKey object; null: not found
  absl::Status source_error;         // an error other than NotFound reading it
  const Json* running_vm = nullptr;  // a VirtualDisk source: the first active VM using it
  absl::Status vms_error;            // listing those VMs failed
};

// The copy of an ObjectRef source, on the source's node.
struct Copy {
  std::string node;
  // source_snapshot_id set when the source is a VirtualDiskSnapshot; size 0 when unknown (then
  // the cut's size).
  agentpb::CreateVolumeRequest volume;
  // Other sources are volumes, cut through a snapshot of our own (temp_snapshot_id) that is
  // deleted afterwards.
  std::string cut_volume_id;
  std::string temp_snapshot_id;
};

// What Plan decides: the step, and what its action needs.
struct Planned : Step<Action> {
  std::string pool;           // kPickNode: the pool the node must serve
  std::string storage_class;  // kPickNode: recorded with the node
  Copy copy;                  // kCopy
  UploadVolume upload;        // kUpload
};

inline constexpr absl::Duration kPendingPoll = absl::Seconds(2);
inline constexpr absl::Duration kStorageClassPoll = absl::Seconds(10);
inline constexpr uint64_t kPlaceholderSize = 1 << 20;  // the upload sets the real size

// Images neither finished nor being deleted. `uploads`: whether this controller serves
// uploads. Errors: the observation's, where the pass needed what failed to be read.
template <typename Image>
absl::StatusOr<Planned> Plan(const Image& image, const Observation& obs,
                             const ControllerConfig& config, bool uploads, absl::Time now);

// The first Ready node serving `pool`; "" when none.
std::string FirstServing(const std::vector<Json>& nodes, const std::string& pool);

// Records where an uploaded image goes (Provisioning), or Pending WaitingForNode.
template <typename Image>
Step<Action> Place(const Image& image, const std::vector<Json>& nodes, const std::string& pool,
                   const std::string& storage_class, absl::Time now);

// Folds kCopy's CreateVolume outcome in. Errors that say nothing about the image are returned,
// to retry.
template <typename Image>
absl::StatusOr<Step<Action>> FinishCopy(const Image& image,
                                        const absl::StatusOr<agentpb::Volume>& vol, absl::Time now);

// A Ready uploaded image (as stored by the upload flow): status.size (stored and unpacked)
// from sizeBytes. Nothing to store for other phases.
template <typename Image>
Step<Action> WithSize(const Image& image);

// An image being deleted.
template <typename Image>
Step<Action> PlanDeletion(const Image& image);

}  // namespace berth::controller::vi

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALIMAGE_VI_MACHINE_H_

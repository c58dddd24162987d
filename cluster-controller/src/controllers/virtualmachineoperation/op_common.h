// Pieces shared by the operations that rebuild a VM from a VirtualMachineSnapshot: Restore and
// Clone (VirtualMachineOperation) and CreateVirtualMachine (VirtualMachineSnapshotOperation).
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_OP_COMMON_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_OP_COMMON_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/controller/object_store.h"
#include "berth/controller/reconciler.h"
#include "berth/json.h"
#include "berth/time_util.h"
#include "berth/types/resources.h"

namespace berth::controller {

// Annotation carrying the uid of the operation that created or restored an object: a pass
// repeated after a crash sees it and does not act twice.
inline constexpr char kOperationAnnotation[] = "virtualization.deckhouse.io/berth-operation-uid";
// Annotation on a restored VM telling how the last restore ended.
inline constexpr char kRestoreResultAnnotation[] = "virtualization.deckhouse.io/berth-last-restore";
// Holds an operation while it is InProgress, so deleting it finishes or rolls back first.
inline constexpr char kOperationFinalizer[] = "virtualization.deckhouse.io/berth-operation";

enum class Mode { kDryRun, kStrict, kBestEffort };
Mode ParseMode(const std::string& mode);

// The status of an entry of status.resources (VirtualMachineSnapshotOperation's are the same).
using ResourceState = types::VirtualMachineOperationResourceStatus;

// Builds status.resources: {apiVersion, kind, name, status, message} entries.
class ResourceList {
 public:
  void Add(const std::string& kind, const std::string& name, ResourceState status,
           const std::string& message = "");
  // Adds a Failed entry: a conflict that stops the operation.
  void Conflict(const std::string& kind, const std::string& name, const std::string& message) {
    Add(kind, name, ResourceState::kFailed, message);
  }
  bool HasConflict() const { return conflicts_ > 0; }
  // Returns the Failed messages joined with "; ".
  std::string ConflictSummary() const;
  const Json& json() const { return entries_; }

 private:
  Json entries_ = Json::array();
  int conflicts_ = 0;
};

// What a VirtualMachineSnapshot holds, decoded from its Secret.
struct SnapshotPayload {
  std::string snapshot_name;
  std::string snapshot_uid;
  std::string vm_uid;       // the uid of the VM the snapshot was taken of
  Json vm;                  // VirtualMachine: metadata{name, uid, labels, annotations}, spec
  Json ip;                  // VirtualMachineIPAddress, or null (keepIPAddress: Never)
  Json mac;                 // VirtualMachineMACAddress, or null
  Json provisioning;        // provisioning Secret, or null
  std::vector<Json> disks;  // VirtualDisks in blockDeviceRefs order: metadata, spec
  // Disk name -> VirtualDiskSnapshot name (empty when the payload comes from live objects).
  std::map<std::string, std::string> disk_snapshots;
};

// Loads a Ready VirtualMachineSnapshot's payload. FailedPrecondition when the snapshot is not
// Ready or its Secret or disk snapshots are gone.
absl::StatusOr<SnapshotPayload> LoadPayload(ObjectStore& store, const Json& vmsnapshot);
// Builds a payload from the live VM and its objects (dry runs of a clone of a VM).
absl::StatusOr<SnapshotPayload> LivePayload(ObjectStore& store, const Json& vm);

// Returns the object with only what is copied to a new object: apiVersion, kind,
// metadata{name, namespace, labels, annotations}, spec (and Secret data and type); drops our
// operation stamp.
Json Copyable(const Json& obj);
bool StampedBy(const Json& obj, const std::string& op_uid);
void Stamp(Json& obj, const std::string& op_uid);

// Returns the objects referenced from a VM that live outside the snapshot and are missing:
// (kind, name) of VirtualImage, ClusterVirtualImage and VirtualMachineClass.
std::vector<std::pair<std::string, std::string>> MissingDependencies(ObjectStore& store,
                                                                     const std::string& ns,
                                                                     const Json& vm);
// Removes blockDeviceRefs to `missing` images from `vm`.
void DropImageRefs(Json& vm, const std::vector<std::pair<std::string, std::string>>& missing);

// Stores an operation's status as a step decided it (nothing when `status` is nullopt):
// kOperationFinalizer added first when `add_finalizer` (deletion is then safe), the status
// written if it changed, kOperationFinalizer removed once it is Completed or Failed.
absl::Status StoreOpStatus(ObjectStore& store, const Json& op, const std::optional<Json>& status,
                           bool add_finalizer);

// Returns the keys of the objects of `kind` in `ns` that are not `terminal` or are being
// deleted (for Related()).
std::vector<ObjectKey> ActiveOperations(ObjectStore& store, const std::string& kind,
                                        const std::string& ns, bool (*terminal)(const Json&));
// Returns whether another VirtualMachineOperation on the same VM is InProgress.
absl::StatusOr<bool> OtherOperationInProgress(ObjectStore& store, const Json& op);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_OP_COMMON_H_

// Builds a VM clone from a snapshot payload: new names, conflicts, creation, rollback. Shared
// by VirtualMachineOperation Clone and VirtualMachineSnapshotOperation CreateVirtualMachine.
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_CLONE_PLAN_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_CLONE_PLAN_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/controller/object_store.h"
#include "controllers/virtualmachineoperation/op_common.h"

namespace berth::controller {

// The renaming rules of a clone block (spec.clone or spec.createVirtualMachine).
struct CloneNaming {
  Json replacements = Json::array();  // [{from: {kind?, name}, to: {name}}]
  std::string prefix;
  std::string suffix;

  static CloneNaming FromSpec(const Json& block);
  // Returns the clone's name for an object: the first matching replacement, then prefix and
  // suffix (for every kind but Secret, which only replacements rename).
  std::string Rename(const std::string& kind, const std::string& name) const;
};

struct ClonePlan {
  Json vm;                  // the VirtualMachine to create
  std::vector<Json> disks;  // the VirtualDisks to create
  Json secret;              // the provisioning Secret to create, or null
  ResourceList resources;   // one entry per object, Failed ones are conflicts
  bool complete = false;    // every object exists (stamped) and every disk is Ready
};

// Builds the objects a clone of `payload` creates in `ns` and reports every conflict. Objects
// already stamped with `op_uid` count as this operation's own, not as conflicts.
absl::StatusOr<ClonePlan> PlanClone(ObjectStore& store, const std::string& ns,
                                    const SnapshotPayload& payload, const CloneNaming& naming,
                                    Mode mode, const std::string& op_uid);

// Creates the plan's objects that do not exist yet: disks, the Secret, then the VM.
// FailedPrecondition when a name was taken by someone else meanwhile.
absl::Status CreateClone(ObjectStore& store, const ClonePlan& plan, const std::string& op_uid);

// Where a clone run stands after one pass of RunClone.
struct CloneProgress {
  bool done = false;                   // every object exists and every disk is Ready
  std::optional<std::string> failure;  // the clone failed (and was rolled back) for this reason
  Json resources = Json::array();      // the entries for status.resources
};

// Plans against the current state, creates what is missing and reports progress. On a
// conflict, rolls back what this operation created, also the objects named in `previous` (the
// status.resources of an earlier pass).
absl::StatusOr<CloneProgress> RunClone(ObjectStore& store, const std::string& ns,
                                       const SnapshotPayload& payload, const CloneNaming& naming,
                                       Mode mode, const std::string& op_uid, const Json& previous);

// Deletes the objects named in `resources` that carry `op_uid`'s stamp (a failed or cancelled
// clone leaves nothing behind). Returns how many were deleted.
absl::StatusOr<int> RollBackClone(ObjectStore& store, const std::string& ns, const Json& resources,
                                  const std::string& op_uid);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_CLONE_PLAN_H_

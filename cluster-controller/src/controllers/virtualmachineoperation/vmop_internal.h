// The VirtualMachineOperation types that rebuild VMs, called by the vmop reconciler once the
// operation may run (no other operation on the VM is InProgress).
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_INTERNAL_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_INTERNAL_H_

#include "absl/status/statusor.h"
#include "berth/controller/object_store.h"
#include "berth/controller/reconciler.h"
#include "controllers/virtualmachineoperation/op_common.h"
#include "controllers/virtualmachineoperation/vmop_machine.h"

namespace berth::controller {

// What one pass over an operation works with. Not thread-safe; lives for one Reconcile.
struct OpRun {
  OpRun(ObjectStore& store, OpStatus& out, const Json& op, Json status)
      : store_(store),
        out_(out),
        op_(op),
        status_(std::move(status)),
        ns_(JsonString(op, "/metadata/namespace")),
        uid_(JsonString(op, "/metadata/uid")) {}

  ObjectStore& store_;
  OpStatus& out_;
  const Json& op_;
  Json status_;  // written back through out_
  const std::string ns_;
  const std::string uid_;
};

// Restore: validate, stop the VM, replace its disks from the snapshot, restore its IP, MAC,
// provisioning Secret and spec, start it again. Also handles deletion while InProgress.
absl::StatusOr<ReconcileResult> ReconcileRestore(ObjectStore& store, OpStatus& out, const Json& op,
                                                 Json status);

// Clone: validate, take a temporary VirtualMachineSnapshot, create the clone from it, delete
// the snapshot once every cloned disk is Ready. Deletion while InProgress rolls back.
absl::StatusOr<ReconcileResult> ReconcileClone(ObjectStore& store, OpStatus& out, const Json& op,
                                               Json status);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_INTERNAL_H_

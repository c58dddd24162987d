// The VirtualMachineOperation types that rebuild VMs, called by the vmop reconciler once the
// operation may run (no other operation on the VM is InProgress), or is being deleted.
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_INTERNAL_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_INTERNAL_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/object_store.h"
#include "berth/controller/reconciler.h"
#include "berth/controller/usb.h"
#include "controllers/virtualmachineoperation/op_common.h"
#include "controllers/virtualmachineoperation/vmop_machine.h"

namespace berth::controller {

// Restore: validate, stop the VM, replace its disks from the snapshot, restore its IP, MAC,
// provisioning Secret and spec, start it again. Also handles deletion while InProgress.
absl::StatusOr<ReconcileResult> ReconcileRestore(ObjectStore& store, const Json& op,
                                                 absl::Time now);

// Clone: validate, take a temporary VirtualMachineSnapshot, create the clone from it, delete
// the snapshot once every cloned disk is Ready. Deletion while InProgress rolls back.
absl::StatusOr<ReconcileResult> ReconcileClone(ObjectStore& store, const Json& op, absl::Time now);

// Migrate and Evict: live migration with storage copy to another node (migrate_machine.h).
// `usb` null: USB off.
absl::StatusOr<ReconcileResult> ReconcileMigrate(ObjectStore& store, AgentDirectory& agents,
                                                 UsbAgents* usb, const Json& op, absl::Time now);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_VMOP_INTERNAL_H_

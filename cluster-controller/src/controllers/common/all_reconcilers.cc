#include "berth/controller/controllers.h"

namespace berth::controller {

std::vector<std::unique_ptr<Reconciler>> NewReconcilers(const ReconcilerDeps& deps) {
  std::vector<ReconcilerFactory> factories = {
      NewNodeReconciler,
      NewVirtualDiskReconciler,
      NewVirtualDiskSnapshotReconciler,
      NewVirtualMachineReconciler,
      NewVirtualMachineOperationReconciler,
      NewVirtualMachineSnapshotReconciler,
      NewVirtualMachineSnapshotOperationReconciler,
      NewIPAddressReconciler,
      NewMACAddressReconciler,
      NewVirtualImageReconciler,
      NewClusterVirtualImageReconciler,
  };
  if (deps.exports != nullptr) factories.push_back(NewDataExportReconciler);
  if (deps.usb != nullptr) factories.push_back(NewNodeUSBDeviceReconciler);
  std::vector<std::unique_ptr<Reconciler>> out;
  out.reserve(factories.size());
  for (ReconcilerFactory f : factories) out.push_back(f(deps));
  return out;
}

}  // namespace berth::controller

#ifndef BERTH_CONTROLLER_CONTROLLERS_COMMON_VM_COMMON_H_
#define BERTH_CONTROLLER_CONTROLLERS_COMMON_VM_COMMON_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/controller/object_store.h"
#include "berth/json.h"

namespace berth::controller {

// Annotations that point a VM at a kernel and initrd on its node for direct kernel boot (used
// by test guests that run from an initramfs); the spec has no field for this.
inline constexpr char kKernelAnnotation[] = "virtualization.deckhouse.io/berth-kernel";
inline constexpr char kInitrdAnnotation[] = "virtualization.deckhouse.io/berth-initrd";
inline constexpr char kCmdlineAnnotation[] = "virtualization.deckhouse.io/berth-cmdline";
inline constexpr char kVmFinalizer[] = "virtualization.deckhouse.io/berth-vm";

// Returns the libvirt domain name of a VirtualMachine: "berth-<namespace>-<name>".
std::string DomainName(const Json& vm);

// Returns the names of the VirtualDisks in spec.blockDeviceRefs, in order.
std::vector<std::string> VmDiskNames(const Json& vm);

bool VmUsesDisk(const Json& vm, const std::string& disk);

// Returns whether a VM in `phase` may have a guest writing to its disks.
bool VmActive(const std::string& phase);

// Returns the VMs of `ns` whose blockDeviceRefs name `disk`.
absl::StatusOr<std::vector<Json>> VmsUsingDisk(ObjectStore& store, const std::string& ns,
                                               const std::string& disk);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_COMMON_VM_COMMON_H_

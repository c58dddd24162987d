// The VirtualMachineIPAddress and VirtualMachineMACAddress state machine as pure functions
// (berth/controller/step.h). Both kinds follow the same table:
//
//   phase          observation                                -> next phase
//   deleting       (any)                                      -> nothing written
//   (no address)   allocation refused (the wanted address is
//                  leased, the pool exhausted, a bad CIDR, the
//                  listing failed)                            -> Pending, Bound False
//                                                                AllocationFailed, retry in 10 s
//   (no address)   allocated                                  -> address recorded, Bound True
//                                                                Bound, then as below
//   (address)      a VM not being deleted references it       -> Attached, status.virtualMachine
//   (address)      no VM references it                        -> Bound, no status.virtualMachine
// An address, once recorded, is never reallocated. A VM references an IP address object through
// spec.virtualMachineIPAddressName (default: the VM's name), a MAC address object by its name.
#ifndef BERTH_CONTROLLER_CONTROLLERS_ADDRESSES_ADDRESS_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_ADDRESSES_ADDRESS_MACHINE_H_

#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"

namespace berth::controller::address {

enum class Action { kNone };

inline constexpr absl::Duration kAllocationRetry = absl::Seconds(10);

// The name of the address object of kind `ip` (IP, else MAC) that `vm` uses.
std::string ReferencedName(const types::VirtualMachine& vm, bool ip);

// Whether the object still needs an address (its status has none).
template <typename Obj>
bool NeedsAddress(const Obj& obj) {
  return obj.status().address().empty();
}

// The address to lease to `obj`: its spec's (spec.staticIP, or spec.address for MACs) unless
// another object holds it, else the first free one of `cidr` (IPs) or a MAC derived from the
// uid. `used`: the addresses of every other object of the kind, or the error listing them.
absl::StatusOr<std::string> Allocate(const types::VirtualMachineIPAddress& obj,
                                     const absl::StatusOr<std::set<std::string>>& used,
                                     const std::string& cidr);
absl::StatusOr<std::string> Allocate(const types::VirtualMachineMACAddress& obj,
                                     const absl::StatusOr<std::set<std::string>>& used);

struct Observation {
  // The allocation's outcome, when NeedsAddress.
  std::optional<absl::StatusOr<std::string>> allocated;
  // The VM referencing the object ("": none); looked up unless the allocation failed.
  std::string holder;
};

// Objects not being deleted. Obj: types::VirtualMachineIPAddress or VirtualMachineMACAddress.
template <typename Obj>
Step<Action> Plan(const Obj& obj, const Observation& obs, absl::Time now);

}  // namespace berth::controller::address

#endif  // BERTH_CONTROLLER_CONTROLLERS_ADDRESSES_ADDRESS_MACHINE_H_

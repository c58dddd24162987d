// The VirtualMachine state machine as pure functions (berth/controller/step.h). A pass places the
// VM (its IP and MAC leases, its block devices on one node), then drives the domain on that node
// toward the desired power: runPolicy AlwaysOn -> On, AlwaysOff -> Off, a restore's maintenance
// -> Off, otherwise status.desiredPower (VirtualMachineOperations), by default On for
// AlwaysOnUnlessStoppedManually and Off for Manual.
//
//   phase       observation                                   -> next phase, action
//   deleting    phase not Terminating                         -> Terminating
//   Terminating (node known)                                  -> kDeleteDomain (USB released
//                                                                first), finalizer removed
//   Terminating (never placed)                                -> kRemoveFinalizer (USB released)
//   any         a block device missing, not Ready, on another
//               node, or a disk used by another active VM;
//               or no device names a node                     -> Pending (unless active),
//                                                                BlockDevicesReady False
//                                                                BlockDevicesNotReady, poll 2 s
//   any         devices placed, IP or MAC not yet leased      -> Pending (unless active), poll 2 s
//   any         placed and leased                             -> BlockDevicesReady True,
//                                                                status.node, then by power:
//   (placed)    the node fails the VM's nodeSelector, required
//               nodeAffinity or tolerations (NoSchedule,
//               NoExecute taints), On, domain not running     -> Pending, BlockDevicesReady False
//                                                                NodeSelectorMismatch (a stopped
//                                                                VM does not move), poll 2 s
//   (placed)    the same with the domain running (only
//               NoExecute taints count then)                  -> as Running below, and an Evict
//                                                                operation to an allowed node
//                                                                (MigrationFor) created
//   (placed)    On, domain not running, a disk being exported -> Pending (unless active),
//                                                                BlockDevicesReady False
//                                                                DiskExportInProgress, poll 2 s
//   (placed)    On, domain not running                        -> kStart (define + start), then
//                                                                Starting, AgentReady False
//                                                                GuestAgentNotReady, poll 500 ms
//   (placed)    Off, domain running, no shutdown yet          -> kStop (ACPI, or forced when
//                                                                status.forceStop), stoppingSince,
//                                                                Stopping, poll 500 ms
//   (placed)    Off, domain running, shutdown under way       -> Stopping, poll 500 ms
//   (placed)    Off, domain running, vm_stop_grace passed     -> kStop forced, Stopping, 500 ms
//   (placed)    domain not running, Off                       -> kSyncUsb, Stopped, AgentReady
//                                                                False VirtualMachineStopped
//   (placed)    domain running, On                            -> kSyncUsb, Running, AgentReady from
//                                                                the guest agent, guestAddresses,
//                                                                restartAwaitingChanges, poll
//                                                                vm_poll_interval
// "Active" phases (a guest may write the disks): Starting, Running, Stopping, Migrating, Pause.
// The status of kStart and kStop is stored after the agent call succeeds (a failed call stores
// nothing and is retried); kSyncUsb folds status.usbDevices in before the store.
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINE_VM_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINE_VM_MACHINE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"

namespace berth::controller::vm {

using Phase = types::VirtualMachinePhase;
using Power = types::VirtualMachineDesiredPower;

inline constexpr absl::Duration kPendingPoll = absl::Seconds(2);
inline constexpr absl::Duration kTransitionPoll = absl::Milliseconds(500);

// Whether a guest may be writing to the VM's disks (phase Starting, Running, Stopping,
// Migrating or Pause; VmActive reads the phase as stored, so it also knows Pausing, which the
// CRD's enum does not).
bool Active(const types::VirtualMachine& vm);

enum class Action {
  kNone,
  kStart,            // define the domain (VmStep::domain) on VmStep::node and start it
  kStop,             // stop the domain, forced when VmStep::force
  kSyncUsb,          // bring status.usbDevices in line with spec.usbDevices (usb.h)
  kDeleteDomain,     // deleting: release USB devices, delete the domain, remove the finalizer
  kRemoveFinalizer,  // deleting, never placed: release USB devices, remove the finalizer
};

// A Step and what its action needs.
struct VmStep : Step<Action> {
  std::string node;                     // where the domain is (placed VMs)
  agentpb::DefineDomainRequest domain;  // kStart: the domain to define; its name always
  bool force = false;                   // kStop: cut the power
  bool running = false;                 // kSyncUsb: the domain runs (devices hot-plug)
  // The running VM's node does not fit its constraints: an Evict operation is to move it
  // (MigrationFor).
  bool migrate = false;
};

// The Evict operation moving a running VM to a node its constraints allow (the migration
// applies the VM's nodeSelector, affinity and tolerations); its name is stable per
// (constraints, node), so the VM asks once per change.
Json MigrationFor(const types::VirtualMachine& vm);

// What a pass looked at. Null pointers: not found.
struct Observation {
  const Json* ip_address = nullptr;   // the VM's VirtualMachineIPAddress
  const Json* mac_address = nullptr;  // the VM's VirtualMachineMACAddress
  // spec.blockDeviceRefs' objects, in order (null: missing).
  std::vector<const Json*> devices;
  // The VMs using each VirtualDisk named by DisksToCheck (the VM itself may be among them).
  std::map<std::string, std::vector<Json>> disk_users;
  const Json* user_data_secret = nullptr;  // provisioning.userDataRef's Secret
  // Observed once the VM is placed and leased (Placed):
  std::optional<agentpb::DomainStatus> domain;
  const Json* node = nullptr;  // the Node its block devices are on (its constraints checked)
  // The namespace's DataExports, observed when the VM is to power on (PowersOn).
  std::optional<std::vector<Json>> exports;
};

// The VM's own address object of `kind` (VirtualMachineIPAddress or VirtualMachineMACAddress),
// created when missing; its name is address::ReferencedName.
Json NewAddressObject(const types::VirtualMachine& vm, const char* kind);

// The VirtualDisks whose other users the placement checks: those Ready on the VM's node.
std::vector<std::string> DisksToCheck(const types::VirtualMachine& vm, const Observation& obs);

// The node of a VM placed (every block device Ready on one node, no disk used by another active
// VM) with its addresses leased, whose domain the pass then looks at; nullopt otherwise.
std::optional<std::string> Placed(const types::VirtualMachine& vm, const Observation& obs);

// The cloud-init user data of the VM's provisioning (inline, or its Secret's userData /
// user-data); empty: none.
std::string UserData(const types::VirtualMachine& vm, const Observation& obs);

// The power the VM should have (see the top of this file).
Power DesiredPower(const types::VirtualMachine& vm);

// Whether the domain counts as running (Running or Paused).
bool DomainRunning(const agentpb::DomainStatus& domain);

// Whether a placed VM is to power on (its DataExports are then observed).
bool PowersOn(const types::VirtualMachine& vm, const agentpb::DomainStatus& domain);

// A VM not being deleted, its finalizer stored.
VmStep Plan(const types::VirtualMachine& vm, const Observation& obs, absl::Time now,
            absl::Duration stop_grace, absl::Duration poll_interval);

// A VM being deleted.
VmStep PlanDeletion(const types::VirtualMachine& vm);

}  // namespace berth::controller::vm

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINE_VM_MACHINE_H_

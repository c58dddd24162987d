// USB passthrough's state machines as pure functions (berth/controller/step.h): the
// NodeUSBDevice's (discovery, namespace assignment, the USBDevice it owns) and the per-device
// entries of a VirtualMachine's status.usbDevices.
//
// NodeUSBDevice, per node (the synthetic key "node:NODE", every usb_poll_interval):
//   node not Ready, or its agent unreachable          -> nothing written, poll again in 2 s
//   agent without USB (Unimplemented)                  -> nothing, no poll
//   device reported                                    -> NodeUSBDevice created if new; nodeName,
//                                                         attributes, busID, usbipAddress,
//                                                         speedCode, Ready True Ready
//   device of this node no longer reported             -> Ready False NotFound
//   assigned devices' busIDs differ from those exported-> kSetExports
// NodeUSBDevice, per device (spec.assignedNamespace: want; status.assignedNamespace: have):
//   no Ready condition yet                             -> Ready False NotReady
//   have != want, a VM in `have` holds the device      -> Assigned True InProgress (deferred),
//                                                         Attached from `have`'s VMs, kMirror in
//                                                         `have`
//   have != want, nobody holds it                      -> kRelease (the USBDevice in `have`
//                                                         deleted), status.assignedNamespace
//                                                         cleared, then as below
//   want empty                                         -> Assigned False Available
//   want set                                           -> kMirror in `want`, assignedNamespace,
//                                                         Assigned True Assigned
//   (always)                                           -> Attached: False Available (device not
//                                                         Ready), True AttachedToVirtualMachine,
//                                                         False DetachedForMigration, False
//                                                         NoFreeUSBIPPort, else False Available
// kMirror: the USBDevice (created if missing) gets nodeName, attributes, Ready and Attached.
//
// VM entry (status.usbDevices[i], for each spec.usbDevices name; first matching row):
//   no USBDevice in the VM's namespace                 -> detached NotFound
//   NodeUSBDevice missing or not Ready                 -> detached, its Ready reason (NotFound)
//   a migration detaches it (usbMigration InProgress)  -> detached DetachedForMigration
//   VM not running                                     -> detached VirtualMachineStopped
//   controller without USB                             -> detached USBDisabled
//   another VM of the namespace holds it               -> detached InUse
//   attached on the VM's node                          -> unchanged
//   otherwise                                          -> kAttach (over USB/IP when the device is
//                                                         on another node); refused: detached
//                                                         NoFreeUSBIPPort (ResourceExhausted) or
//                                                         AttachFailed; Unavailable: retried
// "detached" detaches an existing attachment first (an unreachable agent keeps the entry and
// fails the pass); entries removed from the spec are detached and dropped.
#ifndef BERTH_CONTROLLER_CONTROLLERS_USB_USB_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_USB_USB_MACHINE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/step.h"
#include "berth/controller/usb.h"
#include "berth/controller/vocabulary.h"

namespace berth::controller::usb {

// Entry states (status.usbDevices[].state).
inline constexpr char kStateAttached[] = "Attached";
inline constexpr char kStateDetached[] = "Detached";
inline constexpr char kStateDetachedForMigration[] = "DetachedForMigration";

inline constexpr absl::Duration kNodeNotReadyPoll = absl::Seconds(2);

// ---- NodeUSBDevice

// One VirtualMachine's status.usbDevices entry naming a device.
struct VmUsbUse {
  std::string vm;
  Json entry;  // {name, attached, ready, address{bus, port}, hotplugged, state, reason, ...}
};

// The entries naming `device` in `vms` (VirtualMachines of one namespace).
std::vector<VmUsbUse> UsesOf(const std::vector<Json>& vms, const std::string& device);

// The VM that holds the device (attached, or detached only for a migration), or "".
std::string AttachedHolder(const std::vector<VmUsbUse>& uses);

// A device the node's agent reports: its NodeUSBDevice's next status.
Json Discovered(const types::NodeUSBDevice& dev, const agentpb::UsbDeviceAttributes& d,
                const std::string& node, const std::string& usbip_address, absl::Time now);
// A device of `node` its agent no longer reports.
Json Vanished(const types::NodeUSBDevice& dev, const std::string& node, absl::Time now);
// A NodeUSBDevice for a device seen for the first time.
Json NewNodeUsbDevice(const std::string& name, const std::string& node);

// Whether `exports` (the busIDs of the node's assigned devices still reported) differ from what
// the agent exports now.
bool ExportsChanged(const agentpb::ListUsbDevicesResponse& list,
                    const std::vector<std::string>& exports);

enum class Action {
  kNone,
  kMirror,   // create or update the USBDevice in DeviceStep::ns
  kRelease,  // delete the USBDevice in DeviceStep::ns (status.assignedNamespace)
};

struct DeviceStep : Step<Action> {
  std::string ns;
};

// The status a device's pass starts from: the stored one, with Ready False NotReady until the
// node reports the device.
Json Initial(const types::NodeUSBDevice& dev, absl::Time now);

// Whether the device leaves the namespace it is assigned to (the VMs there are then observed).
bool Leaving(const types::NodeUSBDevice& dev);

// A device leaving its namespace, from `status` (Initial), given the uses there: deferred (kMirror
// with the status to store, the pass ends) or released (kRelease; the status to continue from).
DeviceStep PlanLeave(const types::NodeUSBDevice& dev, Json status,
                     const std::vector<VmUsbUse>& old_uses, absl::Time now);

// The assignment to spec.assignedNamespace, given `status` (the stored one, or as PlanLeave
// released it) and the uses in that namespace.
DeviceStep PlanAssign(const types::NodeUSBDevice& dev, Json status,
                      const std::vector<VmUsbUse>& uses, absl::Time now);

// The USBDevice mirroring a NodeUSBDevice: created with these labels and owner, its status
// from the NodeUSBDevice's.
Json NewUsbDevice(const types::NodeUSBDevice& dev, const std::string& ns);
Json UsbDeviceStatus(const Json& node_device_status, const Json& usb_device, absl::Time now);

// ---- VirtualMachine entries

// What an entry's pass looked at.
struct EntryObservation {
  bool usb_device = false;            // the USBDevice exists in the VM's namespace
  const Json* node_device = nullptr;  // the NodeUSBDevice
  std::string migration;              // status.usbMigration.phase
  bool running = false;               // the VM's domain
  bool usb_enabled = false;           // the controller has USB agents
};

std::string AttachmentId(const types::VirtualMachine& vm, const std::string& device);

// Why the entry cannot be attached, first matching row, without the InUse row (which needs
// another VM's status: the caller observes it when this is nullopt and USB is on).
struct Problem {
  std::string reason, message;
};
std::optional<Problem> Judge(const Json& entry, const EntryObservation& obs, const std::string& ns);
// The InUse row: another VM of `vms` (the namespace's) than `self` holds `device`.
std::optional<Problem> InUse(const std::vector<Json>& vms, const std::string& self,
                             const std::string& device);

// Whether the entry's device can be used at all (entry.ready).
bool Ready(const EntryObservation& obs);

// The entry marked detached for `problem` (its attachment already released).
void Unattached(Json& entry, const std::string& reason, const std::string& message);

// Whether an entry without problems is already attached on `node`.
bool AttachedOn(const Json& entry, const std::string& node);

agentpb::AttachUsbRequest AttachRequest(const types::VirtualMachine& vm, const std::string& device,
                                        const types::NodeUSBDevice& nd, const std::string& node,
                                        const std::string& domain);
// Folds an attach's outcome into the entry; Unavailable is returned (the pass is retried).
absl::Status FoldAttach(Json& entry, const absl::StatusOr<agentpb::UsbAttachment>& attached,
                        const std::string& node);

}  // namespace berth::controller::usb

#endif  // BERTH_CONTROLLER_CONTROLLERS_USB_USB_MACHINE_H_

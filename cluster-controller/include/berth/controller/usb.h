// USB passthrough on the controller side (docs/usb.md): the client of the agents' NodeUSB
// service, the NodeUSBDevice reconciler (discovery, namespace assignment, the USBDevice it
// owns, Ready/Assigned/Attached) and the VirtualMachine `usbDevices` attach step the VM
// reconciler calls.
#ifndef BERTH_CONTROLLER_USB_H_
#define BERTH_CONTROLLER_USB_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent.pb.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/object_store.h"
#include "berth/controller/reconciler.h"
#include "berth/json.h"
#include "berth/time_util.h"

namespace berth::controller {

// Label on NodeUSBDevice and USBDevice objects naming the node the device is plugged into.
inline constexpr char kUsbNodeLabel[] = "virtualization.deckhouse.io/node";
inline constexpr int kMaxUsbDevicesPerVm = 8;

// Calls the NodeUSB service of node agents. Thread-safe.
class UsbAgents {
 public:
  virtual ~UsbAgents() = default;
  virtual absl::StatusOr<agentpb::ListUsbDevicesResponse> ListDevices(const std::string& node) = 0;
  virtual absl::StatusOr<std::vector<std::string>> SetExports(
      const std::string& node, const std::vector<std::string>& busids) = 0;
  virtual absl::StatusOr<agentpb::UsbAttachment> Attach(const std::string& node,
                                                        const agentpb::AttachUsbRequest& r) = 0;
  virtual absl::StatusOr<bool> Detach(const std::string& node, const std::string& id) = 0;
};

// Dials agents at the address their Node object records (status.address).
std::unique_ptr<UsbAgents> NewGrpcUsbAgents(AgentChannels& channels);

// NodeUSBDevice (NewNodeUSBDeviceReconciler, controllers.h): creates one object per device agents
// report (polling each Ready node every config.usb_poll_interval), keeps attributes and Ready
// current (NotFound when unplugged), creates the USBDevice in spec.assignedNamespace and removes
// it when unassigned (deferred while a VM has it attached), mirrors Ready/Attached into the
// USBDevice, and tells agents which devices to export.

// The VM reconciler's USB step: brings status.usbDevices in line with spec.usbDevices for a VM
// whose domain `domain` is on `node` (running or not), attaching and detaching through the
// agents (hot-plug when running). With `usb` null (USB disabled) every device is reported
// unattached. Never fails the VM's reconcile for a device problem: those land in the entries.
absl::Status ReconcileVmUsbDevices(ObjectStore& store, UsbAgents* usb, const Json& vm, Json& status,
                                   const std::string& node, const std::string& domain, bool running,
                                   absl::Time now);
// Detaches every device of a VM being deleted.
absl::Status ReleaseVmUsbDevices(UsbAgents* usb, const Json& vm);

// Migration of a VM holding USB devices (driven by status.usbMigration {phase, source,
// target} once VMOP Migrate exists): the step each attached device takes next. Pure.
enum class UsbMigrationAction { kNone, kDetachFromSource, kAttachOnTarget, kReattachOnSource };
UsbMigrationAction NextUsbMigrationAction(const std::string& migration_phase,
                                          const std::string& device_state);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_USB_H_

// Pure status computations shared by the NodeUSBDevice reconciler and the VM USB step.
#ifndef BERTH_CONTROLLER_USB_USB_STATUS_H_
#define BERTH_CONTROLLER_USB_USB_STATUS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "berth/json.h"

namespace berth::controller {

// One VirtualMachine's status.usbDevices entry naming a device.
struct VmUsbUse {
  std::string vm;
  Json entry;  // {name, attached, ready, address, hotplugged, state, reason, message, node, ...}
};

// Entry states (status.usbDevices[].state).
inline constexpr char kUsbAttached[] = "Attached";
inline constexpr char kUsbDetachedForMigration[] = "DetachedForMigration";

// Returns the VM that holds the device (attached, or detached only for a migration), or "".
std::string AttachedHolder(const std::vector<VmUsbUse>& uses);

// Sets the Attached condition of a NodeUSBDevice status from its Ready condition and the VMs
// that name it.
void ApplyAttached(Json& status, const Json& dev, const std::vector<VmUsbUse>& uses,
                   absl::Time now);

// The USBDevice's status: the NodeUSBDevice's attributes, node, Ready and Attached.
Json UsbDeviceStatus(const Json& node_device_status, const Json& usb_device, absl::Time now);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_USB_USB_STATUS_H_

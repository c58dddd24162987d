// The kernel's USB/IP stub (usbip-host) as the agent reaches it: one sysfs attribute write.
// Only src/platform/ touches sysfs; the USB/IP server takes this as its kernel_handoff.
#ifndef BERTH_AGENT_PLATFORM_USB_USBIP_HOST_H_
#define BERTH_AGENT_PLATFORM_USB_USBIP_HOST_H_

#include "absl/status/status.h"
#include "berth/agent/usb.h"

namespace berth::agent::platform {

// Writes `fd` to <syspath>/usbip_sockfd (the device must be bound to usbip-host), after which
// the kernel serves URBs on that socket; NotFound when the attribute does not exist.
absl::Status UsbIpHostHandoff(const UsbDeviceInfo& device, int fd);

}  // namespace berth::agent::platform

#endif  // BERTH_AGENT_PLATFORM_USB_USBIP_HOST_H_

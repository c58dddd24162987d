// USB on the node: what discovery reports, the URB-level device interface that the USB/IP
// server relays to (libusb for real devices, software devices in tests), and the inventory.
// See docs/usb.md.
#ifndef BERTH_AGENT_USB_H_
#define BERTH_AGENT_USB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::agent {

// USB/IP speed codes (enum usb_device_speed as the protocol carries it).
enum class UsbSpeed : uint32_t {
  kUnknown = 0,
  kLow = 1,
  kFull = 2,
  kHigh = 3,
  kWireless = 4,
  kSuper = 5,
  kSuperPlus = 6
};

// Returns "1.5", "12", "480", "5000", "10000" (sysfs `speed`, Mbit/s) for a speed, "" if unknown.
std::string UsbSpeedMbps(UsbSpeed speed);
// Parses sysfs `speed` (Mbit/s) into a USB/IP speed code; unknown text gives kUnknown.
UsbSpeed UsbSpeedFromMbps(const std::string& mbps);
// Super-speed devices take a vhci super-speed port, everything else a high-speed one.
inline bool IsSuperSpeed(UsbSpeed s) { return s == UsbSpeed::kSuper || s == UsbSpeed::kSuperPlus; }

struct UsbInterfaceInfo {
  uint8_t interface_class = 0;
  uint8_t interface_subclass = 0;
  uint8_t interface_protocol = 0;
};

// One USB device as discovery sees it (sysfs attributes, with libusb filling gaps).
struct UsbDeviceInfo {
  std::string busid;    // sysfs name, e.g. "1-2.3": the physical port path
  std::string syspath;  // /sys/devices/.../1-2.3
  uint32_t busnum = 0;
  uint32_t devnum = 0;
  UsbSpeed speed = UsbSpeed::kUnknown;
  uint16_t vendor_id = 0;
  uint16_t product_id = 0;
  uint16_t bcd_device = 0;
  uint8_t device_class = 0;
  uint8_t device_subclass = 0;
  uint8_t device_protocol = 0;
  uint8_t configuration_value = 0;
  uint8_t num_configurations = 0;
  std::vector<UsbInterfaceInfo> interfaces;
  std::string serial;
  std::string manufacturer;
  std::string product;
  std::string devpath;  // /dev/bus/usb/BBB/DDD
  uint32_t major = 0;
  uint32_t minor = 0;

  uint32_t devid() const { return (busnum << 16) | devnum; }
};

// Returns a Kubernetes-style name for a device that depends only on the node, the port path
// (busid), vendor and product: the same device re-plugged into the same port, or seen again
// after an agent restart, gets the same name. Form: "usb-<vendor>-<product>-<10 hex>".
std::string StableUsbName(const std::string& node, const UsbDeviceInfo& info);

// Returns "vvvv" lowercase hex, as the API shows ids.
std::string Hex4(uint16_t v);

// Builds a device from its sysfs attributes (idVendor, idProduct, bcdDevice: hex; busnum,
// devnum, bNumInterfaces...: decimal; speed in Mbit/s; serial, manufacturer, product: text)
// plus the keys "busid", "syspath", "devnode", "MAJOR", "MINOR". Interfaces are added by the
// caller. InvalidArgument naming the attribute when a required one is missing or malformed.
absl::StatusOr<UsbDeviceInfo> UsbInfoFromSysfs(const std::map<std::string, std::string>& attrs);

// Discovery: the devices present now, kept current by hot-plug events. Thread-safe.
class UsbInventory {
 public:
  virtual ~UsbInventory() = default;
  virtual std::vector<UsbDeviceInfo> List() const = 0;
  // Calls `changed` (from the inventory's thread, without locks held) after devices appear or
  // disappear. Set once, before Start.
  virtual void OnChange(std::function<void()> changed) = 0;
};

// Opens libudev, enumerates USB devices and starts a monitor thread for hot-plug. Honours a
// umockdev testbed (UMOCKDEV_DIR) like every libudev user.
absl::StatusOr<std::unique_ptr<UsbInventory>> NewUdevUsbInventory();

// --- URBs -------------------------------------------------------------------------------

struct UsbIsoPacket {
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t actual_length = 0;
  int32_t status = 0;
};

enum class UsbTransferType { kControl, kBulk, kInterrupt, kIsochronous };

// One USB request block, as CMD_SUBMIT carries it.
struct Urb {
  uint32_t seqnum = 0;
  uint8_t endpoint = 0;  // number 0..15; direction separately
  bool in = false;
  uint32_t transfer_flags = 0;
  int32_t buffer_length = 0;  // IN: bytes wanted; OUT: data.size()
  int32_t start_frame = 0;
  int32_t interval = 0;
  uint8_t setup[8] = {};
  std::vector<uint8_t> data;  // OUT data
  std::vector<UsbIsoPacket> iso;
};

// What RET_SUBMIT carries back.
struct UrbResult {
  int32_t status = 0;  // 0 or negative errno (-EPIPE stall, -ECONNRESET unlinked, ...)
  int32_t start_frame = 0;
  int32_t error_count = 0;
  std::vector<uint8_t> data;  // IN data (actual_length = size, or iso total)
  int32_t actual_length = 0;  // OUT: bytes accepted
  std::vector<UsbIsoPacket> iso;
};

using UrbCallback = std::function<void(UrbResult)>;

// An opened USB device at URB level. The USB/IP server relays to it; libusb backs real
// devices, software devices back tests and benchmarks. Thread-safe: Submit may be called
// while earlier URBs are pending; `done` runs exactly once per URB, on any thread, possibly
// before Submit returns.
class UsbDevice {
 public:
  virtual ~UsbDevice() = default;
  virtual const UsbDeviceInfo& Info() const = 0;
  // Returns the transfer type of an endpoint in the current configuration (ep 0: control).
  virtual UsbTransferType EndpointType(uint8_t endpoint, bool in) const = 0;
  virtual void Submit(Urb urb, UrbCallback done) = 0;
  // Cancels a pending URB; returns false when it already completed. A cancelled URB's
  // callback is never called.
  virtual bool Cancel(uint32_t seqnum) = 0;
  // Requests the USB/IP server performs itself instead of relaying (as the kernel stub does).
  virtual absl::Status SetConfiguration(int value) = 0;
  virtual absl::Status SetInterface(int interface, int alt_setting) = 0;
  virtual absl::Status ClearHalt(uint8_t endpoint_address) = 0;
  virtual absl::Status ResetPort() = 0;
};

// Opens a device by busid for URB relay. NotFound when no such device is present.
using UsbDeviceOpener =
    std::function<absl::StatusOr<std::unique_ptr<UsbDevice>>(const std::string& busid)>;

// Opens devices through libusb (user-space relay), matched by bus and device number.
UsbDeviceOpener NewLibusbOpener(const UsbInventory& inventory);

}  // namespace berth::agent

#endif  // BERTH_AGENT_USB_H_

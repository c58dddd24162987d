// A software USB device behind the same UsbDevice interface as the libusb-backed one, so the
// USB/IP path runs for real without hardware. Endpoints (configuration 1, interface 0):
//   0x01 bulk OUT / 0x81 bulk IN: loopback (IN returns what OUT wrote, waits when empty)
//   0x02 bulk OUT: sink (accepts and discards)   0x82 bulk IN: source (a counting pattern)
//   0x83 interrupt IN: 8-byte reports (a HID-like counter)
// Control: standard GET_DESCRIPTOR (device, configuration, strings), GET_STATUS,
// SET_FEATURE/CLEAR_FEATURE(ENDPOINT_HALT); vendor request 0x01 OUT stores up to 256 bytes,
// 0x01 IN returns them. Anything else stalls (-EPIPE). Thread-safe.
#ifndef BERTH_TESTS_USB_SOFTWARE_DEVICE_H_
#define BERTH_TESTS_USB_SOFTWARE_DEVICE_H_

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "berth/agent/usb.h"

namespace berth::agent::testing {

class SoftwareUsbDevice : public UsbDevice {
 public:
  explicit SoftwareUsbDevice(UsbDeviceInfo info);
  ~SoftwareUsbDevice() override;
  // A high-speed bulk device "9-1" (1209:0001), serial "SW0001".
  static UsbDeviceInfo DefaultInfo(const std::string& busid = "9-1");

  const UsbDeviceInfo& Info() const override { return info_; }
  UsbTransferType EndpointType(uint8_t endpoint, bool in) const override;
  void Submit(Urb urb, UrbCallback done) override;
  bool Cancel(uint32_t seqnum) override;
  absl::Status SetConfiguration(int value) override;
  absl::Status SetInterface(int interface, int alt_setting) override;
  absl::Status ClearHalt(uint8_t endpoint_address) override;
  absl::Status ResetPort() override;

  // Observations for tests.
  int configuration() const;
  int resets() const;
  int clear_halts() const;

 private:
  UrbResult Control(const Urb& urb);
  std::vector<uint8_t> Descriptor(uint8_t type, uint8_t index) const;

  const UsbDeviceInfo info_;
  mutable absl::Mutex mu_;
  std::deque<uint8_t> loop_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<Urb, UrbCallback>> waiting_in_ ABSL_GUARDED_BY(mu_);
  std::set<uint8_t> halted_ ABSL_GUARDED_BY(mu_);
  std::vector<uint8_t> vendor_data_ ABSL_GUARDED_BY(mu_);
  int configuration_ ABSL_GUARDED_BY(mu_) = 0;
  int resets_ ABSL_GUARDED_BY(mu_) = 0;
  int clear_halts_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t counter_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace berth::agent::testing

#endif  // BERTH_TESTS_USB_SOFTWARE_DEVICE_H_

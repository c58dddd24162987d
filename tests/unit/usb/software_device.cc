#include "software_device.h"

#include <cerrno>
#include <cstring>

namespace berth::agent::testing {
namespace {

constexpr uint8_t kDescDevice = 1, kDescConfig = 2, kDescString = 3;

UrbResult Stall() {
  UrbResult r;
  r.status = -EPIPE;
  return r;
}

UrbResult InData(std::vector<uint8_t> data, int32_t wanted) {
  UrbResult r;
  if (static_cast<int32_t>(data.size()) > wanted) data.resize(wanted);
  r.data = std::move(data);
  return r;
}

const char* const kStrings[] = {"", "Berth", "Software Loopback", "SW0001"};

}  // namespace

UsbDeviceInfo SoftwareUsbDevice::DefaultInfo(const std::string& busid) {
  UsbDeviceInfo i;
  i.busid = busid;
  i.syspath = "/sys/devices/platform/berth-sw/usb9/" + busid;
  i.busnum = 9;
  i.devnum = 2;
  i.speed = UsbSpeed::kHigh;
  i.vendor_id = 0x1209;
  i.product_id = 0x0001;
  i.bcd_device = 0x0100;
  i.device_class = 0xff;
  i.configuration_value = 1;
  i.num_configurations = 1;
  i.interfaces = {{0xff, 0x00, 0x00}};
  i.manufacturer = kStrings[1];
  i.product = kStrings[2];
  i.serial = kStrings[3];
  i.devpath = "/dev/bus/usb/009/002";
  return i;
}

SoftwareUsbDevice::SoftwareUsbDevice(UsbDeviceInfo info) : info_(std::move(info)) {}

SoftwareUsbDevice::~SoftwareUsbDevice() = default;

UsbTransferType SoftwareUsbDevice::EndpointType(uint8_t endpoint, bool in) const {
  if (endpoint == 0) return UsbTransferType::kControl;
  if (endpoint == 3 && in) return UsbTransferType::kInterrupt;
  return UsbTransferType::kBulk;
}

std::vector<uint8_t> SoftwareUsbDevice::Descriptor(uint8_t type, uint8_t index) const {
  if (type == kDescDevice) {
    return {18,
            kDescDevice,
            0x00,
            0x02,
            info_.device_class,
            info_.device_subclass,
            info_.device_protocol,
            64,
            static_cast<uint8_t>(info_.vendor_id & 0xff),
            static_cast<uint8_t>(info_.vendor_id >> 8),
            static_cast<uint8_t>(info_.product_id & 0xff),
            static_cast<uint8_t>(info_.product_id >> 8),
            static_cast<uint8_t>(info_.bcd_device & 0xff),
            static_cast<uint8_t>(info_.bcd_device >> 8),
            1,
            2,
            3,
            1};
  }
  if (type == kDescConfig) {
    std::vector<uint8_t> d = {9, kDescConfig, 0, 0, 1, 1,    0, 0x80, 50,  // configuration
                              9, 4,           0, 0, 5, 0xff, 0, 0,    0};  // interface 0, 5 eps
    for (uint8_t ep : {0x01, 0x81, 0x02, 0x82}) d.insert(d.end(), {7, 5, ep, 2, 0x00, 0x02, 0});
    d.insert(d.end(), {7, 5, 0x83, 3, 8, 0, 4});  // interrupt IN, 8 bytes
    d[2] = static_cast<uint8_t>(d.size());
    return d;
  }
  if (type == kDescString) {
    if (index == 0) return {4, kDescString, 0x09, 0x04};  // en-US
    if (index >= 4) return {};
    std::string s = kStrings[index];
    std::vector<uint8_t> d = {static_cast<uint8_t>(2 + 2 * s.size()), kDescString};
    for (char c : s) d.insert(d.end(), {static_cast<uint8_t>(c), 0});
    return d;
  }
  return {};
}

UrbResult SoftwareUsbDevice::Control(const Urb& urb) {
  uint8_t type = urb.setup[0], req = urb.setup[1];
  uint16_t value = urb.setup[2] | urb.setup[3] << 8;
  uint16_t index = urb.setup[4] | urb.setup[5] << 8;
  uint16_t length = urb.setup[6] | urb.setup[7] << 8;
  if (type == 0x80 && req == 6) {
    std::vector<uint8_t> d = Descriptor(value >> 8, value & 0xff);
    if (d.empty()) return Stall();
    return InData(std::move(d), std::min<int32_t>(length, urb.buffer_length));
  }
  if (type == 0x80 && req == 0) return InData({0, 0}, urb.buffer_length);  // GET_STATUS
  absl::MutexLock l(&mu_);
  if (type == 0x02 && req == 0x03 && value == 0) {  // SET_FEATURE(ENDPOINT_HALT)
    halted_.insert(static_cast<uint8_t>(index));
    return UrbResult{};
  }
  if (type == 0x40 && req == 0x01) {
    if (urb.data.size() > 256) return Stall();
    vendor_data_ = urb.data;
    UrbResult r;
    r.actual_length = static_cast<int32_t>(urb.data.size());
    return r;
  }
  if (type == 0xc0 && req == 0x01) return InData(vendor_data_, urb.buffer_length);
  return Stall();
}

void SoftwareUsbDevice::Submit(Urb urb, UrbCallback done) {
  if (urb.endpoint == 0) {
    done(Control(urb));
    return;
  }
  uint8_t address = urb.endpoint | (urb.in ? 0x80 : 0);
  std::vector<std::pair<UrbCallback, UrbResult>> completions;
  {
    absl::MutexLock l(&mu_);
    if (halted_.count(address) != 0 || urb.endpoint > 3) {
      completions.emplace_back(std::move(done), Stall());
    } else if (address == 0x82) {  // source
      UrbResult r;
      r.data.resize(urb.buffer_length);
      for (auto& b : r.data) b = static_cast<uint8_t>(counter_++);
      completions.emplace_back(std::move(done), std::move(r));
    } else if (address == 0x83) {  // interrupt reports
      UrbResult r;
      r.data.assign(8, 0);
      uint32_t c = counter_++;
      memcpy(r.data.data(), &c, sizeof(c));
      if (urb.buffer_length < 8) r.data.resize(urb.buffer_length);
      completions.emplace_back(std::move(done), std::move(r));
    } else if (!urb.in) {  // 0x01 loopback OUT, 0x02 sink
      UrbResult r;
      r.actual_length = static_cast<int32_t>(urb.data.size());
      if (address == 0x01) loop_.insert(loop_.end(), urb.data.begin(), urb.data.end());
      completions.emplace_back(std::move(done), std::move(r));
    } else {  // 0x81 loopback IN: queue, then serve in order
      waiting_in_.emplace_back(std::move(urb), std::move(done));
    }
    while (!waiting_in_.empty() && !loop_.empty()) {
      auto& [in, cb] = waiting_in_.front();
      size_t n = std::min<size_t>(loop_.size(), static_cast<size_t>(in.buffer_length));
      UrbResult r;
      r.data.assign(loop_.begin(), loop_.begin() + n);
      loop_.erase(loop_.begin(), loop_.begin() + n);
      completions.emplace_back(std::move(cb), std::move(r));
      waiting_in_.pop_front();
    }
  }
  for (auto& [cb, r] : completions) cb(std::move(r));
}

bool SoftwareUsbDevice::Cancel(uint32_t seqnum) {
  absl::MutexLock l(&mu_);
  for (auto it = waiting_in_.begin(); it != waiting_in_.end(); ++it) {
    if (it->first.seqnum == seqnum) {
      waiting_in_.erase(it);
      return true;
    }
  }
  return false;
}

absl::Status SoftwareUsbDevice::SetConfiguration(int value) {
  if (value != 0 && value != 1) return absl::InvalidArgumentError("no such configuration");
  absl::MutexLock l(&mu_);
  configuration_ = value;
  return absl::OkStatus();
}

absl::Status SoftwareUsbDevice::SetInterface(int interface, int alt_setting) {
  if (interface != 0 || alt_setting != 0) return absl::InvalidArgumentError("no such setting");
  return absl::OkStatus();
}

absl::Status SoftwareUsbDevice::ClearHalt(uint8_t endpoint_address) {
  absl::MutexLock l(&mu_);
  halted_.erase(endpoint_address);
  ++clear_halts_;
  return absl::OkStatus();
}

absl::Status SoftwareUsbDevice::ResetPort() {
  absl::MutexLock l(&mu_);
  ++resets_;
  halted_.clear();
  loop_.clear();
  return absl::OkStatus();
}

int SoftwareUsbDevice::configuration() const {
  absl::MutexLock l(&mu_);
  return configuration_;
}
int SoftwareUsbDevice::resets() const {
  absl::MutexLock l(&mu_);
  return resets_;
}
int SoftwareUsbDevice::clear_halts() const {
  absl::MutexLock l(&mu_);
  return clear_halts_;
}

}  // namespace berth::agent::testing

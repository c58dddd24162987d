// The client half of kernel USB/IP: vhci_hcd's sysfs files. `status` lists every port
// ("hub port sta spd dev sockfd local_busid"), `attach` takes "PORT SOCKFD DEVID SPEED" and
// `detach` takes "PORT". A controller has 8 high-speed ports (0-7, for low/full/high-speed
// devices) and 8 super-speed ports (8-15); a device's speed decides its hub.
#ifndef BERTH_AGENT_USB_VHCI_H_
#define BERTH_AGENT_USB_VHCI_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "berth/agent/usb.h"

namespace berth::agent {

inline constexpr char kNoFreeUsbIpPort[] = "NoFreeUSBIPPort";
inline constexpr int kVhciPortsPerHub = 8;

struct VhciPort {
  bool super_speed = false;  // "ss" hub, else "hs"
  int port = 0;
  int status = 0;  // 4 VDEV_ST_NULL (free), 5 NOTASSIGNED, 6 USED, 7 ERROR
  int speed = 0;
  uint32_t devid = 0;
  int sockfd = 0;
  std::string local_busid;
  bool free() const { return status == 4; }
};

// Parses a vhci_hcd `status` file. InvalidArgument naming the line when malformed.
absl::StatusOr<std::vector<VhciPort>> ParseVhciStatus(const std::string& text);

// Picks the lowest free port on the hub for `speed`, skipping `taken`. ResourceExhausted whose
// message starts with "NoFreeUSBIPPort" when that hub is full.
absl::StatusOr<int> ChooseVhciPort(const std::vector<VhciPort>& ports, UsbSpeed speed,
                                   const std::set<int>& taken);

// Attaches and detaches through one vhci_hcd controller's sysfs directory. A port counts as
// used while the kernel says so or while this driver holds it (written to `attach`, not yet
// detached). Thread-safe.
class VhciDriver {
 public:
  // `dir` is e.g. /sys/devices/platform/vhci_hcd.0. FailedPrecondition when it has no status
  // file (vhci-hcd not loaded).
  static absl::StatusOr<std::unique_ptr<VhciDriver>> Open(std::string dir);

  // Hands the connected socket to the kernel on a free port of the right hub; returns the port.
  absl::StatusOr<int> Attach(int sockfd, uint32_t devid, UsbSpeed speed);
  // Holds a free port of the hub for `speed` before importing (so a full hub costs no import);
  // then AttachOn that port, or Release it.
  absl::StatusOr<int> Reserve(UsbSpeed speed);
  absl::Status AttachOn(int port, int sockfd, uint32_t devid, UsbSpeed speed);
  void Release(int port);
  absl::Status Detach(int port);
  // Marks a port as held (after an agent restart, from its attachment records).
  void Hold(int port);
  absl::StatusOr<std::vector<VhciPort>> Ports() const;
  const std::string& dir() const { return dir_; }

 private:
  explicit VhciDriver(std::string dir) : dir_(std::move(dir)) {}
  const std::string dir_;
  mutable absl::Mutex mu_;
  std::set<int> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_USB_VHCI_H_

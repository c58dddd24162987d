// The node's USB state: which discovered devices are exported over USB/IP, and which devices
// are attached to local domains (directly or through a vhci port). Persists both under
// STATE/usb so an agent restart keeps exporting and remembers the ports it holds.
#ifndef BERTH_AGENT_USB_USB_NODE_H_
#define BERTH_AGENT_USB_USB_NODE_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/agent/usb.h"
#include "berth/exportwire/tls_context.h"
#include "usb/socket_io.h"
#include "usb/vhci.h"

namespace berth::agent {

class UsbIpServer;

// Hot-plugs a host USB device into a domain (libvirt hostdev). Thread-safe.
class UsbGuestAttacher {
 public:
  virtual ~UsbGuestAttacher() = default;
  virtual absl::Status Attach(const std::string& domain, const UsbDeviceInfo& device) = 0;
  virtual absl::Status Detach(const std::string& domain, const UsbDeviceInfo& device) = 0;
};

// libvirt hostdev hot-plug (virDomainAttachDeviceFlags, live + config when persistent).
absl::StatusOr<std::unique_ptr<UsbGuestAttacher>> NewLibvirtUsbAttacher(const std::string& uri);

struct UsbNodeOptions {
  std::string node_name;
  std::string state_dir;  // exports and attachments live in STATE/usb
  // How long an imported device may take to appear on the vhci bus before hot-plug.
  absl::Duration vhci_enumerate_timeout = absl::Seconds(10);
  // Mutual TLS for importing from other nodes (a kClient context: this agent's certificate, the
  // cluster CA). The vhci port then gets one end of a socketpair that this agent relays to the
  // TLS connection in user space; such attachments end when the agent stops.
  std::shared_ptr<exportwire::ReloadingTlsContext> usbip_tls;
};

struct UsbAttachRequest {
  std::string id;
  std::string domain;
  std::string busid;
  std::string remote_address;  // empty: local device
  UsbSpeed speed = UsbSpeed::kUnknown;
};

struct UsbAttachmentInfo {
  std::string id;
  std::string domain;
  std::string busid;
  std::string mode;  // local | usbip
  int vhci_port = -1;
  uint32_t bus = 0;
  uint32_t port = 0;
  bool guest_attached = false;
  std::string message;
};

class UsbNode {
 public:
  // `vhci` and `guests` may be null (no vhci-hcd; guest hot-plug disabled). None is owned.
  UsbNode(UsbNodeOptions options, UsbInventory& inventory, VhciDriver* vhci,
          UsbGuestAttacher* guests);

  std::vector<UsbDeviceInfo> Devices() const { return inventory_.List(); }
  // Present devices that are exported.
  std::vector<UsbDeviceInfo> Exported() const;
  bool IsExported(const std::string& busid) const;
  // The server whose peers are cut off when a device stops being exported. Not owned.
  void SetServer(UsbIpServer* server);
  UsbIpServer* server() const;
  // Replaces the exported set; returns the exported busids present now.
  std::vector<std::string> SetExports(const std::vector<std::string>& busids);

  absl::StatusOr<UsbAttachmentInfo> Attach(const UsbAttachRequest& req);
  absl::StatusOr<bool> Detach(const std::string& id);
  std::vector<UsbAttachmentInfo> Attachments() const;
  VhciDriver* vhci() const { return vhci_; }

 private:
  absl::StatusOr<UsbAttachmentInfo> AttachLocal(const UsbAttachRequest& req);
  absl::StatusOr<UsbAttachmentInfo> AttachRemote(const UsbAttachRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(attach_mu_);
  // Waits for the device the kernel enumerates behind a vhci port.
  absl::StatusOr<UsbDeviceInfo> FindOnVhci(int port, UsbSpeed speed);
  void Load();
  void SaveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const UsbNodeOptions options_;
  UsbInventory& inventory_;
  VhciDriver* const vhci_;
  UsbGuestAttacher* const guests_;
  mutable absl::Mutex mu_;
  absl::Mutex attach_mu_;  // serializes attach/detach (port choice, hot-plug)
  std::set<std::string> exports_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, UsbAttachmentInfo> attachments_ ABSL_GUARDED_BY(mu_);
  // TLS imports: the relay between the vhci port's socketpair and the TLS stream, by id.
  std::map<std::string, std::unique_ptr<usbsock::Bridge>> bridges_ ABSL_GUARDED_BY(attach_mu_);
  UsbIpServer* server_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_USB_USB_NODE_H_

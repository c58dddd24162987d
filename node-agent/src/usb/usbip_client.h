// The client side of USB/IP: list a peer's devices, import one, and (for user-space consumers,
// tests and benchmarks) drive URBs over the imported stream. The node's vhci attach hands the
// imported socket to the kernel instead (usb/vhci.h); a TLS stream reaches the kernel through a
// socketpair relayed in user space (usbsock::Bridge).
#ifndef BERTH_AGENT_USB_USBIP_CLIENT_H_
#define BERTH_AGENT_USB_USBIP_CLIENT_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/agent/usb.h"
#include "berth/agent/usbip_wire.h"
#include "berth/exportwire/tls_context.h"
#include "usb/socket_io.h"
#include "usb/usbip_server.h"

namespace berth::agent {

// OP_REQ_DEVLIST against host:port. With `tls` (a client context: the agent's certificate,
// the cluster CA) over mutual TLS; the server's certificate must name `host`.
absl::StatusOr<std::vector<usbip::DeviceRecord>> UsbIpListRemote(
    const std::string& host, int port, exportwire::ReloadingTlsContext* tls = nullptr);

// The client side's counters (all UsbIpUrbClients and imports of this process): URBs and bytes
// driven by UsbIpUrbClient, failed imports. Attachments handed to vhci are not seen here.
UsbIpStats& UsbIpClientStats();

struct UsbIpImported {
  std::unique_ptr<net::Stream> stream;  // connected, ready for URBs; owns the socket
  usbip::DeviceRecord device;
};

// OP_REQ_IMPORT of `busid` (over mutual TLS with `tls`). NotFound (NODEV), FailedPrecondition
// (busy, NA), PermissionDenied (a certificate was refused) or Unavailable (device error,
// network) with the peer's status in the message.
absl::StatusOr<UsbIpImported> UsbIpImport(const std::string& host, int port,
                                          const std::string& busid,
                                          exportwire::ReloadingTlsContext* tls = nullptr);

// URBs over an imported stream (plain or TLS). Owns the stream and a reader thread that matches
// RET_SUBMIT and RET_UNLINK to requests by seqnum. Thread-safe; any number of URBs may be
// outstanding.
class UsbIpUrbClient {
 public:
  UsbIpUrbClient(UsbIpImported imported);
  ~UsbIpUrbClient();  // closes the socket; outstanding callbacks get -ESHUTDOWN

  // Sends CMD_SUBMIT (the seqnum is assigned here and returned); `done` runs on the reader
  // thread.
  absl::StatusOr<uint32_t> SubmitAsync(Urb urb, UrbCallback done);
  absl::StatusOr<UrbResult> Submit(Urb urb, absl::Duration timeout = absl::Seconds(10));
  // Sends CMD_UNLINK for `seqnum` and waits for RET_UNLINK; returns its status.
  absl::StatusOr<int32_t> Unlink(uint32_t seqnum, absl::Duration timeout = absl::Seconds(10));
  const usbip::DeviceRecord& Device() const { return device_; }

 private:
  struct Pending {
    bool in = false;
    bool unlink = false;
    UrbCallback done;
  };
  void ReadLoop();
  void FailAll(int32_t status);

  std::unique_ptr<net::Stream> stream_;
  const usbip::DeviceRecord device_;
  const uint32_t devid_;
  absl::Mutex write_mu_;
  absl::Mutex mu_;
  uint32_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint32_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_USB_USBIP_CLIENT_H_

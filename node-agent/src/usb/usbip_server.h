// A USB/IP server speaking the Linux protocol: OP_REQ_DEVLIST, OP_REQ_IMPORT, then URBs
// (CMD_SUBMIT/RET_SUBMIT, CMD_UNLINK/RET_UNLINK) relayed to a UsbDevice in user space. The
// Linux `usbip list -r` / `usbip attach -r` tools and our own client are valid peers.
#ifndef BERTH_AGENT_USB_USBIP_SERVER_H_
#define BERTH_AGENT_USB_USBIP_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "berth/agent/usb.h"
#include "berth/exportwire/tls_context.h"
#include "berth/net/listener.h"

namespace berth::agent {

// What one side of USB/IP counts for /metrics (the agent registers these with its Prometheus
// registry): relaxed atomics, bumped per message on the relaying threads, read at scrape time.
// Only user-space relays are seen: a socket handed to the kernel (usbip-host, vhci) is not.
struct UsbIpStats {
  std::atomic<uint64_t> bytes_in{0};        // read from the peer (headers and payloads)
  std::atomic<uint64_t> bytes_out{0};       // written to the peer
  std::atomic<uint64_t> urbs_submitted{0};  // CMD_SUBMIT received (server) or sent (client)
  std::atomic<uint64_t> urbs_completed{0};  // RET_SUBMIT sent (server) or received (client)
  std::atomic<uint64_t> urbs_unlinked{0};   // URBs cancelled by CMD_UNLINK before completing
  // Protocol and stream errors that end a connection, refused connections, failed imports.
  std::atomic<uint64_t> errors{0};
  std::atomic<int64_t> connections{0};  // open connections (server) or URB clients (client)
  std::atomic<int64_t> attachments{0};  // imported devices relayed in user space right now

  void In(uint64_t n) { bytes_in.fetch_add(n, std::memory_order_relaxed); }
  void Out(uint64_t n) { bytes_out.fetch_add(n, std::memory_order_relaxed); }
  static void Inc(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
};

struct UsbIpServerConfig {
  std::string listen = "127.0.0.1:3240";  // HOST:PORT; port 0 picks a free one
  // Peer IP addresses allowed to connect; empty allows everyone (the opt-in Linux port).
  std::vector<std::string> allowed_peers;
  // Kernel hand-off: when set and it accepts the device (it is bound to usbip-host), the
  // imported socket goes to the kernel's stub (usbip_sockfd) instead of the user-space relay.
  // Returns NotFound when the device is not bound to usbip-host (relay in user space). The
  // agent passes platform::UsbIpHostHandoff (src/platform/usb_usbip_host.h).
  // With TLS the kernel gets one end of a socketpair and this server relays it to the TLS
  // stream in user space (the kernel cannot speak TLS).
  std::function<absl::Status(const UsbDeviceInfo&, int fd)> kernel_handoff;
  // Mutual TLS (agent-to-agent USB/IP with --tls_dir): when set (a kServer context), every
  // connection must complete a TLS handshake with a client certificate the CA signed, and that
  // certificate must carry one of `tls_groups` (any group when empty), before a request is read.
  // The allow-list above still applies first.
  std::shared_ptr<exportwire::ReloadingTlsContext> tls;
  std::vector<std::string> tls_groups;
  // Where to count (must outlive the server; may be shared by servers); null: private counters.
  UsbIpStats* stats = nullptr;
  // The listener's name in metrics ("usbip" or "usbip-linux"), its limits, and the registry
  // its counters go to (may be null; must outlive the server).
  std::string listener_name = "usbip";
  net::ListenerLimits limits = DefaultUsbIpLimits();
  metrics::Registry* metrics = nullptr;

  // 128 connections, 64 unserved (16 per peer IP), 5 s to the first byte and to finish the
  // TLS handshake, 30 s to the first request.
  static net::ListenerLimits DefaultUsbIpLimits();
};

// Serves the devices `exported()` returns. Connections come through a net::Listener (caps,
// deadlines, the TLS handshake); each served one has a thread, joined as soon as it ends. The
// destructor closes every socket and joins them. Thread-safe.
class UsbIpServer {
 public:
  using ExportedFn = std::function<std::vector<UsbDeviceInfo>()>;

  static absl::StatusOr<std::unique_ptr<UsbIpServer>> Create(UsbIpServerConfig config,
                                                             ExportedFn exported,
                                                             UsbDeviceOpener opener);
  ~UsbIpServer();
  std::string ListenAddress() const { return address_; }
  int Port() const { return listener_->port(); }
  net::ListenerCounts ListenerCounts() const { return listener_->Counts(); }
  // Busids currently imported by a peer.
  std::set<std::string> Imported() const;
  // Closes the connection that imported `busid` (e.g. the device was unexported). Returns
  // whether one existed.
  bool Disconnect(const std::string& busid);
  const UsbIpStats& Stats() const { return *stats_; }

 private:
  struct Conn;
  UsbIpServer(UsbIpServerConfig config, ExportedFn exported, UsbDeviceOpener opener);
  void Serve(net::Connection accepted);
  // Sets conn.stream: plain, or TLS after the group check (false: refused).
  bool Authenticate(Conn& conn, net::UniqueSsl ssl);
  void ServeImport(Conn& conn);
  void RelayUrbs(Conn& conn, UsbDevice& device);

  const UsbIpServerConfig config_;
  const ExportedFn exported_;
  const UsbDeviceOpener opener_;
  std::string address_;
  UsbIpStats own_stats_;
  UsbIpStats* const stats_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::shared_ptr<Conn>> conns_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<net::Listener> listener_;  // last: its handler threads use the above
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_USB_USBIP_SERVER_H_

// The node agent as an object (Envoy's MainCommon/InstanceImpl split): everything berth-agent
// runs, built from AgentOptions and the platform adapters it is given, so tests start a whole
// agent in-process on loopback ports. main() only reads flags, sets up logging and signals,
// and drives Create, Start and Shutdown.
#ifndef BERTH_AGENT_SERVER_AGENT_SERVER_H_
#define BERTH_AGENT_SERVER_AGENT_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/agent/agent_service.h"
#include "berth/agent/export_server.h"
#include "berth/agent/hypervisor.h"
#include "berth/agent/usb.h"
#include "berth/metrics.h"
#include "berth/metrics_server.h"
#include "berth/net/grpc_listener.h"
#include "berth/time_util.h"
#include "berth/tls.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/agent_options.h"
#include "usb/usb_node.h"
#include "usb/usbip_server.h"

namespace berth::agent {

// The OS-facing adapters (src/platform/: libvirt, libudev, libusb, sysfs) the agent reaches
// through, passed in so a test can start an agent without them. Every member must be set.
// Storage pools (OpenStorageBackend) and the vhci driver (VhciDriver::Open) are plain file
// helpers and are called directly.
struct AgentPlatform {
  // The hypervisor for guests. InvalidArgument (a bad --accelerator) fails Create; any other
  // error only disables VM support, its message becoming the VM RPCs' Unavailable reason.
  std::function<absl::StatusOr<std::unique_ptr<Hypervisor>>(
      const std::string& uri, const std::string& accelerator, const std::string& probe_kernel)>
      open_hypervisor;
  // USB discovery; an error disables USB (logged).
  std::function<absl::StatusOr<std::unique_ptr<UsbInventory>>()> open_usb_inventory;
  // Guest hot-plug for --usb_guest_attach=libvirt; an error only disables hot-plug (logged).
  std::function<absl::StatusOr<std::unique_ptr<UsbGuestAttacher>>(const std::string& uri)>
      open_usb_attacher;
  // Opens devices for the user-space USB/IP relay.
  std::function<UsbDeviceOpener(const UsbInventory& inventory)> usb_opener;
  // The USB/IP servers' kernel hand-off (UsbIpServerConfig::kernel_handoff).
  std::function<absl::Status(const UsbDeviceInfo&, int fd)> usbip_kernel_handoff;
};

// libvirt, libudev, libusb and the usbip-host stub: what berth-agent runs on.
AgentPlatform ProductionAgentPlatform();

// True for Create's errors in the options themselves (--listener_limits, --tls_dir/--insecure):
// berth-agent exits 2 for these and 1 for every other start-up failure.
bool IsAgentOptionsError(const absl::Status& status);

class AgentServer {
 public:
  // Checks the options and builds the agent in start-up order: metrics, transport, pools,
  // guests (freeze recovery), the gRPC services, the export server and the USB/IP servers
  // (these two already listen). Nothing serves gRPC or registers with a controller yet. Every
  // error's message says what is wrong and is what berth-agent logs before exiting. `clock`
  // must outlive the server.
  static absl::StatusOr<std::unique_ptr<AgentServer>> Create(const AgentOptions& options,
                                                             AgentPlatform platform,
                                                             const Clock& clock);
  ~AgentServer();
  AgentServer(const AgentServer&) = delete;
  AgentServer& operator=(const AgentServer&) = delete;

  // Starts the gRPC server on options.listen, registers with (and heartbeats) every
  // controller, then starts the metrics server when options.metrics_listen is set. Call once.
  absl::Status Start();
  // Blocks until Shutdown() (called on another thread) has stopped the gRPC server. Returns at
  // once when the gRPC server never started listening.
  void Wait();
  // Stops the registrations and shuts the gRPC server down (in-flight calls get 2 s). The
  // listeners close when the server is destroyed.
  void Shutdown();

  const std::string& node_name() const { return node_; }
  // The agent API's bound port (after Start()).
  int grpc_port() const;
  // The export server's HOST:PORT.
  std::string export_address() const;
  // The metrics server's HOST:PORT; empty when off or before Start().
  std::string metrics_address() const;
  // "node NAME listening on LISTEN", the readiness status for the service manager.
  std::string ReadyStatus() const;

  struct Guests;
  struct Usb;

 private:
  AgentServer(AgentOptions options, AgentPlatform platform, const Clock& clock);
  absl::Status Build();
  absl::Status OpenPools();
  absl::Status StartGuests();
  absl::Status StartUsb();
  net::ListenerLimits LimitsFor(const std::string& name, net::ListenerLimits limits) const;

  const AgentOptions options_;
  const AgentPlatform platform_;
  const Clock& clock_;
  // Declared (so built, and destroyed in reverse) in berth-agent's start-up order.
  metrics::Registry metrics_;
  ExportStats export_stats_;  // outlive the servers counting into them
  UsbIpStats usbip_stats_;
  Transport transport_;
  std::string node_;
  PoolMap pools_;
  std::unique_ptr<Guests> guests_;
  std::unique_ptr<v1::NodeAgent::Service> service_;
  std::unique_ptr<grpc::ServerBuilder> builder_;
  std::unique_ptr<net::GrpcListener> grpc_port_;
  std::unique_ptr<ExportServer> export_server_;
  std::unique_ptr<grpc::Service> export_service_;
  std::string advertise_;
  std::unique_ptr<Usb> usb_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::unique_ptr<Registration>> registrations_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  bool serving_ = false;  // the gRPC server started and listens
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_SERVER_AGENT_SERVER_H_

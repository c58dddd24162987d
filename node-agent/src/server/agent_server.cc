#include "server/agent_server.h"

#include <unistd.h>

#include <chrono>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "berth/agent/guest.h"
#include "berth/agent/instrumented.h"
#include "berth/exportwire/tls_context.h"
#include "berth/log.h"
#include "grpcpp/health_check_service_interface.h"
#include "platform/usb_usbip_host.h"
#include "server/agent_metrics.h"
#include "usb/socket_io.h"
#include "usb/usb_grpc.h"
#include "usb/usbip_client.h"
#include "usb/vhci.h"

namespace berth::agent {

namespace {

constexpr char kOptionsErrorUrl[] = "type.berth.dev/agent.OptionsError";

// Marks an error in the options themselves (the binary's exit code 2).
absl::Status OptionsError(absl::StatusCode code, absl::string_view message) {
  absl::Status s(code, message);
  s.SetPayload(kOptionsErrorUrl, absl::Cord());
  return s;
}

// An error whose message is `message` (what berth-agent logs) and whose code is `cause`'s.
absl::Status Failed(const absl::Status& cause, const std::string& message) {
  return absl::Status(cause.code(), message);
}

const std::vector<std::string> kListeners = {"agent-grpc", "usbip", "usbip-linux", "export",
                                             "metrics"};

std::string HostOf(const std::string& address) { return address.substr(0, address.rfind(':')); }

}  // namespace

AgentPlatform ProductionAgentPlatform() {
  AgentPlatform p;
  p.open_hypervisor = [](const std::string& uri, const std::string& accelerator,
                         const std::string& probe_kernel) {
    return NewLibvirtHypervisor(uri, accelerator, probe_kernel);
  };
  p.open_usb_inventory = [] { return NewUdevUsbInventory(); };
  p.open_usb_attacher = [](const std::string& uri) { return NewLibvirtUsbAttacher(uri); };
  p.usb_opener = [](const UsbInventory& inventory) { return NewLibusbOpener(inventory); };
  p.usbip_kernel_handoff = platform::UsbIpHostHandoff;  // devices bound to usbip-host: kernel
  return p;
}

bool IsAgentOptionsError(const absl::Status& status) {
  return status.GetPayload(kOptionsErrorUrl).has_value();
}

// Owns what the guest RPCs run on. Without libvirt, guests stay unavailable (VM RPCs say why).
struct AgentServer::Guests {
  std::unique_ptr<Hypervisor> hypervisor;
  std::unique_ptr<GuestAgent> agent;
  std::unique_ptr<Freezer> freezer;
  std::unique_ptr<Freezer> measured_freezer;  // wraps `freezer` for metrics
  GuestServices services;
};

// Owns discovery, the USB/IP servers and the NodeUSB service. Without libudev USB is off.
struct AgentServer::Usb {
  std::unique_ptr<UsbInventory> inventory;
  std::unique_ptr<VhciDriver> vhci;
  std::unique_ptr<UsbGuestAttacher> guests;
  std::unique_ptr<UsbNode> node;
  std::unique_ptr<UsbIpServer> server, linux_server;
  std::unique_ptr<grpc::Service> service;
};

AgentServer::AgentServer(AgentOptions options, AgentPlatform platform, const Clock& clock)
    : options_(std::move(options)), platform_(std::move(platform)), clock_(clock) {}

AgentServer::~AgentServer() = default;

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Create(const AgentOptions& options,
                                                                 AgentPlatform platform,
                                                                 const Clock& clock) {
  std::unique_ptr<AgentServer> server(new AgentServer(options, std::move(platform), clock));
  if (absl::Status s = server->Build(); !s.ok()) return s;
  return server;
}

// The limits of listener `name`: its defaults with --listener_limits applied (checked in Build).
net::ListenerLimits AgentServer::LimitsFor(const std::string& name,
                                           net::ListenerLimits limits) const {
  net::ApplyLimitOverrides(options_.listener_limits, name, kListeners, &limits).IgnoreError();
  return limits;
}

absl::Status AgentServer::Build() {
  {
    net::ListenerLimits scratch;
    if (absl::Status s =
            net::ApplyLimitOverrides(options_.listener_limits, "", kListeners, &scratch);
        !s.ok()) {
      return OptionsError(s.code(), s.message());
    }
  }
  metrics::AddProcessMetrics(metrics_);
  RegisterExportMetrics(metrics_, export_stats_);
  RegisterUsbIpMetrics(metrics_, usbip_stats_, UsbIpClientStats());

  auto transport = TransportFromFlags("berth-agent", options_.tls_dir, options_.insecure);
  if (!transport.ok()) {
    return OptionsError(transport.status().code(), transport.status().message());
  }
  transport_ = *std::move(transport);
  node_ = options_.node_name;
  if (node_.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    node_ = host;
  }
  if (absl::Status s = OpenPools(); !s.ok()) return s;
  if (absl::Status s = StartGuests(); !s.ok()) return s;
  service_ = NewNodeAgentService(node_, pools_, guests_->services);
  grpc::EnableDefaultHealthCheckService(true);  // grpc.health.v1.Health
  builder_ = std::make_unique<grpc::ServerBuilder>();
  // Only the controller (and cluster admins' tools) may command an agent.
  net::ListenerConfig grpc_config;
  grpc_config.name = "agent-grpc";
  grpc_config.listen = options_.listen;
  grpc_config.limits = LimitsFor("agent-grpc", net::GrpcListener::DefaultLimits());
  grpc_config.metrics = &metrics_;
  grpc_port_ = net::GrpcListener::Add(
      *builder_, transport_.ServerCredentialsFor({kGroupControllers, kGroupClusterAdmins}),
      grpc_config);
  builder_->RegisterService(service_.get());
  ExportServerConfig export_config;
  export_config.listen = options_.export_listen;
  if (export_config.listen.empty()) {
    const std::string& l = options_.listen;
    export_config.listen = l.substr(0, l.rfind(':')) + ":0";
  }
  export_config.public_address = options_.export_public_address;
  export_config.cert_file = options_.export_cert;
  export_config.key_file = options_.export_key;
  export_config.cert_names = {node_};
  if (!transport_.insecure) export_config.mutual_tls = transport_.files;  // + client certs
  export_config.stats = &export_stats_;
  export_config.metrics = &metrics_;
  export_config.limits = LimitsFor("export", export_config.limits);
  auto export_server = NewExportServer(export_config, pools_, clock_);
  if (!export_server.ok()) {
    return Failed(export_server.status(), log::Str(export_server.status()));
  }
  export_server_ = *std::move(export_server);
  export_service_ = NewNodeExportService(*export_server_);
  builder_->RegisterService(export_service_.get());
  advertise_ = options_.advertise;
  if (advertise_.empty()) advertise_ = options_.listen;
  usb_ = std::make_unique<Usb>();
  if (absl::Status s = StartUsb(); !s.ok()) return s;
  if (usb_->service) builder_->RegisterService(usb_->service.get());
  return absl::OkStatus();
}

absl::Status AgentServer::OpenPools() {
  for (const std::string& entry : options_.pools) {
    std::vector<std::string> parts = absl::StrSplit(entry, absl::MaxSplits(':', 2));
    if (parts.size() != 3 || parts[0].empty()) {
      return absl::InvalidArgumentError(
          log::Str("--pools: bad entry \"", entry, "\" (want NAME:TYPE:PATH)"));
    }
    auto backend = OpenStorageBackend(parts[1], parts[2]);
    if (!backend.ok()) {
      return Failed(backend.status(), log::Str("pool ", parts[0], ": ", backend.status()));
    }
    pools_[parts[0]] = InstrumentStorage(*std::move(backend), parts[0], metrics_);
  }
  return absl::OkStatus();
}

// Fails on a bad option; a libvirt that cannot be reached only disables VM support.
absl::Status AgentServer::StartGuests() {
  guests_ = std::make_unique<Guests>();
  Guests& g = *guests_;
  g.services.state_dir = options_.state_dir;
  g.services.migration_uri = options_.migration_uri;
  g.services.clock = &clock_;  // the snapshot coordinator measures with the freezer's clock
  g.services.debug_hold_freeze = absl::Milliseconds(options_.debug_hold_freeze_ms);
  const std::string& uri = options_.libvirt_uri;
  auto hv = platform_.open_hypervisor(uri, options_.accelerator, options_.kvm_probe_kernel);
  if (absl::IsInvalidArgument(hv.status())) {
    return Failed(hv.status(), log::Str(hv.status()));
  }
  if (!hv.ok()) {
    g.services.unavailable_reason = std::string(hv.status().message());
    log::Warning(log::Str("running without VM support: ", hv.status()));
    return absl::OkStatus();
  }
  g.hypervisor = *std::move(hv);
  g.agent = NewGuestAgent(*g.hypervisor);
  Freezer::Options options;
  options.journal_dir = g.services.state_dir + "/freeze-journal";
  options.auto_thaw = absl::Seconds(options_.auto_thaw_seconds);
  g.freezer = NewFreezer(*g.agent, clock_, options);
  // Before serving: a guest left frozen by a crashed agent is thawed first.
  absl::Status recovered = g.freezer->Recover();
  if (!recovered.ok()) {
    log::Warning(log::Str("freeze recovery incomplete (retrying in the background): ", recovered));
  }
  g.services.hypervisor = g.hypervisor.get();
  g.services.agent = g.agent.get();
  g.measured_freezer = InstrumentFreezer(*g.freezer, metrics_);
  g.services.freezer = g.measured_freezer.get();
  log::Info(log::Str("guests via ", uri, ", accelerator ", g.hypervisor->Accelerator(),
                     ", auto-thaw after ", options_.auto_thaw_seconds, "s"));
  return absl::OkStatus();
}

// Fails on a bad option; a host without udev or vhci only loses those parts.
absl::Status AgentServer::StartUsb() {
  if (!options_.usb) return absl::OkStatus();
  Usb& u = *usb_;
  // With --tls_dir, USB/IP between agents runs inside mutual TLS with the agent certificate:
  // the server accepts only clients whose certificate is in berth:agents.
  std::shared_ptr<exportwire::ReloadingTlsContext> tls_server, tls_client;
  if (!transport_.insecure) {
    using Ctx = exportwire::ReloadingTlsContext;
    auto server_ctx = Ctx::Create(Ctx::Role::kServer, transport_.files);
    auto client_ctx = Ctx::Create(Ctx::Role::kClient, transport_.files);
    if (!server_ctx.ok() || !client_ctx.ok()) {
      const absl::Status& failed = server_ctx.ok() ? client_ctx.status() : server_ctx.status();
      return Failed(failed, log::Str("USB/IP TLS: ", failed));
    }
    tls_server = *std::move(server_ctx);
    tls_client = *std::move(client_ctx);
  }
  auto inventory = platform_.open_usb_inventory();
  if (!inventory.ok()) {
    log::Warning(log::Str("USB disabled: ", inventory.status()));
    return absl::OkStatus();
  }
  u.inventory = *std::move(inventory);
  auto vhci = VhciDriver::Open(options_.vhci_dir);
  if (vhci.ok()) {
    u.vhci = *std::move(vhci);
  } else {
    log::Warning(log::Str("cannot import USB/IP devices: ", vhci.status()));
  }
  const std::string& mode = options_.usb_guest_attach;
  if (mode == "libvirt") {
    auto g = platform_.open_usb_attacher(options_.libvirt_uri);
    if (g.ok()) u.guests = *std::move(g);
    if (!g.ok()) log::Warning(log::Str("no USB hot-plug: ", g.status()));
  } else if (mode != "none") {
    return absl::InvalidArgumentError("--usb_guest_attach must be libvirt or none");
  }
  UsbNodeOptions options;
  options.node_name = node_;
  options.state_dir = options_.state_dir;
  options.usbip_tls = tls_client;
  u.node = std::make_unique<UsbNode>(options, *u.inventory, u.vhci.get(), u.guests.get());
  auto exported = [n = u.node.get()] { return n->Exported(); };
  UsbDeviceOpener opener = platform_.usb_opener(*u.inventory);
  UsbIpServerConfig peers;
  peers.listen = options_.usbip_listen;
  if (peers.listen.empty()) peers.listen = HostOf(options_.listen) + ":0";
  peers.allowed_peers = options_.usbip_peers;
  if (peers.allowed_peers.empty()) peers.allowed_peers = {"127.0.0.1", "::1", HostOf(advertise_)};
  peers.kernel_handoff = platform_.usbip_kernel_handoff;
  peers.tls = tls_server;
  peers.tls_groups = {kGroupAgents};
  peers.stats = &usbip_stats_;
  peers.metrics = &metrics_;
  peers.listener_name = "usbip";
  peers.limits = LimitsFor("usbip", peers.limits);
  auto server = UsbIpServer::Create(peers, exported, opener);
  if (!server.ok()) return Failed(server.status(), log::Str(server.status()));
  u.server = *std::move(server);
  u.node->SetServer(u.server.get());
  if (const std::string& l = options_.usbip_linux_listen; !l.empty()) {
    if (usbsock::IsWildcardListen(l) && !options_.usbip_linux_allow_any) {
      return absl::InvalidArgumentError(log::Str(
          "--usbip_linux_listen=", l,
          " binds every interface; give a specific address, or add --usbip_linux_allow_any to "
          "really serve unauthenticated USB/IP on all of them"));
    }
    log::Warning(
        log::Str("--usbip_linux_listen: the Linux USB/IP port has no authentication and no "
                 "encryption: anyone who can reach ",
                 l, " can import the exported USB devices"));
    UsbIpServerConfig linux_config;
    linux_config.listen = l;
    linux_config.kernel_handoff = platform_.usbip_kernel_handoff;
    linux_config.stats = &usbip_stats_;
    linux_config.metrics = &metrics_;
    linux_config.listener_name = "usbip-linux";
    // Nobody authenticates here: one address may not hold more than a few devices' worth.
    linux_config.limits.max_served_per_peer = 16;
    linux_config.limits = LimitsFor("usbip-linux", linux_config.limits);
    auto linux_server = UsbIpServer::Create(linux_config, exported, opener);
    if (!linux_server.ok()) return Failed(linux_server.status(), log::Str(linux_server.status()));
    u.linux_server = *std::move(linux_server);
    log::Info(
        log::Str("Linux USB/IP protocol (no authentication) on ", u.linux_server->ListenAddress()));
  }
  std::string address = HostOf(advertise_) + ":" + std::to_string(u.server->Port());
  u.service = NewNodeUsbService(node_, *u.node, address);
  log::Info(log::Str("USB: ", u.inventory->List().size(), " device(s), USB/IP on ",
                     u.server->ListenAddress(), ", vhci ", (u.vhci ? "ready" : "absent"),
                     ", guest hot-plug ", (u.guests ? "libvirt" : "off")));
  return absl::OkStatus();
}

absl::Status AgentServer::Start() {
  if (server_) return absl::FailedPreconditionError("AgentServer::Start called twice");
  server_ = builder_->BuildAndStart();
  absl::Status listening =
      server_ ? grpc_port_->Start() : absl::InternalError("gRPC did not start");
  if (!listening.ok()) {
    return Failed(listening,
                  log::Str("cannot listen on ", options_.listen, ": ", listening.message()));
  }
  serving_ = true;
  // One registration per controller, each on its own thread: a paused or dead controller
  // cannot delay the heartbeats the others (the leader among them) receive.
  for (const std::string& controller : options_.controllers) {
    registrations_.push_back(std::make_unique<Registration>(controller, node_, advertise_,
                                                            transport_.ChannelCredentials()));
    registrations_.back()->Start();
  }
  log::Info(log::Str("exports on https://", export_server_->ListenAddress()));
  log::Info(log::Str("node ", node_, " listening on ", options_.listen, " with ", pools_.size(),
                     " pool(s)"));
  if (const std::string& l = options_.metrics_listen; !l.empty()) {
    auto started = metrics::MetricsServer::Start(
        l, metrics_, nullptr, LimitsFor("metrics", metrics::MetricsServer::DefaultLimits()),
        &metrics_);
    if (!started.ok()) return Failed(started.status(), log::Str(started.status()));
    metrics_server_ = *std::move(started);
    log::Info(log::Str("metrics on http://", metrics_server_->address(), "/metrics"));
  }
  return absl::OkStatus();
}

void AgentServer::Wait() {
  if (serving_) server_->Wait();
}

void AgentServer::Shutdown() {
  for (auto& r : registrations_) r->Stop();
  if (serving_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

int AgentServer::grpc_port() const { return grpc_port_ ? grpc_port_->port() : 0; }

std::string AgentServer::export_address() const {
  return export_server_ ? export_server_->ListenAddress() : "";
}

std::string AgentServer::metrics_address() const {
  return metrics_server_ ? metrics_server_->address() : "";
}

std::string AgentServer::ReadyStatus() const {
  return "node " + node_ + " listening on " + options_.listen;
}

}  // namespace berth::agent

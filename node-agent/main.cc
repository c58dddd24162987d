// berth-agent: the privileged per-node daemon. Serves storage pools to the controller.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "berth/agent/agent_service.h"
#include "berth/agent/export_server.h"
#include "berth/agent/guest.h"
#include "berth/agent/hypervisor.h"
#include "berth/agent/instrumented.h"
#include "berth/daemon.h"
#include "berth/exportwire/tls_context.h"
#include "berth/log.h"
#include "berth/metrics_server.h"
#include "berth/net/grpc_listener.h"
#include "berth/sd_notify.h"
#include "berth/tls.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "platform/usb_usbip_host.h"
#include "usb/socket_io.h"
#include "usb/usb_grpc.h"
#include "usb/usb_node.h"
#include "usb/usbip_client.h"
#include "usb/usbip_server.h"

ABSL_FLAG(std::string, node_name, "", "this node's name (default: the host name)");
ABSL_FLAG(std::string, listen, "127.0.0.1:7444", "address:port the agent API listens on");
ABSL_FLAG(std::string, advertise, "", "address:port the controller dials (default: --listen)");
ABSL_FLAG(std::vector<std::string>, controller, std::vector<std::string>({"127.0.0.1:7443"}),
          "controller address:port; several (comma-separated) for an HA control plane: the agent "
          "registers with and heartbeats every one, so whichever leads sees it");
ABSL_FLAG(std::string, tls_dir, "",
          "directory with ca.crt, tls.crt, tls.key (an agent certificate, O=berth:agents, CN=the "
          "node name) for mutual TLS on every connection; `scripts/certs agent` creates it");
ABSL_FLAG(bool, insecure, false,
          "plaintext and unauthenticated connections (tests only; excludes --tls_dir)");
ABSL_FLAG(std::vector<std::string>, pools, {},
          "storage pools as NAME:TYPE:PATH, comma-separated; TYPE is reflink, btrfs or copy");

ABSL_FLAG(std::string, libvirt_uri, "qemu:///system", "libvirt connection for guests");
ABSL_FLAG(std::string, accelerator, "auto",
          "guest accelerator: auto (KVM if a kernel boots under it here, else TCG), kvm or qemu");
ABSL_FLAG(std::string, kvm_probe_kernel, "",
          "kernel that --accelerator=auto boots under KVM to see whether KVM works (default: "
          "the newest /boot/vmlinuz-*)");
ABSL_FLAG(std::string, state_dir, "/var/lib/berth/agent",
          "agent state: freeze crash journal, cloud-init seeds, guest console logs");
ABSL_FLAG(int, auto_thaw_seconds, 10, "thaw a frozen guest after this long whatever happens");
ABSL_FLAG(int, debug_hold_freeze_ms, 0, "tests only: keep each snapshot's freeze this long");

ABSL_FLAG(std::string, export_listen, "",
          "HOST:PORT the disk export HTTPS server listens on (default: --listen's host, a free "
          "port)");
ABSL_FLAG(std::string, export_public_address, "",
          "HOST:PORT clients outside the cluster use for exports (--publish); default: the "
          "export listen address");
ABSL_FLAG(std::string, export_cert, "", "PEM certificate for exports (default: self-signed)");
ABSL_FLAG(std::string, export_key, "", "PEM private key for --export_cert");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT serving Prometheus /metrics, /healthz and /readyz over HTTP (empty: off)");
ABSL_FLAG(std::string, log_format, "text", "log records as text, logfmt or json");
ABSL_FLAG(std::string, listener_limits, "",
          "per-listener connection limits over the defaults, NAME.KEY=VALUE,... with NAME one of "
          "agent-grpc, usbip, usbip-linux, export, metrics (docs/security.md)");
ABSL_FLAG(int, v, 0, "log verbosity (0: changes and problems only)");

ABSL_FLAG(bool, usb, true, "discover USB devices (libudev) and serve USB/IP");
ABSL_FLAG(std::string, usbip_listen, "",
          "HOST:PORT of the USB/IP server other nodes import from (default: --listen's host, a "
          "free port); only --usbip_peers may connect");
ABSL_FLAG(std::vector<std::string>, usbip_peers, {},
          "IP addresses of the other nodes allowed to import devices (default: loopback and "
          "--advertise's host)");
ABSL_FLAG(std::string, usbip_linux_listen, "",
          "opt-in HOST:PORT serving the raw Linux USB/IP protocol to any peer (for the Linux "
          "`usbip` tools; no authentication, no encryption); a wildcard host (0.0.0.0, [::]) "
          "needs --usbip_linux_allow_any");
ABSL_FLAG(bool, usbip_linux_allow_any, false,
          "let --usbip_linux_listen bind a wildcard address (every interface)");
ABSL_FLAG(std::string, vhci_dir, "/sys/devices/platform/vhci_hcd.0",
          "vhci_hcd sysfs directory used to attach devices imported from other nodes");
ABSL_FLAG(std::string, usb_guest_attach, "libvirt",
          "how attached USB devices reach guests: libvirt (hostdev hot-plug) or none (stop at "
          "the host: vhci port / local device only)");

namespace ba = berth::agent;

namespace {

bool OpenPools(ba::PoolMap& pools, berth::metrics::Registry& metrics) {
  for (const std::string& entry : absl::GetFlag(FLAGS_pools)) {
    std::vector<std::string> parts = absl::StrSplit(entry, absl::MaxSplits(':', 2));
    if (parts.size() != 3 || parts[0].empty()) {
      berth::log::Error(
          berth::log::Str("--pools: bad entry \"", entry, "\" (want NAME:TYPE:PATH)"));
      return false;
    }
    auto backend = ba::OpenStorageBackend(parts[1], parts[2]);
    if (!backend.ok()) {
      berth::log::Error(berth::log::Str("pool ", parts[0], ": ", backend.status()));
      return false;
    }
    pools[parts[0]] = ba::InstrumentStorage(*std::move(backend), parts[0], metrics);
  }
  return true;
}

// Owns what the guest RPCs run on. Without libvirt, guests stay unavailable (VM RPCs say why).
struct Guests {
  std::unique_ptr<ba::Hypervisor> hypervisor;
  std::unique_ptr<ba::GuestAgent> agent;
  std::unique_ptr<ba::Freezer> freezer;
  std::unique_ptr<ba::Freezer> measured_freezer;  // wraps `freezer` for metrics
  ba::GuestServices services;
};

// Returns false on a bad flag; a libvirt that cannot be reached only disables VM support.
bool StartGuests(const berth::Clock& clock, Guests& g, berth::metrics::Registry& metrics) {
  g.services.state_dir = absl::GetFlag(FLAGS_state_dir);
  g.services.clock = &clock;  // the snapshot coordinator measures with the freezer's clock
  g.services.debug_hold_freeze = absl::Milliseconds(absl::GetFlag(FLAGS_debug_hold_freeze_ms));
  std::string uri = absl::GetFlag(FLAGS_libvirt_uri);
  auto hv = ba::NewLibvirtHypervisor(uri, absl::GetFlag(FLAGS_accelerator),
                                     absl::GetFlag(FLAGS_kvm_probe_kernel));
  if (absl::IsInvalidArgument(hv.status())) {
    berth::log::Error(berth::log::Str(hv.status()));
    return false;
  }
  if (!hv.ok()) {
    g.services.unavailable_reason = std::string(hv.status().message());
    berth::log::Warning(berth::log::Str("running without VM support: ", hv.status()));
    return true;
  }
  g.hypervisor = *std::move(hv);
  g.agent = ba::NewGuestAgent(*g.hypervisor);
  ba::Freezer::Options options;
  options.journal_dir = g.services.state_dir + "/freeze-journal";
  options.auto_thaw = absl::Seconds(absl::GetFlag(FLAGS_auto_thaw_seconds));
  g.freezer = ba::NewFreezer(*g.agent, clock, options);
  // Before serving: a guest left frozen by a crashed agent is thawed first.
  absl::Status recovered = g.freezer->Recover();
  if (!recovered.ok()) {
    berth::log::Warning(
        berth::log::Str("freeze recovery incomplete (retrying in the background): ", recovered));
  }
  g.services.hypervisor = g.hypervisor.get();
  g.services.agent = g.agent.get();
  g.measured_freezer = ba::InstrumentFreezer(*g.freezer, metrics);
  g.services.freezer = g.measured_freezer.get();
  berth::log::Info(berth::log::Str("guests via ", uri, ", accelerator ",
                                   g.hypervisor->Accelerator(), ", auto-thaw after ",
                                   absl::GetFlag(FLAGS_auto_thaw_seconds), "s"));
  return true;
}

// Owns discovery, the USB/IP servers and the NodeUSB service. Without libudev USB is off.
struct Usb {
  std::unique_ptr<ba::UsbInventory> inventory;
  std::unique_ptr<ba::VhciDriver> vhci;
  std::unique_ptr<ba::UsbGuestAttacher> guests;
  std::unique_ptr<ba::UsbNode> node;
  std::unique_ptr<ba::UsbIpServer> server, linux_server;
  std::unique_ptr<grpc::Service> service;
  ba::UsbIpStats* stats = nullptr;              // where both USB/IP servers count (/metrics)
  berth::metrics::Registry* metrics = nullptr;  // where their listeners count
};

const std::vector<std::string> kListeners = {"agent-grpc", "usbip", "usbip-linux", "export",
                                             "metrics"};

// The limits of listener `name`: its defaults with --listener_limits applied (checked at start).
berth::net::ListenerLimits LimitsFor(const std::string& name, berth::net::ListenerLimits limits) {
  berth::net::ApplyLimitOverrides(absl::GetFlag(FLAGS_listener_limits), name, kListeners, &limits)
      .IgnoreError();
  return limits;
}

using Samples = std::vector<std::pair<berth::metrics::LabelValues, double>>;

double Load(const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); }
double Load(const std::atomic<int64_t>& v) { return v.load(std::memory_order_relaxed); }

// /metrics for exports: counters read from `s` at scrape time, histograms fed by its hooks.
void RegisterExportMetrics(berth::metrics::Registry& r, ba::ExportStats& s) {
  namespace bm = berth::metrics;
  r.AddGaugeCallback(
      {"berth_agent_export_bytes_total",
       "Export image bytes sent (download) and written (upload).",
       {"direction"},
       [&s] {
         return Samples{{{"download"}, Load(s.bytes_served)}, {{"upload"}, Load(s.bytes_received)}};
       },
       /*is_counter=*/true});
  r.AddGaugeCallback({"berth_agent_export_requests_total",
                      "Export HTTP responses by status code.",
                      {"code"},
                      [&s] {
                        Samples out;
                        for (size_t i = 0; i < s.responses.size(); ++i) {
                          if (double v = Load(s.responses[i]); v > 0) {
                            out.push_back({{std::to_string(i)}, v});
                          }
                        }
                        return out;
                      },
                      /*is_counter=*/true});
  r.AddGaugeCallback({"berth_agent_export_tls_refused_total",
                      "Export connections whose TLS handshake failed (e.g. no valid client "
                      "certificate with mutual TLS).",
                      {},
                      [&s] {
                        return Samples{{{}, Load(s.tls_refused)}};
                      },
                      /*is_counter=*/true});
  r.AddGaugeCallback({"berth_agent_exports_active",
                      "Exports holding their image (not expired or stopped), by direction.",
                      {"direction"},
                      [&s] {
                        return Samples{{{"download"}, Load(s.active_downloads)},
                                       {{"upload"}, Load(s.active_uploads)}};
                      }});
  auto& transfer = r.AddHistogram("berth_agent_export_transfer_seconds",
                                  "Export data requests (GET or PUT /data), admission to last "
                                  "byte, by direction.",
                                  {"direction"}, bm::ExponentialBuckets(0.01, 4, 12));
  auto& lifetime = r.AddHistogram("berth_agent_export_lifetime_seconds",
                                  "Exports from start to stop or expiry, by direction.",
                                  {"direction"}, bm::ExponentialBuckets(1, 4, 10));
  bm::Histogram* t[2] = {&transfer.With({"download"}), &transfer.With({"upload"})};
  bm::Histogram* l[2] = {&lifetime.With({"download"}), &lifetime.With({"upload"})};
  s.on_transfer = [t0 = t[0], t1 = t[1]](bool up, double sec) { (up ? t1 : t0)->Observe(sec); };
  s.on_export_end = [l0 = l[0], l1 = l[1]](bool up, double sec) { (up ? l1 : l0)->Observe(sec); };
}

// /metrics for USB/IP: the servers' and this process's client counters, read at scrape time.
void RegisterUsbIpMetrics(berth::metrics::Registry& r, const ba::UsbIpStats& server,
                          const ba::UsbIpStats& client) {
  struct Role {
    const char* name;
    const ba::UsbIpStats* stats;
  };
  std::vector<Role> roles = {{"server", &server}, {"client", &client}};
  auto per_role = [roles](auto field) {  // a pointer to a UsbIpStats member
    return [roles, field] {
      Samples out;
      for (const Role& role : roles) out.push_back({{role.name}, Load(role.stats->*field)});
      return out;
    };
  };
  r.AddGaugeCallback({"berth_agent_usbip_bytes_total",
                      "USB/IP bytes relayed in user space, by role and direction (in: from "
                      "the peer).",
                      {"role", "direction"},
                      [roles] {
                        Samples out;
                        for (const Role& role : roles) {
                          out.push_back({{role.name, "in"}, Load(role.stats->bytes_in)});
                          out.push_back({{role.name, "out"}, Load(role.stats->bytes_out)});
                        }
                        return out;
                      },
                      /*is_counter=*/true});
  r.AddGaugeCallback({"berth_agent_usbip_urbs_submitted_total",
                      "USB/IP URBs submitted.",
                      {"role"},
                      per_role(&ba::UsbIpStats::urbs_submitted),
                      true});
  r.AddGaugeCallback({"berth_agent_usbip_urbs_completed_total",
                      "USB/IP URBs completed (RET_SUBMIT, any status).",
                      {"role"},
                      per_role(&ba::UsbIpStats::urbs_completed),
                      true});
  r.AddGaugeCallback({"berth_agent_usbip_urbs_unlinked_total",
                      "USB/IP URBs cancelled by CMD_UNLINK before completing.",
                      {"role"},
                      per_role(&ba::UsbIpStats::urbs_unlinked),
                      true});
  r.AddGaugeCallback({"berth_agent_usbip_errors_total",
                      "USB/IP protocol errors, refused connections and failed imports.",
                      {"role"},
                      per_role(&ba::UsbIpStats::errors),
                      true});
  r.AddGaugeCallback({"berth_agent_usbip_connections",
                      "Open USB/IP connections (server) and URB clients (client).",
                      {"role"},
                      per_role(&ba::UsbIpStats::connections)});
  r.AddGaugeCallback({"berth_agent_usbip_attachments",
                      "Imported USB devices relayed in user space right now.",
                      {"role"},
                      per_role(&ba::UsbIpStats::attachments)});
}

std::string HostOf(const std::string& address) { return address.substr(0, address.rfind(':')); }

// Returns false on a bad flag; a host without udev or vhci only loses those parts.
bool StartUsb(const std::string& node, const std::string& advertise,
              const berth::Transport& transport, Usb& u) {
  if (!absl::GetFlag(FLAGS_usb)) return true;
  // With --tls_dir, USB/IP between agents runs inside mutual TLS with the agent certificate:
  // the server accepts only clients whose certificate is in berth:agents.
  std::shared_ptr<berth::exportwire::ReloadingTlsContext> tls_server, tls_client;
  if (!transport.insecure) {
    using Ctx = berth::exportwire::ReloadingTlsContext;
    auto server_ctx = Ctx::Create(Ctx::Role::kServer, transport.files);
    auto client_ctx = Ctx::Create(Ctx::Role::kClient, transport.files);
    if (!server_ctx.ok() || !client_ctx.ok()) {
      berth::log::Error(berth::log::Str(
          "USB/IP TLS: ", (server_ctx.ok() ? client_ctx.status() : server_ctx.status())));
      return false;
    }
    tls_server = *std::move(server_ctx);
    tls_client = *std::move(client_ctx);
  }
  auto inventory = ba::NewUdevUsbInventory();
  if (!inventory.ok()) {
    berth::log::Warning(berth::log::Str("USB disabled: ", inventory.status()));
    return true;
  }
  u.inventory = *std::move(inventory);
  auto vhci = ba::VhciDriver::Open(absl::GetFlag(FLAGS_vhci_dir));
  if (vhci.ok()) {
    u.vhci = *std::move(vhci);
  } else {
    berth::log::Warning(berth::log::Str("cannot import USB/IP devices: ", vhci.status()));
  }
  std::string mode = absl::GetFlag(FLAGS_usb_guest_attach);
  if (mode == "libvirt") {
    auto g = ba::NewLibvirtUsbAttacher(absl::GetFlag(FLAGS_libvirt_uri));
    if (g.ok()) u.guests = *std::move(g);
    if (!g.ok()) berth::log::Warning(berth::log::Str("no USB hot-plug: ", g.status()));
  } else if (mode != "none") {
    berth::log::Error("--usb_guest_attach must be libvirt or none");
    return false;
  }
  ba::UsbNodeOptions options;
  options.node_name = node;
  options.state_dir = absl::GetFlag(FLAGS_state_dir);
  options.usbip_tls = tls_client;
  u.node = std::make_unique<ba::UsbNode>(options, *u.inventory, u.vhci.get(), u.guests.get());
  auto exported = [n = u.node.get()] { return n->Exported(); };
  ba::UsbDeviceOpener opener = ba::NewLibusbOpener(*u.inventory);
  ba::UsbIpServerConfig peers;
  peers.listen = absl::GetFlag(FLAGS_usbip_listen);
  if (peers.listen.empty()) peers.listen = HostOf(absl::GetFlag(FLAGS_listen)) + ":0";
  peers.allowed_peers = absl::GetFlag(FLAGS_usbip_peers);
  if (peers.allowed_peers.empty()) peers.allowed_peers = {"127.0.0.1", "::1", HostOf(advertise)};
  peers.kernel_handoff =
      ba::platform::UsbIpHostHandoff;  // devices bound to usbip-host go to the kernel
  peers.tls = tls_server;
  peers.tls_groups = {berth::kGroupAgents};
  peers.stats = u.stats;
  peers.metrics = u.metrics;
  peers.listener_name = "usbip";
  peers.limits = LimitsFor("usbip", peers.limits);
  auto server = ba::UsbIpServer::Create(peers, exported, opener);
  if (!server.ok()) {
    berth::log::Error(berth::log::Str(server.status()));
    return false;
  }
  u.server = *std::move(server);
  u.node->SetServer(u.server.get());
  if (std::string l = absl::GetFlag(FLAGS_usbip_linux_listen); !l.empty()) {
    if (ba::usbsock::IsWildcardListen(l) && !absl::GetFlag(FLAGS_usbip_linux_allow_any)) {
      berth::log::Error(berth::log::Str(
          "--usbip_linux_listen=", l,
          " binds every interface; give a specific address, or add --usbip_linux_allow_any to "
          "really serve unauthenticated USB/IP on all of them"));
      return false;
    }
    berth::log::Warning(
        berth::log::Str("--usbip_linux_listen: the Linux USB/IP port has no authentication and no "
                        "encryption: anyone who can reach ",
                        l, " can import the exported USB devices"));
    ba::UsbIpServerConfig linux_config;
    linux_config.listen = l;
    linux_config.kernel_handoff = ba::platform::UsbIpHostHandoff;
    linux_config.stats = u.stats;
    linux_config.metrics = u.metrics;
    linux_config.listener_name = "usbip-linux";
    // Nobody authenticates here: one address may not hold more than a few devices' worth.
    linux_config.limits.max_served_per_peer = 16;
    linux_config.limits = LimitsFor("usbip-linux", linux_config.limits);
    auto linux_server = ba::UsbIpServer::Create(linux_config, exported, opener);
    if (!linux_server.ok()) {
      berth::log::Error(berth::log::Str(linux_server.status()));
      return false;
    }
    u.linux_server = *std::move(linux_server);
    berth::log::Info(berth::log::Str("Linux USB/IP protocol (no authentication) on ",
                                     u.linux_server->ListenAddress()));
  }
  std::string address = HostOf(advertise) + ":" + std::to_string(u.server->Port());
  u.service = ba::NewNodeUsbService(node, *u.node, address);
  berth::log::Info(berth::log::Str("USB: ", u.inventory->List().size(), " device(s), USB/IP on ",
                                   u.server->ListenAddress(), ", vhci ",
                                   (u.vhci ? "ready" : "absent"), ", guest hot-plug ",
                                   (u.guests ? "libvirt" : "off")));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("berth-agent --node_name=NAME --pools=NAME:TYPE:PATH,...");
  absl::ParseCommandLine(argc, argv);
  berth::ConfigureDaemonProcess();
  auto log_format = berth::log::ParseFormat(absl::GetFlag(FLAGS_log_format));
  if (!log_format.ok()) {
    std::cerr << "berth-agent: " << log_format.status().message() << "\n";
    return 2;
  }
  berth::log::Init(*log_format, absl::GetFlag(FLAGS_v), "agent");
  {
    berth::net::ListenerLimits scratch;
    if (absl::Status s = berth::net::ApplyLimitOverrides(absl::GetFlag(FLAGS_listener_limits), "",
                                                         kListeners, &scratch);
        !s.ok()) {
      berth::log::Error(berth::log::Str(s.message()));
      return 2;
    }
  }
  berth::metrics::Registry metrics;
  berth::metrics::AddProcessMetrics(metrics);
  ba::ExportStats export_stats;  // outlive the servers counting into them
  ba::UsbIpStats usbip_stats;
  RegisterExportMetrics(metrics, export_stats);
  RegisterUsbIpMetrics(metrics, usbip_stats, ba::UsbIpClientStats());
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto transport = berth::TransportFromFlags("berth-agent", absl::GetFlag(FLAGS_tls_dir),
                                             absl::GetFlag(FLAGS_insecure));
  if (!transport.ok()) {
    berth::log::Error(berth::log::Str(transport.status().message()));
    return 2;
  }
  std::string node = absl::GetFlag(FLAGS_node_name);
  if (node.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    node = host;
  }
  ba::PoolMap pools;
  if (!OpenPools(pools, metrics)) return 1;
  berth::RealClock clock;
  Guests guests;
  if (!StartGuests(clock, guests, metrics)) return 1;
  auto service = ba::NewNodeAgentService(node, pools, guests.services);
  grpc::EnableDefaultHealthCheckService(true);  // grpc.health.v1.Health
  grpc::ServerBuilder builder;
  // Only the controller (and cluster admins' tools) may command an agent.
  berth::net::ListenerConfig grpc_config;
  grpc_config.name = "agent-grpc";
  grpc_config.listen = absl::GetFlag(FLAGS_listen);
  grpc_config.limits = LimitsFor("agent-grpc", berth::net::GrpcListener::DefaultLimits());
  grpc_config.metrics = &metrics;
  auto grpc_port = berth::net::GrpcListener::Add(
      builder,
      transport->ServerCredentialsFor({berth::kGroupControllers, berth::kGroupClusterAdmins}),
      grpc_config);
  builder.RegisterService(service.get());
  berth::RealClock export_clock;
  ba::ExportServerConfig export_config;
  export_config.listen = absl::GetFlag(FLAGS_export_listen);
  if (export_config.listen.empty()) {
    std::string l = absl::GetFlag(FLAGS_listen);
    export_config.listen = l.substr(0, l.rfind(':')) + ":0";
  }
  export_config.public_address = absl::GetFlag(FLAGS_export_public_address);
  export_config.cert_file = absl::GetFlag(FLAGS_export_cert);
  export_config.key_file = absl::GetFlag(FLAGS_export_key);
  export_config.cert_names = {node};
  if (!transport->insecure) export_config.mutual_tls = transport->files;  // + client certs
  export_config.stats = &export_stats;
  export_config.metrics = &metrics;
  export_config.limits = LimitsFor("export", export_config.limits);
  auto export_server = ba::NewExportServer(export_config, pools, export_clock);
  if (!export_server.ok()) {
    berth::log::Error(berth::log::Str(export_server.status()));
    return 1;
  }
  std::unique_ptr<grpc::Service> export_service = ba::NewNodeExportService(**export_server);
  builder.RegisterService(export_service.get());
  std::string advertise = absl::GetFlag(FLAGS_advertise);
  if (advertise.empty()) advertise = absl::GetFlag(FLAGS_listen);
  Usb usb;
  usb.stats = &usbip_stats;
  usb.metrics = &metrics;
  if (!StartUsb(node, advertise, *transport, usb)) return 1;
  if (usb.service) builder.RegisterService(usb.service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  absl::Status listening = server ? grpc_port->Start() : absl::InternalError("gRPC did not start");
  if (!listening.ok()) {
    berth::log::Error(berth::log::Str("cannot listen on ", absl::GetFlag(FLAGS_listen), ": ",
                                      listening.message()));
    return 1;
  }
  // One registration per controller, each on its own thread: a paused or dead controller
  // cannot delay the heartbeats the others (the leader among them) receive.
  std::vector<std::unique_ptr<ba::Registration>> registrations;
  for (const std::string& controller : absl::GetFlag(FLAGS_controller)) {
    registrations.push_back(std::make_unique<ba::Registration>(controller, node, advertise,
                                                               transport->ChannelCredentials()));
    registrations.back()->Start();
  }
  berth::log::Info(berth::log::Str("exports on https://", (*export_server)->ListenAddress()));
  berth::log::Info(berth::log::Str("node ", node, " listening on ", absl::GetFlag(FLAGS_listen),
                                   " with ", pools.size(), " pool(s)"));
  std::unique_ptr<berth::metrics::MetricsServer> metrics_server;
  if (std::string l = absl::GetFlag(FLAGS_metrics_listen); !l.empty()) {
    auto started = berth::metrics::MetricsServer::Start(
        l, metrics, nullptr, LimitsFor("metrics", berth::metrics::MetricsServer::DefaultLimits()),
        &metrics);
    if (!started.ok()) {
      berth::log::Error(berth::log::Str(started.status()));
      return 1;
    }
    metrics_server = *std::move(started);
    berth::log::Info(berth::log::Str("metrics on http://", metrics_server->address(), "/metrics"));
  }
  berth::NotifyReady("node " + node + " listening on " + absl::GetFlag(FLAGS_listen));
  berth::WatchdogPinger watchdog;
  int sig = 0;
  sigwait(&signals, &sig);
  berth::NotifyStopping();
  berth::log::Info(berth::log::Str("signal ", sig, ", shutting down"));
  for (auto& r : registrations) r->Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}

// berth-agent: the privileged per-node daemon. Serves storage pools to the controller.
#include <signal.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "berth/agent/agent_service.h"
#include "berth/agent/export_server.h"
#include "berth/agent/guest.h"
#include "berth/agent/hypervisor.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, node_name, "", "this node's name (default: the host name)");
ABSL_FLAG(std::string, listen, "127.0.0.1:7444", "address:port the agent API listens on");
ABSL_FLAG(std::string, advertise, "", "address:port the controller dials (default: --listen)");
ABSL_FLAG(std::string, controller, "127.0.0.1:7443", "controller address:port");
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

namespace ba = berth::agent;

namespace {

bool OpenPools(ba::PoolMap& pools) {
  for (const std::string& entry : absl::GetFlag(FLAGS_pools)) {
    std::vector<std::string> parts = absl::StrSplit(entry, absl::MaxSplits(':', 2));
    if (parts.size() != 3 || parts[0].empty()) {
      std::cerr << "berth-agent: --pools: bad entry \"" << entry << "\" (want NAME:TYPE:PATH)\n";
      return false;
    }
    auto backend = ba::OpenStorageBackend(parts[1], parts[2]);
    if (!backend.ok()) {
      std::cerr << "berth-agent: pool " << parts[0] << ": " << backend.status() << "\n";
      return false;
    }
    pools[parts[0]] = *std::move(backend);
  }
  return true;
}

// Owns what the guest RPCs run on. Without libvirt, guests stay unavailable (VM RPCs say why).
struct Guests {
  std::unique_ptr<ba::Hypervisor> hypervisor;
  std::unique_ptr<ba::GuestAgent> agent;
  std::unique_ptr<ba::Freezer> freezer;
  ba::GuestServices services;
};

// Returns false on a bad flag; a libvirt that cannot be reached only disables VM support.
bool StartGuests(const berth::Clock& clock, Guests& g) {
  g.services.state_dir = absl::GetFlag(FLAGS_state_dir);
  g.services.debug_hold_freeze = absl::Milliseconds(absl::GetFlag(FLAGS_debug_hold_freeze_ms));
  std::string uri = absl::GetFlag(FLAGS_libvirt_uri);
  auto hv = ba::NewLibvirtHypervisor(uri, absl::GetFlag(FLAGS_accelerator),
                                     absl::GetFlag(FLAGS_kvm_probe_kernel));
  if (absl::IsInvalidArgument(hv.status())) {
    std::cerr << "berth-agent: " << hv.status() << "\n";
    return false;
  }
  if (!hv.ok()) {
    g.services.unavailable_reason = std::string(hv.status().message());
    std::cerr << "berth-agent: WARNING: running without VM support: " << hv.status() << "\n";
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
    std::cerr << "berth-agent: WARNING: freeze recovery incomplete (retrying in the "
              << "background): " << recovered << "\n";
  }
  g.services.hypervisor = g.hypervisor.get();
  g.services.agent = g.agent.get();
  g.services.freezer = g.freezer.get();
  std::cerr << "berth-agent: guests via " << uri << ", accelerator " << g.hypervisor->Accelerator()
            << ", auto-thaw after " << absl::GetFlag(FLAGS_auto_thaw_seconds) << "s\n";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("berth-agent --node_name=NAME --pools=NAME:TYPE:PATH,...");
  absl::ParseCommandLine(argc, argv);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::string node = absl::GetFlag(FLAGS_node_name);
  if (node.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    node = host;
  }
  ba::PoolMap pools;
  if (!OpenPools(pools)) return 1;
  berth::RealClock clock;
  Guests guests;
  if (!StartGuests(clock, guests)) return 1;
  auto service = ba::NewNodeAgentService(node, pools, guests.services);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
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
  auto export_server = ba::NewExportServer(export_config, pools, export_clock);
  if (!export_server.ok()) {
    std::cerr << "berth-agent: " << export_server.status() << "\n";
    return 1;
  }
  std::unique_ptr<grpc::Service> export_service = ba::NewNodeExportService(**export_server);
  builder.RegisterService(export_service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "berth-agent: cannot listen on " << absl::GetFlag(FLAGS_listen) << "\n";
    return 1;
  }
  std::string advertise = absl::GetFlag(FLAGS_advertise);
  if (advertise.empty()) advertise = absl::GetFlag(FLAGS_listen);
  ba::Registration registration(absl::GetFlag(FLAGS_controller), node, advertise);
  registration.Start();
  std::cerr << "berth-agent: exports on https://" << (*export_server)->ListenAddress() << "\n";
  std::cerr << "berth-agent: node " << node << " listening on " << absl::GetFlag(FLAGS_listen)
            << " with " << pools.size() << " pool(s)\n";
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "berth-agent: signal " << sig << ", shutting down\n";
  registration.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}

// The agent's settings: one plain struct holding the value of every berth-agent flag. Read
// from the command line once, by AgentOptionsFromFlags(), and handed to AgentServer::Create;
// nothing else reads flags. The defaults here are the flags' defaults.
#ifndef BERTH_AGENT_SERVER_AGENT_OPTIONS_H_
#define BERTH_AGENT_SERVER_AGENT_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/log.h"

namespace berth::agent {

struct AgentOptions {
  // Identity and the agent API (--node_name, --listen, --advertise, --controller).
  std::string node_name;  // empty: the host name
  std::string listen = "127.0.0.1:7444";
  std::string advertise;  // empty: `listen`
  std::vector<std::string> controllers = {"127.0.0.1:7443"};
  // Exactly one of the two (--tls_dir, --insecure); checked by AgentServer::Create.
  std::string tls_dir;
  bool insecure = false;
  // NAME:TYPE:PATH entries as given (--pools); parsed by AgentServer::Create.
  std::vector<std::string> pools;

  // Guests (--libvirt_uri, --accelerator, --kvm_probe_kernel, --state_dir, ...).
  std::string libvirt_uri = "qemu:///system";
  std::string migration_uri;  // this libvirtd for other nodes' hypervisors; empty: no migrations
  std::string accelerator = "auto";
  std::string kvm_probe_kernel;
  std::string state_dir = "/var/lib/berth/agent";
  int auto_thaw_seconds = 10;
  int debug_hold_freeze_ms = 0;

  // Exports, metrics, listeners, logging.
  std::string export_listen;  // empty: `listen`'s host, a free port
  std::string export_public_address;
  std::string export_cert;
  std::string export_key;
  std::string metrics_listen;   // empty: no metrics server
  std::string listener_limits;  // NAME.KEY=VALUE,... (--listener_limits)
  log::Format log_format = log::Format::kText;
  int verbosity = 0;  // --v

  // USB (--usb, --usbip_listen, --usbip_peers, --usbip_linux_listen, ...).
  bool usb = true;
  std::string usbip_listen;  // empty: `listen`'s host, a free port
  std::vector<std::string> usbip_peers;
  std::string usbip_linux_listen;
  bool usbip_linux_allow_any = false;
  std::string vhci_dir = "/sys/devices/platform/vhci_hcd.0";
  std::string usb_guest_attach = "libvirt";
};

// Reads every berth-agent flag (call after absl::ParseCommandLine). InvalidArgument for a
// --log_format that is not text, logfmt or json (the only flag checked before logging starts;
// the others are checked by AgentServer::Create).
absl::StatusOr<AgentOptions> AgentOptionsFromFlags();

}  // namespace berth::agent

#endif  // BERTH_AGENT_SERVER_AGENT_OPTIONS_H_

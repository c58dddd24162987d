// Every berth-agent flag, read in one place (AgentOptionsFromFlags). Defaults come from
// AgentOptions so the struct and the command line agree.
#include "server/agent_options.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"

using berth::agent::AgentOptions;

ABSL_FLAG(std::string, node_name, "", "this node's name (default: the host name)");
ABSL_FLAG(std::string, listen, AgentOptions().listen, "address:port the agent API listens on");
ABSL_FLAG(std::string, advertise, "", "address:port the controller dials (default: --listen)");
ABSL_FLAG(std::vector<std::string>, controller, AgentOptions().controllers,
          "controller address:port; several (comma-separated) for an HA control plane: the agent "
          "registers with and heartbeats every one, so whichever leads sees it");
ABSL_FLAG(std::string, tls_dir, "",
          "directory with ca.crt, tls.crt, tls.key (an agent certificate, O=berth:agents, CN=the "
          "node name) for mutual TLS on every connection; `scripts/certs agent` creates it");
ABSL_FLAG(bool, insecure, false,
          "plaintext and unauthenticated connections (tests only; excludes --tls_dir)");
ABSL_FLAG(std::vector<std::string>, pools, {},
          "storage pools as NAME:TYPE:PATH, comma-separated; TYPE is reflink, btrfs or copy");

ABSL_FLAG(std::string, libvirt_uri, AgentOptions().libvirt_uri, "libvirt connection for guests");
ABSL_FLAG(std::string, migration_uri, "",
          "this node's libvirtd as other nodes' hypervisors reach it for live migration, e.g. "
          "qemu+tls://node-2/system (empty: no migrations to this node)");
ABSL_FLAG(std::string, accelerator, AgentOptions().accelerator,
          "guest accelerator: auto (KVM if a kernel boots under it here, else TCG), kvm or qemu");
ABSL_FLAG(std::string, kvm_probe_kernel, "",
          "kernel that --accelerator=auto boots under KVM to see whether KVM works (default: "
          "the newest /boot/vmlinuz-*)");
ABSL_FLAG(std::string, state_dir, AgentOptions().state_dir,
          "agent state: freeze crash journal, cloud-init seeds, guest console logs");
ABSL_FLAG(int, auto_thaw_seconds, AgentOptions().auto_thaw_seconds,
          "thaw a frozen guest after this long whatever happens");
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
ABSL_FLAG(std::string, vhci_dir, AgentOptions().vhci_dir,
          "vhci_hcd sysfs directory used to attach devices imported from other nodes");
ABSL_FLAG(std::string, usb_guest_attach, AgentOptions().usb_guest_attach,
          "how attached USB devices reach guests: libvirt (hostdev hot-plug) or none (stop at "
          "the host: vhci port / local device only)");

namespace berth::agent {

absl::StatusOr<AgentOptions> AgentOptionsFromFlags() {
  AgentOptions o;
  o.node_name = absl::GetFlag(FLAGS_node_name);
  o.listen = absl::GetFlag(FLAGS_listen);
  o.advertise = absl::GetFlag(FLAGS_advertise);
  o.controllers = absl::GetFlag(FLAGS_controller);
  o.tls_dir = absl::GetFlag(FLAGS_tls_dir);
  o.insecure = absl::GetFlag(FLAGS_insecure);
  o.pools = absl::GetFlag(FLAGS_pools);

  o.libvirt_uri = absl::GetFlag(FLAGS_libvirt_uri);
  o.migration_uri = absl::GetFlag(FLAGS_migration_uri);
  o.accelerator = absl::GetFlag(FLAGS_accelerator);
  o.kvm_probe_kernel = absl::GetFlag(FLAGS_kvm_probe_kernel);
  o.state_dir = absl::GetFlag(FLAGS_state_dir);
  o.auto_thaw_seconds = absl::GetFlag(FLAGS_auto_thaw_seconds);
  o.debug_hold_freeze_ms = absl::GetFlag(FLAGS_debug_hold_freeze_ms);

  o.export_listen = absl::GetFlag(FLAGS_export_listen);
  o.export_public_address = absl::GetFlag(FLAGS_export_public_address);
  o.export_cert = absl::GetFlag(FLAGS_export_cert);
  o.export_key = absl::GetFlag(FLAGS_export_key);
  o.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  o.listener_limits = absl::GetFlag(FLAGS_listener_limits);
  absl::StatusOr<log::Format> format = log::ParseFormat(absl::GetFlag(FLAGS_log_format));
  if (!format.ok()) return format.status();
  o.log_format = *format;
  o.verbosity = absl::GetFlag(FLAGS_v);

  o.usb = absl::GetFlag(FLAGS_usb);
  o.usbip_listen = absl::GetFlag(FLAGS_usbip_listen);
  o.usbip_peers = absl::GetFlag(FLAGS_usbip_peers);
  o.usbip_linux_listen = absl::GetFlag(FLAGS_usbip_linux_listen);
  o.usbip_linux_allow_any = absl::GetFlag(FLAGS_usbip_linux_allow_any);
  o.vhci_dir = absl::GetFlag(FLAGS_vhci_dir);
  o.usb_guest_attach = absl::GetFlag(FLAGS_usb_guest_attach);
  return o;
}

}  // namespace berth::agent

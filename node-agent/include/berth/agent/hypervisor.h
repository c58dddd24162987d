#ifndef BERTH_AGENT_HYPERVISOR_H_
#define BERTH_AGENT_HYPERVISOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace berth::agent {

struct DiskAttachment {
  std::string path;    // raw image on this node
  std::string target;  // vda, vdb, ...
  bool read_only = false;
};

// What the agent asks libvirt to run. Names are unique per node.
struct DomainSpec {
  std::string name;  // libvirt domain name, e.g. "berth-default-linux-vm"
  std::string uuid;  // the VirtualMachine's uid
  int vcpus = 1;
  uint64_t memory_bytes = 256ull << 20;
  std::vector<DiskAttachment> disks;
  // Direct kernel boot (used by test guests); empty kernel: boot from the first disk.
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  std::string cloud_init_iso;  // NoCloud seed image (volume label "cidata"); empty: none
  std::string serial_log;      // file receiving the serial console; empty: none
  std::string mac_address;     // empty: no network interface
};

enum class DomainState { kNotFound, kRunning, kPaused, kShutoff, kShuttingDown, kCrashed, kOther };

const char* DomainStateName(DomainState s);

// Runs guests. Every domain gets the virtio-serial channel org.qemu.guest_agent.0.
// Thread-safe.
class Hypervisor {
 public:
  virtual ~Hypervisor() = default;
  // Defines (or redefines) a persistent domain from `spec`. A running domain keeps running with
  // its old definition until restarted.
  virtual absl::Status Define(const DomainSpec& spec) = 0;
  virtual absl::Status Start(const std::string& name) = 0;
  // Asks the guest to power off (ACPI); Destroy pulls the plug. Both are no-ops when shut off.
  virtual absl::Status Shutdown(const std::string& name) = 0;
  virtual absl::Status Destroy(const std::string& name) = 0;
  // Removes the definition (destroying a running domain first). No-op when absent.
  virtual absl::Status Undefine(const std::string& name) = 0;
  virtual absl::StatusOr<DomainState> State(const std::string& name) = 0;
  // Sends one guest-agent command (QGA JSON, e.g. {"execute":"guest-ping"}) and returns the
  // reply JSON text. Unavailable when the agent does not answer within `timeout`;
  // FailedPrecondition when the domain is not running; the guest agent's own error becomes
  // Internal with its `desc` text.
  virtual absl::StatusOr<std::string> AgentCommand(const std::string& name,
                                                   const std::string& command_json,
                                                   absl::Duration timeout) = 0;
  // Returns "kvm" or "qemu" (TCG): what new domains use.
  virtual std::string Accelerator() const = 0;
};

// Connects to libvirt at `uri` (e.g. qemu:///system). With accelerator "auto", detects whether
// KVM really works by booting `probe_kernel` (default: the newest /boot/vmlinuz-*) under it; a
// kernel that hangs on KVM counts as not working. "kvm" or "qemu" force one.
absl::StatusOr<std::unique_ptr<Hypervisor>> NewLibvirtHypervisor(
    const std::string& uri, const std::string& accelerator, const std::string& probe_kernel = "");

}  // namespace berth::agent

#endif  // BERTH_AGENT_HYPERVISOR_H_

#ifndef BERTH_AGENT_HYPERVISOR_H_
#define BERTH_AGENT_HYPERVISOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
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

// A live migration with storage copy (libvirt peer-to-peer: this node's libvirtd connects to the
// target's and mirrors every writable disk to it over NBD while the guest runs).
struct MigrationParams {
  std::string dest_uri;  // the target hypervisor as this node's libvirtd reaches it
  // Paths in the domain's definition replaced on the target (disks, seed image, console log).
  std::vector<std::pair<std::string, std::string>> rewrites;
  absl::Duration max_downtime = absl::Milliseconds(300);
};

// A migration job's figures (libvirt's job stats); all zero when no job runs.
struct MigrationProgress {
  bool active = false;
  uint64_t data_total = 0;  // bytes: memory plus disks
  uint64_t data_processed = 0;
  uint64_t data_remaining = 0;
  uint64_t downtime_ms = 0;  // completed jobs: how long the guest was paused
  uint64_t elapsed_ms = 0;
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
  // Migrates the running domain live to `p.dest_uri` with its writable disks copied, defining
  // it there and undefining it here on success; returns the finished job's figures (with the
  // guest's real downtime). Blocks until the migration ends; Aborted when AbortMigration
  // cancelled it. The guest keeps running here on any failure.
  virtual absl::StatusOr<MigrationProgress> Migrate(const std::string& name,
                                                    const MigrationParams& p) {
    return absl::UnimplementedError("this hypervisor cannot migrate " + name);
  }
  // The running migration job's figures, or with `completed` the last finished job's (on the
  // target: the incoming migration, with its downtime).
  virtual absl::StatusOr<MigrationProgress> Progress(const std::string& name, bool completed) {
    return absl::UnimplementedError("this hypervisor cannot migrate " + name);
  }
  virtual absl::Status AbortMigration(const std::string& name) {
    return absl::UnimplementedError("this hypervisor cannot migrate " + name);
  }
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

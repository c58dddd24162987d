#ifndef BERTH_CONTROLLER_CONTROLLERS_H_
#define BERTH_CONTROLLER_CONTROLLERS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/object_store.h"
#include "berth/controller/reconciler.h"
#include "berth/time_util.h"

namespace berth::controller {

class ExportAgents;  // berth/controller/data_export.h
class UsbAgents;     // berth/controller/usb.h

struct ControllerConfig {
  // Storage class name -> pool name that agents serve.
  std::map<std::string, std::string> storage_classes;
  std::string default_storage_class;
  absl::Duration heartbeat_interval = absl::Seconds(2);
  // A node is NotReady when no heartbeat arrived for this long.
  absl::Duration heartbeat_grace = absl::Seconds(8);
  // How often a Ready snapshot's node-side data is checked (to report Lost).
  absl::Duration lost_check_interval = absl::Seconds(20);
  // How long an ACPI shutdown may take before the VM's power is cut.
  absl::Duration vm_stop_grace = absl::Seconds(30);
  // How often a running VM's guest agent and addresses are looked at.
  absl::Duration vm_poll_interval = absl::Seconds(3);
  // Pool that VirtualMachineIPAddress objects of type Auto are allocated from.
  std::string ip_cidr = "10.66.0.0/16";
  // Agents' NodeExport service, for uploads (VirtualDisk/VirtualImage dataSource Upload).
  // Not owned; null disables uploads.
  ExportAgents* export_agents = nullptr;
  // Agents' NodeUSB service, for VM spec.usbDevices (berth/controller/usb.h). Not owned; null
  // reports every USB device unattached.
  UsbAgents* usb_agents = nullptr;
  // Idle time after which an unfinished upload expires.
  absl::Duration upload_ttl = absl::Minutes(10);
  // URL of the Kubernetes REST API (https://HOST:PORT), told to clients by WhoAmI so that
  // `berth kubeconfig` can write it; empty when that API is off.
  std::string kube_api_url;
};

// Remembers when each node last sent a heartbeat. In memory only: after a controller restart
// nodes count as NotReady until their next heartbeat. Thread-safe.
class NodeTracker {
 public:
  explicit NodeTracker(const Clock& clock) : clock_(clock) {}
  void Beat(const std::string& node) {
    absl::MutexLock l(&mu_);
    last_[node] = clock_.Now();
    ++beats_[node];
  }
  // Returns heartbeats received per node since start (for metrics).
  std::map<std::string, uint64_t> BeatCounts() const {
    absl::MutexLock l(&mu_);
    return beats_;
  }
  // Returns InfinitePast for a node never heard from.
  absl::Time LastBeat(const std::string& node) const {
    absl::MutexLock l(&mu_);
    auto it = last_.find(node);
    return it == last_.end() ? absl::InfinitePast() : it->second;
  }

 private:
  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, absl::Time> last_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> beats_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<Reconciler> NewNodeReconciler(ObjectStore& store, AgentDirectory& agents,
                                              NodeTracker& tracker, const Clock& clock,
                                              const ControllerConfig& config);
std::unique_ptr<Reconciler> NewVirtualDiskReconciler(ObjectStore& store, AgentDirectory& agents,
                                                     const Clock& clock,
                                                     const ControllerConfig& config);
std::unique_ptr<Reconciler> NewVirtualDiskSnapshotReconciler(ObjectStore& store,
                                                             AgentDirectory& agents,
                                                             const Clock& clock,
                                                             const ControllerConfig& config);

std::unique_ptr<Reconciler> NewVirtualMachineReconciler(ObjectStore& store, AgentDirectory& agents,
                                                        const Clock& clock,
                                                        const ControllerConfig& config);
std::unique_ptr<Reconciler> NewVirtualMachineOperationReconciler(ObjectStore& store,
                                                                 const Clock& clock);
// VirtualMachineSnapshotOperation CreateVirtualMachine (docs/restore-clone.md).
std::unique_ptr<Reconciler> NewVirtualMachineSnapshotOperationReconciler(ObjectStore& store,
                                                                         const Clock& clock);
std::unique_ptr<Reconciler> NewVirtualMachineSnapshotReconciler(ObjectStore& store,
                                                                AgentDirectory& agents,
                                                                const Clock& clock);
std::unique_ptr<Reconciler> NewIPAddressReconciler(ObjectStore& store, const Clock& clock,
                                                   const ControllerConfig& config);
std::unique_ptr<Reconciler> NewMACAddressReconciler(ObjectStore& store, const Clock& clock);

// Disk export and upload (docs/export.md).
std::unique_ptr<Reconciler> NewDataExportReconciler(ObjectStore& store, ExportAgents& exports,
                                                    const Clock& clock);
std::unique_ptr<Reconciler> NewVirtualImageReconciler(ObjectStore& store, AgentDirectory& agents,
                                                      const Clock& clock,
                                                      const ControllerConfig& config);
std::unique_ptr<Reconciler> NewClusterVirtualImageReconciler(ObjectStore& store,
                                                             AgentDirectory& agents,
                                                             const Clock& clock,
                                                             const ControllerConfig& config);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_H_

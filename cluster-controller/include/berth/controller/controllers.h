#ifndef BERTH_CONTROLLER_CONTROLLERS_H_
#define BERTH_CONTROLLER_CONTROLLERS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/object_store.h"
#include "berth/controller/reconciler.h"
#include "berth/time_util.h"

namespace berth::controller {

class ExportAgents;  // berth/controller/data_export.h
class UsbAgents;     // berth/controller/usb.h

// The controller's settings: values only. What reconcilers talk to is in ReconcilerDeps.
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
  // How often the NodeUSBDevice reconciler polls each Ready node's USB devices.
  absl::Duration usb_poll_interval = absl::Seconds(1);
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

// What every reconciler is built from: the settings and the services it talks to. None is
// owned; each must outlive the reconcilers.
struct ReconcilerDeps {
  ObjectStore& store;
  AgentDirectory& agents;  // the agents' NodeAgent service
  const Clock& clock;
  const ControllerConfig& config;
  NodeTracker& tracker;  // heartbeats (Node reconciler)
  // Agents' NodeExport service, for exports and uploads (VirtualDisk/VirtualImage dataSource
  // Upload). Null disables uploads; the DataExport reconciler requires it.
  ExportAgents* exports = nullptr;
  // Agents' NodeUSB service, for VM spec.usbDevices (berth/controller/usb.h). Null reports every
  // USB device unattached; the NodeUSBDevice reconciler requires it.
  UsbAgents* usb = nullptr;
};

// One signature for every reconciler's factory.
using ReconcilerFactory = std::unique_ptr<Reconciler> (*)(const ReconcilerDeps&);

std::unique_ptr<Reconciler> NewNodeReconciler(const ReconcilerDeps& deps);
std::unique_ptr<Reconciler> NewVirtualDiskReconciler(const ReconcilerDeps& deps);
std::unique_ptr<Reconciler> NewVirtualDiskSnapshotReconciler(const ReconcilerDeps& deps);
std::unique_ptr<Reconciler> NewVirtualMachineReconciler(const ReconcilerDeps& deps);
std::unique_ptr<Reconciler> NewVirtualMachineOperationReconciler(const ReconcilerDeps& deps);
// VirtualMachineSnapshotOperation CreateVirtualMachine (docs/restore-clone.md).
std::unique_ptr<Reconciler> NewVirtualMachineSnapshotOperationReconciler(
    const ReconcilerDeps& deps);
std::unique_ptr<Reconciler> NewVirtualMachineSnapshotReconciler(const ReconcilerDeps& deps);
std::unique_ptr<Reconciler> NewIPAddressReconciler(const ReconcilerDeps& deps);
std::unique_ptr<Reconciler> NewMACAddressReconciler(const ReconcilerDeps& deps);
// Disk export and upload (docs/export.md). Requires deps.exports.
std::unique_ptr<Reconciler> NewDataExportReconciler(const ReconcilerDeps& deps);
std::unique_ptr<Reconciler> NewVirtualImageReconciler(const ReconcilerDeps& deps);
std::unique_ptr<Reconciler> NewClusterVirtualImageReconciler(const ReconcilerDeps& deps);
// berth/controller/usb.h. Requires deps.usb.
std::unique_ptr<Reconciler> NewNodeUSBDeviceReconciler(const ReconcilerDeps& deps);

// The factories of every reconciler the controller runs. Those whose service is null in `deps`
// (exports, usb) are left out.
std::vector<std::unique_ptr<Reconciler>> NewReconcilers(const ReconcilerDeps& deps);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_H_

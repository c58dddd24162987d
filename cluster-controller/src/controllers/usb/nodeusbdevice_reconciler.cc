// NodeUSBDevice: discovery sync per node, then per device the Assigned condition, the USBDevice
// it owns in spec.assignedNamespace, and Ready/Attached mirrored into that USBDevice.
//
// Two kinds of keys reach this reconciler: real objects ("NodeUSBDevice//NAME") and one
// synthetic key per node ("NodeUSBDevice//node:NODE", from Node events) whose pass asks the
// node's agent for its devices, creates and updates NodeUSBDevice objects, marks vanished ones
// NotFound, tells the agent which devices to export, and polls again after `poll`.
// The state machine is usb_machine.h; this file observes, acts and stores.
#include <set>

#include "absl/strings/match.h"
#include "berth/controller/controllers.h"
#include "berth/controller/usb.h"
#include "berth/status_macros.h"
#include "controllers/usb/usb_machine.h"

namespace berth::controller {
namespace {

constexpr char kNodeKeyPrefix[] = "node:";

class NodeUSBDeviceReconciler : public Reconciler {
 public:
  NodeUSBDeviceReconciler(ObjectStore& store, UsbAgents& agents, const Clock& clock,
                          absl::Duration poll)
      : store_(store), agents_(agents), clock_(clock), poll_(poll) {}

  std::string Kind() const override { return kinds::kNodeUSBDevice; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    types::VirtualMachine obj(event.object());  // any kind: metadata and kind are read first
    std::string kind = obj.kind();
    if (kind == kinds::kNode) {
      return {ObjectKey{kinds::kNodeUSBDevice, "", kNodeKeyPrefix + obj.name()}};
    }
    if (kind == kinds::kUSBDevice) return {ObjectKey{kinds::kNodeUSBDevice, "", obj.name()}};
    std::vector<ObjectKey> keys;
    if (kind == kinds::kVirtualMachine) {
      for (const types::VirtualMachineSpecUsbDevice& d : obj.spec().usb_devices()) {
        if (d.json().is_object()) keys.push_back(ObjectKey{kinds::kNodeUSBDevice, "", d.name()});
      }
      for (const Json& d : obj.status().usb_devices()) {
        if (d.is_object()) {
          keys.push_back(ObjectKey{kinds::kNodeUSBDevice, "", d.value("name", "")});
        }
      }
    }
    return keys;
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    if (absl::StartsWith(key.name, kNodeKeyPrefix)) {
      return SyncNode(key.name.substr(sizeof(kNodeKeyPrefix) - 1));
    }
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    return ReconcileDevice(*std::move(got));
  }

 private:
  absl::StatusOr<ReconcileResult> SyncNode(const std::string& node);
  absl::StatusOr<ReconcileResult> ReconcileDevice(const Json& dev);
  // The status.usbDevices entries naming `name` in the VMs of `ns`.
  absl::StatusOr<std::vector<usb::VmUsbUse>> Uses(const std::string& ns, const std::string& name);
  // Creates or updates the USBDevice in `ns` that mirrors `dev` with `status`.
  absl::Status Mirror(const types::NodeUSBDevice& dev, const std::string& ns, const Json& status);

  ObjectStore& store_;
  UsbAgents& agents_;
  const Clock& clock_;
  const absl::Duration poll_;
};

absl::StatusOr<ReconcileResult> NodeUSBDeviceReconciler::SyncNode(const std::string& node) {
  auto node_obj = store_.Peek(ObjectKey{kinds::kNode, "", node});
  if (absl::IsNotFound(node_obj.status())) return ReconcileResult{};
  if (!node_obj.ok()) return node_obj.status();
  // An unreachable node is not evidence that its devices are gone: leave them as they are.
  if (!types::Node(**node_obj).status().conditions().IsTrue(controller::node::kReady)) {
    return ReconcileResult{usb::kNodeNotReadyPoll};
  }
  auto list = agents_.ListDevices(node);
  if (absl::IsUnimplemented(list.status())) return ReconcileResult{};  // agent without USB
  if (!list.ok()) return ReconcileResult{usb::kNodeNotReadyPoll};
  absl::Time now = clock_.Now();
  std::set<std::string> seen;
  for (const agentpb::UsbDeviceAttributes& d : list->devices()) {
    seen.insert(d.name());
    auto obj = store_.Get(ObjectKey{kinds::kNodeUSBDevice, "", d.name()});
    if (absl::IsNotFound(obj.status())) {
      Json fresh = usb::NewNodeUsbDevice(d.name(), node);
      obj = store_.Create(fresh);
      if (absl::IsAlreadyExists(obj.status())) obj = store_.Get(ObjectKey::Of(fresh));
    }
    if (!obj.ok()) return obj.status();
    Json status = usb::Discovered(types::NodeUSBDevice(*obj), d, node, list->usbip_address(), now);
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, *obj, std::move(status)).status());
  }
  BERTH_ASSIGN_OR_RETURN(std::vector<Json> all, store_.List(kinds::kNodeUSBDevice, ""));
  std::vector<std::string> exports;
  for (const Json& obj : all) {
    types::NodeUSBDevice dev(obj);
    if (dev.status().node_name() != node) continue;
    if (seen.count(dev.name()) == 0) {
      BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, usb::Vanished(dev, node, now)).status());
    } else if (!dev.spec().assigned_namespace().empty()) {
      exports.push_back(dev.status().bus_id());
    }
  }
  if (usb::ExportsChanged(*list, exports)) {
    BERTH_RETURN_IF_ERROR(agents_.SetExports(node, exports).status());
  }
  return ReconcileResult{poll_};
}

absl::StatusOr<std::vector<usb::VmUsbUse>> NodeUSBDeviceReconciler::Uses(const std::string& ns,
                                                                         const std::string& name) {
  if (ns.empty()) return std::vector<usb::VmUsbUse>();
  BERTH_ASSIGN_OR_RETURN(std::vector<Json> vms, store_.List(kinds::kVirtualMachine, ns));
  return usb::UsesOf(vms, name);
}

// Observe the VMs using the device -> PlanLeave / PlanAssign -> mirror or release -> store.
absl::StatusOr<ReconcileResult> NodeUSBDeviceReconciler::ReconcileDevice(const Json& obj) {
  types::NodeUSBDevice dev(obj);
  absl::Time now = clock_.Now();
  Json status = usb::Initial(dev, now);
  // Leaving the old namespace first: refused while a VM there has the device attached.
  if (usb::Leaving(dev)) {
    const std::string have = dev.status().assigned_namespace();
    BERTH_ASSIGN_OR_RETURN(auto old_uses, Uses(have, dev.name()));
    usb::DeviceStep leave = usb::PlanLeave(dev, std::move(status), old_uses, now);
    if (leave.action == usb::Action::kMirror) {  // deferred
      BERTH_RETURN_IF_ERROR(Mirror(dev, leave.ns, *leave.status));
      BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, leave).status());
      return leave.Result();
    }
    auto del = store_.Delete(ObjectKey{kinds::kUSBDevice, leave.ns, dev.name()});
    if (!del.ok() && !absl::IsNotFound(del.status())) return del.status();
    status = *std::move(leave.status);
  }
  BERTH_ASSIGN_OR_RETURN(auto uses, Uses(dev.spec().assigned_namespace(), dev.name()));
  usb::DeviceStep assign = usb::PlanAssign(dev, std::move(status), uses, now);
  if (assign.action == usb::Action::kMirror) {
    BERTH_RETURN_IF_ERROR(Mirror(dev, assign.ns, *assign.status));
  }
  BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, assign).status());
  return assign.Result();
}

absl::Status NodeUSBDeviceReconciler::Mirror(const types::NodeUSBDevice& dev, const std::string& ns,
                                             const Json& status) {
  auto obj = store_.Get(ObjectKey{kinds::kUSBDevice, ns, dev.name()});
  if (absl::IsNotFound(obj.status())) {
    Json fresh = usb::NewUsbDevice(dev, ns);
    obj = store_.Create(fresh);
    if (absl::IsAlreadyExists(obj.status())) obj = store_.Get(ObjectKey::Of(fresh));
  }
  if (!obj.ok()) return obj.status();
  return WriteStatus(store_, *obj, usb::UsbDeviceStatus(status, *obj, clock_.Now())).status();
}

}  // namespace

std::unique_ptr<Reconciler> NewNodeUSBDeviceReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<NodeUSBDeviceReconciler>(deps.store, *deps.usb, deps.clock,
                                                   deps.config.usb_poll_interval);
}

}  // namespace berth::controller

// NodeUSBDevice: discovery sync per node, then per device the Assigned condition, the USBDevice
// it owns in spec.assignedNamespace, and Ready/Attached mirrored into that USBDevice.
//
// Two kinds of keys reach this reconciler: real objects ("NodeUSBDevice//NAME") and one
// synthetic key per node ("NodeUSBDevice//node:NODE", from Node events) whose pass asks the
// node's agent for its devices, creates and updates NodeUSBDevice objects, marks vanished ones
// NotFound, tells the agent which devices to export, and polls again after `poll`.
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/controller/usb.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"
#include "controllers/usb/usb_status.h"

namespace berth::controller {
namespace {

constexpr char kNodeKeyPrefix[] = "node:";
constexpr absl::Duration kNodeNotReadyPoll = absl::Seconds(2);

// The CRD's types: bus, deviceNumber, major and minor are strings there (as in the reference
// platform), so a client that writes the object back passes validation.
Json AttributesFrom(const agentpb::UsbDeviceAttributes& d, const std::string& node) {
  return {{"vendorID", d.vendor_id()},
          {"productID", d.product_id()},
          {"bcd", d.bcd()},
          {"bus", absl::StrCat(d.bus())},
          {"deviceNumber", absl::StrCat(d.device_number())},
          {"serial", d.serial()},
          {"manufacturer", d.manufacturer()},
          {"product", d.product()},
          {"name", d.product().empty() ? d.name() : d.product()},
          {"speed", d.speed()},
          {"devicePath", d.device_path()},
          {"major", absl::StrCat(d.major())},
          {"minor", absl::StrCat(d.minor())},
          {"nodeName", node}};
}

class NodeUSBDeviceReconciler : public Reconciler {
 public:
  NodeUSBDeviceReconciler(ObjectStore& store, UsbAgents& agents, const Clock& clock,
                          absl::Duration poll)
      : store_(store), agents_(agents), clock_(clock), poll_(poll) {}

  std::string Kind() const override { return "NodeUSBDevice"; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    std::string kind = event.object().value("kind", "");
    std::string name = JsonString(event.object(), "/metadata/name");
    if (kind == "Node") return {ObjectKey{"NodeUSBDevice", "", kNodeKeyPrefix + name}};
    if (kind == "USBDevice") return {ObjectKey{"NodeUSBDevice", "", name}};
    std::vector<ObjectKey> keys;
    if (kind == "VirtualMachine") {
      for (const char* path : {"/spec/usbDevices", "/status/usbDevices"}) {
        Json list = JsonAt(event.object(), path);
        if (!list.is_array()) continue;
        for (const Json& d : list) {
          if (d.is_object()) keys.push_back(ObjectKey{"NodeUSBDevice", "", d.value("name", "")});
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
  absl::StatusOr<ReconcileResult> ReconcileDevice(Json dev);
  // Returns the VMs of `ns` whose status lists `name`.
  absl::StatusOr<std::vector<VmUsbUse>> Uses(const std::string& ns, const std::string& name);
  absl::Status EnsureUsbDevice(const Json& dev, const std::string& ns, const Json& status);

  ObjectStore& store_;
  UsbAgents& agents_;
  const Clock& clock_;
  const absl::Duration poll_;
};

absl::StatusOr<ReconcileResult> NodeUSBDeviceReconciler::SyncNode(const std::string& node) {
  auto node_obj = store_.Get(ObjectKey{"Node", "", node});
  if (absl::IsNotFound(node_obj.status())) return ReconcileResult{};
  if (!node_obj.ok()) return node_obj.status();
  // An unreachable node is not evidence that its devices are gone: leave them as they are.
  if (GetCondition(*node_obj, "Ready").value("status", "") != "True") {
    return ReconcileResult{kNodeNotReadyPoll};
  }
  auto list = agents_.ListDevices(node);
  if (absl::IsUnimplemented(list.status())) return ReconcileResult{};  // agent without USB
  if (!list.ok()) return ReconcileResult{kNodeNotReadyPoll};
  absl::Time now = clock_.Now();
  std::set<std::string> seen;
  for (const agentpb::UsbDeviceAttributes& d : list->devices()) {
    seen.insert(d.name());
    auto obj = store_.Get(ObjectKey{"NodeUSBDevice", "", d.name()});
    if (absl::IsNotFound(obj.status())) {
      Json fresh = {{"apiVersion", kApiVersion},
                    {"kind", "NodeUSBDevice"},
                    {"metadata", {{"name", d.name()}, {"labels", {{kUsbNodeLabel, node}}}}},
                    {"spec", {{"assignedNamespace", ""}}}};
      obj = store_.Create(fresh);
      if (absl::IsAlreadyExists(obj.status())) obj = store_.Get(ObjectKey::Of(fresh));
    }
    if (!obj.ok()) return obj.status();
    Json status = obj->value("status", Json::object());
    status["nodeName"] = node;
    status["attributes"] = AttributesFrom(d, node);
    status["busID"] = d.busid();
    status["usbipAddress"] = list->usbip_address();
    status["speedCode"] = d.speed_code();
    SetCondition(status, "Ready", true, "Ready", "Device is ready to use", *obj, now);
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, *obj, std::move(status)).status());
  }
  BERTH_ASSIGN_OR_RETURN(std::vector<Json> all, store_.List("NodeUSBDevice", ""));
  std::vector<std::string> exports;
  for (const Json& obj : all) {
    if (JsonString(obj, "/status/nodeName") != node) continue;
    std::string name = JsonString(obj, "/metadata/name");
    if (seen.count(name) == 0) {
      Json status = obj.value("status", Json::object());
      SetCondition(status, "Ready", false, "NotFound",
                   absl::StrCat("Device is absent on node ", node), obj, now);
      BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, std::move(status)).status());
    } else if (!JsonString(obj, "/spec/assignedNamespace").empty()) {
      exports.push_back(JsonString(obj, "/status/busID"));
    }
  }
  std::set<std::string> exported_now;
  for (const auto& d : list->devices()) {
    if (d.exported()) exported_now.insert(d.busid());
  }
  if (exported_now != std::set<std::string>(exports.begin(), exports.end())) {
    BERTH_RETURN_IF_ERROR(agents_.SetExports(node, exports).status());
  }
  return ReconcileResult{poll_};
}

absl::StatusOr<std::vector<VmUsbUse>> NodeUSBDeviceReconciler::Uses(const std::string& ns,
                                                                    const std::string& name) {
  std::vector<VmUsbUse> uses;
  if (ns.empty()) return uses;
  BERTH_ASSIGN_OR_RETURN(std::vector<Json> vms, store_.List("VirtualMachine", ns));
  for (const Json& vm : vms) {
    Json entries = JsonAt(vm, "/status/usbDevices");
    if (!entries.is_array()) continue;
    for (const Json& e : entries) {
      if (e.value("name", "") == name) {
        uses.push_back({JsonString(vm, "/metadata/name"), e});
      }
    }
  }
  return uses;
}

absl::StatusOr<ReconcileResult> NodeUSBDeviceReconciler::ReconcileDevice(Json dev) {
  std::string name = JsonString(dev, "/metadata/name");
  std::string want_ns = JsonString(dev, "/spec/assignedNamespace");
  std::string have_ns = JsonString(dev, "/status/assignedNamespace");
  absl::Time now = clock_.Now();
  Json status = dev.value("status", Json::object());
  if (!GetCondition(dev, "Ready").contains("status")) {
    SetCondition(status, "Ready", false, "NotReady", "Waiting for the node to report the device",
                 dev, now);
  }
  // Leaving the old namespace first: refused while a VM there has the device attached.
  if (!have_ns.empty() && have_ns != want_ns) {
    BERTH_ASSIGN_OR_RETURN(auto old_uses, Uses(have_ns, name));
    std::string holder = AttachedHolder(old_uses);
    if (!holder.empty()) {
      SetCondition(status, "Assigned", true, "InProgress",
                   absl::StrCat("Unassignment from namespace ", have_ns,
                                " is deferred: the device is attached to VirtualMachine ", holder,
                                "; remove it from the VM's spec.usbDevices first"),
                   dev, now);
      ApplyAttached(status, dev, old_uses, now);
      BERTH_RETURN_IF_ERROR(EnsureUsbDevice(dev, have_ns, status));
      BERTH_RETURN_IF_ERROR(WriteStatus(store_, dev, std::move(status)).status());
      return ReconcileResult{};
    }
    auto del = store_.Delete(ObjectKey{"USBDevice", have_ns, name});
    if (!del.ok() && !absl::IsNotFound(del.status())) return del.status();
    status.erase("assignedNamespace");
    have_ns.clear();
  }
  BERTH_ASSIGN_OR_RETURN(auto uses, Uses(want_ns, name));
  ApplyAttached(status, dev, uses, now);
  if (want_ns.empty()) {
    SetCondition(status, "Assigned", false, "Available", "No namespace is assigned for the device",
                 dev, now);
  } else {
    BERTH_RETURN_IF_ERROR(EnsureUsbDevice(dev, want_ns, status));
    status["assignedNamespace"] = want_ns;
    SetCondition(status, "Assigned", true, "Assigned", "Namespace is assigned for the device", dev,
                 now);
  }
  BERTH_RETURN_IF_ERROR(WriteStatus(store_, dev, std::move(status)).status());
  return ReconcileResult{};
}

absl::Status NodeUSBDeviceReconciler::EnsureUsbDevice(const Json& dev, const std::string& ns,
                                                      const Json& status) {
  std::string name = JsonString(dev, "/metadata/name");
  auto obj = store_.Get(ObjectKey{"USBDevice", ns, name});
  if (absl::IsNotFound(obj.status())) {
    Json fresh = {
        {"apiVersion", kApiVersion},
        {"kind", "USBDevice"},
        {"metadata",
         {{"name", name},
          {"namespace", ns},
          {"labels", {{kUsbNodeLabel, JsonString(dev, "/status/nodeName")}}},
          {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                            {"kind", "NodeUSBDevice"},
                                            {"name", name},
                                            {"uid", JsonString(dev, "/metadata/uid")}}})}}}};
    obj = store_.Create(fresh);
    if (absl::IsAlreadyExists(obj.status())) obj = store_.Get(ObjectKey::Of(fresh));
  }
  if (!obj.ok()) return obj.status();
  return WriteStatus(store_, *obj, UsbDeviceStatus(status, *obj, clock_.Now())).status();
}

}  // namespace

std::unique_ptr<Reconciler> NewNodeUSBDeviceReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<NodeUSBDeviceReconciler>(deps.store, *deps.usb, deps.clock,
                                                   deps.config.usb_poll_interval);
}

}  // namespace berth::controller

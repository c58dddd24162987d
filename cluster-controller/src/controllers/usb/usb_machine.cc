#include "controllers/usb/usb_machine.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"

namespace berth::controller {

namespace usb {

namespace {

// status.usbMigration.phase values (written by a migration; the CRD leaves the object open).
constexpr char kMigrationInProgress[] = "InProgress";
constexpr char kMigrationSucceeded[] = "Succeeded";
constexpr char kMigrationFailed[] = "Failed";

bool EntryAttached(const Json& e) { return e.is_object() && e.value("attached", false); }
std::string EntryString(const Json& e, const char* key) {
  if (!e.is_object()) return "";
  auto it = e.find(key);
  return it != e.end() && it->is_string() ? it->get<std::string>() : "";
}

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

// Sets the Attached condition of a NodeUSBDevice status from its Ready condition and the VMs
// that name the device.
void ApplyAttached(Json& status, const Json& dev, const std::vector<VmUsbUse>& uses,
                   absl::Time now) {
  types::Condition ready = types::NodeUSBDeviceStatus(status).conditions().Get(kReady);
  if (!ready.is_true()) {
    SetCondition(status, kAttached, false, kReasonAvailable,
                 ready.reason() == kReasonNotFound
                     ? "Device is absent on the host and cannot be attached"
                     : "Device is not ready",
                 dev, now);
    return;
  }
  for (const VmUsbUse& u : uses) {
    if (EntryAttached(u.entry)) {
      SetCondition(status, kAttached, true, kReasonAttachedToVirtualMachine,
                   absl::StrCat("Device is attached to VirtualMachine ", u.vm), dev, now);
      return;
    }
  }
  for (const VmUsbUse& u : uses) {
    if (EntryString(u.entry, "state") == kStateDetachedForMigration) {
      SetCondition(status, kAttached, false, kReasonDetachedForMigration,
                   absl::StrCat("Device was detached while VirtualMachine ", u.vm, " migrates"),
                   dev, now);
      return;
    }
    if (EntryString(u.entry, "reason") == kReasonNoFreeUSBIPPort) {
      SetCondition(status, kAttached, false, kReasonNoFreeUSBIPPort,
                   EntryString(u.entry, "message"), dev, now);
      return;
    }
  }
  SetCondition(status, kAttached, false, kReasonAvailable, "Device is available for attachment",
               dev, now);
}

}  // namespace

std::vector<VmUsbUse> UsesOf(const std::vector<Json>& vms, const std::string& device) {
  std::vector<VmUsbUse> uses;
  for (const Json& json : vms) {
    types::VirtualMachine vm(json);
    for (const Json& e : vm.status().usb_devices()) {
      if (e.is_object() && e.value("name", "") == device) uses.push_back({vm.name(), e});
    }
  }
  return uses;
}

std::string AttachedHolder(const std::vector<VmUsbUse>& uses) {
  for (const VmUsbUse& u : uses) {
    if (EntryAttached(u.entry) || EntryString(u.entry, "state") == kStateDetachedForMigration) {
      return u.vm;
    }
  }
  return "";
}

Json Discovered(const types::NodeUSBDevice& dev, const agentpb::UsbDeviceAttributes& d,
                const std::string& node, const std::string& usbip_address, absl::Time now) {
  Json status = dev.status().json();
  types::NodeUSBDeviceStatusWriter w(status);
  w.set_node_name(node);
  w.set_attributes(AttributesFrom(d, node));
  w.set_bus_id(d.busid());
  w.set_usbip_address(usbip_address);
  w.set_speed_code(d.speed_code());
  SetCondition(status, kReady, true, kReasonReady, "Device is ready to use", dev.json(), now);
  return status;
}

Json Vanished(const types::NodeUSBDevice& dev, const std::string& node, absl::Time now) {
  Json status = dev.status().json();
  SetCondition(status, kReady, false, kReasonNotFound,
               absl::StrCat("Device is absent on node ", node), dev.json(), now);
  return status;
}

Json NewNodeUsbDevice(const std::string& name, const std::string& node) {
  return {{"apiVersion", kApiVersion},
          {"kind", kinds::kNodeUSBDevice},
          {"metadata", {{"name", name}, {"labels", {{kUsbNodeLabel, node}}}}},
          {"spec", {{"assignedNamespace", ""}}}};
}

bool ExportsChanged(const agentpb::ListUsbDevicesResponse& list,
                    const std::vector<std::string>& exports) {
  std::set<std::string> exported_now;
  for (const auto& d : list.devices()) {
    if (d.exported()) exported_now.insert(d.busid());
  }
  return exported_now != std::set<std::string>(exports.begin(), exports.end());
}

Json Initial(const types::NodeUSBDevice& dev, absl::Time now) {
  Json status = dev.status().json();
  if (!dev.status().conditions().Get(kReady).Has("status")) {
    SetCondition(status, kReady, false, kReasonNotReady,
                 "Waiting for the node to report the device", dev.json(), now);
  }
  return status;
}

bool Leaving(const types::NodeUSBDevice& dev) {
  std::string have = dev.status().assigned_namespace();
  return !have.empty() && have != dev.spec().assigned_namespace();
}

DeviceStep PlanLeave(const types::NodeUSBDevice& dev, Json status,
                     const std::vector<VmUsbUse>& old_uses, absl::Time now) {
  const std::string have = dev.status().assigned_namespace();
  DeviceStep step;
  step.ns = have;
  std::string holder = AttachedHolder(old_uses);
  if (!holder.empty()) {
    SetCondition(status, kAssigned, true, kReasonInProgress,
                 absl::StrCat("Unassignment from namespace ", have,
                              " is deferred: the device is attached to VirtualMachine ", holder,
                              "; remove it from the VM's spec.usbDevices first"),
                 dev.json(), now);
    ApplyAttached(status, dev.json(), old_uses, now);
    step.action = Action::kMirror;
  } else {
    types::NodeUSBDeviceStatusWriter(status).clear_assigned_namespace();
    step.action = Action::kRelease;
  }
  step.status = std::move(status);
  return step;
}

DeviceStep PlanAssign(const types::NodeUSBDevice& dev, Json status,
                      const std::vector<VmUsbUse>& uses, absl::Time now) {
  const std::string want = dev.spec().assigned_namespace();
  ApplyAttached(status, dev.json(), uses, now);
  DeviceStep step;
  if (want.empty()) {
    SetCondition(status, kAssigned, false, kReasonAvailable,
                 "No namespace is assigned for the device", dev.json(), now);
  } else {
    step.action = Action::kMirror;
    step.ns = want;
    types::NodeUSBDeviceStatusWriter(status).set_assigned_namespace(want);
    SetCondition(status, kAssigned, true, kReasonAssigned, "Namespace is assigned for the device",
                 dev.json(), now);
  }
  step.status = std::move(status);
  return step;
}

Json NewUsbDevice(const types::NodeUSBDevice& dev, const std::string& ns) {
  return {{"apiVersion", kApiVersion},
          {"kind", kinds::kUSBDevice},
          {"metadata",
           {{"name", dev.name()},
            {"namespace", ns},
            {"labels", {{kUsbNodeLabel, dev.status().node_name()}}},
            {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                              {"kind", kinds::kNodeUSBDevice},
                                              {"name", dev.name()},
                                              {"uid", dev.uid()}}})}}}};
}

Json UsbDeviceStatus(const Json& src, const Json& usb_device, absl::Time now) {
  types::NodeUSBDeviceStatus from(src);
  Json status = types::USBDevice(usb_device).status().json();
  types::USBDeviceStatusWriter w(status);
  w.set_node_name(from.node_name());
  w.set_attributes(from.attributes().json());
  auto conditions = src.find("conditions");
  if (conditions == src.end() || !conditions->is_array()) return status;
  for (const Json& json : *conditions) {  // in their order
    types::Condition c(json);
    if (c.type() != kReady && c.type() != kAttached) continue;
    SetCondition(status, c.type(), c.is_true(), c.reason(), c.message(), usb_device, now);
  }
  return status;
}

// ---- VirtualMachine entries

std::string AttachmentId(const types::VirtualMachine& vm, const std::string& device) {
  return absl::StrCat(vm.uid(), "/", device);
}

bool Ready(const EntryObservation& obs) {
  return obs.usb_device && obs.node_device != nullptr &&
         types::NodeUSBDevice(*obs.node_device).status().conditions().IsTrue(kReady);
}

std::optional<Problem> Judge(const Json& entry, const EntryObservation& obs,
                             const std::string& ns) {
  const std::string name = EntryString(entry, "name");
  const std::string state = EntryString(entry, "state");
  if (!obs.usb_device) {
    return Problem{kReasonNotFound,
                   absl::StrCat("USBDevice \"", name, "\" does not exist in namespace ", ns)};
  }
  if (!Ready(obs)) {
    std::string reason = kReasonNotFound;
    if (obs.node_device != nullptr) {
      types::Condition c = types::NodeUSBDevice(*obs.node_device).status().conditions().Get(kReady);
      reason = c.Has("reason") ? c.reason() : kReasonNotReady;
    }
    return Problem{reason, "the device is not ready (unplugged or its node is down)"};
  }
  if (NextUsbMigrationAction(obs.migration, state) == UsbMigrationAction::kDetachFromSource ||
      (obs.migration == kMigrationInProgress && state == kStateDetachedForMigration)) {
    return Problem{kReasonDetachedForMigration, "detached while the VirtualMachine migrates"};
  }
  if (!obs.running) {
    return Problem{kReasonVirtualMachineStopped, "the VirtualMachine is not running"};
  }
  if (!obs.usb_enabled) {
    return Problem{kReasonUSBDisabled, "the controller runs without USB support"};
  }
  return std::nullopt;
}

std::optional<Problem> InUse(const std::vector<Json>& vms, const std::string& self,
                             const std::string& device) {
  for (const Json& json : vms) {
    types::VirtualMachine other(json);
    if (other.name() == self) continue;
    if (!AttachedHolder(UsesOf({json}, device)).empty()) {
      return Problem{kReasonInUse, absl::StrCat("attached to VirtualMachine ", other.name())};
    }
  }
  return std::nullopt;
}

void Unattached(Json& e, const std::string& reason, const std::string& message) {
  e["attached"] = false;
  e["state"] = reason == kStateDetachedForMigration ? kStateDetachedForMigration : kStateDetached;
  e["reason"] = reason;
  e["message"] = message;
  e.erase("address");
  e.erase("attachmentNode");
}

bool AttachedOn(const Json& entry, const std::string& node) {
  return EntryAttached(entry) && EntryString(entry, "attachmentNode") == node;
}

agentpb::AttachUsbRequest AttachRequest(const types::VirtualMachine& vm, const std::string& device,
                                        const types::NodeUSBDevice& nd, const std::string& node,
                                        const std::string& domain) {
  types::NodeUSBDeviceStatus st = nd.status();
  agentpb::AttachUsbRequest req;
  req.set_id(AttachmentId(vm, device));
  req.set_domain(domain);
  req.set_busid(st.bus_id());
  if (st.node_name() != node) req.set_remote_address(st.usbip_address());
  req.set_speed_code(st.speed_code() > 0 ? static_cast<uint32_t>(st.speed_code()) : 0);
  req.set_vendor_id(st.attributes().vendor_id());
  req.set_product_id(st.attributes().product_id());
  return req;
}

absl::Status FoldAttach(Json& e, const absl::StatusOr<agentpb::UsbAttachment>& a,
                        const std::string& node) {
  if (absl::IsUnavailable(a.status())) return a.status();
  if (!a.ok()) {
    Unattached(e,
               absl::IsResourceExhausted(a.status()) ? kReasonNoFreeUSBIPPort : kReasonAttachFailed,
               std::string(a.status().message()));
    return absl::OkStatus();
  }
  e["attached"] = true;
  e["state"] = kStateAttached;
  e["reason"] = kReasonAttachedToVirtualMachine;
  e["message"] = a->message();
  e["address"] = {{"bus", a->bus()}, {"port", a->port()}};
  e["hotplugged"] = true;  // devices always join a running domain (never its boot XML)
  e["mode"] = a->mode();
  e["attachmentNode"] = node;
  return absl::OkStatus();
}

}  // namespace usb

UsbMigrationAction NextUsbMigrationAction(const std::string& phase, const std::string& state) {
  if (phase == usb::kMigrationInProgress && state == usb::kStateAttached) {
    return UsbMigrationAction::kDetachFromSource;
  }
  if (state != usb::kStateDetachedForMigration) return UsbMigrationAction::kNone;
  if (phase == usb::kMigrationSucceeded) return UsbMigrationAction::kAttachOnTarget;
  if (phase == usb::kMigrationFailed) return UsbMigrationAction::kReattachOnSource;
  return UsbMigrationAction::kNone;
}

}  // namespace berth::controller

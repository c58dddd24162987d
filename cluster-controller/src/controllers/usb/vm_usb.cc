// The VirtualMachine's USB step: spec.usbDevices -> attachments through the VM node's agent ->
// status.usbDevices[] {name, attached, ready, address{bus, port}, hotplugged, state, reason,
// message}. Called by the VM reconciler on every pass.
#include <map>

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/controller/usb.h"
#include "controllers/usb/usb_status.h"

namespace berth::controller {
namespace {

std::string AttachmentId(const Json& vm, const std::string& device) {
  return absl::StrCat(JsonString(vm, "/metadata/uid"), "/", device);
}

void Unattached(Json& e, const std::string& reason, const std::string& message) {
  e["attached"] = false;
  e["state"] = reason == kUsbDetachedForMigration ? kUsbDetachedForMigration : "Detached";
  e["reason"] = reason;
  e["message"] = message;
  e.erase("address");
  e.erase("attachmentNode");
}

// Detaches an entry's attachment if it has one. Unavailable agents keep the entry as it is.
absl::Status DetachEntry(UsbAgents* usb, const Json& vm, Json& e) {
  std::string at = e.value("attachmentNode", "");
  if (at.empty() || usb == nullptr) return absl::OkStatus();
  auto gone = usb->Detach(at, AttachmentId(vm, e.value("name", "")));
  if (!gone.ok()) return gone.status();
  e.erase("attachmentNode");
  return absl::OkStatus();
}

// Returns another VM of the namespace that holds `device`, or "".
std::string OtherHolder(ObjectStore& store, const Json& vm, const std::string& device) {
  auto vms = store.List("VirtualMachine", JsonString(vm, "/metadata/namespace"));
  if (!vms.ok()) return "";
  std::string self = JsonString(vm, "/metadata/name");
  for (const Json& other : *vms) {
    std::string name = JsonString(other, "/metadata/name");
    if (name == self) continue;
    Json entries = JsonAt(other, "/status/usbDevices");
    if (!entries.is_array()) continue;
    std::vector<VmUsbUse> uses;
    for (const Json& e : entries) {
      if (e.value("name", "") == device) uses.push_back({name, e});
    }
    if (!AttachedHolder(uses).empty()) return name;
  }
  return "";
}

// Brings one entry to where it should be; returns errors only for unreachable agents.
absl::Status ReconcileEntry(ObjectStore& store, UsbAgents* usb, const Json& vm, Json& e,
                            const std::string& node, const std::string& domain, bool running) {
  std::string name = e.value("name", "");
  std::string ns = JsonString(vm, "/metadata/namespace");
  auto ud = store.Get(ObjectKey{"USBDevice", ns, name});
  auto nd = store.Get(ObjectKey{"NodeUSBDevice", "", name});
  bool ready = ud.ok() && nd.ok() && GetCondition(*nd, "Ready").value("status", "") == "True";
  e["ready"] = ready;
  std::string migration = JsonString(vm, "/status/usbMigration/phase");
  std::string problem, reason;
  if (!ud.ok()) {
    reason = "NotFound";
    problem = absl::StrCat("USBDevice \"", name, "\" does not exist in namespace ", ns);
  } else if (!ready) {
    reason = nd.ok() ? GetCondition(*nd, "Ready").value("reason", "NotReady") : "NotFound";
    problem = "the device is not ready (unplugged or its node is down)";
  } else if (NextUsbMigrationAction(migration, e.value("state", "")) ==
                 UsbMigrationAction::kDetachFromSource ||
             (migration == "InProgress" && e.value("state", "") == kUsbDetachedForMigration)) {
    reason = kUsbDetachedForMigration;
    problem = "detached while the VirtualMachine migrates";
  } else if (!running) {
    reason = "VirtualMachineStopped";
    problem = "the VirtualMachine is not running";
  } else if (usb == nullptr) {
    reason = "USBDisabled";
    problem = "the controller runs without USB support";
  } else if (std::string other = OtherHolder(store, vm, name); !other.empty()) {
    reason = "InUse";
    problem = absl::StrCat("attached to VirtualMachine ", other);
  }
  if (!problem.empty()) {
    if (absl::Status s = DetachEntry(usb, vm, e); !s.ok()) return s;
    Unattached(e, reason, problem);
    return absl::OkStatus();
  }
  if (e.value("attached", false) && e.value("attachmentNode", "") == node) return absl::OkStatus();
  if (absl::Status s = DetachEntry(usb, vm, e); !s.ok()) return s;  // attached elsewhere
  std::string dev_node = JsonString(*nd, "/status/nodeName");
  agentpb::AttachUsbRequest req;
  req.set_id(AttachmentId(vm, name));
  req.set_domain(domain);
  req.set_busid(JsonString(*nd, "/status/busID"));
  if (dev_node != node) req.set_remote_address(JsonString(*nd, "/status/usbipAddress"));
  Json speed = JsonAt(*nd, "/status/speedCode");
  req.set_speed_code(speed.is_number_unsigned() ? speed.get<uint32_t>() : 0);
  req.set_vendor_id(JsonString(*nd, "/status/attributes/vendorID"));
  req.set_product_id(JsonString(*nd, "/status/attributes/productID"));
  auto a = usb->Attach(node, req);
  if (absl::IsUnavailable(a.status())) return a.status();
  if (!a.ok()) {
    Unattached(e, absl::IsResourceExhausted(a.status()) ? "NoFreeUSBIPPort" : "AttachFailed",
               std::string(a.status().message()));
    return absl::OkStatus();
  }
  e["attached"] = true;
  e["state"] = kUsbAttached;
  e["reason"] = "AttachedToVirtualMachine";
  e["message"] = a->message();
  e["address"] = {{"bus", a->bus()}, {"port", a->port()}};
  e["hotplugged"] = true;  // devices always join a running domain (never its boot XML)
  e["mode"] = a->mode();
  e["attachmentNode"] = node;
  return absl::OkStatus();
}

}  // namespace

absl::Status ReconcileVmUsbDevices(ObjectStore& store, UsbAgents* usb, const Json& vm, Json& status,
                                   const std::string& node, const std::string& domain, bool running,
                                   absl::Time now) {
  std::map<std::string, Json> prev;
  Json old = status.value("usbDevices", Json::array());
  for (const Json& e : old) {
    if (e.is_object()) prev[e.value("name", "")] = e;
  }
  Json out = Json::array();
  absl::Status first_error;
  Json spec = JsonAt(vm, "/spec/usbDevices");
  for (const Json& want : spec.is_array() ? spec : Json::array()) {
    std::string name = want.value("name", "");
    Json e = prev.count(name) ? prev[name] : Json{{"name", name}, {"attached", false}};
    prev.erase(name);
    absl::Status s = ReconcileEntry(store, usb, vm, e, node, domain, running);
    if (!s.ok() && first_error.ok()) first_error = s;
    out.push_back(e);
  }
  for (auto& [name, e] : prev) {  // removed from spec: detach (hot-unplug when running)
    absl::Status s = DetachEntry(usb, vm, e);
    if (!s.ok()) {
      if (first_error.ok()) first_error = s;
      out.push_back(e);  // keep it until the agent confirms
    }
  }
  if (out.empty()) {
    status.erase("usbDevices");
  } else {
    status["usbDevices"] = out;
  }
  return first_error;
}

absl::Status ReleaseVmUsbDevices(UsbAgents* usb, const Json& vm) {
  Json entries = JsonAt(vm, "/status/usbDevices");
  if (!entries.is_array()) return absl::OkStatus();
  for (Json e : entries) {
    if (absl::Status s = DetachEntry(usb, vm, e); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace berth::controller

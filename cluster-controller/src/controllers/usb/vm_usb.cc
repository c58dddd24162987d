// The VirtualMachine's USB step: spec.usbDevices -> attachments through the VM node's agent ->
// status.usbDevices[] {name, attached, ready, address{bus, port}, hotplugged, state, reason,
// message}. Called by the VM reconciler on every pass of a placed VM. The entries' table is
// usb_machine.h; this file observes and acts.
#include <map>

#include "berth/controller/usb.h"
#include "controllers/usb/usb_machine.h"

namespace berth::controller {
namespace {

// Detaches an entry's attachment if it has one. Unavailable agents keep the entry as it is.
absl::Status DetachEntry(UsbAgents* agents, const types::VirtualMachine& vm, Json& e) {
  std::string at = e.value("attachmentNode", "");
  if (at.empty() || agents == nullptr) return absl::OkStatus();
  auto gone = agents->Detach(at, usb::AttachmentId(vm, e.value("name", "")));
  if (!gone.ok()) return gone.status();
  e.erase("attachmentNode");
  return absl::OkStatus();
}

// status.usbMigration.phase (the CRD leaves usbMigration open).
std::string MigrationPhase(const types::VirtualMachine& vm) {
  const Json& m = vm.status().usb_migration_json();
  if (!m.is_object()) return "";
  auto it = m.find("phase");
  return it != m.end() && it->is_string() ? it->get<std::string>() : "";
}

// Brings one entry to where it should be; returns errors only for unreachable agents.
absl::Status ReconcileEntry(ObjectStore& store, UsbAgents* agents, const types::VirtualMachine& vm,
                            Json& e, const std::string& node, const std::string& domain,
                            bool running) {
  const std::string name = e.value("name", "");
  const std::string ns = vm.namespace_();
  usb::EntryObservation obs;
  obs.usb_device = store.Peek(ObjectKey{kinds::kUSBDevice, ns, name}).ok();
  auto nd = store.Peek(ObjectKey{kinds::kNodeUSBDevice, "", name});
  if (nd.ok()) obs.node_device = nd->get();
  obs.migration = MigrationPhase(vm);
  obs.running = running;
  obs.usb_enabled = agents != nullptr;
  e["ready"] = usb::Ready(obs);
  std::optional<usb::Problem> problem = usb::Judge(e, obs, ns);
  if (!problem) {
    auto vms = store.List(kinds::kVirtualMachine, ns);
    if (vms.ok()) problem = usb::InUse(*vms, vm.name(), name);  // unknown: not in use
  }
  if (problem) {
    if (absl::Status s = DetachEntry(agents, vm, e); !s.ok()) return s;
    usb::Unattached(e, problem->reason, problem->message);
    return absl::OkStatus();
  }
  if (usb::AttachedOn(e, node)) return absl::OkStatus();
  if (absl::Status s = DetachEntry(agents, vm, e); !s.ok()) return s;  // attached elsewhere
  agentpb::AttachUsbRequest req =
      usb::AttachRequest(vm, name, types::NodeUSBDevice(*obs.node_device), node, domain);
  return usb::FoldAttach(e, agents->Attach(node, req), node);
}

}  // namespace

absl::Status ReconcileVmUsbDevices(ObjectStore& store, UsbAgents* agents, const Json& vm_json,
                                   Json& status, const std::string& node, const std::string& domain,
                                   bool running, absl::Time now) {
  types::VirtualMachine vm(vm_json);
  std::map<std::string, Json> prev;
  for (const Json& e : types::VirtualMachineStatus(status).usb_devices()) {
    if (e.is_object()) prev[e.value("name", "")] = e;
  }
  Json out = Json::array();
  absl::Status first_error;
  for (const types::VirtualMachineSpecUsbDevice& want : vm.spec().usb_devices()) {
    std::string name = want.name();
    Json e = prev.count(name) ? prev[name] : Json{{"name", name}, {"attached", false}};
    prev.erase(name);
    absl::Status s = ReconcileEntry(store, agents, vm, e, node, domain, running);
    if (!s.ok() && first_error.ok()) first_error = s;
    out.push_back(e);
  }
  for (auto& [name, e] : prev) {  // removed from spec: detach (hot-unplug when running)
    absl::Status s = DetachEntry(agents, vm, e);
    if (!s.ok()) {
      if (first_error.ok()) first_error = s;
      out.push_back(e);  // keep it until the agent confirms
    }
  }
  types::VirtualMachineStatusWriter w(status);
  if (out.empty()) {
    w.clear_usb_devices();
  } else {
    w.set_usb_devices(out);
  }
  return first_error;
}

absl::Status ReleaseVmUsbDevices(UsbAgents* agents, const Json& vm_json) {
  types::VirtualMachine vm(vm_json);
  for (Json e : vm.status().usb_devices()) {
    if (absl::Status s = DetachEntry(agents, vm, e); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace berth::controller

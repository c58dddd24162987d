#include "controllers/virtualmachine/vm_machine.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "berth/quantity.h"
#include "berth/time_util.h"
#include "controllers/addresses/address_machine.h"
#include "controllers/common/placement.h"
#include "controllers/common/vm_common.h"

namespace berth::controller::vm {

namespace {

using RefKind = types::VirtualMachineSpecBlockDeviceRefKind;

// The phase as stored ("" when absent).
std::string StoredPhase(const Json& status) {
  if (!status.is_object()) return "";
  auto it = status.find("phase");
  return it != status.end() && it->is_string() ? it->get<std::string>() : "";
}

bool ActiveStatus(const Json& status) { return VmActive(StoredPhase(status)); }

// What placement reads of a block device, whatever its kind.
struct Device {
  bool ready = false;
  std::string node, path, capacity;
};

Device DeviceOf(RefKind kind, const Json& obj) {
  Device d;
  switch (kind) {
    case RefKind::kVirtualDisk: {
      types::VirtualDiskStatus st = types::VirtualDisk(obj).status();
      d = {st.phase() == types::VirtualDiskPhase::kReady, st.node(), st.path(), st.capacity()};
      break;
    }
    case RefKind::kVirtualImage: {
      types::VirtualImageStatus st = types::VirtualImage(obj).status();
      d = {st.phase() == types::VirtualImagePhase::kReady, st.node(), st.path(), st.capacity()};
      break;
    }
    case RefKind::kClusterVirtualImage: {
      types::ClusterVirtualImageStatus st = types::ClusterVirtualImage(obj).status();
      d = {st.phase() == types::ClusterVirtualImagePhase::kReady, st.node(), st.path(),
           st.capacity()};
      break;
    }
    case RefKind::kUnset:
      break;
  }
  return d;
}

// What the domain is built from, once every block device is Ready.
struct Placement {
  std::string node;
  agentpb::DefineDomainRequest domain;  // its disks
  Json devices = Json::array();         // status.blockDeviceRefs
  std::vector<std::string> waiting;     // why the VM cannot be placed yet
  std::vector<std::string> checked;     // the VirtualDisks whose users were looked at
};

Placement Place(const types::VirtualMachine& vm, const Observation& obs) {
  Placement p;
  const std::string vm_name = vm.name();
  int index = 0;
  size_t i = 0;
  for (const types::VirtualMachineSpecBlockDeviceRef& ref : vm.spec().block_device_refs()) {
    const Json* obj = i < obs.devices.size() ? obs.devices[i] : nullptr;
    ++i;
    const std::string kind(types::Name(ref.kind())), name = ref.name();
    Device dev = obj != nullptr ? DeviceOf(ref.kind(), *obj) : Device();
    p.devices.push_back({{"kind", kind},
                         {"name", name},
                         {"ready", dev.ready},
                         {"size", dev.capacity},
                         {"attached", false}});
    if (!dev.ready) {
      p.waiting.push_back(
          absl::StrCat(kind, " \"", name, "\" is ", obj != nullptr ? "not Ready" : "missing"));
      continue;
    }
    if (!p.node.empty() && !dev.node.empty() && dev.node != p.node) {
      p.waiting.push_back(
          absl::StrCat(kind, " \"", name, "\" is on node ", dev.node, ", not ", p.node));
      continue;
    }
    if (!dev.node.empty()) p.node = dev.node;
    if (ref.kind() == RefKind::kVirtualDisk) {
      p.checked.push_back(name);
      auto users = obs.disk_users.find(name);
      if (users != obs.disk_users.end()) {
        for (const Json& json : users->second) {
          types::VirtualMachine other(json);
          if (other.name() != vm_name && Active(other)) {
            p.waiting.push_back(absl::StrCat("VirtualDisk \"", name,
                                             "\" is attached to running VirtualMachine \"",
                                             other.name(), "\""));
          }
        }
      }
    }
    agentpb::DomainDisk* d = p.domain.add_disks();
    d->set_path(dev.path);
    d->set_target(absl::StrCat("vd", std::string(1, static_cast<char>('a' + index++))));
    d->set_read_only(ref.kind() != RefKind::kVirtualDisk);
    p.devices.back()["target"] = d->target();
  }
  if (p.node.empty() && p.waiting.empty()) p.waiting.push_back("no block device names a node");
  return p;
}

}  // namespace

std::string UserData(const types::VirtualMachine& vm, const Observation& obs) {
  types::VirtualMachineSpecProvisioning prov = vm.spec().provisioning();
  if (prov.type() == types::VirtualMachineSpecProvisioningType::kUserData) {
    return prov.user_data();
  }
  if (prov.type() != types::VirtualMachineSpecProvisioningType::kUserDataRef) return "";
  if (obs.user_data_secret == nullptr) return "";
  const Json& secret = *obs.user_data_secret;
  return JsonString(secret, "/data/userData", JsonString(secret, "/data/user-data"));
}

namespace {

void FillDomain(const types::VirtualMachine& vm, const Observation& obs,
                const std::string& mac_address, agentpb::DefineDomainRequest& d) {
  d.set_name(DomainName(vm.json()));
  d.set_uuid(vm.uid());
  d.set_vcpus(vm.spec().cpu().has_cores() ? static_cast<int>(vm.spec().cpu().cores()) : 1);
  // A size given as a number (not a quantity string) reads as the default, as it always has.
  const Json& size = vm.spec().memory().size_json();
  auto mem = ParseQuantity(size.is_string() ? size.get<std::string>() : "256Mi");
  d.set_memory_bytes(mem.ok() ? *mem : 256ull << 20);
  types::ObjectMeta meta = vm.metadata();
  d.set_kernel(meta.annotation(kKernelAnnotation));
  d.set_initrd(meta.annotation(kInitrdAnnotation));
  d.set_cmdline(meta.annotation(kCmdlineAnnotation));
  d.set_cloud_init_user_data(UserData(vm, obs));
  d.set_mac_address(mac_address);
}

// Copies the leased addresses into status: an address object counts once it names this VM.
template <typename Address>
void FoldAddress(const types::VirtualMachine& vm, const Json* obj, const std::string& name,
                 const std::function<void(const std::string&, const std::string&)>& set) {
  if (obj == nullptr) return;
  Address a(*obj);
  if (a.status().virtual_machine() != vm.name() || a.status().address().empty()) return;
  set(a.status().address(), name);
}

void FoldAddresses(const types::VirtualMachine& vm, const Observation& obs, Json& status) {
  types::VirtualMachineStatusWriter w(status);
  FoldAddress<types::VirtualMachineIPAddress>(vm, obs.ip_address, address::ReferencedName(vm, true),
                                              [&](const std::string& a, const std::string& n) {
                                                w.set_ip_address(a);
                                                w.set_virtual_machine_ip_address_name(n);
                                              });
  FoldAddress<types::VirtualMachineMACAddress>(vm, obs.mac_address,
                                               address::ReferencedName(vm, false),
                                               [&](const std::string& a, const std::string& n) {
                                                 w.set_mac_address(a);
                                                 w.set_virtual_machine_mac_address_name(n);
                                               });
}

// The VM waits: Pending unless a guest may be running.
VmStep Wait(Json status) {
  types::VirtualMachineStatusWriter w(status);
  if (!ActiveStatus(status)) w.set_phase(Phase::kPending);
  VmStep step;
  step.status = std::move(status);
  step.requeue = kPendingPoll;
  return step;
}

// A placed VM that waits before it starts: the step keeps where and what it would run.
VmStep WaitPlaced(Json status, const VmStep& placed) {
  VmStep wait = Wait(std::move(status));
  wait.node = placed.node;
  wait.domain = placed.domain;
  return wait;
}

}  // namespace

bool Active(const types::VirtualMachine& vm) { return ActiveStatus(vm.status().json()); }

Json NewAddressObject(const types::VirtualMachine& vm, const char* kind) {
  const bool ip = std::string(kind) == kinds::kVirtualMachineIPAddress;
  return {{"apiVersion", kApiVersion},
          {"kind", kind},
          {"metadata",
           {{"name", address::ReferencedName(vm, ip)},
            {"namespace", vm.namespace_()},
            {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                              {"kind", kinds::kVirtualMachine},
                                              {"name", vm.name()},
                                              {"uid", vm.uid()}}})}}},
          {"spec", ip ? Json{{"type", types::Name(types::VirtualMachineIPAddressSpecType::kAuto)}}
                      : Json::object()}};
}

std::vector<std::string> DisksToCheck(const types::VirtualMachine& vm, const Observation& obs) {
  Observation without_users = obs;
  without_users.disk_users.clear();
  return Place(vm, without_users).checked;
}

std::optional<std::string> Placed(const types::VirtualMachine& vm, const Observation& obs) {
  Placement p = Place(vm, obs);
  Json status = vm.status().json();
  FoldAddresses(vm, obs, status);
  types::VirtualMachineStatus st(status);
  if (!p.waiting.empty() || st.mac_address().empty() || st.ip_address().empty()) {
    return std::nullopt;
  }
  return p.node;
}

Power DesiredPower(const types::VirtualMachine& vm) {
  using RunPolicy = types::VirtualMachineSpecRunPolicy;
  RunPolicy policy = vm.spec().run_policy();
  Power desired = vm.status().desired_power();
  if (desired == Power::kUnset) {
    desired =
        policy == RunPolicy::kAlwaysOff || policy == RunPolicy::kManual ? Power::kOff : Power::kOn;
  }
  if (policy == RunPolicy::kAlwaysOn) desired = Power::kOn;
  if (policy == RunPolicy::kAlwaysOff) desired = Power::kOff;
  if (vm.status().maintenance()) desired = Power::kOff;  // a restore holds the VM off
  return desired;
}

bool DomainRunning(const agentpb::DomainStatus& domain) {
  return domain.state() == "Running" || domain.state() == "Paused";
}

bool PowersOn(const types::VirtualMachine& vm, const agentpb::DomainStatus& domain) {
  return DesiredPower(vm) == Power::kOn && !DomainRunning(domain);
}

VmStep Plan(const types::VirtualMachine& vm, const Observation& obs, absl::Time now,
            absl::Duration stop_grace, absl::Duration poll_interval) {
  const Json& self = vm.json();
  Json status = vm.status().json();
  types::VirtualMachineStatusWriter w(status);
  FoldAddresses(vm, obs, status);
  Placement p = Place(vm, obs);
  w.set_block_device_refs(p.devices);
  if (!p.waiting.empty()) {
    SetCondition(status, kBlockDevicesReady, false, kReasonBlockDevicesNotReady,
                 absl::StrJoin(p.waiting, "; "), self, now);
    return Wait(std::move(status));
  }
  // The domain is defined with its leased MAC (and the guest told its IP): wait for both.
  if (w.mac_address().empty() || w.ip_address().empty()) return Wait(std::move(status));
  SetCondition(status, kBlockDevicesReady, true, kReasonBlockDevicesReady, "", self, now);
  w.set_node(p.node);
  FillDomain(vm, obs, w.mac_address(), p.domain);

  VmStep step;
  step.node = p.node;
  step.domain = p.domain;
  const Power desired = DesiredPower(vm);
  w.set_desired_power(desired);
  // The reconciler observes the domain of every placed VM; without one it counts as stopped.
  const agentpb::DomainStatus dom = obs.domain.value_or(agentpb::DomainStatus());
  const std::string spec_hash =
      absl::StrCat(std::hash<std::string>()(p.domain.SerializeAsString()));
  const bool running = DomainRunning(dom);
  const NodeConstraints constraints = NodeConstraints::Of(vm.spec().json());
  std::optional<std::string> miss;
  if (obs.node != nullptr) miss = Unmet(*obs.node, constraints, running);
  if (miss && desired == Power::kOn && !running) {
    SetCondition(status, kBlockDevicesReady, false, kReasonNodeSelectorMismatch,
                 absl::StrCat("the block devices are on node ", p.node,
                              ", which the VM's node constraints exclude (", *miss,
                              "): a stopped VM is not moved (only a running one migrates); "
                              "change its nodeSelector, affinity or tolerations, or the node"),
                 self, now);
    return WaitPlaced(std::move(status), step);
  }
  step.migrate = miss.has_value() && running;
  if (desired == Power::kOn && !running) {
    // A disk being exported is read by the export: the VM waits for it to end (not refused).
    if (obs.exports) {
      for (const std::string& disk : VmDiskNames(self)) {
        if (!DiskHasActiveExport(*obs.exports, disk)) continue;
        SetCondition(status, kBlockDevicesReady, false, kReasonDiskExportInProgress,
                     absl::StrCat("VirtualDisk \"", disk,
                                  "\" is being exported; the VM starts when the export ends"),
                     self, now);
        return WaitPlaced(std::move(status), step);
      }
    }
    w.set_applied_spec_hash(spec_hash);
    w.set_phase(Phase::kStarting);
    SetCondition(status, kAgentReady, false, kReasonGuestAgentNotReady, "the VM is starting", self,
                 now);
    step.action = Action::kStart;
    step.status = std::move(status);
    step.requeue = kTransitionPoll;
    return step;
  }
  if (desired == Power::kOff && running) {
    absl::Time since = ParseRfc3339(w.stopping_since());
    const bool force = since != absl::InfinitePast() && now - since >= stop_grace;
    if (since == absl::InfinitePast()) w.set_stopping_since(FormatRfc3339(now));
    if (since == absl::InfinitePast() || force) {
      step.action = Action::kStop;
      step.force = force || w.force_stop();
    }
    w.set_phase(Phase::kStopping);
    step.status = std::move(status);
    step.requeue = kTransitionPoll;
    return step;
  }
  w.clear_stopping_since();
  w.clear_force_stop();
  step.action = Action::kSyncUsb;
  step.running = running;
  if (!running) {
    w.set_phase(Phase::kStopped);
    SetCondition(status, kAgentReady, false, kReasonVirtualMachineStopped, "the VM is stopped",
                 self, now);
    step.status = std::move(status);
    return step;
  }
  w.set_phase(Phase::kRunning);
  for (Json& dev : status["blockDeviceRefs"]) dev["attached"] = dev.contains("target");
  SetCondition(status, kAgentReady, dom.agent_ready(),
               dom.agent_ready() ? kReasonGuestAgentReady : kReasonGuestAgentNotReady,
               dom.agent_ready() ? "" : dom.agent_error(), self, now);
  w.set_guest_addresses(
      Json(std::vector<std::string>(dom.addresses().begin(), dom.addresses().end())));
  const std::string applied = w.has_applied_spec_hash() ? w.applied_spec_hash() : spec_hash;
  w.set_restart_awaiting_changes(applied != spec_hash);
  step.status = std::move(status);
  step.requeue = poll_interval;
  return step;
}

Json MigrationFor(const types::VirtualMachine& vm) {
  // The target is chosen by the VM's own constraints; the name is stable per (constraints,
  // node), so each change asks once.
  std::string tag = absl::StrCat(absl::Hex(
      std::hash<std::string>()(absl::StrCat(
          vm.spec().node_selector_json().dump(), "|", vm.spec().affinity_json().dump(), "|",
          vm.spec().json().value("tolerations", Json::array()).dump(), "|", vm.status().node())) &
          0xffffffffu,
      absl::kZeroPad8));
  return {{"apiVersion", kApiVersion},
          {"kind", kinds::kVirtualMachineOperation},
          {"metadata",
           {{"name", absl::StrCat(vm.name(), "-placement-", tag)},
            {"namespace", vm.namespace_()},
            {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                              {"kind", kinds::kVirtualMachine},
                                              {"name", vm.name()},
                                              {"uid", vm.uid()}}})}}},
          {"spec",
           {{"type", types::Name(types::VirtualMachineOperationSpecType::kEvict)},
            {"virtualMachineName", vm.name()}}}};
}

VmStep PlanDeletion(const types::VirtualMachine& vm) {
  VmStep step;
  if (vm.status().phase() != Phase::kTerminating) {
    Json status = vm.status().json();
    types::VirtualMachineStatusWriter(status).set_phase(Phase::kTerminating);
    step.status = std::move(status);
    return step;
  }
  step.node = vm.status().node();
  step.domain.set_name(DomainName(vm.json()));
  step.action = step.node.empty() ? Action::kRemoveFinalizer : Action::kDeleteDomain;
  return step;
}

}  // namespace berth::controller::vm

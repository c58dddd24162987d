// Realizes VirtualMachines as libvirt domains on the node holding their disks, following
// runPolicy and the power state that VirtualMachineOperations ask for (status.desiredPower).
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/controller/controllers.h"
#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/controller/usb.h"
#include "berth/kinds.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kPendingPoll = absl::Seconds(2);
constexpr absl::Duration kTransitionPoll = absl::Milliseconds(500);

// What the domain is built from, once every block device is Ready.
struct Placement {
  std::string node;
  agentpb::DefineDomainRequest domain;
  Json devices = Json::array();  // status.blockDeviceRefs
};

std::string DefaultPower(const std::string& run_policy) {
  return run_policy == "AlwaysOff" || run_policy == "Manual" ? "Off" : "On";
}

class VirtualMachineReconciler : public Reconciler {
 public:
  explicit VirtualMachineReconciler(const ReconcilerDeps& deps)
      : store_(deps.store),
        agents_(deps.agents),
        clock_(deps.clock),
        config_(deps.config),
        usb_(deps.usb) {}

  std::string Kind() const override { return "VirtualMachine"; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    std::string kind = event.object().value("kind", "");
    std::vector<ObjectKey> keys;
    std::string ns = JsonString(event.object(), "/metadata/namespace");
    std::string name = JsonString(event.object(), "/metadata/name");
    if (kind == "VirtualDisk" || kind == "DataExport") {
      std::string disk =
          kind == "VirtualDisk" ? name : JsonString(event.object(), "/spec/targetRef/name");
      auto vms = VmsUsingDisk(store_, ns, disk);
      if (vms.ok()) {
        for (const Json& vm : *vms) keys.push_back(ObjectKey::Of(vm));
      }
    } else if (kind == "VirtualMachineIPAddress" || kind == "VirtualMachineMACAddress") {
      std::string holder = JsonString(event.object(), "/status/virtualMachine");
      if (!holder.empty()) keys.push_back(ObjectKey{"VirtualMachine", ns, holder});
    }
    return keys;
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json vm = *std::move(got);
    if (IsDeleting(vm)) return Finalize(vm);
    BERTH_ASSIGN_OR_RETURN(vm, AddFinalizer(store_, vm, kVmFinalizer));
    Json status = vm.value("status", Json::object());
    BERTH_RETURN_IF_ERROR(EnsureAddresses(vm, status));
    std::string problem;
    auto placement = Place(vm, status, problem);
    if (!placement.ok()) return placement.status();
    status["blockDeviceRefs"] = placement->devices;
    if (problem.empty() &&
        (JsonString(status, "/macAddress").empty() || JsonString(status, "/ipAddress").empty())) {
      // The domain is defined with its leased MAC (and the guest told its IP): wait for both.
      if (!VmActive(status.value("phase", ""))) status["phase"] = "Pending";
      return Write(vm, status, kPendingPoll);
    }
    if (!problem.empty()) {
      SetCondition(status, "BlockDevicesReady", false, "BlockDevicesNotReady", problem, vm,
                   clock_.Now());
      if (!VmActive(status.value("phase", ""))) status["phase"] = "Pending";
      return Write(vm, status, kPendingPoll);
    }
    SetCondition(status, "BlockDevicesReady", true, "BlockDevicesReady", "", vm, clock_.Now());
    status["node"] = placement->node;
    return Drive(vm, status, *placement);
  }

 private:
  absl::StatusOr<ReconcileResult> Write(const Json& vm, Json status, absl::Duration requeue) {
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, vm, std::move(status)).status());
    return ReconcileResult{requeue};
  }

  absl::StatusOr<ReconcileResult> Finalize(const Json& vm) {
    Json status = vm.value("status", Json::object());
    if (status.value("phase", "") != "Terminating") {
      status["phase"] = "Terminating";
      return Write(vm, status, absl::ZeroDuration());
    }
    std::string node = status.value("node", "");
    BERTH_RETURN_IF_ERROR(ReleaseVmUsbDevices(usb_, vm));
    if (!node.empty()) {
      BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(node));
      BERTH_RETURN_IF_ERROR(agent->DeleteDomain(DomainName(vm)).status());
    }
    BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, vm, kVmFinalizer).status());
    return ReconcileResult{};
  }

  // Creates the VM's own IP and MAC address objects when it names none, and copies their
  // allocated values into status.
  absl::Status EnsureAddresses(const Json& vm, Json& status) {
    std::string ns = JsonString(vm, "/metadata/namespace");
    std::string vm_name = JsonString(vm, "/metadata/name");
    for (const char* kind : {"VirtualMachineIPAddress", "VirtualMachineMACAddress"}) {
      bool ip = std::string(kind) == "VirtualMachineIPAddress";
      std::string name =
          ip ? JsonString(vm, "/spec/virtualMachineIPAddressName", vm_name) : vm_name;
      auto obj = store_.Get(ObjectKey{kind, ns, name});
      if (absl::IsNotFound(obj.status())) {
        Json fresh = {
            {"apiVersion", kApiVersion},
            {"kind", kind},
            {"metadata",
             {{"name", name},
              {"namespace", ns},
              {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                                {"kind", "VirtualMachine"},
                                                {"name", vm_name},
                                                {"uid", JsonString(vm, "/metadata/uid")}}})}}},
            {"spec", ip ? Json{{"type", "Auto"}} : Json::object()}};
        auto created = store_.Create(fresh);
        if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
        continue;
      }
      if (!obj.ok()) return obj.status();
      std::string holder = JsonString(*obj, "/status/virtualMachine");
      std::string address = JsonString(*obj, "/status/address");
      if (holder != vm_name || address.empty()) continue;
      status[ip ? "ipAddress" : "macAddress"] = address;
      status[ip ? "virtualMachineIPAddressName" : "virtualMachineMACAddressName"] = name;
    }
    return absl::OkStatus();
  }

  // Resolves block devices; sets `problem` (and returns OK) when the VM must wait.
  absl::StatusOr<Placement> Place(const Json& vm, const Json& status, std::string& problem) {
    Placement p;
    std::string ns = JsonString(vm, "/metadata/namespace");
    std::string vm_name = JsonString(vm, "/metadata/name");
    std::vector<std::string> waiting;
    int index = 0;
    for (const Json& ref : JsonAt(vm, "/spec/blockDeviceRefs")) {
      std::string kind = ref.value("kind", ""), name = ref.value("name", "");
      ObjectKey key{kind, kind == "ClusterVirtualImage" ? "" : ns, name};
      auto dev = store_.Get(key);
      p.devices.push_back({{"kind", kind},
                           {"name", name},
                           {"ready", dev.ok() && JsonString(*dev, "/status/phase") == "Ready"},
                           {"size", dev.ok() ? JsonString(*dev, "/status/capacity") : ""},
                           {"attached", false}});
      if (!dev.ok() || JsonString(*dev, "/status/phase") != "Ready") {
        waiting.push_back(
            absl::StrCat(kind, " \"", name, "\" is ", dev.ok() ? "not Ready" : "missing"));
        continue;
      }
      std::string node = JsonString(*dev, "/status/node");
      if (!p.node.empty() && !node.empty() && node != p.node) {
        waiting.push_back(
            absl::StrCat(kind, " \"", name, "\" is on node ", node, ", not ", p.node));
        continue;
      }
      if (!node.empty()) p.node = node;
      if (kind == "VirtualDisk") {
        BERTH_ASSIGN_OR_RETURN(auto users, VmsUsingDisk(store_, ns, name));
        for (const Json& other : users) {
          std::string other_name = JsonString(other, "/metadata/name");
          if (other_name != vm_name && VmActive(JsonString(other, "/status/phase"))) {
            waiting.push_back(absl::StrCat("VirtualDisk \"", name,
                                           "\" is attached to running VirtualMachine \"",
                                           other_name, "\""));
          }
        }
      }
      agentpb::DomainDisk* d = p.domain.add_disks();
      d->set_path(JsonString(*dev, "/status/path"));
      d->set_target(absl::StrCat("vd", std::string(1, static_cast<char>('a' + index++))));
      d->set_read_only(kind != "VirtualDisk");
      p.devices.back()["target"] = d->target();
    }
    if (p.node.empty() && waiting.empty()) waiting.push_back("no block device names a node");
    problem = absl::StrJoin(waiting, "; ");
    if (!problem.empty()) return p;
    FillDomain(vm, status, p.domain);
    return p;
  }

  void FillDomain(const Json& vm, const Json& status, agentpb::DefineDomainRequest& d) {
    d.set_name(DomainName(vm));
    d.set_uuid(JsonString(vm, "/metadata/uid"));
    Json cores = JsonAt(vm, "/spec/cpu/cores");
    d.set_vcpus(cores.is_number_integer() ? cores.get<int>() : 1);
    auto mem = ParseQuantity(JsonString(vm, "/spec/memory/size", "256Mi"));
    d.set_memory_bytes(mem.ok() ? *mem : 256ull << 20);
    Json ann = JsonAt(vm, "/metadata/annotations");
    if (ann.is_object()) {
      d.set_kernel(ann.value(kKernelAnnotation, ""));
      d.set_initrd(ann.value(kInitrdAnnotation, ""));
      d.set_cmdline(ann.value(kCmdlineAnnotation, ""));
    }
    d.set_cloud_init_user_data(UserData(vm));
    d.set_mac_address(JsonString(status, "/macAddress"));
  }

  std::string UserData(const Json& vm) {
    std::string type = JsonString(vm, "/spec/provisioning/type");
    if (type == "UserData") return JsonString(vm, "/spec/provisioning/userData");
    if (type != "UserDataRef") return "";
    auto secret = store_.Get(ObjectKey{"Secret", JsonString(vm, "/metadata/namespace"),
                                       JsonString(vm, "/spec/provisioning/userDataRef/name")});
    if (!secret.ok()) return "";
    return JsonString(*secret, "/data/userData", JsonString(*secret, "/data/user-data"));
  }

  absl::StatusOr<ReconcileResult> Drive(const Json& vm, Json status, const Placement& p);

  ObjectStore& store_;
  AgentDirectory& agents_;
  const Clock& clock_;
  const ControllerConfig& config_;
  UsbAgents* usb_;  // null: off
};

absl::StatusOr<ReconcileResult> VirtualMachineReconciler::Drive(const Json& vm, Json status,
                                                                const Placement& p) {
  std::string policy = JsonString(vm, "/spec/runPolicy", "AlwaysOnUnlessStoppedManually");
  std::string desired = status.value("desiredPower", DefaultPower(policy));
  if (policy == "AlwaysOn") desired = "On";
  if (policy == "AlwaysOff") desired = "Off";
  if (status.value("maintenance", false)) desired = "Off";  // a restore holds the VM off
  status["desiredPower"] = desired;
  BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(p.node));
  std::string name = p.domain.name();
  BERTH_ASSIGN_OR_RETURN(agentpb::DomainStatus dom, agent->GetDomain(name));
  std::string spec_hash = absl::StrCat(std::hash<std::string>()(p.domain.SerializeAsString()));
  absl::Time now = clock_.Now();
  bool running = dom.state() == "Running" || dom.state() == "Paused";
  if (desired == "On" && !running) {
    // A disk being exported is read by the export: the VM waits for it to end (not refused).
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> exports,
                           store_.List("DataExport", JsonString(vm, "/metadata/namespace")));
    for (const std::string& disk : VmDiskNames(vm)) {
      if (!DiskHasActiveExport(exports, disk)) continue;
      SetCondition(status, "BlockDevicesReady", false, "DiskExportInProgress",
                   absl::StrCat("VirtualDisk \"", disk,
                                "\" is being exported; the VM starts when the export ends"),
                   vm, now);
      if (!VmActive(status.value("phase", ""))) status["phase"] = "Pending";
      return Write(vm, status, kPendingPoll);
    }
    BERTH_RETURN_IF_ERROR(agent->DefineDomain(p.domain).status());
    BERTH_RETURN_IF_ERROR(agent->StartDomain(name).status());
    status["appliedSpecHash"] = spec_hash;
    status["phase"] = "Starting";
    SetCondition(status, "AgentReady", false, "GuestAgentNotReady", "the VM is starting", vm, now);
    return Write(vm, status, kTransitionPoll);
  }
  if (desired == "Off" && running) {
    absl::Time since = ParseRfc3339(status.value("stoppingSince", ""));
    bool force = since != absl::InfinitePast() && now - since >= config_.vm_stop_grace;
    if (since == absl::InfinitePast()) status["stoppingSince"] = FormatRfc3339(now);
    if (since == absl::InfinitePast() || force) {
      BERTH_RETURN_IF_ERROR(
          agent->StopDomain(name, force || status.value("forceStop", false)).status());
    }
    status["phase"] = "Stopping";
    return Write(vm, status, kTransitionPoll);
  }
  status.erase("stoppingSince");
  status.erase("forceStop");
  BERTH_RETURN_IF_ERROR(
      ReconcileVmUsbDevices(store_, usb_, vm, status, p.node, name, running, now));
  if (!running) {
    status["phase"] = "Stopped";
    SetCondition(status, "AgentReady", false, "VirtualMachineStopped", "the VM is stopped", vm,
                 now);
    return Write(vm, status, absl::ZeroDuration());
  }
  status["phase"] = "Running";
  for (Json& dev : status["blockDeviceRefs"]) dev["attached"] = dev.contains("target");
  SetCondition(status, "AgentReady", dom.agent_ready(),
               dom.agent_ready() ? "GuestAgentReady" : "GuestAgentNotReady",
               dom.agent_ready() ? "" : dom.agent_error(), vm, now);
  status["guestAddresses"] =
      Json(std::vector<std::string>(dom.addresses().begin(), dom.addresses().end()));
  bool awaiting = status.value("appliedSpecHash", spec_hash) != spec_hash;
  status["restartAwaitingChanges"] = awaiting;
  return Write(vm, status, config_.vm_poll_interval);
}

}  // namespace

std::unique_ptr<Reconciler> NewVirtualMachineReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VirtualMachineReconciler>(deps);
}

}  // namespace berth::controller

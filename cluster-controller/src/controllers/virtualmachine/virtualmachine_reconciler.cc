// Realizes VirtualMachines as libvirt domains on the node holding their disks, following
// runPolicy and the power state that VirtualMachineOperations ask for (status.desiredPower).
// The state machine is vm_machine.h; this file observes, acts and stores.
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/controller/usb.h"
#include "berth/status_macros.h"
#include "controllers/addresses/address_machine.h"
#include "controllers/common/vm_common.h"
#include "controllers/virtualmachine/vm_machine.h"

namespace berth::controller {
namespace {

using types::VirtualMachine;

constexpr absl::Duration kMigrationPoll = absl::Seconds(1);

// The objects an Observation points into.
struct Observed {
  std::vector<std::shared_ptr<const Json>> objects;
  const Json* Keep(std::shared_ptr<const Json> obj) {
    objects.push_back(std::move(obj));
    return objects.back().get();
  }
};

class VirtualMachineReconciler : public Reconciler {
 public:
  explicit VirtualMachineReconciler(const ReconcilerDeps& deps)
      : store_(deps.store),
        agents_(deps.agents),
        clock_(deps.clock),
        config_(deps.config),
        usb_(deps.usb) {}

  std::string Kind() const override { return kinds::kVirtualMachine; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    types::VirtualDisk obj(event.object());  // any kind: only metadata and kind are read
    std::string kind = obj.kind();
    std::vector<ObjectKey> keys;
    if (kind == kinds::kVirtualDisk || kind == kinds::kDataExport) {
      std::string disk = kind == kinds::kVirtualDisk
                             ? obj.name()
                             : types::DataExport(event.object()).spec().target_ref().name();
      auto vms = VmsUsingDisk(store_, obj.namespace_(), disk);
      if (vms.ok()) {
        for (const Json& vm : *vms) keys.push_back(ObjectKey::Of(vm));
      }
    } else if (kind == kinds::kVirtualMachineIPAddress ||
               kind == kinds::kVirtualMachineMACAddress) {
      // Both kinds' status.virtualMachine: the VM holding the address.
      std::string holder =
          types::VirtualMachineIPAddress(event.object()).status().virtual_machine();
      if (!holder.empty()) {
        keys.push_back(ObjectKey{kinds::kVirtualMachine, obj.namespace_(), holder});
      }
    }
    return keys;
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    if (VirtualMachine(obj).deleting()) return Finalize(obj);
    // The finalizer is stored before any agent is asked for anything.
    BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kVmFinalizer));
    VirtualMachine vm(obj);
    // A Migrate or Evict operation moving the VM owns its domain until it releases the VM.
    if (std::string holder = vm.status().migration().operation(); !holder.empty()) {
      auto op = store_.Peek(ObjectKey{kinds::kVirtualMachineOperation, vm.namespace_(), holder});
      if (!op.ok() && !absl::IsNotFound(op.status())) return op.status();
      if (op.ok() && types::VirtualMachineOperation(**op).status().phase() ==
                         types::VirtualMachineOperationPhase::kInProgress) {
        return ReconcileResult{kMigrationPoll};
      }
      // The operation is gone or over without releasing the VM: the VM is its own again.
      Json status = vm.status().json();
      status.erase("migration");
      BERTH_ASSIGN_OR_RETURN(obj, WriteStatus(store_, obj, std::move(status)));  // vm views obj
    }

    // Observe: the address leases, the block devices, then (placed) the domain.
    Observed kept;
    vm::Observation obs;
    BERTH_ASSIGN_OR_RETURN(obs.ip_address,
                           ObserveAddress(vm, kinds::kVirtualMachineIPAddress, kept));
    BERTH_ASSIGN_OR_RETURN(obs.mac_address,
                           ObserveAddress(vm, kinds::kVirtualMachineMACAddress, kept));
    for (const auto& ref : vm.spec().block_device_refs()) {
      std::string kind(types::Name(ref.kind()));
      ObjectKey dev{kind, kind == kinds::kClusterVirtualImage ? "" : vm.namespace_(), ref.name()};
      auto peeked = store_.Peek(dev);
      obs.devices.push_back(peeked.ok() ? kept.Keep(*std::move(peeked)) : nullptr);
    }
    for (const std::string& disk : vm::DisksToCheck(vm, obs)) {
      BERTH_ASSIGN_OR_RETURN(obs.disk_users[disk], VmsUsingDisk(store_, vm.namespace_(), disk));
    }
    types::VirtualMachineSpecProvisioning prov = vm.spec().provisioning();
    if (prov.type() == types::VirtualMachineSpecProvisioningType::kUserDataRef) {
      auto secret =
          store_.Peek(ObjectKey{kinds::kSecret, vm.namespace_(), prov.user_data_ref().name()});
      if (secret.ok()) obs.user_data_secret = kept.Keep(*std::move(secret));
    }
    std::shared_ptr<AgentClient> agent;
    if (std::optional<std::string> node = vm::Placed(vm, obs)) {
      BERTH_ASSIGN_OR_RETURN(agent, agents_.ForNode(*node));
      BERTH_ASSIGN_OR_RETURN(obs.domain, agent->GetDomain(DomainName(obj)));
      auto node_obj = store_.Peek(ObjectKey{kinds::kNode, "", *node});
      if (node_obj.ok()) obs.node = kept.Keep(*std::move(node_obj));
      if (vm::PowersOn(vm, *obs.domain)) {
        BERTH_ASSIGN_OR_RETURN(obs.exports, store_.List(kinds::kDataExport, vm.namespace_()));
      }
    }

    vm::VmStep step =
        vm::Plan(vm, obs, clock_.Now(), config_.vm_stop_grace, config_.vm_poll_interval);
    const std::string& name = step.domain.name();
    switch (step.action) {
      case vm::Action::kStart:
        BERTH_RETURN_IF_ERROR(agent->DefineDomain(step.domain).status());
        BERTH_RETURN_IF_ERROR(agent->StartDomain(name).status());
        break;
      case vm::Action::kStop:
        BERTH_RETURN_IF_ERROR(agent->StopDomain(name, step.force).status());
        break;
      case vm::Action::kSyncUsb:
        BERTH_RETURN_IF_ERROR(ReconcileVmUsbDevices(store_, usb_, obj, *step.status, step.node,
                                                    name, step.running, clock_.Now()));
        break;
      default:
        break;
    }
    if (step.migrate) {  // moved to a node its constraints allow, once per change
      absl::Status created = store_.Create(vm::MigrationFor(vm)).status();
      if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
    }
    BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, step).status());
    return step.Result();
  }

 private:
  absl::StatusOr<ReconcileResult> Finalize(const Json& obj) {
    vm::VmStep step = vm::PlanDeletion(VirtualMachine(obj));
    BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, step).status());
    if (step.action == vm::Action::kNone) return step.Result();
    BERTH_RETURN_IF_ERROR(ReleaseVmUsbDevices(usb_, obj));
    if (step.action == vm::Action::kDeleteDomain) {
      BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(step.node));
      BERTH_RETURN_IF_ERROR(agent->DeleteDomain(step.domain.name()).status());
    }
    BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, obj, kVmFinalizer).status());
    return step.Result();
  }

  // The VM's address object of `kind`; created when missing, and then null (no address yet).
  absl::StatusOr<const Json*> ObserveAddress(const VirtualMachine& vm, const char* kind,
                                             Observed& kept) {
    const bool ip = std::string(kind) == kinds::kVirtualMachineIPAddress;
    auto obj = store_.Peek(ObjectKey{kind, vm.namespace_(), address::ReferencedName(vm, ip)});
    if (absl::IsNotFound(obj.status())) {
      auto created = store_.Create(vm::NewAddressObject(vm, kind));
      if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
      return nullptr;
    }
    if (!obj.ok()) return obj.status();
    return kept.Keep(*std::move(obj));
  }

  ObjectStore& store_;
  AgentDirectory& agents_;
  const Clock& clock_;
  const ControllerConfig& config_;
  UsbAgents* usb_;  // null: off
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualMachineReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VirtualMachineReconciler>(deps);
}

}  // namespace berth::controller

// VirtualMachineOperation. Start, Stop and Restart set the VM's desired power state and wait
// for the VM reconciler to reach it; Restore and Clone live in vmop_restore.cc and
// vmop_clone.cc. One operation per VM runs at a time; others wait Pending. The state machine
// is vmop_machine.h.
#include <optional>

#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "controllers/virtualmachineoperation/vmop_internal.h"
#include "controllers/virtualmachineoperation/vmop_machine.h"

namespace berth::controller {
namespace {

using types::VirtualMachineOperation;

bool TerminalJson(const Json& op) { return vmop::Terminal(VirtualMachineOperation(op)); }

class VmopReconciler : public Reconciler {
 public:
  VmopReconciler(ObjectStore& store, AgentDirectory& agents, UsbAgents* usb, const Clock& clock)
      : store_(store), agents_(agents), usb_(usb), clock_(clock) {}

  std::string Kind() const override { return kinds::kVirtualMachineOperation; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    std::vector<ObjectKey> keys;
    types::VirtualMachine obj(event.object());  // any kind: only metadata and kind are read
    std::string kind = obj.kind();
    if (kind == kinds::kVirtualDisk || kind == kinds::kVirtualMachineSnapshot) {
      // restores and clones wait on these
      return ActiveOperations(store_, Kind(), obj.namespace_(), &TerminalJson);
    }
    if (kind != kinds::kVirtualMachine) return keys;
    auto ops = store_.List(kinds::kVirtualMachineOperation, obj.namespace_());
    if (!ops.ok()) return keys;
    for (const Json& json : *ops) {
      VirtualMachineOperation op(json);
      if (op.spec().virtual_machine_name() == obj.name() && !vmop::Terminal(op)) {
        keys.push_back(ObjectKey::Of(json));
      }
    }
    return keys;
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Peek(key);  // read-only: every write below copies what it changes
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    std::shared_ptr<const Json> obj = *std::move(got);
    VirtualMachineOperation op(*obj);
    const bool rebuilds = vmop::Rebuilds(op);
    if (rebuilds && (op.deleting() || op.status().phase() == vmop::Phase::kInProgress)) {
      return Dispatch(op);
    }
    if (op.deleting() || vmop::Terminal(op)) return ReconcileResult{};
    // A dry run changes nothing, the VM included: it claims nothing.
    const bool dry_run =
        op.spec().restore().mode() == types::VirtualMachineOperationSpecRestoreMode::kDryRun ||
        op.spec().clone().mode() == types::VirtualMachineOperationSpecCloneMode::kDryRun;
    if (op.status().phase() == vmop::Phase::kInProgress || dry_run) return Run(op, *obj);
    BERTH_ASSIGN_OR_RETURN(bool claimed, ClaimVm(op));
    if (!claimed) {
      Step<vmop::Action> wait = vmop::Wait(op, clock_.Now());
      BERTH_RETURN_IF_ERROR(StoreStep(store_, *obj, wait).status());
      return wait.Result();
    }
    absl::StatusOr<ReconcileResult> result = Run(op, *obj);
    // Claimed but not started (waiting for its own preconditions, or refused): the VM is free
    // again for others.
    auto after = store_.Peek(key);
    if (after.ok()) {
      VirtualMachineOperation now(**after);
      if (now.status().phase() != vmop::Phase::kInProgress && !vmop::Terminal(now)) {
        BERTH_RETURN_IF_ERROR(ReleaseVm(now));
      }
    }
    return result;
  }

 private:
  absl::StatusOr<ReconcileResult> Run(const VirtualMachineOperation& op, const Json& obj) {
    if (vmop::Rebuilds(op)) {
      BERTH_ASSIGN_OR_RETURN(bool blocked, OtherOperationInProgress(store_, obj));
      if (!blocked) return Dispatch(op);
      Step<vmop::Action> wait = vmop::Wait(op, clock_.Now());
      BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, wait).status());
      return wait.Result();
    }
    return Power(op);
  }

  // One operation per VM: an operation about to start claims its VM (status.activeOperation,
  // written with the VM's resourceVersion: of two operations claiming at once one write fails
  // and is retried, and then sees the other's claim). A claim whose operation is gone or over
  // is free; one that did not start is released after its pass. False: another operation
  // holds the VM.
  absl::StatusOr<bool> ClaimVm(const VirtualMachineOperation& op) {
    auto vm = store_.Get(VmKey(op));
    if (absl::IsNotFound(vm.status())) return true;  // the operation itself reports it
    if (!vm.ok()) return vm.status();
    types::VirtualMachine view(*vm);
    const std::string holder = view.status().active_operation();
    if (holder == op.name()) return true;
    if (!holder.empty()) {
      auto other = store_.Peek(ObjectKey{kinds::kVirtualMachineOperation, op.namespace_(), holder});
      if (!other.ok() && !absl::IsNotFound(other.status())) return other.status();
      if (other.ok() && !vmop::Terminal(VirtualMachineOperation(**other))) return false;
    }
    Json status = view.status().json();
    types::VirtualMachineStatusWriter(status).set_active_operation(op.name());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, *vm, std::move(status)).status());
    return true;
  }

  absl::Status ReleaseVm(const VirtualMachineOperation& op) {
    auto vm = store_.Get(VmKey(op));
    if (absl::IsNotFound(vm.status())) return absl::OkStatus();
    if (!vm.ok()) return vm.status();
    types::VirtualMachine view(*vm);
    if (view.status().active_operation() != op.name()) return absl::OkStatus();
    Json status = view.status().json();
    types::VirtualMachineStatusWriter(status).clear_active_operation();
    return WriteStatus(store_, *vm, std::move(status)).status();
  }

  static ObjectKey VmKey(const VirtualMachineOperation& op) {
    return ObjectKey{kinds::kVirtualMachine, op.namespace_(), op.spec().virtual_machine_name()};
  }

  absl::StatusOr<ReconcileResult> Dispatch(const VirtualMachineOperation& op) {
    if (op.spec().type() == vmop::Type::kMigrate || op.spec().type() == vmop::Type::kEvict) {
      return ReconcileMigrate(store_, agents_, usb_, op.json(), clock_.Now());
    }
    if (op.spec().type() == vmop::Type::kRestore) {
      return ReconcileRestore(store_, op.json(), clock_.Now());
    }
    return ReconcileClone(store_, op.json(), clock_.Now());
  }

  // Start, Stop, Restart: Observe -> PlanPower -> the VM's power wish -> store.
  absl::StatusOr<ReconcileResult> Power(const VirtualMachineOperation& op) {
    vmop::PowerObservation obs;
    std::optional<Json> vm;
    vmop::Type type = op.spec().type();
    if (type == vmop::Type::kStart || type == vmop::Type::kStop || type == vmop::Type::kRestart) {
      auto got = store_.Get(
          ObjectKey{kinds::kVirtualMachine, op.namespace_(), op.spec().virtual_machine_name()});
      if (!got.ok() && !absl::IsNotFound(got.status())) return got.status();
      if (got.ok()) {
        vm = *std::move(got);
        obs.vm = &*vm;
        BERTH_ASSIGN_OR_RETURN(obs.other_in_progress, OtherOperationInProgress(store_, op.json()));
      }
    }
    Step<vmop::Action> step = vmop::PlanPower(op, obs, clock_.Now());
    if (step.action != vmop::Action::kNone) BERTH_RETURN_IF_ERROR(Want(*vm, step.action));
    BERTH_RETURN_IF_ERROR(StoreStep(store_, op.json(), step).status());
    return step.Result();
  }

  // Sets the VM's desired power (and whether to cut power) unless already set.
  absl::Status Want(const Json& vm, vmop::Action action) {
    types::VirtualMachineDesiredPower power = action == vmop::Action::kPowerOn
                                                  ? types::VirtualMachineDesiredPower::kOn
                                                  : types::VirtualMachineDesiredPower::kOff;
    bool force = action == vmop::Action::kPowerOffForce;
    types::VirtualMachineStatus current = types::VirtualMachine(vm).status();
    if (current.desired_power() == power && current.force_stop() == force) {
      return absl::OkStatus();
    }
    Json vs = current.json();
    types::VirtualMachineStatusWriter w(vs);
    w.set_desired_power(power);
    w.set_force_stop(force);
    return WriteStatus(store_, vm, vs).status();
  }

  ObjectStore& store_;
  AgentDirectory& agents_;
  UsbAgents* usb_;  // null: USB off
  const Clock& clock_;
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualMachineOperationReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VmopReconciler>(deps.store, deps.agents, deps.usb, deps.clock);
}

}  // namespace berth::controller

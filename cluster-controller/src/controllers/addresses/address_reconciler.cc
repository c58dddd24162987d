// VirtualMachineIPAddress and VirtualMachineMACAddress: allocate a unique address once and
// lease it to the one VM that references the object. Allocation is serialized in-process (one
// active controller), and checked against every other object's address, so two objects never
// hold the same address. The state machine is address_machine.h; this file observes and
// stores.
#include <set>

#include "absl/synchronization/mutex.h"
#include "berth/controller/controllers.h"
#include "berth/status_macros.h"
#include "controllers/addresses/address_machine.h"

namespace berth::controller {
namespace {

// Obj: types::VirtualMachineIPAddress or types::VirtualMachineMACAddress.
template <typename Obj>
class AddressReconciler : public Reconciler {
 public:
  static constexpr bool kIp = std::is_same_v<Obj, types::VirtualMachineIPAddress>;

  AddressReconciler(ObjectStore& store, const Clock& clock, std::string cidr)
      : store_(store), clock_(clock), cidr_(std::move(cidr)) {}

  std::string Kind() const override { return Obj::kKind; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    types::VirtualMachine vm(event.object());
    if (vm.kind() != kinds::kVirtualMachine) return {};
    return {ObjectKey{Obj::kKind, vm.namespace_(), address::ReferencedName(vm, kIp)}};
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    absl::MutexLock l(&mu_);
    auto got = store_.Peek(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    std::shared_ptr<const Json> json = *std::move(got);
    Obj obj(*json);
    if (obj.deleting()) return ReconcileResult{};
    address::Observation obs;
    if (address::NeedsAddress(obj)) {
      absl::StatusOr<std::set<std::string>> used = Used(obj);
      if constexpr (kIp) {
        obs.allocated = address::Allocate(obj, used, cidr_);
      } else {
        obs.allocated = address::Allocate(obj, used);
      }
    }
    if (!obs.allocated || obs.allocated->ok()) {
      BERTH_ASSIGN_OR_RETURN(obs.holder, Holder(obj));
    }
    Step<address::Action> step = address::Plan(obj, obs, clock_.Now());
    BERTH_RETURN_IF_ERROR(StoreStep(store_, *json, step).status());
    return step.Result();
  }

 private:
  // The addresses of every other object of the kind.
  absl::StatusOr<std::set<std::string>> Used(const Obj& obj) {
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> all, store_.List(Obj::kKind, ""));
    std::set<std::string> used;
    for (const Json& o : all) {
      Obj other(o);
      if (other.uid() != obj.uid()) used.insert(other.status().address());
    }
    return used;
  }

  // Returns the VM that references this object, if any.
  absl::StatusOr<std::string> Holder(const Obj& obj) {
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> vms,
                           store_.List(kinds::kVirtualMachine, obj.namespace_()));
    for (const Json& json : vms) {
      types::VirtualMachine vm(json);
      if (address::ReferencedName(vm, kIp) == obj.name() && !vm.deleting()) return vm.name();
    }
    return std::string();
  }

  ObjectStore& store_;
  const Clock& clock_;
  const std::string cidr_;
  absl::Mutex mu_;  // serializes allocation across this kind's workers
};

}  // namespace

std::unique_ptr<Reconciler> NewIPAddressReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<AddressReconciler<types::VirtualMachineIPAddress>>(deps.store, deps.clock,
                                                                             deps.config.ip_cidr);
}

std::unique_ptr<Reconciler> NewMACAddressReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<AddressReconciler<types::VirtualMachineMACAddress>>(deps.store,
                                                                              deps.clock, "");
}

}  // namespace berth::controller

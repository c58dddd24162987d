// VirtualMachineOperation. Start, Stop and Restart set the VM's desired power state and wait
// for the VM reconciler to reach it; Restore and Clone live in vmop_restore.cc and
// vmop_clone.cc. One operation per VM runs at a time; others wait Pending.
#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "controllers/virtualmachineoperation/vmop_internal.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kPoll = absl::Seconds(1);

bool Terminal(const std::string& phase) { return phase == "Completed" || phase == "Failed"; }

class VmopReconciler : public Reconciler {
 public:
  VmopReconciler(ObjectStore& store, const Clock& clock)
      : store_(store), clock_(clock), out_(store, clock) {}

  std::string Kind() const override { return "VirtualMachineOperation"; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    std::vector<ObjectKey> keys;
    std::string kind = event.object().value("kind", "");
    std::string ns = JsonString(event.object(), "/metadata/namespace");
    if (kind == "VirtualDisk" || kind == "VirtualMachineSnapshot") {
      return ActiveOperations(store_, Kind(), ns);  // restores and clones wait on these
    }
    if (kind != "VirtualMachine") return keys;
    auto ops = store_.List("VirtualMachineOperation", ns);
    if (!ops.ok()) return keys;
    for (const Json& op : *ops) {
      if (JsonString(op, "/spec/virtualMachineName") ==
              JsonString(event.object(), "/metadata/name") &&
          !Terminal(JsonString(op, "/status/phase"))) {
        keys.push_back(ObjectKey::Of(op));
      }
    }
    return keys;
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json op = *std::move(got);
    Json status = op.value("status", Json::object());
    std::string type = JsonString(op, "/spec/type");
    bool rebuilds = type == "Restore" || type == "Clone";
    if (rebuilds && (IsDeleting(op) || status.value("phase", "") == "InProgress")) {
      return Dispatch(op, status, type);
    }
    if (IsDeleting(op) || Terminal(status.value("phase", ""))) return ReconcileResult{};
    if (rebuilds) {
      BERTH_ASSIGN_OR_RETURN(bool blocked, BlockedByOther(op));
      if (blocked) return Wait(op, status);
      return Dispatch(op, status, type);
    }
    if (type != "Start" && type != "Stop" && type != "Restart") {  // Migrate, Evict
      return Finish(op, status, false, "NotSupported",
                    absl::StrCat("operation type ", type, " is not supported by this controller"));
    }
    auto vm =
        store_.Get(ObjectKey{"VirtualMachine", key.ns, JsonString(op, "/spec/virtualMachineName")});
    if (absl::IsNotFound(vm.status())) {
      return Finish(op, status, false, "VirtualMachineNotFound",
                    absl::StrCat("VirtualMachine \"", JsonString(op, "/spec/virtualMachineName"),
                                 "\" not found"));
    }
    if (!vm.ok()) return vm.status();
    BERTH_ASSIGN_OR_RETURN(bool blocked, BlockedByOther(op));
    if (blocked) return Wait(op, status);
    return Step(op, status, *vm, type);
  }

 private:
  absl::StatusOr<bool> BlockedByOther(const Json& op) {
    return OtherOperationInProgress(store_, op);
  }

  absl::StatusOr<ReconcileResult> Wait(const Json& op, Json status) {
    status["phase"] = "Pending";
    SetCondition(status, "Completed", false, "WaitingForOtherOperation",
                 "another operation on this VM is in progress", op, clock_.Now());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, op, status).status());
    return ReconcileResult{kPoll};
  }

  absl::StatusOr<ReconcileResult> Dispatch(const Json& op, Json status, const std::string& type) {
    if (type == "Restore") return ReconcileRestore(store_, out_, op, std::move(status));
    return ReconcileClone(store_, out_, op, std::move(status));
  }

  absl::StatusOr<ReconcileResult> Finish(const Json& op, Json status, bool ok,
                                         const std::string& reason, const std::string& msg) {
    status["phase"] = ok ? "Completed" : "Failed";
    SetCondition(status, "Completed", ok, reason, msg, op, clock_.Now());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, op, status).status());
    return ReconcileResult{};
  }

  // Sets the VM's desired power (and whether to cut power) unless already set.
  absl::Status Want(const Json& vm, const std::string& power, bool force) {
    Json vs = vm.value("status", Json::object());
    if (vs.value("desiredPower", "") == power && vs.value("forceStop", false) == force) {
      return absl::OkStatus();
    }
    vs["desiredPower"] = power;
    vs["forceStop"] = force;
    return WriteStatus(store_, vm, vs).status();
  }

  absl::StatusOr<ReconcileResult> Step(const Json& op, Json status, const Json& vm,
                                       const std::string& type) {
    std::string policy = JsonString(vm, "/spec/runPolicy", "AlwaysOnUnlessStoppedManually");
    if ((type == "Start" || type == "Restart") && policy == "AlwaysOff") {
      return Finish(op, status, false, "RunPolicyForbids",
                    "the VM's runPolicy AlwaysOff does not allow it to be started");
    }
    if (type == "Stop" && policy == "AlwaysOn") {
      return Finish(op, status, false, "RunPolicyForbids",
                    "the VM's runPolicy AlwaysOn restarts it; change runPolicy to stop it");
    }
    std::string vm_phase = JsonString(vm, "/status/phase");
    bool force = op["spec"].value("force", false);
    std::string step = status.value("step", type == "Restart" ? "stop" : "");
    if (status.value("phase", "") != "InProgress") {
      status["phase"] = "InProgress";
      status["step"] = step;
      SetCondition(status, "Completed", false, "InProgress", "", op, clock_.Now());
      BERTH_RETURN_IF_ERROR(WriteStatus(store_, op, status).status());
      return ReconcileResult{};
    }
    if (type == "Stop" || step == "stop") {
      BERTH_RETURN_IF_ERROR(Want(vm, "Off", force));
      if (vm_phase != "Stopped") return ReconcileResult{kPoll};
      if (type == "Stop") return Finish(op, status, true, "Completed", "");
      status["step"] = "start";
      BERTH_RETURN_IF_ERROR(WriteStatus(store_, op, status).status());
      return ReconcileResult{};
    }
    BERTH_RETURN_IF_ERROR(Want(vm, "On", false));
    if (vm_phase != "Running") return ReconcileResult{kPoll};
    return Finish(op, status, true, "Completed", "");
  }

  ObjectStore& store_;
  const Clock& clock_;
  OpStatus out_;
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualMachineOperationReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VmopReconciler>(deps.store, deps.clock);
}

}  // namespace berth::controller

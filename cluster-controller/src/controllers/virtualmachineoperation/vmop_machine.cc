#include "controllers/virtualmachineoperation/vmop_machine.h"

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"

namespace berth::controller::vmop {

bool Terminal(Phase phase) { return phase == Phase::kCompleted || phase == Phase::kFailed; }

bool Terminal(const types::VirtualMachineOperation& op) { return Terminal(op.status().phase()); }

bool Rebuilds(const types::VirtualMachineOperation& op) {
  Type type = op.spec().type();
  return type == Type::kRestore || type == Type::kClone;
}

namespace {

Step<Action> Store(Json status, absl::Duration requeue = absl::ZeroDuration()) {
  Step<Action> step;
  step.status = std::move(status);
  step.requeue = requeue;
  return step;
}

}  // namespace

Step<Action> Conclude(const Json& op, Json status, bool ok, const std::string& reason,
                      const std::string& message, absl::Time now) {
  // The phase names of VirtualMachineSnapshotOperation are the same.
  types::VirtualMachineOperationStatusWriter(status).set_phase(ok ? Phase::kCompleted
                                                                  : Phase::kFailed);
  if (!ok && status.contains("resources") && status["resources"].is_array()) {
    for (Json& e : status["resources"]) {
      if (e.value("status", "") != "InProgress") continue;
      e["status"] = "Skipped";
      e["message"] = absl::StrCat("not done: the operation failed (", reason, ")");
    }
  }
  SetCondition(status, kCompleted, ok, reason, message, op, now);
  return Store(std::move(status));
}

Step<Action> Wait(const types::VirtualMachineOperation& op, absl::Time now) {
  Json status = op.status().json();
  types::VirtualMachineOperationStatusWriter(status).set_phase(Phase::kPending);
  SetCondition(status, kCompleted, false, kReasonWaitingForOtherOperation,
               "another operation on this VM is in progress", op.json(), now);
  return Store(std::move(status), kPoll);
}

Step<Action> PlanPower(const types::VirtualMachineOperation& op, const PowerObservation& obs,
                       absl::Time now) {
  const Json& self = op.json();
  Json status = op.status().json();
  const Type type = op.spec().type();
  if (type != Type::kStart && type != Type::kStop && type != Type::kRestart) {  // Migrate, Evict
    return Conclude(self, std::move(status), false, kReasonNotSupported,
                    absl::StrCat("operation type ", JsonString(self, "/spec/type"),
                                 " is not supported by this controller"),
                    now);
  }
  if (obs.vm == nullptr) {
    return Conclude(
        self, std::move(status), false, kReasonVirtualMachineNotFound,
        absl::StrCat("VirtualMachine \"", op.spec().virtual_machine_name(), "\" not found"), now);
  }
  if (obs.other_in_progress) return Wait(op, now);
  types::VirtualMachine vm(*obs.vm);
  using RunPolicy = types::VirtualMachineSpecRunPolicy;
  const RunPolicy policy = vm.spec().run_policy();
  if ((type == Type::kStart || type == Type::kRestart) && policy == RunPolicy::kAlwaysOff) {
    return Conclude(self, std::move(status), false, kReasonRunPolicyForbids,
                    "the VM's runPolicy AlwaysOff does not allow it to be started", now);
  }
  if (type == Type::kStop && policy == RunPolicy::kAlwaysOn) {
    return Conclude(self, std::move(status), false, kReasonRunPolicyForbids,
                    "the VM's runPolicy AlwaysOn restarts it; change runPolicy to stop it", now);
  }
  types::VirtualMachineOperationStatusWriter w(status);
  std::string step = w.has_step() ? w.step() : (type == Type::kRestart ? kStepStop : "");
  if (w.phase() != Phase::kInProgress) {
    w.set_phase(Phase::kInProgress);
    w.set_step(step);
    SetCondition(status, kCompleted, false, kReasonInProgress, "", self, now);
    return Store(std::move(status));
  }
  const types::VirtualMachinePhase vm_phase = vm.status().phase();
  Step<Action> wait;  // the VM is on its way: nothing to store
  wait.requeue = kPoll;
  if (type == Type::kStop || step == kStepStop) {
    wait.action = op.spec().force() ? Action::kPowerOffForce : Action::kPowerOff;
    if (vm_phase != types::VirtualMachinePhase::kStopped) return wait;
    Step<Action> done;
    if (type == Type::kStop) {
      done = Conclude(self, std::move(status), true, kReasonCompleted, "", now);
    } else {
      w.set_step(kStepStart);
      done = Store(std::move(status));
    }
    done.action = wait.action;
    return done;
  }
  wait.action = Action::kPowerOn;
  if (vm_phase != types::VirtualMachinePhase::kRunning) return wait;
  Step<Action> done = Conclude(self, std::move(status), true, kReasonCompleted, "", now);
  done.action = Action::kPowerOn;
  return done;
}

}  // namespace berth::controller::vmop

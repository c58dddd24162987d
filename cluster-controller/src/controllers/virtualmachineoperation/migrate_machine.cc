// The Migrate/Evict state machine (migrate_machine.h): pure functions, no store, no agent.
#include "controllers/virtualmachineoperation/migrate_machine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/controller/status_util.h"
#include "controllers/common/placement.h"
#include "controllers/virtualmachineoperation/vmop_machine.h"

namespace berth::controller::vmop::migrate {
namespace {

using types::VirtualMachineOperation;
using Writer = types::VirtualMachineOperationStatusWriter;

Step<Action> Store(Json status, Action action = Action::kNone,
                   absl::Duration requeue = absl::ZeroDuration()) {
  Step<Action> step;
  step.status = std::move(status);
  step.action = action;
  step.requeue = requeue;
  return step;
}

Step<Action> Fail(const VirtualMachineOperation& op, const std::string& reason,
                  const std::string& message, absl::Time now) {
  return Store(Concluded(op.json(), op.status().json(), false, reason, message, now));
}

// The VM's constraints with the operation's nodeSelector added.
NodeConstraints Constraints(const VirtualMachineOperation& op, const types::VirtualMachine& vm) {
  NodeConstraints c = NodeConstraints::Of(vm.spec().json());
  for (const auto& [k, v] : SelectorFrom(op.spec().migrate().node_selector_json())) {
    c.selector[k] = v;
  }
  return c;
}

}  // namespace

std::vector<std::string> Targets(const std::string& source, const NodeConstraints& constraints,
                                 const std::vector<Disk>& disks, const std::vector<Node>& nodes,
                                 std::vector<std::string>* why) {
  std::vector<std::string> out;
  for (const Node& n : nodes) {
    if (n.name == source) continue;
    std::string refused;
    if (!n.ready) {
      refused = "not Ready";
    } else if (n.unschedulable) {
      refused = "cordoned";
    } else {
      if (std::optional<std::string> miss = Unmet(n.name, n.labels, n.taints, constraints)) {
        refused = absl::StrCat("does not fit: ", *miss);
      }
      for (const Disk& d : disks) {
        if (!refused.empty()) break;
        if (n.pools.count(d.pool) == 0) {
          refused = absl::StrCat("has no pool \"", d.pool, "\" for VirtualDisk \"", d.name, "\"");
        }
      }
    }
    if (refused.empty()) {
      out.push_back(n.name);
    } else if (why != nullptr) {
      why->push_back(absl::StrCat(n.name, ": ", refused));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Json AtStep(const VirtualMachineOperation& op, const std::string& step, const std::string& reason,
            const std::string& message, absl::Time now) {
  Json status = op.status().json();
  Writer w(status);
  w.set_phase(Phase::kInProgress);
  w.set_step(step);
  SetCondition(status, kCompleted, false, reason, message, op.json(), now);
  return status;
}

Json WithFigures(Json status, const agentpb::MigrationStatus& m) {
  Json& mig = status["migration"];
  if (!mig.is_object()) mig = Json::object();
  mig["dataTotalBytes"] = m.data_total_bytes();
  mig["dataRemainingBytes"] = m.data_remaining_bytes();
  mig["elapsedMilliseconds"] = m.elapsed_ms();
  // While it runs libvirt's downtime is the expected one: only the finished job's is recorded.
  if (m.state() == "Completed" && m.downtime_ms() > 0)
    mig["downtimeMilliseconds"] = m.downtime_ms();
  if (m.data_total_bytes() > 0) {
    uint64_t done = std::min(m.data_processed_bytes(), m.data_total_bytes());
    status["progress"] = absl::StrCat(done * 100 / m.data_total_bytes(), "%");
  }
  return status;
}

Step<Action> PlanStart(const VirtualMachineOperation& op, const Observation& obs, absl::Time now) {
  const std::string vm_name = op.spec().virtual_machine_name();
  if (obs.vm == nullptr) {
    return Fail(op, kReasonVirtualMachineNotFound,
                absl::StrCat("VirtualMachine \"", vm_name, "\" not found"), now);
  }
  types::VirtualMachine vm(*obs.vm);
  const std::string source = vm.status().node();
  if (vm.status().phase() != types::VirtualMachinePhase::kRunning || source.empty()) {
    return Fail(op, kReasonVirtualMachineNotRunning,
                absl::StrCat("VirtualMachine \"", vm_name, "\" is ",
                             JsonString(*obs.vm, "/status/phase", "not placed"),
                             ": only a running VM migrates live"),
                now);
  }
  if (obs.has_images) {
    return Fail(op, kReasonNotSupported,
                "VirtualMachines with a VirtualImage or ClusterVirtualImage attached do not "
                "migrate yet (only VirtualDisks are copied)",
                now);
  }
  std::vector<std::string> why;
  std::vector<std::string> targets =
      Targets(source, Constraints(op, vm), obs.disks, obs.nodes, &why);
  if (targets.empty()) {
    return Fail(
        op, kReasonNoSuitableNode,
        absl::StrCat("no node can take VirtualMachine \"", vm_name, "\" from ", source,
                     why.empty() ? ": there is no other node" : ": ", absl::StrJoin(why, "; ")),
        now);
  }
  Json status = AtStep(
      op, kStepPrepare, kReasonPreparingTarget,
      absl::StrCat("preparing node ", targets.front(), " to take the VM from ", source), now);
  Writer(status).set_virtual_machine_uid(vm.uid());
  status["migration"] = Json{{"sourceNode", source}, {"targetNode", targets.front()}};
  status["progress"] = "0%";
  Step<Action> step = Store(std::move(status), Action::kPrepare);
  step.add_finalizer = true;
  step.event = PhaseEvent::kRecord;
  return step;
}

Step<Action> PlanStep(const VirtualMachineOperation& op, const Observation& obs, absl::Time now) {
  const std::string step = op.status().step();
  const std::string target = op.status().migration().target_node();
  const bool on_target = obs.target_domain && (obs.target_domain->state() == "Running" ||
                                               obs.target_domain->state() == "Paused");
  const bool on_source = obs.source_domain && (obs.source_domain->state() == "Running" ||
                                               obs.source_domain->state() == "Paused");
  if (step == kStepPrepare && op.deleting()) {
    return Store(AtStep(op, kStepRollBack, kReasonMigrationCancelled,
                        "the operation was deleted before the migration started", now),
                 Action::kRollBack);
  }
  if (step == kStepPrepare) return Store(op.status().json(), Action::kPrepare);
  if (step == kStepSwitch) return Store(op.status().json(), Action::kSwitch);
  if (step == kStepRollBack) {
    if (on_target && !on_source) {
      return Store(
          AtStep(op, kStepSwitch, kReasonSwitchingOver,
                 absl::StrCat("the guest runs on ", target, ": finishing the migration"), now),
          Action::kSwitch);
    }
    return Store(op.status().json(), Action::kRollBack);
  }
  // Step migrate.
  if (op.deleting()) {
    if (on_target && !on_source) {
      return Store(AtStep(op, kStepSwitch, kReasonFinishingBeforeDeletion,
                          "the guest already runs on the target: finishing the migration", now),
                   Action::kSwitch);
    }
    return Store(AtStep(op, kStepRollBack, kReasonMigrationCancelled,
                        "the operation was deleted: the migration is aborted", now),
                 Action::kRollBack);
  }
  if (!obs.source) return Store(op.status().json(), Action::kNone, kPoll);
  const agentpb::MigrationStatus& m = *obs.source;
  if (m.state() == "Running") {
    Json status = WithFigures(op.status().json(), m);
    SetCondition(
        status, kCompleted, false, kReasonMigrating,
        absl::StrCat("migrating to ", target, ": ", m.data_remaining_bytes(), " bytes remaining"),
        op.json(), now);
    return Store(std::move(status), Action::kNone, kMigratePoll);
  }
  if (m.state() == "Completed" || (on_target && !on_source)) {
    Json status = AtStep(op, kStepSwitch, kReasonSwitchingOver,
                         absl::StrCat("the guest runs on ", target, ": switching its disks"), now);
    return Store(WithFigures(std::move(status), m), Action::kSwitch);
  }
  if (m.state() == "Failed") {
    std::string reason = m.timed_out() ? kReasonMigrationTimedOut : kReasonMigrationFailed;
    Json status = AtStep(op, kStepRollBack, reason, m.error(), now);
    return Store(std::move(status), Action::kRollBack);
  }
  if (on_source) {  // the source agent restarted and nothing migrates any more
    return Store(AtStep(op, kStepRollBack, kReasonMigrationInterrupted,
                        "the source node's agent lost the migration (it restarted); the guest "
                        "still runs on the source",
                        now),
                 Action::kRollBack);
  }
  return Store(op.status().json(), Action::kNone, kPoll);  // neither says: look again
}

Step<Action> Conclude(const VirtualMachineOperation& op, Json status, bool ok,
                      const std::string& reason, const std::string& message, absl::Time now) {
  if (ok) status["progress"] = "100%";
  return Store(Concluded(op.json(), std::move(status), ok, reason, message, now));
}

}  // namespace berth::controller::vmop::migrate

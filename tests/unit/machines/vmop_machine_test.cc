// The VirtualMachineOperation state machine (vmop_machine.h): Start, Stop and Restart as a
// table of (operation, VM) -> (next phase, reason, action, requeue), and the pieces every type
// shares (Wait, Conclude, Terminal).
#include "controllers/virtualmachineoperation/vmop_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace berth::controller::vmop {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

Json Op(const std::string& type, const std::string& phase = "", const std::string& step = "",
        bool force = false) {
  Json o = {{"kind", "VirtualMachineOperation"},
            {"metadata", {{"name", "op"}, {"namespace", "ns"}, {"uid", "op-uid"}}},
            {"spec", {{"type", type}, {"virtualMachineName", "vm"}, {"force", force}}}};
  if (!phase.empty()) o["status"] = {{"phase", phase}};
  if (!step.empty()) o["status"]["step"] = step;
  return o;
}

Json Vm(const std::string& phase, const std::string& policy = "") {
  Json v = {{"kind", "VirtualMachine"},
            {"metadata", {{"name", "vm"}, {"namespace", "ns"}, {"uid", "vm-uid"}}},
            {"spec", Json::object()},
            {"status", {{"phase", phase}}}};
  if (!policy.empty()) v["spec"]["runPolicy"] = policy;
  return v;
}

struct Row {
  const char* name;
  Json op;
  std::optional<Json> vm;
  bool other_in_progress;
  // Expected:
  std::string phase;   // of the status to store; "" when nothing is stored
  std::string reason;  // of the Completed condition ("" not checked)
  std::string step;    // status.step stored ("" not checked)
  Action action;
  absl::Duration requeue;
};

TEST_CASE("VirtualMachineOperation: PlanPower, row by row") {
  const absl::Duration none = absl::ZeroDuration();
  std::vector<Row> rows = {
      {"Migrate is not supported", Op("Migrate"), Vm("Running"), false, "Failed",
       kReasonNotSupported, "", Action::kNone, none},
      {"Evict is not supported", Op("Evict"), std::nullopt, false, "Failed", kReasonNotSupported,
       "", Action::kNone, none},
      {"VM missing", Op("Start"), std::nullopt, false, "Failed", kReasonVirtualMachineNotFound, "",
       Action::kNone, none},
      {"VM missing beats waiting", Op("Stop"), std::nullopt, true, "Failed",
       kReasonVirtualMachineNotFound, "", Action::kNone, none},
      {"another operation InProgress", Op("Start"), Vm("Stopped"), true, "Pending",
       kReasonWaitingForOtherOperation, "", Action::kNone, kPoll},
      {"Start of an AlwaysOff VM", Op("Start"), Vm("Stopped", "AlwaysOff"), false, "Failed",
       kReasonRunPolicyForbids, "", Action::kNone, none},
      {"Restart of an AlwaysOff VM", Op("Restart"), Vm("Stopped", "AlwaysOff"), false, "Failed",
       kReasonRunPolicyForbids, "", Action::kNone, none},
      {"Stop of an AlwaysOn VM", Op("Stop"), Vm("Running", "AlwaysOn"), false, "Failed",
       kReasonRunPolicyForbids, "", Action::kNone, none},
      {"new Start", Op("Start"), Vm("Stopped"), false, "InProgress", kReasonInProgress, "",
       Action::kNone, none},
      {"new Restart starts at stop", Op("Restart"), Vm("Running"), false, "InProgress",
       kReasonInProgress, kStepStop, Action::kNone, none},
      {"Pending Stop, the other one done", Op("Stop", "Pending"), Vm("Running"), false,
       "InProgress", kReasonInProgress, "", Action::kNone, none},
      {"Stop, VM still running", Op("Stop", "InProgress"), Vm("Running"), false, "", "", "",
       Action::kPowerOff, kPoll},
      {"forced Stop, VM still running", Op("Stop", "InProgress", "", true), Vm("Running"), false,
       "", "", "", Action::kPowerOffForce, kPoll},
      {"Stop, VM stopped", Op("Stop", "InProgress"), Vm("Stopped"), false, "Completed",
       kReasonCompleted, "", Action::kPowerOff, none},
      {"Restart at stop, VM stopping", Op("Restart", "InProgress", kStepStop), Vm("Stopping"),
       false, "", "", "", Action::kPowerOff, kPoll},
      {"Restart at stop, VM stopped", Op("Restart", "InProgress", kStepStop), Vm("Stopped"), false,
       "InProgress", "", kStepStart, Action::kPowerOff, none},
      {"Restart at start, VM starting", Op("Restart", "InProgress", kStepStart), Vm("Starting"),
       false, "", "", "", Action::kPowerOn, kPoll},
      {"Restart at start, VM running", Op("Restart", "InProgress", kStepStart), Vm("Running"),
       false, "Completed", kReasonCompleted, "", Action::kPowerOn, none},
      {"Start, VM starting", Op("Start", "InProgress"), Vm("Starting"), false, "", "", "",
       Action::kPowerOn, kPoll},
      {"Start, VM running", Op("Start", "InProgress"), Vm("Running"), false, "Completed",
       kReasonCompleted, "", Action::kPowerOn, none},
      {"Start ignores force", Op("Start", "InProgress", "", true), Vm("Stopped"), false, "", "", "",
       Action::kPowerOn, kPoll},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    PowerObservation obs;
    if (row.vm) obs.vm = &*row.vm;
    obs.other_in_progress = row.other_in_progress;
    Step<Action> step = PlanPower(types::VirtualMachineOperation(row.op), obs, kNow);
    CHECK(step.action == row.action);
    CHECK(step.requeue == row.requeue);
    CHECK(!step.add_finalizer);
    if (row.phase.empty()) {
      CHECK(!step.status.has_value());
      continue;
    }
    REQUIRE(step.status.has_value());
    types::VirtualMachineOperationStatus st(*step.status);
    CHECK(std::string(types::Name(st.phase())) == row.phase);
    if (!row.reason.empty()) CHECK(st.conditions().Get(kCompleted).reason() == row.reason);
    if (!row.step.empty()) CHECK(st.step() == row.step);
  }
}

TEST_CASE("VirtualMachineOperation: InProgress records the step, even an empty one") {
  Json vm = Vm("Stopped");
  Step<Action> step = PlanPower(types::VirtualMachineOperation(Op("Start")), {&vm, false}, kNow);
  REQUIRE(step.status.has_value());
  CHECK(step.status->contains("step"));
  CHECK(types::VirtualMachineOperationStatus(*step.status).step().empty());
}

TEST_CASE("VirtualMachineOperation: messages name what failed") {
  Step<Action> step = PlanPower(types::VirtualMachineOperation(Op("Evict")), {}, kNow);
  REQUIRE(step.status.has_value());
  CHECK(types::VirtualMachineOperationStatus(*step.status).conditions().Get(kCompleted).message() ==
        "operation type Evict is not supported by this controller");
  step = PlanPower(types::VirtualMachineOperation(Op("Start")), {}, kNow);
  REQUIRE(step.status.has_value());
  CHECK(types::VirtualMachineOperationStatus(*step.status).conditions().Get(kCompleted).message() ==
        "VirtualMachine \"vm\" not found");
}

TEST_CASE("VirtualMachineOperation: Conclude skips what a failed operation had not done") {
  Json op = Op("Restore", "InProgress");
  Json status = {
      {"phase", "InProgress"},
      {"resources", Json::array({{{"kind", "VirtualDisk"}, {"status", "InProgress"}},
                                 {{"kind", "VirtualMachine"}, {"status", "Completed"}}})}};
  Step<Action> failed = Conclude(op, status, false, kReasonConflictsFound, "taken", kNow);
  REQUIRE(failed.status.has_value());
  types::VirtualMachineOperationStatus st(*failed.status);
  CHECK(st.phase() == Phase::kFailed);
  CHECK(!st.conditions().IsTrue(kCompleted));
  CHECK(st.conditions().Get(kCompleted).message() == "taken");
  const Json& res = failed.status->at("resources");
  CHECK(res[0]["status"] == "Skipped");
  CHECK(res[0]["message"] == "not done: the operation failed (ConflictsFound)");
  CHECK(res[1]["status"] == "Completed");

  Step<Action> ok = Conclude(op, status, true, kReasonCompleted, "", kNow);
  REQUIRE(ok.status.has_value());
  CHECK(types::VirtualMachineOperationStatus(*ok.status).phase() == Phase::kCompleted);
  CHECK(types::VirtualMachineOperationStatus(*ok.status).conditions().IsTrue(kCompleted));
  CHECK(ok.status->at("resources")[0]["status"] == "InProgress");  // kept as it was
}

TEST_CASE("VirtualMachineOperation: Wait, Terminal, Rebuilds") {
  Step<Action> wait = Wait(types::VirtualMachineOperation(Op("Restore")), kNow);
  REQUIRE(wait.status.has_value());
  CHECK(types::VirtualMachineOperationStatus(*wait.status).phase() == Phase::kPending);
  CHECK(wait.requeue == kPoll);
  CHECK(Terminal(types::VirtualMachineOperation(Op("Start", "Completed"))));
  CHECK(Terminal(types::VirtualMachineOperation(Op("Start", "Failed"))));
  CHECK(!Terminal(types::VirtualMachineOperation(Op("Start", "InProgress"))));
  CHECK(!Terminal(types::VirtualMachineOperation(Op("Start"))));
  CHECK(Rebuilds(types::VirtualMachineOperation(Op("Restore"))));
  CHECK(Rebuilds(types::VirtualMachineOperation(Op("Clone"))));
  CHECK(!Rebuilds(types::VirtualMachineOperation(Op("Restart"))));
}

}  // namespace
}  // namespace berth::controller::vmop

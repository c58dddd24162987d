// The VirtualMachineOperation state machine (vmop_machine.h): Start, Stop and Restart, Restore
// (PlanRestore, PlanDisk, FinishDisks) and Clone (PlanClone, FinishTempSnapshot, FinishClone)
// as tables of (operation, observations) -> (next phase, reason, step, actions, requeue), and
// the pieces every type shares (Wait, Conclude, Terminal, Preamble).
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

// ---- Restore

Json Restore(const std::string& phase, const std::string& step = "", bool deleting = false,
             const std::string& mode = "Strict") {
  Json o = Op("Restore", phase, step);
  o["spec"]["restore"] = {{"virtualMachineSnapshotName", "snap"}, {"mode", mode}};
  if (deleting) o["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  if (!phase.empty()) {
    o["status"]["wasRunning"] = true;
    o["status"]["resources"] =
        Json::array({{{"kind", "VirtualDisk"}, {"name", "d"}, {"status", "InProgress"}},
                     {{"kind", "VirtualMachine"}, {"name", "vm"}, {"status", "InProgress"}}});
  }
  return o;
}

Json Snap(const std::string& phase) {
  return {{"kind", "VirtualMachineSnapshot"},
          {"metadata", {{"name", "snap"}, {"namespace", "ns"}}},
          {"status", {{"phase", phase}}}};
}

ResourceList Plan(bool conflict) {
  ResourceList plan;
  plan.Add("VirtualMachine", "vm", ResourceState::kInProgress, "restoring");
  if (conflict) plan.Conflict("VirtualDisk", "d", "taken");
  return plan;
}

struct RestoreRow {
  const char* name;
  Json op;
  std::optional<Json> snapshot;
  absl::Status payload;
  std::optional<bool> conflict;  // the plan, when validating
  std::optional<Json> vm;
  bool vm_stuck;
  // Expected:
  std::string phase;  // "" when nothing is stored
  std::string reason;
  std::string step;
  Hold hold;
  std::string annotation;  // a prefix; "" none
  bool replace_disks, restore_objects, add_finalizer;
  absl::Duration requeue;
};

TEST_CASE("VirtualMachineOperation: PlanRestore, row by row") {
  const absl::Duration none = absl::ZeroDuration();
  const absl::Status ok = absl::OkStatus();
  const absl::Status lost = absl::FailedPreconditionError("the Secret is gone");
  std::vector<RestoreRow> rows = {
      {"snapshot missing", Restore(""), std::nullopt, ok, std::nullopt, std::nullopt, false,
       "Failed", kReasonVirtualMachineSnapshotNotFound, "", Hold::kKeep, "", false, false, false,
       none},
      {"snapshot Failed", Restore(""), Snap("Failed"), ok, std::nullopt, std::nullopt, false,
       "Failed", kReasonVirtualMachineSnapshotFailed, "", Hold::kKeep, "", false, false, false,
       none},
      {"snapshot not Ready", Restore(""), Snap("InProgress"), ok, std::nullopt, std::nullopt, false,
       "Pending", "", "", Hold::kKeep, "", false, false, false, kPoll},
      {"payload lost", Restore(""), Snap("Ready"), lost, std::nullopt, std::nullopt, false,
       "Failed", kReasonVirtualMachineSnapshotLost, "", Hold::kKeep, "", false, false, false, none},
      {"DryRun clean", Restore("", "", false, "DryRun"), Snap("Ready"), ok, false, Vm("Running"),
       false, "Completed", kReasonDryRunCompleted, "", Hold::kKeep, "", false, false, false, none},
      {"DryRun conflicts", Restore("", "", false, "DryRun"), Snap("Ready"), ok, true, Vm("Running"),
       false, "Failed", kReasonConflictsFound, "", Hold::kKeep, "", false, false, false, none},
      {"conflicts", Restore("Pending"), Snap("Ready"), ok, true, Vm("Running"), false, "Failed",
       kReasonConflictsFound, "", Hold::kKeep, "", false, false, false, none},
      {"clean: begins at stop", Restore(""), Snap("Ready"), ok, false, Vm("Running"), false,
       "InProgress", kReasonStoppingVirtualMachine, kStepStop, Hold::kKeep, "", false, false, true,
       none},
      {"stop, deleting: rolled back", Restore("InProgress", kStepStop, true), std::nullopt, ok,
       std::nullopt, Vm("Running"), false, "Failed", kReasonRolledBack, "", Hold::kRelease,
       "vmop/op deleted before any disk was replaced", false, false, false, none},
      {"stop, snapshot gone", Restore("InProgress", kStepStop), std::nullopt, ok, std::nullopt,
       Vm("Running"), false, "Failed", kReasonVirtualMachineSnapshotLost, "", Hold::kRelease, "",
       false, false, false, none},
      {"stop, payload lost", Restore("InProgress", kStepStop), Snap("Ready"), lost, std::nullopt,
       Vm("Running"), false, "Failed", kReasonVirtualMachineSnapshotLost, "", Hold::kRelease, "",
       false, false, false, none},
      {"stop, VM running", Restore("InProgress", kStepStop), Snap("Ready"), ok, std::nullopt,
       Vm("Running"), false, "InProgress", kReasonStoppingVirtualMachine, kStepStop, Hold::kHold,
       "", false, false, false, kPoll},
      {"stop, no step yet is stop", Restore("InProgress"), Snap("Ready"), ok, std::nullopt,
       Vm("Stopped"), false, "InProgress", "", kStepDisks, Hold::kHold, "", false, false, false,
       none},
      {"disks, payload lost: VM stays held", Restore("InProgress", kStepDisks), Snap("Ready"), lost,
       std::nullopt, Vm("Stopped"), false, "Failed", kReasonVirtualMachineSnapshotLost, "",
       Hold::kKeep, "", false, false, false, none},
      {"disks: replace them", Restore("InProgress", kStepDisks), Snap("Ready"), ok, std::nullopt,
       Vm("Stopped"), false, "", "", "", Hold::kKeep, "", true, false, false, none},
      {"objects", Restore("InProgress", kStepObjects), Snap("Ready"), ok, std::nullopt,
       Vm("Stopped"), false, "InProgress", "", kStepStart, Hold::kKeep, "", false, true, false,
       none},
      {"start, VM stopped, was running", Restore("InProgress", kStepStart), std::nullopt, ok,
       std::nullopt, Vm("Stopped"), false, "InProgress", kReasonStartingVirtualMachine, kStepStart,
       Hold::kRelease, "", false, false, false, kPoll},
      {"start, VM Pending on a missing image", Restore("InProgress", kStepStart), Snap("Ready"), ok,
       std::nullopt, Vm("Pending"), true, "Completed", kReasonCompleted, "", Hold::kRelease,
       "vmop/op completed", false, false, false, none},
      {"start, VM running", Restore("InProgress", kStepStart), Snap("Ready"), ok, std::nullopt,
       Vm("Running"), false, "Completed", kReasonCompleted, "", Hold::kRelease, "vmop/op completed",
       false, false, false, none},
      {"start, AlwaysOff VM stopped", Restore("InProgress", kStepStart), Snap("Ready"), ok,
       std::nullopt, Vm("Stopped", "AlwaysOff"), false, "Completed", kReasonCompleted, "",
       Hold::kRelease, "vmop/op completed", false, false, false, none},
      {"start, AlwaysOff VM still stopping", Restore("InProgress", kStepStart), Snap("Ready"), ok,
       std::nullopt, Vm("Stopping", "AlwaysOff"), false, "InProgress",
       kReasonStoppingVirtualMachine, "", Hold::kRelease, "", false, false, false, kPoll},
      {"start, deleting: finishing first", Restore("InProgress", kStepStart, true), Snap("Ready"),
       ok, std::nullopt, Vm("Starting"), false, "InProgress", kReasonFinishingBeforeDeletion, "",
       Hold::kRelease, "", false, false, false, kPoll},
      {"start, deleting: finished", Restore("InProgress", kStepStart, true), Snap("Ready"), ok,
       std::nullopt, Vm("Running"), false, "Completed", kReasonFinishedBeforeDeletion, "",
       Hold::kRelease, "vmop/op finished after its deletion", false, false, false, none},
  };
  for (const RestoreRow& row : rows) {
    INFO(row.name);
    RestoreObservation obs;
    if (row.snapshot) obs.snapshot = &*row.snapshot;
    obs.payload = row.payload;
    std::optional<ResourceList> plan;
    if (row.conflict) {
      plan = Plan(*row.conflict);
      obs.plan = &*plan;
    }
    if (row.vm) obs.vm = &*row.vm;
    obs.vm_stuck = row.vm_stuck;
    absl::StatusOr<Step<Rebuild>> got =
        PlanRestore(types::VirtualMachineOperation(row.op), obs, kNow);
    REQUIRE(got.ok());
    const Step<Rebuild>& step = *got;
    CHECK(step.action.vm == row.hold);
    CHECK(step.action.replace_disks == row.replace_disks);
    CHECK(step.action.restore_objects == row.restore_objects);
    CHECK(step.action.annotation.rfind(row.annotation, 0) == 0);
    CHECK(step.action.annotation.empty() == row.annotation.empty());
    CHECK(!step.action.run_clone);
    CHECK(step.add_finalizer == row.add_finalizer);
    CHECK(step.requeue == row.requeue);
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

TEST_CASE("VirtualMachineOperation: Restore messages and the gate's conditions") {
  const absl::Status ok = absl::OkStatus();
  Json snap = Snap("InProgress");
  RestoreObservation obs;
  obs.snapshot = &snap;
  Step<Rebuild> wait = *PlanRestore(types::VirtualMachineOperation(Restore("")), obs, kNow);
  types::VirtualMachineOperationStatus st(*wait.status);
  CHECK(st.conditions().Get(kSnapshotReady).reason() == kReasonWaitingForTheSnapshot);
  CHECK(st.conditions().Get(kSnapshotReady).message() ==
        "VirtualMachineSnapshot \"snap\" is not Ready");

  // Validation records the plan, wasRunning and MaintenanceMode before InProgress.
  Json ready = Snap("Ready");
  Json vm = Vm("Stopped");
  ResourceList plan = Plan(false);
  obs = {&ready, ok, &plan, &vm, false};
  Step<Rebuild> begin = *PlanRestore(types::VirtualMachineOperation(Restore("")), obs, kNow);
  types::VirtualMachineOperationStatus b(*begin.status);
  CHECK(b.conditions().IsTrue(kSnapshotReady));
  CHECK(b.conditions().IsTrue(kMaintenanceMode));
  CHECK(!b.was_running());  // never asked, Stopped
  CHECK(b.resources().size() == 1);

  // A VM asked to run was running, whatever its phase.
  vm["status"]["desiredPower"] = "On";
  begin = *PlanRestore(types::VirtualMachineOperation(Restore("")), obs, kNow);
  CHECK(types::VirtualMachineOperationStatus(*begin.status).was_running());

  // Lost at stop names it and says nothing changed.
  obs = {};
  Json running = Vm("Running");
  obs.vm = &running;
  Step<Rebuild> lost =
      *PlanRestore(types::VirtualMachineOperation(Restore("InProgress", kStepStop)), obs, kNow);
  CHECK(types::VirtualMachineOperationStatus(*lost.status).conditions().Get(kCompleted).message() ==
        "VirtualMachineSnapshot \"snap\" was deleted; nothing was changed");
  // ... and at objects it is an error, retried.
  auto err =
      PlanRestore(types::VirtualMachineOperation(Restore("InProgress", kStepObjects)), obs, kNow);
  CHECK(absl::IsFailedPrecondition(err.status()));

  // Completing marks what was in progress Completed and lifts MaintenanceMode.
  Json op = Restore("InProgress", kStepStart);
  op["status"]["wasRunning"] = false;
  Json stopped = Vm("Stopped");
  obs.vm = &stopped;
  Step<Rebuild> done = *PlanRestore(types::VirtualMachineOperation(op), obs, kNow);
  types::VirtualMachineOperationStatus d(*done.status);
  CHECK(d.phase() == Phase::kCompleted);
  CHECK(!d.conditions().IsTrue(kMaintenanceMode));
  CHECK(d.conditions().Get(kMaintenanceMode).reason() == kReasonMaintenanceModeOff);
  for (const auto& e : d.resources()) CHECK(e.status() == ResourceState::kCompleted);
}

Json Disk(const std::string& phase, const std::string& stamp, bool deleting = false) {
  Json d = {{"kind", "VirtualDisk"},
            {"metadata", {{"name", "d"}, {"namespace", "ns"}, {"uid", "d-uid"}}},
            {"status",
             {{"phase", phase},
              {"conditions", Json::array({{{"type", "Ready"}, {"message", "no space"}}})}}}};
  if (!stamp.empty()) d["metadata"]["annotations"] = {{kOperationAnnotation, stamp}};
  if (deleting) d["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  return d;
}

TEST_CASE("VirtualMachineOperation: PlanDisk, row by row") {
  struct Row {
    const char* name;
    std::optional<Json> live;
    DiskAction action;
    std::string failure, waiting;  // "" none
  };
  std::vector<Row> rows = {
      {"missing: create it", std::nullopt, DiskAction::kCreate, "",
       "VirtualDisk \"d\" is being restored"},
      {"the old one: delete it", Disk("Ready", ""), DiskAction::kDelete, "",
       "the old VirtualDisk \"d\" is being deleted"},
      {"another operation's: delete it", Disk("Ready", "other"), DiskAction::kDelete, "",
       "the old VirtualDisk \"d\" is being deleted"},
      {"the old one going", Disk("Ready", "", true), DiskAction::kNone, "",
       "the old VirtualDisk \"d\" is being deleted"},
      {"ours, provisioning", Disk("Provisioning", "op-uid"), DiskAction::kNone, "",
       "VirtualDisk \"d\" is Provisioning"},
      {"ours, no phase yet", Disk("", "op-uid"), DiskAction::kNone, "",
       "VirtualDisk \"d\" is Pending"},
      {"ours, Failed", Disk("Failed", "op-uid"), DiskAction::kNone,
       "VirtualDisk \"d\" failed to restore: no space", ""},
      {"ours, Ready", Disk("Ready", "op-uid"), DiskAction::kNone, "", ""},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    DiskStep step = PlanDisk("d", row.live ? &*row.live : nullptr, "op-uid");
    CHECK(step.action == row.action);
    CHECK(step.failure.value_or("") == row.failure);
    CHECK(step.waiting.value_or("") == row.waiting);
  }
}

TEST_CASE("VirtualMachineOperation: FinishDisks") {
  Json json = Restore("InProgress", kStepDisks);
  types::VirtualMachineOperation op(json);
  DiskProgress failed;
  failed.Add(PlanDisk("d", nullptr, "op-uid"));
  Json bad = Disk("Failed", "op-uid");
  failed.Add(PlanDisk("d", &bad, "op-uid"));
  Step<Rebuild> f = FinishDisks(op, failed, {}, kNow);
  types::VirtualMachineOperationStatus fs(*f.status);
  CHECK(fs.phase() == Phase::kFailed);
  CHECK(fs.conditions().Get(kCompleted).reason() == kReasonVirtualDiskRestoreFailed);
  CHECK(fs.conditions().Get(kCompleted).message() ==
        "VirtualDisk \"d\" failed to restore: no space; the VM is held stopped until it is "
        "restored again");
  CHECK(fs.resources()[0].status() == ResourceState::kSkipped);

  Json ours = Disk("Ready", "op-uid");
  DiskProgress waiting;
  waiting.Add(PlanDisk("d", &ours, "op-uid"));
  waiting.Add(PlanDisk("e", nullptr, "op-uid"));
  Step<Rebuild> w = FinishDisks(op, waiting, {{"d", &ours}}, kNow);
  types::VirtualMachineOperationStatus ws(*w.status);
  CHECK(ws.phase() == Phase::kInProgress);
  CHECK(w.requeue == kPoll);
  CHECK(ws.conditions().Get(kCompleted).reason() == kReasonRestoringDisks);
  CHECK(ws.conditions().Get(kCompleted).message() == "VirtualDisk \"e\" is being restored");
  CHECK(ws.resources()[0].status() == ResourceState::kCompleted);
  CHECK(ws.resources()[1].status() == ResourceState::kInProgress);  // not a disk: as it was

  Json old = Disk("Ready", "");
  Step<Rebuild> n = FinishDisks(op, DiskProgress{}, {{"d", &old}}, kNow);
  types::VirtualMachineOperationStatus ns(*n.status);
  CHECK(ns.step() == kStepObjects);
  CHECK(n.requeue == absl::ZeroDuration());
  CHECK(ns.resources()[0].status() == ResourceState::kInProgress);  // not ours
}

// ---- Clone

Json CloneOp(const std::string& phase, const std::string& step = "",
             const std::string& mode = "Strict") {
  Json o = Op("Clone", phase, step);
  o["spec"]["clone"] = {{"mode", mode}};
  if (!phase.empty()) {
    o["status"]["resources"] =
        Json::array({{{"kind", "VirtualDisk"}, {"name", "d-clone"}, {"status", "InProgress"}}});
  }
  return o;
}

TEST_CASE("VirtualMachineOperation: PlanClone, row by row") {
  struct Row {
    const char* name;
    Json op;
    std::optional<Json> vm;
    absl::Status live;
    std::optional<bool> conflict;
    std::optional<Json> snapshot;
    absl::Status payload;
    // Expected:
    std::string phase, reason, step;
    bool ensure_snapshot, run_clone, roll_back, delete_snapshot, add_finalizer;
  };
  const absl::Status ok = absl::OkStatus();
  const absl::Status gone = absl::FailedPreconditionError("VirtualDisk \"d\" does not exist");
  std::vector<Row> rows = {
      {"VM missing", CloneOp(""), std::nullopt, ok, std::nullopt, std::nullopt, ok, "Failed",
       kReasonVirtualMachineNotFound, "", false, false, false, false, false},
      {"a disk missing", CloneOp(""), Vm("Running"), gone, std::nullopt, std::nullopt, ok, "Failed",
       kReasonVirtualMachineNotReady, "", false, false, false, false, false},
      {"DryRun", CloneOp("", "", "DryRun"), Vm("Running"), ok, false, std::nullopt, ok, "Completed",
       kReasonDryRunCompleted, "", false, false, false, false, false},
      {"DryRun conflicts", CloneOp("", "", "DryRun"), Vm("Running"), ok, true, std::nullopt, ok,
       "Failed", kReasonConflictsFound, "", false, false, false, false, false},
      {"conflicts", CloneOp("Pending"), Vm("Running"), ok, true, std::nullopt, ok, "Failed",
       kReasonConflictsFound, "", false, false, false, false, false},
      {"clean: begins", CloneOp(""), Vm("Running"), ok, false, std::nullopt, ok, "InProgress",
       kReasonSnapshotting, kStepSnapshot, false, false, false, false, true},
      {"snapshot step", CloneOp("InProgress", kStepSnapshot), std::nullopt, ok, std::nullopt,
       std::nullopt, ok, "", "", "", true, false, false, false, false},
      {"no step yet is snapshot", CloneOp("InProgress"), std::nullopt, ok, std::nullopt,
       std::nullopt, ok, "", "", "", true, false, false, false, false},
      {"create, snapshot gone", CloneOp("InProgress", kStepCreate), std::nullopt, ok, std::nullopt,
       std::nullopt, ok, "Failed", kReasonSnapshotLost, "", false, false, true, true, false},
      {"create, payload lost", CloneOp("InProgress", kStepCreate), std::nullopt, ok, std::nullopt,
       Snap("Ready"), gone, "Failed", kReasonSnapshotLost, "", false, false, true, true, false},
      {"create", CloneOp("InProgress", kStepCreate), std::nullopt, ok, std::nullopt, Snap("Ready"),
       ok, "", "", "", false, true, false, false, false},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    CloneObservation obs;
    if (row.vm) obs.vm = &*row.vm;
    obs.live = row.live;
    std::optional<ResourceList> plan;
    if (row.conflict) {
      plan = Plan(*row.conflict);
      obs.plan = &*plan;
    }
    if (row.snapshot) obs.snapshot = &*row.snapshot;
    obs.payload = row.payload;
    Step<Rebuild> step = PlanClone(types::VirtualMachineOperation(row.op), obs, kNow);
    CHECK(step.action.ensure_snapshot == row.ensure_snapshot);
    CHECK(step.action.run_clone == row.run_clone);
    CHECK(step.action.roll_back == row.roll_back);
    CHECK(step.action.delete_snapshot == row.delete_snapshot);
    CHECK(step.add_finalizer == row.add_finalizer);
    CHECK(step.action.vm == Hold::kKeep);
    if (row.phase.empty()) {
      CHECK(!step.status.has_value());
      continue;
    }
    REQUIRE(step.status.has_value());
    types::VirtualMachineOperationStatus st(*step.status);
    CHECK(std::string(types::Name(st.phase())) == row.phase);
    CHECK(st.conditions().Get(kCompleted).reason() == row.reason);
    if (!row.step.empty()) CHECK(st.step() == row.step);
  }
}

TEST_CASE("VirtualMachineOperation: the temporary snapshot") {
  Json json = CloneOp("InProgress", kStepSnapshot);
  types::VirtualMachineOperation op(json);
  CHECK(TempSnapshotName(op) == "vmop-clone-op-uid");
  Json temp = TempSnapshot(op);
  types::VirtualMachineSnapshot t(temp);
  CHECK(t.name() == "vmop-clone-op-uid");
  CHECK(t.spec().virtual_machine_name() == "vm");
  CHECK(t.spec().keep_ip_address() == types::VirtualMachineSnapshotSpecKeepIPAddress::kNever);
  CHECK(t.metadata().annotation(kOperationAnnotation) == "op-uid");
  CHECK(t.metadata().owner_references()[0]["uid"] == "op-uid");

  Step<Rebuild> pending = FinishTempSnapshot(op, Snap(""), kNow);
  types::VirtualMachineOperationStatus p(*pending.status);
  CHECK(p.phase() == Phase::kInProgress);
  CHECK(pending.requeue == kPoll);
  CHECK(p.conditions().Get(kSnapshotReady).message() ==
        "VirtualMachineSnapshot \"vmop-clone-op-uid\" is Pending");

  Step<Rebuild> ready = FinishTempSnapshot(op, Snap("Ready"), kNow);
  CHECK(types::VirtualMachineOperationStatus(*ready.status).step() == kStepCreate);
  CHECK(types::VirtualMachineOperationStatus(*ready.status).conditions().IsTrue(kSnapshotReady));
  CHECK(ready.requeue == absl::ZeroDuration());

  Json failed = Snap("Failed");
  failed["status"]["conditions"] =
      Json::array({{{"type", vmsnapshot::kVirtualMachineSnapshotReady}, {"message", "frozen"}}});
  Step<Rebuild> f = FinishTempSnapshot(op, failed, kNow);
  types::VirtualMachineOperationStatus fs(*f.status);
  CHECK(fs.phase() == Phase::kFailed);
  CHECK(fs.conditions().Get(kCompleted).reason() == kReasonSnapshotFailed);
  CHECK(fs.conditions().Get(kCompleted).message() ==
        "the temporary VirtualMachineSnapshot failed: frozen");
  CHECK(f.action.roll_back);
  CHECK(f.action.delete_snapshot);
}

TEST_CASE("VirtualMachineOperation: FinishClone") {
  Json op = CloneOp("InProgress", kStepCreate);
  Json status = op["status"];
  CloneProgress progress;
  progress.resources = Plan(false).json();
  Step<Rebuild> wait = FinishClone(op, status, progress, kReasonCreatingClone, true, kNow);
  CHECK(wait.requeue == kPoll);
  CHECK(!wait.action.delete_snapshot);
  types::VirtualMachineOperationStatus w(*wait.status);
  CHECK(w.phase() == Phase::kInProgress);
  CHECK(w.conditions().Get(kCompleted).reason() == kReasonCreatingClone);
  CHECK(w.resources()[0].name() == "vm");  // the new entries

  progress.done = true;
  Step<Rebuild> done = FinishClone(op, status, progress, kReasonCreatingClone, true, kNow);
  CHECK(types::VirtualMachineOperationStatus(*done.status).phase() == Phase::kCompleted);
  CHECK(done.action.delete_snapshot);
  CHECK(!done.action.roll_back);

  progress.failure = "VirtualMachine \"vm\" already exists";
  Step<Rebuild> failed = FinishClone(op, status, progress, kReasonCreatingClone, false, kNow);
  types::VirtualMachineOperationStatus f(*failed.status);
  CHECK(f.phase() == Phase::kFailed);
  CHECK(f.conditions().Get(kCompleted).reason() == kReasonConflictsFound);
  CHECK(f.conditions().Get(kCompleted).message() == *progress.failure);
  CHECK(failed.action.roll_back);
  CHECK(!failed.action.delete_snapshot);  // no temporary snapshot
}

TEST_CASE("VirtualMachineOperation: Preamble") {
  using H = Held;
  // deleting, finalizer, InProgress, terminal, finish_first
  CHECK(Preamble(true, false, true, false, true) == H::kDone);
  CHECK(Preamble(true, true, false, false, true) == H::kRemoveFinalizer);
  CHECK(Preamble(true, true, false, true, false) == H::kRemoveFinalizer);
  CHECK(Preamble(true, true, true, false, true) == H::kRun);
  CHECK(Preamble(true, true, true, false, false) == H::kCancel);
  CHECK(Preamble(false, true, false, true, false) == H::kDone);
  CHECK(Preamble(false, false, false, false, false) == H::kRun);
  Json restore = Restore("InProgress", kStepDisks, true);
  restore["metadata"]["finalizers"] = Json::array({kOperationFinalizer});
  CHECK(Preamble(types::VirtualMachineOperation(restore)) == H::kRun);
  Json clone = CloneOp("InProgress", kStepCreate);
  clone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  clone["metadata"]["finalizers"] = Json::array({kOperationFinalizer});
  CHECK(Preamble(types::VirtualMachineOperation(clone)) == H::kCancel);
}

}  // namespace
}  // namespace berth::controller::vmop

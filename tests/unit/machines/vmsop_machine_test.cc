// The VirtualMachineSnapshotOperation state machine (vmsop_machine.h) as a table of
// (operation, snapshot, payload, plan) -> (next phase, reason, actions, finalizer, requeue),
// and Finish after the clone ran.
#include "controllers/vmsnapshotoperation/vmsop_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace berth::controller::vmsop {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

Json Op(const std::string& phase, const std::string& mode = "Strict", bool deleting = false) {
  Json o = {{"kind", "VirtualMachineSnapshotOperation"},
            {"metadata", {{"name", "op"}, {"namespace", "ns"}, {"uid", "op-uid"}}},
            {"spec",
             {{"type", "CreateVirtualMachine"},
              {"virtualMachineSnapshotName", "snap"},
              {"createVirtualMachine", {{"mode", mode}}}}}};
  if (!phase.empty()) {
    o["status"] = {
        {"phase", phase},
        {"resources",
         Json::array({{{"kind", "VirtualDisk"}, {"name", "d-clone"}, {"status", "InProgress"}}})}};
  }
  if (deleting) {
    o["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
    o["metadata"]["finalizers"] = Json::array({kOperationFinalizer});
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
  plan.Add("VirtualMachine", "vm-clone", ResourceState::kInProgress);
  if (conflict) plan.Conflict("VirtualDisk", "d-clone", "VirtualDisk \"d-clone\" already exists");
  return plan;
}

struct Row {
  const char* name;
  Json op;
  std::optional<Json> snapshot;
  absl::Status payload;
  std::optional<bool> conflict;  // the plan, before it runs
  // Expected:
  std::string phase;   // of the status stored ("" when Plan leaves it to Finish)
  std::string reason;  // of the Completed condition ("" not checked)
  bool run_clone, roll_back, add_finalizer;
  absl::Duration requeue;
};

TEST_CASE("VirtualMachineSnapshotOperation: Plan, row by row") {
  const absl::Duration none = absl::ZeroDuration();
  const absl::Status ok = absl::OkStatus();
  const absl::Status lost = absl::FailedPreconditionError("the Secret is gone");
  std::vector<Row> rows = {
      {"snapshot missing", Op(""), std::nullopt, ok, std::nullopt, "Failed",
       kReasonVirtualMachineSnapshotNotFound, false, true, false, none},
      {"snapshot Failed", Op("Pending"), Snap("Failed"), ok, std::nullopt, "Failed",
       kReasonVirtualMachineSnapshotFailed, false, true, false, none},
      {"snapshot not Ready", Op(""), Snap("InProgress"), ok, std::nullopt, "Pending", "", false,
       false, false, kPoll},
      {"snapshot not Ready while InProgress", Op("InProgress"), Snap(""), ok, std::nullopt,
       "Pending", "", false, false, false, kPoll},
      {"payload lost", Op(""), Snap("Ready"), lost, std::nullopt, "Failed",
       kReasonVirtualMachineSnapshotLost, false, true, false, none},
      {"payload lost while InProgress", Op("InProgress"), Snap("Ready"), lost, std::nullopt,
       "Failed", kReasonVirtualMachineSnapshotLost, false, true, false, none},
      {"DryRun", Op("", "DryRun"), Snap("Ready"), ok, false, "Completed", kReasonDryRunCompleted,
       false, false, false, none},
      {"DryRun conflicts: nothing to roll back", Op("", "DryRun"), Snap("Ready"), ok, true,
       "Failed", kReasonConflictsFound, false, false, false, none},
      {"conflicts", Op("Pending"), Snap("Ready"), ok, true, "Failed", kReasonConflictsFound, false,
       true, false, none},
      {"clean: begins", Op(""), Snap("Ready"), ok, false, "InProgress",
       kReasonCreatingVirtualMachine, false, false, true, none},
      {"InProgress: run the clone", Op("InProgress"), Snap("Ready"), ok, std::nullopt, "", "", true,
       false, false, none},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    Observation obs;
    if (row.snapshot) obs.snapshot = &*row.snapshot;
    obs.payload = row.payload;
    std::optional<ResourceList> plan;
    if (row.conflict) {
      plan = Plan(*row.conflict);
      obs.plan = &*plan;
    }
    Step<Rebuild> step = vmsop::Plan(types::VirtualMachineSnapshotOperation(row.op), obs, kNow);
    CHECK(step.action.run_clone == row.run_clone);
    CHECK(step.action.roll_back == row.roll_back);
    CHECK(!step.action.delete_snapshot);
    CHECK(step.add_finalizer == row.add_finalizer);
    CHECK(step.requeue == row.requeue);
    REQUIRE(step.status.has_value());
    types::VirtualMachineSnapshotOperationStatus st(*step.status);
    if (row.phase.empty()) {
      CHECK(st.phase() == Phase::kInProgress);  // as it was, for Finish
      CHECK(st.conditions().IsTrue(kSnapshotReady));
      continue;
    }
    CHECK(std::string(types::Name(st.phase())) == row.phase);
    if (!row.reason.empty()) CHECK(st.conditions().Get(kCompleted).reason() == row.reason);
  }
}

TEST_CASE("VirtualMachineSnapshotOperation: messages") {
  Observation obs;
  Step<Rebuild> missing = vmsop::Plan(types::VirtualMachineSnapshotOperation(Op("")), obs, kNow);
  CHECK(types::VirtualMachineSnapshotOperationStatus(*missing.status)
            .conditions()
            .Get(kCompleted)
            .message() == "VirtualMachineSnapshot \"snap\" not found");
  Json snap = Snap("Pending");
  obs.snapshot = &snap;
  Step<Rebuild> wait = vmsop::Plan(types::VirtualMachineSnapshotOperation(Op("")), obs, kNow);
  types::Condition ready =
      types::VirtualMachineSnapshotOperationStatus(*wait.status).conditions().Get(kSnapshotReady);
  CHECK(ready.reason() == kReasonWaitingForTheSnapshot);
  CHECK(ready.message() == "VirtualMachineSnapshot \"snap\" is not Ready");
  snap = Snap("Ready");
  ResourceList plan = Plan(true);
  obs.plan = &plan;
  Step<Rebuild> conflict = vmsop::Plan(types::VirtualMachineSnapshotOperation(Op("")), obs, kNow);
  types::VirtualMachineSnapshotOperationStatus c(*conflict.status);
  CHECK(c.conditions().Get(kCompleted).message() == "VirtualDisk \"d-clone\" already exists");
  CHECK(c.resources().size() == 2);
  CHECK(c.resources()[0].status() ==
        types::VirtualMachineSnapshotOperationResourceStatus::kSkipped);
}

TEST_CASE("VirtualMachineSnapshotOperation: Finish") {
  Json json = Op("InProgress");
  types::VirtualMachineSnapshotOperation op(json);
  CloneProgress progress;
  progress.resources = Plan(false).json();
  Step<Rebuild> wait = Finish(op, json["status"], progress, kNow);
  CHECK(wait.requeue == kPoll);
  types::VirtualMachineSnapshotOperationStatus w(*wait.status);
  CHECK(w.phase() == Phase::kInProgress);
  CHECK(w.conditions().Get(kCompleted).reason() == kReasonCreatingVirtualMachine);
  CHECK(w.conditions().Get(kCompleted).message() == "waiting for the cloned disks");
  CHECK(w.resources()[0].name() == "vm-clone");

  progress.done = true;
  Step<Rebuild> done = Finish(op, json["status"], progress, kNow);
  CHECK(types::VirtualMachineSnapshotOperationStatus(*done.status).phase() == Phase::kCompleted);
  CHECK(!done.action.roll_back);
  CHECK(!done.action.delete_snapshot);

  progress.failure = "VirtualMachine \"vm-clone\" already exists";
  Step<Rebuild> failed = Finish(op, json["status"], progress, kNow);
  CHECK(types::VirtualMachineSnapshotOperationStatus(*failed.status).phase() == Phase::kFailed);
  CHECK(failed.action.roll_back);
}

TEST_CASE("VirtualMachineSnapshotOperation: Preamble and Terminal") {
  Json deleting = Op("InProgress", "Strict", true);
  CHECK(Preamble(types::VirtualMachineSnapshotOperation(deleting)) == Held::kCancel);
  deleting["status"]["phase"] = "Failed";
  CHECK(Preamble(types::VirtualMachineSnapshotOperation(deleting)) == Held::kRemoveFinalizer);
  deleting["metadata"].erase("finalizers");
  CHECK(Preamble(types::VirtualMachineSnapshotOperation(deleting)) == Held::kDone);
  Json done = Op("Completed");
  CHECK(Terminal(types::VirtualMachineSnapshotOperation(done)));
  CHECK(Preamble(types::VirtualMachineSnapshotOperation(done)) == Held::kDone);
  Json fresh = Op("");
  CHECK(!Terminal(types::VirtualMachineSnapshotOperation(fresh)));
  CHECK(Preamble(types::VirtualMachineSnapshotOperation(fresh)) == Held::kRun);
}

}  // namespace
}  // namespace berth::controller::vmsop

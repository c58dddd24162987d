// The VirtualDiskSnapshot state machine (vds_machine.h) as a table of
// (snapshot, observations) -> (next phase, reason, action, finalizer written).
#include "controllers/virtualdisksnapshot/vds_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace berth::controller::vds {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

Json Snapshot(const std::string& phase, bool managed = false, bool required = true) {
  Json s = {{"kind", "VirtualDiskSnapshot"},
            {"metadata", {{"name", "s"}, {"namespace", "ns"}, {"uid", "snap-uid"}}},
            {"spec", {{"virtualDiskName", "d"}, {"requiredConsistency", required}}}};
  if (managed) {
    s["metadata"]["annotations"] = {{kManagedByAnnotation, "vms"}};
  }
  if (!phase.empty()) {
    s["status"] = {{"phase", phase}, {"node", "n1"}, {"pool", "p"}, {"virtualDiskUID", "d-uid"}};
  }
  return s;
}

Json Disk(const std::string& phase) {
  return {{"kind", "VirtualDisk"},
          {"metadata", {{"name", "d"}, {"namespace", "ns"}, {"uid", "d-uid"}}},
          {"status", {{"phase", phase}, {"node", "n1"}, {"pool", "p"}}}};
}

Json Vm(const std::string& phase, bool agent_ready) {
  return {{"kind", "VirtualMachine"},
          {"metadata", {{"name", "vm"}, {"namespace", "ns"}, {"uid", "0123456789"}}},
          {"status",
           {{"phase", phase},
            {"conditions", Json::array({{{"type", "AgentReady"},
                                         {"status", agent_ready ? "True" : "False"},
                                         {"message", "no channel"}}})}}}};
}

Json VmSnapshot(const std::string& phase, std::optional<bool> cut_done) {
  Json v = {{"kind", "VirtualMachineSnapshot"}, {"status", {{"phase", phase}}}};
  if (cut_done) {
    v["status"]["cutDone"] = *cut_done;
    v["status"]["consistent"] = true;
  }
  return v;
}

struct Row {
  const char* name;
  Json snapshot;
  std::optional<Json> disk;
  std::optional<Json> vm;
  std::optional<Json> vm_snapshot;
  // Expected:
  std::string phase;   // of the status to store; "" when nothing is stored
  std::string reason;  // of the VirtualDiskSnapshotReady condition ("" not checked)
  Action action;
  bool add_finalizer;
  absl::Duration requeue;
};

TEST_CASE("VirtualDiskSnapshot: Plan, row by row") {
  const absl::Duration poll = kPendingPoll, none = absl::ZeroDuration();
  std::vector<Row> rows = {
      {"new, disk missing", Snapshot(""), std::nullopt, std::nullopt, std::nullopt, "Pending",
       kReasonWaitingForTheVirtualDisk, Action::kNone, true, poll},
      {"new, disk provisioning", Snapshot(""), Disk("Provisioning"), std::nullopt, std::nullopt,
       "Pending", kReasonWaitingForTheVirtualDisk, Action::kNone, true, poll},
      {"new, disk ready, no VM", Snapshot(""), Disk("Ready"), std::nullopt, std::nullopt,
       "InProgress", kReasonSnapshotting, Action::kCut, true, none},
      {"new, VM running with agent", Snapshot(""), Disk("Ready"), Vm("Running", true), std::nullopt,
       "InProgress", kReasonFileSystemFreezing, Action::kCut, true, none},
      {"new, VM running without agent", Snapshot(""), Disk("Ready"), Vm("Running", false),
       std::nullopt, "Failed", kReasonPotentiallyInconsistent, Action::kNone, true, none},
      {"new, VM starting (agent not yet)", Snapshot(""), Disk("Ready"), Vm("Starting", true),
       std::nullopt, "Failed", kReasonPotentiallyInconsistent, Action::kNone, true, none},
      {"new, VM without agent, consistency not required", Snapshot("", false, false), Disk("Ready"),
       Vm("Running", false), std::nullopt, "InProgress", kReasonSnapshotting, Action::kCut, true,
       none},
      {"new, managed by a VM snapshot", Snapshot("", true), Disk("Ready"), std::nullopt,
       std::nullopt, "InProgress", kReasonSnapshotting, Action::kNone, true, none},
      {"announced, own cut", Snapshot("InProgress"), Disk("Ready"), std::nullopt, std::nullopt,
       "InProgress", "", Action::kCut, false, none},
      {"announced, disk went away", Snapshot("InProgress"), std::nullopt, std::nullopt,
       std::nullopt, "Pending", kReasonWaitingForTheVirtualDisk, Action::kNone, true, poll},
      {"managed, VM snapshot gone", Snapshot("InProgress", true), Disk("Ready"), std::nullopt,
       std::nullopt, "Failed", kReasonFailed, Action::kNone, false, none},
      {"managed, VM snapshot failed", Snapshot("InProgress", true), Disk("Ready"), std::nullopt,
       VmSnapshot("Failed", std::nullopt), "Failed", kReasonFailed, Action::kNone, false, none},
      {"managed, not cut yet", Snapshot("InProgress", true), Disk("Ready"), std::nullopt,
       VmSnapshot("InProgress", std::nullopt), "", "", Action::kNone, false, poll},
      {"managed, cut", Snapshot("InProgress", true), Disk("Ready"), std::nullopt,
       VmSnapshot("InProgress", true), "InProgress", "", Action::kCollectCut, false, none},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    Observation obs;
    if (row.disk) obs.disk = &*row.disk;
    if (row.vm) obs.running_vm = &*row.vm;
    if (row.vm_snapshot) obs.vm_snapshot = &*row.vm_snapshot;
    Step<Action> step = Plan(types::VirtualDiskSnapshot(row.snapshot), obs, kNow);
    CHECK(step.action == row.action);
    CHECK(step.add_finalizer == row.add_finalizer);
    CHECK(step.requeue == row.requeue);
    if (row.phase.empty()) {
      CHECK(!step.status.has_value());
      continue;
    }
    REQUIRE(step.status.has_value());
    types::VirtualDiskSnapshotStatus st(*step.status);
    CHECK(std::string(types::Name(st.phase())) == row.phase);
    if (!row.reason.empty()) {
      CHECK(st.conditions().Get(kVirtualDiskSnapshotReady).reason() == row.reason);
    }
  }
}

TEST_CASE("VirtualDiskSnapshot: a cut announces where and how it is taken") {
  Json disk = Disk("Ready"), vm = Vm("Running", true);
  Observation obs{&disk, &vm, nullptr};
  Step<Action> step = Plan(types::VirtualDiskSnapshot(Snapshot("")), obs, kNow);
  REQUIRE(step.status.has_value());
  types::VirtualDiskSnapshotStatus st(*step.status);
  CHECK(st.node() == "n1");
  CHECK(st.pool() == "p");
  CHECK(st.virtual_disk_uid() == "d-uid");
  CHECK(st.freeze_domain() == "berth-ns-vm-01234567");
  CHECK(st.consistent());
  CHECK(step.event == PhaseEvent::kRecord);  // a freeze can take seconds

  obs.running_vm = nullptr;
  step = Plan(types::VirtualDiskSnapshot(Snapshot("")), obs, kNow);
  REQUIRE(step.status.has_value());
  CHECK(!types::VirtualDiskSnapshotStatus(*step.status).has_freeze_domain());
  CHECK(step.event == PhaseEvent::kSkip);  // the outcome's Event tells the story
}

TEST_CASE("VirtualDiskSnapshot: a failure before the cut leaves no consistency claim") {
  Json snap = Snapshot("");
  snap["status"] = {{"consistent", true}};
  Json disk = Disk("Ready"), vm = Vm("Running", false);
  Step<Action> step = Plan(types::VirtualDiskSnapshot(snap), {&disk, &vm, nullptr}, kNow);
  REQUIRE(step.status.has_value());
  CHECK(!step.status->contains("consistent"));
  CHECK(!step.status->contains("node"));  // never placed
  CHECK(step.status->at("conditions")[0]["message"].get<std::string>().find("no channel") !=
        std::string::npos);
}

TEST_CASE("VirtualDiskSnapshot: Finish folds the cut's outcome in") {
  Json snap = Snapshot("InProgress");
  types::VirtualDiskSnapshot view(snap);
  agentpb::Snapshot cut;
  cut.set_size_bytes(4096);
  cut.set_path("/pool/snap");
  auto ready = Finish(view, snap["status"], cut, kNow, absl::Seconds(20));
  REQUIRE(ready.ok());
  types::VirtualDiskSnapshotStatus st(*ready->status);
  CHECK(st.phase() == Phase::kReady);
  CHECK(st.size_bytes() == 4096);
  CHECK(st.path() == "/pool/snap");
  CHECK(st.conditions().IsTrue(kVirtualDiskSnapshotReady));
  CHECK(ready->requeue == absl::Seconds(20));

  for (absl::Status refused :
       {absl::NotFoundError("no volume"), absl::InvalidArgumentError("bad id"),
        absl::FailedPreconditionError("frozen elsewhere"),
        absl::ResourceExhaustedError("pool full")}) {
    auto failed = Finish(view, snap["status"], refused, kNow, absl::Seconds(20));
    REQUIRE(failed.ok());
    types::VirtualDiskSnapshotStatus f(*failed->status);
    CHECK(f.phase() == Phase::kFailed);
    CHECK(f.conditions().Get(kVirtualDiskSnapshotReady).message() == refused.message());
  }
  // The node unreachable says nothing about the snapshot: retried.
  auto retry =
      Finish(view, snap["status"], absl::UnavailableError("down"), kNow, absl::ZeroDuration());
  CHECK(absl::IsUnavailable(retry.status()));
}

TEST_CASE("VirtualDiskSnapshot: deletion marks Terminating, then deletes what the node has") {
  Json snap = Snapshot("Ready");
  Step<Action> step = PlanDeletion(types::VirtualDiskSnapshot(snap));
  REQUIRE(step.status.has_value());
  CHECK(types::VirtualDiskSnapshotStatus(*step.status).phase() == Phase::kTerminating);
  CHECK(step.action == Action::kNone);

  snap["status"]["phase"] = "Terminating";
  CHECK(PlanDeletion(types::VirtualDiskSnapshot(snap)).action == Action::kRemoveFinalizer);
  snap["metadata"]["finalizers"] = Json::array({kSnapshotFinalizer});
  CHECK(PlanDeletion(types::VirtualDiskSnapshot(snap)).action == Action::kDelete);
  snap["status"].erase("node");  // never placed on a node
  CHECK(PlanDeletion(types::VirtualDiskSnapshot(snap)).action == Action::kRemoveFinalizer);
}

}  // namespace
}  // namespace berth::controller::vds

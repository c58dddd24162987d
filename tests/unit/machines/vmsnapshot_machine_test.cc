// The VirtualMachineSnapshot state machine (vmsnapshot_machine.h) as a table of
// (snapshot, observations) -> (next phase, reason, action, requeue).
#include "controllers/virtualmachinesnapshot/vmsnapshot_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace berth::controller::vmsnapshot {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

Json Snapshot(const std::string& phase, bool cut_done = false, bool required = true) {
  Json s = {{"kind", "VirtualMachineSnapshot"},
            {"metadata", {{"name", "s"}, {"namespace", "ns"}, {"uid", "snap-uid"}}},
            {"spec", {{"virtualMachineName", "vm"}, {"requiredConsistency", required}}}};
  if (!phase.empty()) s["status"] = {{"phase", phase}, {"consistent", true}};
  if (cut_done) {
    s["status"]["cutDone"] = true;
    s["status"]["virtualDiskSnapshotNames"] = Json::array({"d-snap-uid"});
    s["status"]["pendingResources"] = Json::array({{{"kind", "VirtualMachine"}, {"name", "vm"}}});
  }
  return s;
}

Json Vm(const std::string& phase, bool agent_ready = true) {
  return {{"kind", "VirtualMachine"},
          {"metadata", {{"name", "vm"}, {"namespace", "ns"}, {"uid", "vm-uid"}}},
          {"status",
           {{"phase", phase},
            {"conditions", Json::array({{{"type", "AgentReady"},
                                         {"status", agent_ready ? "True" : "False"},
                                         {"message", "no channel"}}})}}}};
}

Json Disk(const std::string& phase, const std::string& size = "1Gi",
          int64_t size_bytes = int64_t{1} << 30) {
  return {{"kind", "VirtualDisk"},
          {"metadata", {{"name", "d"}, {"namespace", "ns"}, {"uid", "d-uid"}}},
          {"spec", {{"persistentVolumeClaim", {{"size", size}}}}},
          {"status", {{"phase", phase}, {"sizeBytes", size_bytes}}}};
}

Json Vds(const std::string& phase) {
  return {{"kind", "VirtualDiskSnapshot"}, {"status", {{"phase", phase}}}};
}

struct Row {
  const char* name;
  Json snapshot;
  std::optional<Json> vm;
  std::optional<Json> disk;  // the VM's one disk "d"; nullopt: missing
  std::optional<Json> vds;   // its snapshot "d-snap-uid"; nullopt: gone
  // Expected:
  std::string phase;   // of the status to store; "" when nothing is stored
  std::string reason;  // of the VirtualMachineSnapshotReady condition ("" not checked)
  Action action;
  absl::Duration requeue;
};

TEST_CASE("VirtualMachineSnapshot: Plan, row by row") {
  const absl::Duration none = absl::ZeroDuration();
  std::vector<Row> rows = {
      {"Ready, disk snapshot there", Snapshot("Ready", true), std::nullopt, std::nullopt,
       Vds("Ready"), "", "", Action::kNone, kLostCheck},
      {"Ready, disk snapshot gone", Snapshot("Ready", true), std::nullopt, std::nullopt,
       std::nullopt, "Failed", kReasonVirtualDiskSnapshotLost, Action::kNone, none},
      {"Ready, disk snapshot Failed", Snapshot("Ready", true), std::nullopt, std::nullopt,
       Vds("Failed"), "Failed", kReasonVirtualDiskSnapshotLost, Action::kNone, none},
      {"new, VM missing", Snapshot(""), std::nullopt, Disk("Ready"), std::nullopt, "Pending",
       kReasonWaitingForTheVirtualMachine, Action::kNone, kVmPoll},
      {"cut, VM gone meanwhile", Snapshot("InProgress", true), std::nullopt, std::nullopt,
       Vds("Ready"), "Pending", kReasonWaitingForTheVirtualMachine, Action::kNone, kVmPoll},
      {"new, disk missing", Snapshot(""), Vm("Stopped"), std::nullopt, std::nullopt, "Failed",
       kReasonBlockDevicesNotReady, Action::kNone, none},
      {"new, disk provisioning", Snapshot(""), Vm("Stopped"), Disk("Provisioning"), std::nullopt,
       "Failed", kReasonBlockDevicesNotReady, Action::kNone, none},
      {"new, disk resizing", Snapshot(""), Vm("Stopped"), Disk("Ready", "2Gi"), std::nullopt,
       "Failed", kReasonBlockDevicesNotReady, Action::kNone, none},
      {"new, VM starting, consistency required", Snapshot(""), Vm("Starting"), Disk("Ready"),
       std::nullopt, "Failed", kReasonPotentiallyInconsistent, Action::kNone, none},
      {"new, VM running without agent", Snapshot(""), Vm("Running", false), Disk("Ready"),
       std::nullopt, "Failed", kReasonPotentiallyInconsistent, Action::kNone, none},
      {"new, VM stopped", Snapshot(""), Vm("Stopped"), Disk("Ready"), std::nullopt, "InProgress",
       kReasonSnapshotting, Action::kNone, none},
      {"new, VM running with agent", Snapshot(""), Vm("Running"), Disk("Ready"), std::nullopt,
       "InProgress", kReasonFileSystemFreezing, Action::kNone, none},
      {"new, VM running without agent, consistency not required", Snapshot("", false, false),
       Vm("Running", false), Disk("Ready"), std::nullopt, "InProgress", kReasonSnapshotting,
       Action::kNone, none},
      {"Pending, VM back", Snapshot("Pending"), Vm("Stopped"), Disk("Ready"), std::nullopt,
       "InProgress", kReasonSnapshotting, Action::kNone, none},
      {"InProgress, VM stopped: cut", Snapshot("InProgress"), Vm("Stopped"), Disk("Ready"),
       std::nullopt, "InProgress", "", Action::kCut, none},
      {"InProgress, VM running: frozen cut", Snapshot("InProgress"), Vm("Running"), Disk("Ready"),
       std::nullopt, "InProgress", "", Action::kCutFrozen, none},
      {"InProgress, disk no longer Ready", Snapshot("InProgress"), Vm("Stopped"), Disk("Resizing"),
       std::nullopt, "Failed", kReasonBlockDevicesNotReady, Action::kNone, none},
      {"cut, disk snapshot not Ready", Snapshot("InProgress", true), Vm("Running"), std::nullopt,
       Vds("InProgress"), "", "", Action::kNone, kPoll},
      {"cut, disk snapshot gone", Snapshot("InProgress", true), Vm("Running"), std::nullopt,
       std::nullopt, "Failed", kReasonVirtualDiskSnapshotLost, Action::kNone, none},
      {"cut, disk snapshot Failed", Snapshot("InProgress", true), Vm("Running"), std::nullopt,
       Vds("Failed"), "Failed", kReasonVirtualDiskSnapshotLost, Action::kNone, none},
      {"cut, disk snapshot Ready", Snapshot("InProgress", true), Vm("Running"), std::nullopt,
       Vds("Ready"), "Ready", kReasonReady, Action::kNone, kLostCheck},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    types::VirtualMachineSnapshot snap(row.snapshot);
    Observation obs;
    if (row.vm) obs.vm = &*row.vm;
    if (snap.status().phase() == Phase::kReady || snap.status().cut_done()) {
      obs.disk_snapshots.emplace_back("d-snap-uid", row.vds ? &*row.vds : nullptr);
    } else if (row.vm) {
      obs.disks.emplace_back("d", row.disk ? &*row.disk : nullptr);
    }
    Step<Action> step = Plan(snap, obs, kNow);
    CHECK(step.action == row.action);
    CHECK(step.requeue == row.requeue);
    CHECK(!step.add_finalizer);
    if (row.phase.empty()) {
      CHECK(!step.status.has_value());
      continue;
    }
    REQUIRE(step.status.has_value());
    types::VirtualMachineSnapshotStatus st(*step.status);
    CHECK(std::string(types::Name(st.phase())) == row.phase);
    if (!row.reason.empty()) {
      CHECK(st.conditions().Get(kVirtualMachineSnapshotReady).reason() == row.reason);
    }
    if (row.phase == "Failed") CHECK(!st.has_consistent());  // a failed snapshot claims nothing
    if (row.vm && snap.status().phase() != Phase::kReady) {
      CHECK(st.conditions().IsTrue(kVirtualMachineReady));
    }
  }
}

TEST_CASE("VirtualMachineSnapshot: the announcement names the VM; Ready moves the resources") {
  Json vm = Vm("Stopped"), disk = Disk("Ready");
  Observation obs;
  obs.vm = &vm;
  obs.disks.emplace_back("d", &disk);
  Step<Action> step = Plan(types::VirtualMachineSnapshot(Snapshot("")), obs, kNow);
  REQUIRE(step.status.has_value());
  CHECK(types::VirtualMachineSnapshotStatus(*step.status).virtual_machine_uid() == "vm-uid");

  Json cut = Snapshot("InProgress", true), vds = Vds("Ready");
  Observation done;
  done.vm = &vm;
  done.disk_snapshots.emplace_back("d-snap-uid", &vds);
  step = Plan(types::VirtualMachineSnapshot(cut), done, kNow);
  REQUIRE(step.status.has_value());
  types::VirtualMachineSnapshotStatus st(*step.status);
  CHECK(!st.has_pending_resources());
  REQUIRE(st.resources().size() == 1);
  CHECK(st.resources()[0].name() == "vm");
}

TEST_CASE("VirtualMachineSnapshot: a PotentiallyInconsistent failure says why") {
  Json vm = Vm("Running", false), disk = Disk("Ready");
  Observation obs;
  obs.vm = &vm;
  obs.disks.emplace_back("d", &disk);
  Step<Action> step = Plan(types::VirtualMachineSnapshot(Snapshot("")), obs, kNow);
  REQUIRE(step.status.has_value());
  CHECK(types::VirtualMachineSnapshotStatus(*step.status)
            .conditions()
            .Get(kVirtualMachineSnapshotReady)
            .message() ==
        "VirtualMachine \"vm\" is Running and its guest agent is not ready (no channel): a "
        "consistent snapshot needs the filesystems frozen");
}

TEST_CASE("VirtualMachineSnapshot: Finish folds the cut's outcome in") {
  Json snap = Snapshot("InProgress");
  types::VirtualMachineSnapshot view(snap);
  Json running = Vm("Running"), stopped = Vm("Stopped");
  Cut cut;
  cut.secret_name = "s-snap-uid";
  cut.resources = Json::array({{{"kind", "VirtualMachine"}, {"name", "vm"}}});
  cut.disk_snapshot_names = {"d-snap-uid"};
  cut.freeze_window_us = std::optional<int64_t>(1234);
  auto done = Finish(view, types::VirtualMachine(running), snap["status"], cut, kNow);
  REQUIRE(done.ok());
  REQUIRE(done->status.has_value());
  types::VirtualMachineSnapshotStatus st(*done->status);
  CHECK(st.phase() == Phase::kInProgress);
  CHECK(st.cut_done());
  CHECK(st.consistent());
  CHECK(st.freeze_window_micros() == 1234);
  CHECK(st.virtual_machine_snapshot_secret_name() == "s-snap-uid");
  CHECK(st.virtual_disk_snapshot_names() == std::vector<std::string>{"d-snap-uid"});
  CHECK(st.pending_resources().size() == 1);
  CHECK(st.conditions().Get(kVirtualMachineSnapshotReady).reason() == kReasonSnapshotting);
  CHECK(done->requeue == kPoll);

  // No disk: nothing was cut, no freeze window.
  cut.freeze_window_us = std::nullopt;
  done = Finish(view, types::VirtualMachine(stopped), snap["status"], cut, kNow);
  REQUIRE(done.ok());
  CHECK(!types::VirtualMachineSnapshotStatus(*done->status).has_freeze_window_micros());

  // A running guest cut without freezing: consistency unknown.
  Json relaxed = Snapshot("InProgress", false, false);
  cut.freeze_window_us = std::optional<int64_t>(0);
  done = Finish(types::VirtualMachineSnapshot(relaxed), types::VirtualMachine(running),
                relaxed["status"], cut, kNow);
  REQUIRE(done.ok());
  CHECK(!types::VirtualMachineSnapshotStatus(*done->status).has_consistent());

  for (absl::Status refused :
       {absl::FailedPreconditionError("frozen elsewhere"), absl::InvalidArgumentError("bad id"),
        absl::NotFoundError("no volume")}) {
    cut.freeze_window_us = refused;
    auto failed = Finish(view, types::VirtualMachine(running), snap["status"], cut, kNow);
    REQUIRE(failed.ok());
    types::VirtualMachineSnapshotStatus f(*failed->status);
    CHECK(f.phase() == Phase::kFailed);
    CHECK(f.conditions().Get(kVirtualMachineSnapshotReady).reason() == kReasonFailed);
    CHECK(f.conditions().Get(kVirtualMachineSnapshotReady).message() == refused.message());
    CHECK(f.virtual_machine_snapshot_secret_name() == "s-snap-uid");  // kept for cleanup
    CHECK(!f.has_consistent());
  }
  // The node unreachable says nothing about the snapshot: retried.
  cut.freeze_window_us = absl::UnavailableError("down");
  CHECK(absl::IsUnavailable(
      Finish(view, types::VirtualMachine(running), snap["status"], cut, kNow).status()));
}

TEST_CASE("VirtualMachineSnapshot: Failed and deleted snapshots are done; Ready ones are not") {
  CHECK(Done(types::VirtualMachineSnapshot(Snapshot("Failed"))));
  CHECK(!Done(types::VirtualMachineSnapshot(Snapshot("Ready"))));
  Json deleting = Snapshot("InProgress");
  deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  CHECK(Done(types::VirtualMachineSnapshot(deleting)));
}

}  // namespace
}  // namespace berth::controller::vmsnapshot

// Migrate and Evict (migrate_machine.h) as tables: placement (Targets), the start (PlanStart)
// and each InProgress step (PlanStep) from (operation, observations) -> (phase, reason, step,
// action, requeue), and the figures folded into the status.
#include "controllers/virtualmachineoperation/migrate_machine.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "controllers/virtualmachineoperation/vmop_machine.h"

namespace berth::controller::vmop::migrate {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

Json Op(const std::string& phase = "", const std::string& step = "", Json migrate = nullptr) {
  Json o = {{"kind", "VirtualMachineOperation"},
            {"metadata", {{"name", "op"}, {"namespace", "ns"}, {"uid", "op-uid"}}},
            {"spec", {{"type", "Migrate"}, {"virtualMachineName", "vm"}}}};
  if (!migrate.is_null()) o["spec"]["migrate"] = migrate;
  if (!phase.empty()) {
    o["status"] = {{"phase", phase},
                   {"migration", {{"sourceNode", "node-1"}, {"targetNode", "node-2"}}}};
  }
  if (!step.empty()) o["status"]["step"] = step;
  return o;
}

Json Vm(const std::string& phase, const std::string& node = "node-1", bool usb = false) {
  Json v = {{"kind", "VirtualMachine"},
            {"metadata", {{"name", "vm"}, {"namespace", "ns"}, {"uid", "vm-uid"}}},
            {"spec", Json::object()},
            {"status", {{"phase", phase}, {"node", node}}}};
  if (usb) v["spec"]["usbDevices"] = Json::array({Json{{"name", "key"}}});
  return v;
}

Node N(const std::string& name, bool ready = true, bool cordoned = false,
       std::map<std::string, std::string> labels = {}) {
  return Node{name, ready, cordoned, std::move(labels), {"reflink", "copy"}};
}

std::vector<Disk> Disks() { return {Disk{"root", "disk-uid", "reflink", "/a/disk-uid", 1 << 30}}; }

agentpb::MigrationStatus M(const std::string& state, bool timed_out = false) {
  agentpb::MigrationStatus m;
  m.set_state(state);
  m.set_error(state == "Failed" ? "unable to connect" : "");
  m.set_timed_out(timed_out);
  m.set_data_total_bytes(1000);
  m.set_data_processed_bytes(420);
  m.set_data_remaining_bytes(580);
  return m;
}

agentpb::DomainStatus D(const std::string& state) {
  agentpb::DomainStatus d;
  d.set_state(state);
  return d;
}

std::string Reason(const Json& status) {
  for (const Json& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == kCompleted) return c.value("reason", "");
  }
  return "";
}

TEST_CASE("Migrate: Targets") {
  std::vector<std::string> why;
  std::vector<Node> nodes = {N("node-1"), N("node-3", false), N("node-2"), N("node-4", true, true),
                             N("node-5", true, false, {{"zone", "b"}})};
  auto sel = [](NodeSelector s) {
    NodeConstraints c;
    c.selector = std::move(s);
    return c;
  };
  CHECK(Targets("node-1", {}, Disks(), nodes, &why) ==
        std::vector<std::string>{"node-2", "node-5"});
  CHECK(why == std::vector<std::string>{"node-3: not Ready", "node-4: cordoned"});
  why.clear();
  CHECK(Targets("node-1", sel({{"zone", "b"}}), Disks(), nodes, &why) ==
        std::vector<std::string>{"node-5"});
  CHECK(why.size() == 3);
  CHECK(Targets("node-1", sel({{"kubernetes.io/hostname", "node-2"}}), Disks(), nodes, nullptr) ==
        std::vector<std::string>{"node-2"});
  // The VM's tolerations against the nodes' taints.
  nodes[2].taints = Json::array({{{"key", "gpu"}, {"effect", "NoSchedule"}}});
  why.clear();
  CHECK(Targets("node-1", {}, Disks(), nodes, &why) == std::vector<std::string>{"node-5"});
  CHECK(std::count(why.begin(), why.end(),
                   "node-2: does not fit: taint gpu:NoSchedule not tolerated") == 1);
  NodeConstraints tolerant;
  tolerant.tolerations = Json::array({{{"key", "gpu"}, {"operator", "Exists"}}});
  CHECK(Targets("node-1", tolerant, Disks(), nodes, nullptr) ==
        std::vector<std::string>{"node-2", "node-5"});
  std::vector<Disk> btrfs = {Disk{"data", "u", "btrfs", "/b/u", 1}};
  why.clear();
  CHECK(Targets("node-1", {}, btrfs, {N("node-2")}, &why).empty());
  CHECK(why == std::vector<std::string>{"node-2: has no pool \"btrfs\" for VirtualDisk \"data\""});
}

struct StartRow {
  const char* name;
  Json op;
  std::optional<Json> vm;
  bool images;
  std::vector<Node> nodes;
  std::string phase, reason, target;
  Action action;
};

TEST_CASE("Migrate: PlanStart, row by row") {
  std::vector<Node> two = {N("node-1"), N("node-2")};
  std::vector<StartRow> rows = {
      {"VM missing", Op(), std::nullopt, false, two, "Failed", kReasonVirtualMachineNotFound, "",
       Action::kNone},
      {"VM stopped", Op(), Vm("Stopped"), false, two, "Failed", kReasonVirtualMachineNotRunning, "",
       Action::kNone},
      {"VM not placed", Op(), Vm("Running", ""), false, two, "Failed",
       kReasonVirtualMachineNotRunning, "", Action::kNone},
      {"an image attached", Op(), Vm("Running"), true, two, "Failed", kReasonNotSupported, "",
       Action::kNone},
      {"USB devices move along", Op(), Vm("Running", "node-1", true), false, two, "InProgress",
       kReasonPreparingTarget, "node-2", Action::kPrepare},
      {"one node only",
       Op(),
       Vm("Running"),
       false,
       {N("node-1")},
       "Failed",
       kReasonNoSuitableNode,
       "",
       Action::kNone},
      {"selector matches nothing", Op("", "", {{"nodeSelector", {{"zone", "z"}}}}), Vm("Running"),
       false, two, "Failed", kReasonNoSuitableNode, "", Action::kNone},
      {"target cordoned",
       Op(),
       Vm("Running"),
       false,
       {N("node-1"), N("node-2", true, true)},
       "Failed",
       kReasonNoSuitableNode,
       "",
       Action::kNone},
      {"starts", Op(), Vm("Running"), false, two, "InProgress", kReasonPreparingTarget, "node-2",
       Action::kPrepare},
      {"selector picks",
       Op("", "", {{"nodeSelector", {{"zone", "b"}}}}),
       Vm("Running"),
       false,
       {N("node-1"), N("node-2"), N("node-3", true, false, {{"zone", "b"}})},
       "InProgress",
       kReasonPreparingTarget,
       "node-3",
       Action::kPrepare},
  };
  for (const StartRow& r : rows) {
    SECTION(r.name) {
      Observation obs;
      if (r.vm) obs.vm = &*r.vm;
      obs.has_images = r.images;
      obs.nodes = r.nodes;
      obs.disks = Disks();
      Step<Action> step = PlanStart(types::VirtualMachineOperation(r.op), obs, kNow);
      REQUIRE(step.status);
      CHECK(step.status->value("phase", "") == r.phase);
      CHECK(Reason(*step.status) == r.reason);
      CHECK(step.action == r.action);
      if (!r.target.empty()) {
        CHECK(JsonString(*step.status, "/migration/targetNode") == r.target);
        CHECK(JsonString(*step.status, "/migration/sourceNode") == "node-1");
        CHECK(step.status->value("step", "") == kStepPrepare);
        CHECK(step.add_finalizer);
      }
    }
  }
}

struct StepRow {
  const char* name;
  Json op;
  bool deleting;
  std::optional<agentpb::MigrationStatus> source;
  std::optional<agentpb::DomainStatus> source_domain, target_domain;
  std::string step, reason;  // "" not checked
  Action action;
  absl::Duration requeue;
};

TEST_CASE("Migrate: PlanStep, row by row") {
  const absl::Duration none = absl::ZeroDuration();
  auto run = D("Running");
  auto gone = D("NotFound");
  std::vector<StepRow> rows = {
      {"prepare goes on",
       Op("InProgress", kStepPrepare),
       false,
       {},
       {},
       {},
       kStepPrepare,
       "",
       Action::kPrepare,
       none},
      {"prepare, deleted",
       Op("InProgress", kStepPrepare),
       true,
       {},
       {},
       {},
       kStepRollBack,
       kReasonMigrationCancelled,
       Action::kRollBack,
       none},
      {"running: figures, poll", Op("InProgress", kStepMigrate), false, M("Running"), run, gone,
       kStepMigrate, kReasonMigrating, Action::kNone, kMigratePoll},
      {"completed", Op("InProgress", kStepMigrate), false, M("Completed"), gone, run, kStepSwitch,
       kReasonSwitchingOver, Action::kSwitch, none},
      {"failed", Op("InProgress", kStepMigrate), false, M("Failed"), run, gone, kStepRollBack,
       kReasonMigrationFailed, Action::kRollBack, none},
      {"timed out", Op("InProgress", kStepMigrate), false, M("Failed", true), run, gone,
       kStepRollBack, kReasonMigrationTimedOut, Action::kRollBack, none},
      {"source agent restarted, guest on source", Op("InProgress", kStepMigrate), false, M("None"),
       run, gone, kStepRollBack, kReasonMigrationInterrupted, Action::kRollBack, none},
      {"source agent restarted, guest on target", Op("InProgress", kStepMigrate), false, M("None"),
       gone, run, kStepSwitch, kReasonSwitchingOver, Action::kSwitch, none},
      {"source unreachable, guest on target", Op("InProgress", kStepMigrate), false, std::nullopt,
       std::nullopt, run, kStepMigrate, "", Action::kNone, kPoll},
      {"nobody answers", Op("InProgress", kStepMigrate), false, std::nullopt, std::nullopt,
       std::nullopt, kStepMigrate, "", Action::kNone, kPoll},
      {"deleted while migrating", Op("InProgress", kStepMigrate), true, M("Running"), run, gone,
       kStepRollBack, kReasonMigrationCancelled, Action::kRollBack, none},
      {"deleted after the switch-over", Op("InProgress", kStepMigrate), true, M("Completed"), gone,
       run, kStepSwitch, kReasonFinishingBeforeDeletion, Action::kSwitch, none},
      {"switch goes on",
       Op("InProgress", kStepSwitch),
       false,
       {},
       {},
       {},
       kStepSwitch,
       "",
       Action::kSwitch,
       none},
      {"rollback goes on", Op("InProgress", kStepRollBack), false, M("Failed"), run, gone,
       kStepRollBack, "", Action::kRollBack, none},
      {"rollback finds the guest on the target", Op("InProgress", kStepRollBack), false, M("None"),
       gone, run, kStepSwitch, kReasonSwitchingOver, Action::kSwitch, none},
  };
  for (StepRow& r : rows) {
    SECTION(r.name) {
      if (r.deleting) r.op["metadata"]["deletionTimestamp"] = "2023-11-14T22:13:20Z";
      Observation obs;
      obs.source = r.source;
      obs.source_domain = r.source_domain;
      obs.target_domain = r.target_domain;
      Step<Action> step = PlanStep(types::VirtualMachineOperation(r.op), obs, kNow);
      REQUIRE(step.status);
      CHECK(step.status->value("step", "") == r.step);
      if (!r.reason.empty()) CHECK(Reason(*step.status) == r.reason);
      CHECK(step.action == r.action);
      CHECK(step.requeue == r.requeue);
    }
  }
}

TEST_CASE("Migrate: figures and conclusions") {
  Json status = WithFigures(Json::object(), M("Running"));
  CHECK(status["progress"] == "42%");
  CHECK(status["migration"]["dataRemainingBytes"] == 580);
  CHECK_FALSE(status["migration"].contains("downtimeMilliseconds"));
  agentpb::MigrationStatus finished = M("Completed");
  finished.set_downtime_ms(87);
  CHECK(WithFigures(Json::object(), finished)["migration"]["downtimeMilliseconds"] == 87);
  const Json json = Op("InProgress", kStepSwitch);
  types::VirtualMachineOperation op(json);
  Step<Action> done = Conclude(op, op.status().json(), true, kReasonCompleted, "moved", kNow);
  CHECK(done.status->value("phase", "") == "Completed");
  CHECK(done.status->value("progress", "") == "100%");
  Step<Action> failed = Conclude(op, op.status().json(), false, kReasonMigrationFailed, "no", kNow);
  CHECK(failed.status->value("phase", "") == "Failed");
  CHECK(Reason(*failed.status) == kReasonMigrationFailed);
}

}  // namespace
}  // namespace berth::controller::vmop::migrate

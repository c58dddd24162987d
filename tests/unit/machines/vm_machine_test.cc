// The VirtualMachine state machine (vm_machine.h) as a table of
// (VM, observations) -> (next phase, reason, action, requeue).
#include "controllers/virtualmachine/vm_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "berth/time_util.h"
#include "controllers/common/vm_common.h"

namespace berth::controller::vm {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
const absl::Duration kGrace = absl::Seconds(30), kPoll = absl::Seconds(3);

Json Vm(const std::string& run_policy = "AlwaysOnUnlessStoppedManually", Json status = {}) {
  Json vm = {{"kind", "VirtualMachine"},
             {"metadata", {{"name", "vm"}, {"namespace", "ns"}, {"uid", "0123456789"}}},
             {"spec",
              {{"runPolicy", run_policy},
               {"cpu", {{"cores", 2}}},
               {"memory", {{"size", "1Gi"}}},
               {"blockDeviceRefs", Json::array({{{"kind", "VirtualDisk"}, {"name", "d"}},
                                                {{"kind", "VirtualImage"}, {"name", "img"}}})}}}};
  if (!status.is_null()) vm["status"] = status;
  return vm;
}

Json Device(const std::string& kind, const std::string& phase, const std::string& node = "n1") {
  return {{"kind", kind},
          {"metadata", {{"name", kind == "VirtualDisk" ? "d" : "img"}, {"namespace", "ns"}}},
          {"status",
           {{"phase", phase}, {"node", node}, {"path", "/pool/" + kind}, {"capacity", "1Gi"}}}};
}

Json Other(const std::string& phase) {
  return {{"kind", "VirtualMachine"},
          {"metadata", {{"name", "other"}, {"namespace", "ns"}}},
          {"status", {{"phase", phase}}}};
}

Json Lease(const std::string& kind, const std::string& address, const std::string& holder = "vm") {
  return {{"kind", kind}, {"status", {{"address", address}, {"virtualMachine", holder}}}};
}

agentpb::DomainStatus Domain(const std::string& state, bool agent_ready = true) {
  agentpb::DomainStatus d;
  d.set_state(state);
  d.set_agent_ready(agent_ready);
  d.set_agent_error("no channel");
  d.add_addresses("10.66.0.2");
  return d;
}

Json Export(const std::string& phase) {
  return {{"kind", "DataExport"},
          {"spec", {{"targetRef", {{"kind", "VirtualDisk"}, {"name", "d"}}}}},
          {"status", {{"phase", phase}}}};
}

// What one row observes; the pointers of Observation point into it.
struct World {
  std::optional<Json> disk = Device("VirtualDisk", "Ready");
  std::optional<Json> image = Device("VirtualImage", "Ready");
  std::optional<Json> ip = Lease("VirtualMachineIPAddress", "10.66.0.2");
  std::optional<Json> mac = Lease("VirtualMachineMACAddress", "52:54:00:01:02:03");
  std::vector<Json> disk_users;
  std::optional<agentpb::DomainStatus> domain = Domain("Shutoff");
  std::optional<std::vector<Json>> exports;
  std::optional<Json> node;  // the devices' node n1

  Observation Observe() const {
    Observation obs;
    obs.ip_address = ip ? &*ip : nullptr;
    obs.mac_address = mac ? &*mac : nullptr;
    obs.devices = {disk ? &*disk : nullptr, image ? &*image : nullptr};
    obs.disk_users["d"] = disk_users;
    obs.domain = domain;
    obs.exports = exports;
    obs.node = node ? &*node : nullptr;
    return obs;
  }
};

struct Row {
  const char* name;
  Json vm;
  World world;
  // Expected:
  std::string phase;
  const char* condition;  // BlockDevicesReady or AgentReady ("" not checked)
  std::string reason;     // of `condition`
  Action action;
  absl::Duration requeue;
};

World With(std::function<void(World&)> f) {
  World w;
  f(w);
  return w;
}

TEST_CASE("VirtualMachine: Plan, row by row") {
  const absl::Duration pending = kPendingPoll, transition = kTransitionPoll,
                       none = absl::ZeroDuration();
  Json running = {{"phase", "Running"}};
  Json stopping = {{"phase", "Stopping"},
                   {"stoppingSince", FormatRfc3339(kNow - absl::Seconds(5))}};
  Json stopping_long = {{"phase", "Stopping"},
                        {"stoppingSince", FormatRfc3339(kNow - absl::Seconds(31))}};
  std::vector<Row> rows = {
      {"disk missing", Vm(), With([](World& w) { w.disk.reset(); }), "Pending", kBlockDevicesReady,
       kReasonBlockDevicesNotReady, Action::kNone, pending},
      {"image not Ready", Vm(), With([](World& w) { w.image = Device("VirtualImage", "Pending"); }),
       "Pending", kBlockDevicesReady, kReasonBlockDevicesNotReady, Action::kNone, pending},
      {"devices on two nodes", Vm(),
       With([](World& w) { w.image = Device("VirtualImage", "Ready", "n2"); }), "Pending",
       kBlockDevicesReady, kReasonBlockDevicesNotReady, Action::kNone, pending},
      {"disk used by another running VM", Vm(),
       With([](World& w) { w.disk_users = {Other("Running")}; }), "Pending", kBlockDevicesReady,
       kReasonBlockDevicesNotReady, Action::kNone, pending},
      {"disk used by another stopped VM", Vm(),
       With([](World& w) { w.disk_users = {Other("Stopped")}; }), "Starting", kAgentReady,
       kReasonGuestAgentNotReady, Action::kStart, transition},
      {"waiting keeps an active phase", Vm("AlwaysOnUnlessStoppedManually", running),
       With([](World& w) { w.disk.reset(); }), "Running", kBlockDevicesReady,
       kReasonBlockDevicesNotReady, Action::kNone, pending},
      {"no MAC leased yet", Vm(), With([](World& w) { w.mac.reset(); }), "Pending", "", "",
       Action::kNone, pending},
      {"IP leased to another VM", Vm(),
       With([](World& w) { w.ip = Lease("VirtualMachineIPAddress", "10.66.0.2", "x"); }), "Pending",
       "", "", Action::kNone, pending},
      {"On, a disk being exported", Vm(),
       With([](World& w) { w.exports = std::vector<Json>{Export("Serving")}; }), "Pending",
       kBlockDevicesReady, kReasonDiskExportInProgress, Action::kNone, pending},
      {"On, an export expired", Vm(),
       With([](World& w) { w.exports = std::vector<Json>{Export("Expired")}; }), "Starting",
       kAgentReady, kReasonGuestAgentNotReady, Action::kStart, transition},
      {"On, domain shut off", Vm(), World(), "Starting", kAgentReady, kReasonGuestAgentNotReady,
       Action::kStart, transition},
      {"On, domain running, agent ready", Vm("AlwaysOnUnlessStoppedManually", running),
       With([](World& w) { w.domain = Domain("Running"); }), "Running", kAgentReady,
       kReasonGuestAgentReady, Action::kSyncUsb, kPoll},
      {"On, domain paused, agent not ready", Vm("AlwaysOnUnlessStoppedManually", running),
       With([](World& w) { w.domain = Domain("Paused", false); }), "Running", kAgentReady,
       kReasonGuestAgentNotReady, Action::kSyncUsb, kPoll},
      {"AlwaysOff, domain running: ACPI shutdown", Vm("AlwaysOff", running),
       With([](World& w) { w.domain = Domain("Running"); }), "Stopping", "", "", Action::kStop,
       transition},
      {"Off, shutdown under way", Vm("AlwaysOff", stopping),
       With([](World& w) { w.domain = Domain("Running"); }), "Stopping", "", "", Action::kNone,
       transition},
      {"Off, grace passed: forced", Vm("AlwaysOff", stopping_long),
       With([](World& w) { w.domain = Domain("Running"); }), "Stopping", "", "", Action::kStop,
       transition},
      {"Off, domain shut off", Vm("AlwaysOff", stopping), World(), "Stopped", kAgentReady,
       kReasonVirtualMachineStopped, Action::kSyncUsb, none},
      {"Manual: off by default", Vm("Manual"), World(), "Stopped", kAgentReady,
       kReasonVirtualMachineStopped, Action::kSyncUsb, none},
      {"Manual, desiredPower On", Vm("Manual", {{"desiredPower", "On"}}), World(), "Starting",
       kAgentReady, kReasonGuestAgentNotReady, Action::kStart, transition},
      {"AlwaysOn overrides desiredPower Off", Vm("AlwaysOn", {{"desiredPower", "Off"}}), World(),
       "Starting", kAgentReady, kReasonGuestAgentNotReady, Action::kStart, transition},
      {"maintenance holds the VM off",
       Vm("AlwaysOn", {{"maintenance", true}, {"phase", "Running"}}),
       With([](World& w) { w.domain = Domain("Running"); }), "Stopping", "", "", Action::kStop,
       transition},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    types::VirtualMachine vm(row.vm);
    Observation obs = row.world.Observe();
    VmStep step = Plan(vm, obs, kNow, kGrace, kPoll);
    CHECK(step.action == row.action);
    CHECK(step.requeue == row.requeue);
    CHECK_FALSE(step.add_finalizer);
    REQUIRE(step.status.has_value());
    types::VirtualMachineStatus st(*step.status);
    CHECK(std::string(types::Name(st.phase())) == row.phase);
    if (std::string(row.condition).size() > 0) {
      CHECK(st.conditions().Get(row.condition).reason() == row.reason);
    }
    // The placement decides whether the reconciler looks at the domain at all: every row but
    // the waiting ones.
    const bool waiting = row.action == Action::kNone && row.requeue == kPendingPoll &&
                         row.reason != kReasonDiskExportInProgress;
    CHECK(Placed(vm, obs).has_value() == !waiting);
  }
}

TEST_CASE("VirtualMachine: a placed VM's status and domain") {
  World w;
  Json vm = Vm();
  vm["metadata"]["annotations"] = {{kKernelAnnotation, "/boot/vmlinuz"}};
  VmStep step = Plan(types::VirtualMachine(vm), w.Observe(), kNow, kGrace, kPoll);
  REQUIRE(step.status.has_value());
  types::VirtualMachineStatus st(*step.status);
  CHECK(step.node == "n1");
  CHECK(st.node() == "n1");
  CHECK(st.ip_address() == "10.66.0.2");
  CHECK(st.mac_address() == "52:54:00:01:02:03");
  CHECK(st.virtual_machine_ip_address_name() == "vm");
  CHECK(st.virtual_machine_mac_address_name() == "vm");
  CHECK(st.desired_power() == Power::kOn);
  CHECK(st.conditions().IsTrue(kBlockDevicesReady));
  CHECK(!st.applied_spec_hash().empty());
  REQUIRE(st.block_device_refs().size() == 2);
  CHECK(st.block_device_refs()[0] == Json({{"kind", "VirtualDisk"},
                                           {"name", "d"},
                                           {"ready", true},
                                           {"size", "1Gi"},
                                           {"attached", false},
                                           {"target", "vda"}}));
  CHECK(st.block_device_refs()[1]["target"] == "vdb");
  const agentpb::DefineDomainRequest& d = step.domain;
  CHECK(d.name() == "berth-ns-vm-01234567");
  CHECK(d.uuid() == "0123456789");
  CHECK(d.vcpus() == 2);
  CHECK(d.memory_bytes() == (1ull << 30));
  CHECK(d.kernel() == "/boot/vmlinuz");
  CHECK(d.mac_address() == "52:54:00:01:02:03");
  REQUIRE(d.disks_size() == 2);
  CHECK(d.disks(0).path() == "/pool/VirtualDisk");
  CHECK_FALSE(d.disks(0).read_only());
  CHECK(d.disks(1).read_only());

  // Running from the applied spec: nothing awaits a restart; a changed spec does.
  Json running = vm;
  running["status"] = *step.status;
  w.domain = Domain("Running");
  VmStep poll = Plan(types::VirtualMachine(running), w.Observe(), kNow, kGrace, kPoll);
  types::VirtualMachineStatus rs(*poll.status);
  CHECK_FALSE(rs.restart_awaiting_changes());
  CHECK(rs.guest_addresses() == std::vector<std::string>{"10.66.0.2"});
  CHECK(rs.block_device_refs()[0]["attached"] == true);
  CHECK(poll.running);
  running["spec"]["cpu"]["cores"] = 4;
  poll = Plan(types::VirtualMachine(running), w.Observe(), kNow, kGrace, kPoll);
  CHECK(types::VirtualMachineStatus(*poll.status).restart_awaiting_changes());
}

TEST_CASE("VirtualMachine: waiting reasons, user data and the stop's force") {
  World w;
  w.disk.reset();
  w.image = Device("VirtualImage", "Ready", "n2");
  VmStep step = Plan(types::VirtualMachine(Vm()), w.Observe(), kNow, kGrace, kPoll);
  CHECK(types::VirtualMachineStatus(*step.status).conditions().Get(kBlockDevicesReady).message() ==
        "VirtualDisk \"d\" is missing");
  Json no_refs = Vm();
  no_refs["spec"].erase("blockDeviceRefs");
  step = Plan(types::VirtualMachine(no_refs), World().Observe(), kNow, kGrace, kPoll);
  CHECK(types::VirtualMachineStatus(*step.status).conditions().Get(kBlockDevicesReady).message() ==
        "no block device names a node");
  World busy;
  busy.disk_users = {Other("Running")};
  CHECK(DisksToCheck(types::VirtualMachine(Vm()), busy.Observe()) == std::vector<std::string>{"d"});
  step = Plan(types::VirtualMachine(Vm()), busy.Observe(), kNow, kGrace, kPoll);
  CHECK(types::VirtualMachineStatus(*step.status).conditions().Get(kBlockDevicesReady).message() ==
        "VirtualDisk \"d\" is attached to running VirtualMachine \"other\"");

  Json ref = Vm();
  ref["spec"]["provisioning"] = {{"type", "UserDataRef"}, {"userDataRef", {{"name", "s"}}}};
  Json secret = {{"data", {{"user-data", "#cloud-config"}}}};
  World plain;
  Observation obs = plain.Observe();
  obs.user_data_secret = &secret;
  CHECK(Plan(types::VirtualMachine(ref), obs, kNow, kGrace, kPoll).domain.cloud_init_user_data() ==
        "#cloud-config");

  World on;
  on.domain = Domain("Running");
  Json forced = Vm("AlwaysOff", {{"phase", "Running"}, {"forceStop", true}});
  step = Plan(types::VirtualMachine(forced), on.Observe(), kNow, kGrace, kPoll);
  CHECK(step.action == Action::kStop);
  CHECK(step.force);
  CHECK(types::VirtualMachineStatus(*step.status).stopping_since() == FormatRfc3339(kNow));
  Json acpi = Vm("AlwaysOff", {{"phase", "Running"}});
  CHECK_FALSE(Plan(types::VirtualMachine(acpi), on.Observe(), kNow, kGrace, kPoll).force);
  Json late = Vm("AlwaysOff", {{"phase", "Stopping"},
                               {"stoppingSince", FormatRfc3339(kNow - absl::Seconds(31))}});
  CHECK(Plan(types::VirtualMachine(late), on.Observe(), kNow, kGrace, kPoll).force);
  // Stopped: the stop's bookkeeping goes.
  Json stopped =
      Vm("AlwaysOff",
         {{"phase", "Stopping"}, {"forceStop", true}, {"stoppingSince", FormatRfc3339(kNow)}});
  step = Plan(types::VirtualMachine(stopped), World().Observe(), kNow, kGrace, kPoll);
  CHECK_FALSE(types::VirtualMachineStatus(*step.status).has_stopping_since());
  CHECK_FALSE(types::VirtualMachineStatus(*step.status).has_force_stop());
  CHECK_FALSE(step.running);
}

TEST_CASE("VirtualMachine: power decisions the reconciler observes by") {
  CHECK(PowersOn(types::VirtualMachine(Vm()), Domain("Shutoff")));
  CHECK_FALSE(PowersOn(types::VirtualMachine(Vm()), Domain("Paused")));
  CHECK_FALSE(PowersOn(types::VirtualMachine(Vm("AlwaysOff")), Domain("Shutoff")));
  CHECK(DesiredPower(types::VirtualMachine(Vm("Manual"))) == Power::kOff);
  CHECK(DesiredPower(types::VirtualMachine(
            Vm("AlwaysOnUnlessStoppedManually", {{"desiredPower", "Off"}}))) == Power::kOff);
  CHECK(Active(types::VirtualMachine(Other("Pausing"))));  // known to VmActive, not to the CRD
  CHECK_FALSE(Active(types::VirtualMachine(Other("Stopped"))));
}

TEST_CASE("VirtualMachine: deletion marks Terminating, then deletes the domain") {
  Json vm = Vm("AlwaysOn", {{"phase", "Running"}, {"node", "n1"}});
  VmStep step = PlanDeletion(types::VirtualMachine(vm));
  REQUIRE(step.status.has_value());
  CHECK(types::VirtualMachineStatus(*step.status).phase() == Phase::kTerminating);
  CHECK(step.action == Action::kNone);
  vm["status"]["phase"] = "Terminating";
  step = PlanDeletion(types::VirtualMachine(vm));
  CHECK_FALSE(step.status.has_value());
  CHECK(step.action == Action::kDeleteDomain);
  CHECK(step.node == "n1");
  CHECK(step.domain.name() == "berth-ns-vm-01234567");
  vm["status"].erase("node");
  CHECK(PlanDeletion(types::VirtualMachine(vm)).action == Action::kRemoveFinalizer);
}

TEST_CASE("VirtualMachine: its own address objects") {
  Json vm = Vm();
  Json ip = NewAddressObject(types::VirtualMachine(vm), kinds::kVirtualMachineIPAddress);
  CHECK(ip["metadata"]["name"] == "vm");
  CHECK(ip["spec"] == Json({{"type", "Auto"}}));
  CHECK(ip["metadata"]["ownerReferences"][0]["uid"] == "0123456789");
  vm["spec"]["virtualMachineIPAddressName"] = "shared-ip";
  CHECK(NewAddressObject(types::VirtualMachine(vm),
                         kinds::kVirtualMachineIPAddress)["metadata"]["name"] == "shared-ip");
  Json mac = NewAddressObject(types::VirtualMachine(vm), kinds::kVirtualMachineMACAddress);
  CHECK(mac["metadata"]["name"] == "vm");
  CHECK(mac["spec"] == Json::object());
}

}  // namespace
}  // namespace berth::controller::vm

namespace berth::controller::vm {
namespace {

TEST_CASE("VirtualMachine: nodeSelector against the devices' node") {
  World w;
  w.node = Json{{"kind", "Node"}, {"metadata", {{"name", "n1"}, {"labels", {{"zone", "a"}}}}}};
  Json vm = Vm("AlwaysOn");
  vm["spec"]["nodeSelector"] = {{"zone", "b"}};
  // Stopped: not started where the selector forbids, with the reason.
  VmStep stopped = Plan(types::VirtualMachine(vm), w.Observe(), kNow, kGrace, kPoll);
  CHECK(stopped.action == Action::kNone);
  types::VirtualMachineStatus st(*stopped.status);
  CHECK(st.conditions().Get(kBlockDevicesReady).reason() == kReasonNodeSelectorMismatch);
  CHECK_THAT(st.conditions().Get(kBlockDevicesReady).message(), Catch::Contains("zone=b"));
  CHECK_FALSE(stopped.migrate);
  // Running: it keeps running and asks for a migration.
  w.domain = Domain("Running");
  VmStep running = Plan(types::VirtualMachine(vm), w.Observe(), kNow, kGrace, kPoll);
  CHECK(running.action == Action::kSyncUsb);
  CHECK(running.migrate);
  Json op = MigrationFor(types::VirtualMachine(vm));
  CHECK(op["spec"]["type"] == "Evict");
  CHECK(op["spec"]["virtualMachineName"] == "vm");
  CHECK(op["metadata"]["name"] == MigrationFor(types::VirtualMachine(vm))["metadata"]["name"]);
  // The hostname label matches the node's name; a matching node asks nothing.
  vm["spec"]["nodeSelector"] = {{"kubernetes.io/hostname", "n1"}, {"zone", "a"}};
  CHECK_FALSE(Plan(types::VirtualMachine(vm), w.Observe(), kNow, kGrace, kPoll).migrate);
  // A NoSchedule taint keeps a running VM where it is; NoExecute moves it.
  (*w.node)["spec"]["taints"] = Json::array({{{"key", "k"}, {"effect", "NoSchedule"}}});
  CHECK_FALSE(Plan(types::VirtualMachine(vm), w.Observe(), kNow, kGrace, kPoll).migrate);
  (*w.node)["spec"]["taints"][0]["effect"] = "NoExecute";
  CHECK(Plan(types::VirtualMachine(vm), w.Observe(), kNow, kGrace, kPoll).migrate);
  vm["spec"]["tolerations"] = Json::array({{{"key", "k"}, {"operator", "Exists"}}});
  CHECK_FALSE(Plan(types::VirtualMachine(vm), w.Observe(), kNow, kGrace, kPoll).migrate);
}

}  // namespace
}  // namespace berth::controller::vm

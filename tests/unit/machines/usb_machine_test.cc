// USB passthrough's state machines (usb_machine.h) as tables: a NodeUSBDevice's
// (device, uses) -> (Assigned, Attached, action), and a VM entry's observations -> reason.
#include "controllers/usb/usb_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace berth::controller::usb {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

Json Dev(const std::string& want, const std::string& have, std::optional<bool> ready = true,
         const std::string& ready_reason = "Ready") {
  Json d = {{"kind", "NodeUSBDevice"},
            {"metadata", {{"name", "webcam"}, {"uid", "dev-uid"}}},
            {"spec", {{"assignedNamespace", want}}},
            {"status",
             {{"nodeName", "n1"},
              {"busID", "1-2"},
              {"usbipAddress", "10.0.0.1:3240"},
              {"speedCode", 3},
              {"attributes", {{"vendorID", "046d"}, {"productID", "082d"}}}}}};
  if (!have.empty()) d["status"]["assignedNamespace"] = have;
  if (ready) {
    d["status"]["conditions"] = Json::array(
        {{{"type", "Ready"}, {"status", *ready ? "True" : "False"}, {"reason", ready_reason}}});
  }
  return d;
}

VmUsbUse Use(const std::string& vm, Json entry) { return {vm, std::move(entry)}; }

std::string Cond(const Json& status, const char* type) {
  types::Condition c = types::NodeUSBDeviceStatus(status).conditions().Get(type);
  return c.status() + "/" + c.reason();
}

struct DeviceRow {
  const char* name;
  Json dev;
  std::vector<VmUsbUse> old_uses;  // in status.assignedNamespace (when leaving)
  std::vector<VmUsbUse> uses;      // in spec.assignedNamespace
  // Expected:
  bool leaving;
  Action leave_action;  // kNone when not leaving
  std::string assigned;
  std::string attached;
  Action action;  // of the last step
  std::string ns;
  std::string have_after;  // status.assignedNamespace stored
};

TEST_CASE("NodeUSBDevice: PlanLeave and PlanAssign, row by row") {
  Json attached = {{"name", "webcam"}, {"attached", true}};
  Json migrating = {{"name", "webcam"}, {"attached", false}, {"state", "DetachedForMigration"}};
  Json no_port = {{"name", "webcam"},
                  {"attached", false},
                  {"reason", "NoFreeUSBIPPort"},
                  {"message", "all ports busy"}};
  std::vector<DeviceRow> rows = {
      {"unassigned",
       Dev("", ""),
       {},
       {},
       false,
       Action::kNone,
       "False/Available",
       "False/Available",
       Action::kNone,
       "",
       ""},
      {"assigned",
       Dev("ns", ""),
       {},
       {},
       false,
       Action::kNone,
       "True/Assigned",
       "False/Available",
       Action::kMirror,
       "ns",
       "ns"},
      {"assigned, attached to a VM",
       Dev("ns", "ns"),
       {},
       {Use("vm", attached)},
       false,
       Action::kNone,
       "True/Assigned",
       "True/AttachedToVirtualMachine",
       Action::kMirror,
       "ns",
       "ns"},
      {"assigned, a VM migrates",
       Dev("ns", "ns"),
       {},
       {Use("vm", migrating)},
       false,
       Action::kNone,
       "True/Assigned",
       "False/DetachedForMigration",
       Action::kMirror,
       "ns",
       "ns"},
      {"assigned, no USB/IP port",
       Dev("ns", "ns"),
       {},
       {Use("vm", no_port)},
       false,
       Action::kNone,
       "True/Assigned",
       "False/NoFreeUSBIPPort",
       Action::kMirror,
       "ns",
       "ns"},
      {"unplugged",
       Dev("ns", "ns", false, "NotFound"),
       {},
       {Use("vm", attached)},
       false,
       Action::kNone,
       "True/Assigned",
       "False/Available",
       Action::kMirror,
       "ns",
       "ns"},
      {"never reported",
       Dev("", "", std::nullopt),
       {},
       {},
       false,
       Action::kNone,
       "False/Available",
       "False/Available",
       Action::kNone,
       "",
       ""},
      {"unassigned while attached: deferred",
       Dev("", "old"),
       {Use("vm", attached)},
       {},
       true,
       Action::kMirror,
       "True/InProgress",
       "True/AttachedToVirtualMachine",
       Action::kMirror,
       "old",
       "old"},
      {"unassigned while migrating: deferred",
       Dev("", "old"),
       {Use("vm", migrating)},
       {},
       true,
       Action::kMirror,
       "True/InProgress",
       "False/DetachedForMigration",
       Action::kMirror,
       "old",
       "old"},
      {"unassigned, free: released",
       Dev("", "old"),
       {},
       {},
       true,
       Action::kRelease,
       "False/Available",
       "False/Available",
       Action::kNone,
       "",
       ""},
      {"moved to another namespace",
       Dev("new", "old"),
       {},
       {},
       true,
       Action::kRelease,
       "True/Assigned",
       "False/Available",
       Action::kMirror,
       "new",
       "new"},
  };
  for (const DeviceRow& row : rows) {
    INFO(row.name);
    types::NodeUSBDevice dev(row.dev);
    CHECK(Leaving(dev) == row.leaving);
    Json status = Initial(dev, kNow);
    DeviceStep last;
    if (row.leaving) {
      DeviceStep leave = PlanLeave(dev, status, row.old_uses, kNow);
      CHECK(leave.action == row.leave_action);
      REQUIRE(leave.status.has_value());
      if (leave.action == Action::kMirror) {
        last = leave;
      } else {
        CHECK(leave.ns == "old");
        CHECK_FALSE(types::NodeUSBDeviceStatus(*leave.status).has_assigned_namespace());
        last = PlanAssign(dev, *leave.status, row.uses, kNow);
      }
    } else {
      last = PlanAssign(dev, status, row.uses, kNow);
    }
    REQUIRE(last.status.has_value());
    CHECK(Cond(*last.status, kAssigned) == row.assigned);
    CHECK(Cond(*last.status, kAttached) == row.attached);
    CHECK(last.action == row.action);
    CHECK(last.ns == row.ns);
    CHECK(types::NodeUSBDeviceStatus(*last.status).assigned_namespace() == row.have_after);
    CHECK(last.requeue == absl::ZeroDuration());
  }
}

TEST_CASE("NodeUSBDevice: discovery, vanishing, exports and the USBDevice mirror") {
  Json fresh = NewNodeUsbDevice("webcam", "n1");
  CHECK(fresh["metadata"]["labels"][kUsbNodeLabel] == "n1");
  Json never = Dev("", "", std::nullopt);
  CHECK(Cond(Initial(types::NodeUSBDevice(never), kNow), kReady) == "False/NotReady");

  agentpb::UsbDeviceAttributes d;
  d.set_name("webcam");
  d.set_busid("1-4");
  d.set_bus(1);
  d.set_device_number(7);
  d.set_product("");
  d.set_speed_code(4);
  Json status = Discovered(types::NodeUSBDevice(fresh), d, "n1", "10.0.0.1:3240", kNow);
  types::NodeUSBDeviceStatus st(status);
  CHECK(st.node_name() == "n1");
  CHECK(st.bus_id() == "1-4");
  CHECK(st.speed_code() == 4);
  CHECK(st.usbip_address() == "10.0.0.1:3240");
  CHECK(st.attributes().bus() == "1");  // the CRD's type: string
  CHECK(st.attributes().device_number() == "7");
  CHECK(st.attributes().name() == "webcam");  // no product name: the device's
  CHECK(Cond(status, kReady) == "True/Ready");
  Json gone = fresh;
  gone["status"] = status;
  Json vanished = Vanished(types::NodeUSBDevice(gone), "n1", kNow);
  CHECK(Cond(vanished, kReady) == "False/NotFound");
  CHECK(types::NodeUSBDeviceStatus(vanished).conditions().Get(kReady).message() ==
        "Device is absent on node n1");

  agentpb::ListUsbDevicesResponse list;
  auto* a = list.add_devices();
  a->set_busid("1-2");
  a->set_exported(true);
  list.add_devices()->set_busid("1-3");
  CHECK_FALSE(ExportsChanged(list, {"1-2"}));
  CHECK(ExportsChanged(list, {"1-2", "1-3"}));
  CHECK(ExportsChanged(list, {}));

  Json dev = Dev("ns", "ns");
  Json usb = NewUsbDevice(types::NodeUSBDevice(dev), "ns");
  CHECK(usb["metadata"]["namespace"] == "ns");
  CHECK(usb["metadata"]["labels"][kUsbNodeLabel] == "n1");
  CHECK(usb["metadata"]["ownerReferences"][0]["uid"] == "dev-uid");
  DeviceStep step =
      PlanAssign(types::NodeUSBDevice(dev), Initial(types::NodeUSBDevice(dev), kNow), {}, kNow);
  Json mirrored = UsbDeviceStatus(*step.status, usb, kNow);
  types::USBDeviceStatus ms(mirrored);
  CHECK(ms.node_name() == "n1");
  CHECK(ms.attributes().vendor_id() == "046d");
  CHECK(ms.conditions().Get(kReady).reason() == "Ready");
  CHECK(ms.conditions().Get(kAttached).reason() == "Available");
  CHECK_FALSE(ms.conditions().Get(kAssigned).exists());  // not mirrored
}

struct EntryRow {
  const char* name;
  Json entry;
  bool usb_device;
  std::optional<Json> node_device;
  std::string migration;
  bool running;
  bool usb_enabled;
  // Expected:
  bool ready;
  std::string reason;  // "" no problem
};

TEST_CASE("VM entries: Judge, row by row") {
  Json attached = {{"name", "webcam"}, {"attached", true}, {"state", "Attached"}};
  Json for_migration = {{"name", "webcam"}, {"state", "DetachedForMigration"}};
  Json ready = Dev("ns", "ns"), unplugged = Dev("ns", "ns", false, "NotFound");
  Json no_reason = Dev("ns", "ns");
  no_reason["status"]["conditions"][0] = {{"type", "Ready"}, {"status", "False"}};
  std::vector<EntryRow> rows = {
      {"no USBDevice in the namespace", attached, false, ready, "", true, true, false,
       kReasonNotFound},
      {"no NodeUSBDevice", attached, true, std::nullopt, "", true, true, false, kReasonNotFound},
      {"unplugged", attached, true, unplugged, "", true, true, false, kReasonNotFound},
      {"not ready, no reason", attached, true, no_reason, "", true, true, false, kReasonNotReady},
      {"migration starts", attached, true, ready, "InProgress", true, true, true,
       kReasonDetachedForMigration},
      {"migration under way", for_migration, true, ready, "InProgress", true, true, true,
       kReasonDetachedForMigration},
      {"migration done: attach again", for_migration, true, ready, "Succeeded", true, true, true,
       ""},
      {"VM stopped", attached, true, ready, "", false, true, true, kReasonVirtualMachineStopped},
      {"USB off", attached, true, ready, "", true, false, true, kReasonUSBDisabled},
      {"attachable", attached, true, ready, "", true, true, true, ""},
  };
  for (const EntryRow& row : rows) {
    INFO(row.name);
    EntryObservation obs;
    obs.usb_device = row.usb_device;
    if (row.node_device) obs.node_device = &*row.node_device;
    obs.migration = row.migration;
    obs.running = row.running;
    obs.usb_enabled = row.usb_enabled;
    CHECK(Ready(obs) == row.ready);
    std::optional<Problem> problem = Judge(row.entry, obs, "ns");
    CHECK((problem ? problem->reason : "") == row.reason);
  }
  EntryObservation missing;
  CHECK(Judge(attached, missing, "ns")->message ==
        "USBDevice \"webcam\" does not exist in namespace ns");
}

TEST_CASE("VM entries: InUse, attach and detach") {
  Json vm = {{"kind", "VirtualMachine"},
             {"metadata", {{"name", "vm"}, {"namespace", "ns"}, {"uid", "vm-uid"}}}};
  Json other = {
      {"kind", "VirtualMachine"},
      {"metadata", {{"name", "other"}}},
      {"status", {{"usbDevices", Json::array({{{"name", "webcam"}, {"attached", true}}})}}}};
  CHECK(InUse({vm, other}, "vm", "webcam")->message == "attached to VirtualMachine other");
  CHECK(InUse({vm, other}, "vm", "mouse") == std::nullopt);
  CHECK(InUse({other}, "other", "webcam") == std::nullopt);  // itself

  Json dev = Dev("ns", "ns");
  types::VirtualMachine view(vm);
  agentpb::AttachUsbRequest remote =
      AttachRequest(view, "webcam", types::NodeUSBDevice(dev), "n2", "dom");
  CHECK(remote.id() == "vm-uid/webcam");
  CHECK(remote.domain() == "dom");
  CHECK(remote.busid() == "1-2");
  CHECK(remote.remote_address() == "10.0.0.1:3240");
  CHECK(remote.speed_code() == 3);
  CHECK(remote.vendor_id() == "046d");
  CHECK(AttachRequest(view, "webcam", types::NodeUSBDevice(dev), "n1", "dom")
            .remote_address()
            .empty());

  Json e = {{"name", "webcam"}, {"attached", false}};
  agentpb::UsbAttachment a;
  a.set_bus(3);
  a.set_port(1);
  a.set_mode("usbip");
  REQUIRE(FoldAttach(e, a, "n2").ok());
  CHECK(e["attached"] == true);
  CHECK(e["state"] == kStateAttached);
  CHECK(e["address"] == Json({{"bus", 3}, {"port", 1}}));
  CHECK(e["hotplugged"] == true);
  CHECK(AttachedOn(e, "n2"));
  CHECK_FALSE(AttachedOn(e, "n1"));

  Json busy = e;
  REQUIRE(FoldAttach(busy, absl::ResourceExhaustedError("no port"), "n2").ok());
  CHECK(busy["reason"] == kReasonNoFreeUSBIPPort);
  CHECK(busy["state"] == kStateDetached);
  CHECK_FALSE(busy.contains("attachmentNode"));
  CHECK_FALSE(busy.contains("address"));
  Json failed = e;
  REQUIRE(FoldAttach(failed, absl::InternalError("boom"), "n2").ok());
  CHECK(failed["reason"] == kReasonAttachFailed);
  CHECK(failed["message"] == "boom");
  Json down = e;
  CHECK(absl::IsUnavailable(FoldAttach(down, absl::UnavailableError("down"), "n2")));
  CHECK(down == e);  // kept as it was, retried

  Unattached(e, kReasonDetachedForMigration, "migrating");
  CHECK(e["state"] == kStateDetachedForMigration);
  CHECK(AttachedHolder({Use("vm", e)}) == "vm");  // held through the migration
  Unattached(e, kReasonVirtualMachineStopped, "stopped");
  CHECK(e["state"] == kStateDetached);
  CHECK(AttachedHolder({Use("vm", e)}).empty());
}

TEST_CASE("migration actions") {
  CHECK(NextUsbMigrationAction("InProgress", kStateAttached) ==
        UsbMigrationAction::kDetachFromSource);
  CHECK(NextUsbMigrationAction("Succeeded", kStateDetachedForMigration) ==
        UsbMigrationAction::kAttachOnTarget);
  CHECK(NextUsbMigrationAction("Failed", kStateDetachedForMigration) ==
        UsbMigrationAction::kReattachOnSource);
  CHECK(NextUsbMigrationAction("InProgress", kStateDetachedForMigration) ==
        UsbMigrationAction::kNone);
  CHECK(NextUsbMigrationAction("", kStateAttached) == UsbMigrationAction::kNone);
}

}  // namespace
}  // namespace berth::controller::usb

// The controller's USB logic on a real SQLite store with fake agents, pass by pass:
// discovery -> NodeUSBDevice, assignment -> USBDevice, VM attach over USB/IP, unplug/replug,
// deferred unassignment, NoFreeUSBIPPort, hot-unplug from spec, namespace isolation, migration.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>

#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/controller/usb.h"
#include "berth/kinds.h"

namespace berth::controller {
namespace {

class FakeUsbAgents : public UsbAgents {
 public:
  struct Node {
    std::vector<agentpb::UsbDeviceAttributes> devices;
    std::vector<std::string> exports;
    std::map<std::string, agentpb::AttachUsbRequest> attached;
    int set_exports_calls = 0;
  };
  absl::StatusOr<agentpb::ListUsbDevicesResponse> ListDevices(const std::string& node) override {
    agentpb::ListUsbDevicesResponse r;
    Node& n = nodes[node];
    for (auto d : n.devices) {
      d.set_exported(std::find(n.exports.begin(), n.exports.end(), d.busid()) != n.exports.end());
      *r.add_devices() = d;
    }
    r.set_usbip_address("127.0.0.1:" + std::to_string(3240 + node.back() - '0'));
    return r;
  }
  absl::StatusOr<std::vector<std::string>> SetExports(
      const std::string& node, const std::vector<std::string>& busids) override {
    nodes[node].exports = busids;
    ++nodes[node].set_exports_calls;
    return busids;
  }
  absl::StatusOr<agentpb::UsbAttachment> Attach(const std::string& node,
                                                const agentpb::AttachUsbRequest& r) override {
    if (!attach_error.ok()) return attach_error;
    nodes[node].attached[r.id()] = r;
    agentpb::UsbAttachment a;
    a.set_id(r.id());
    a.set_mode(r.remote_address().empty() ? "local" : "usbip");
    a.set_bus(3);
    a.set_port(1);
    return a;
  }
  absl::StatusOr<bool> Detach(const std::string& node, const std::string& id) override {
    ++detaches;
    return nodes[node].attached.erase(id) > 0;
  }
  std::map<std::string, Node> nodes;
  absl::Status attach_error;
  int detaches = 0;
};

agentpb::UsbDeviceAttributes Webcam(const std::string& node) {
  agentpb::UsbDeviceAttributes d;
  d.set_name("logitech-webcam");
  d.set_busid("1-2");
  d.set_bus(1);
  d.set_device_number(3);
  d.set_vendor_id("046d");
  d.set_product_id("082d");
  d.set_serial("ABC123456");
  d.set_manufacturer("Logitech");
  d.set_product("Webcam C920");
  d.set_speed("480");
  d.set_speed_code(3);
  return d;
}

// The NodeAgent service, which these tests never reach.
class NoAgents : public AgentDirectory {
 public:
  absl::StatusOr<std::shared_ptr<AgentClient>> ForNode(const std::string& node) override {
    return absl::UnavailableError("no NodeAgent service in this test");
  }
};

class World {
 public:
  World()
      : dir_(std::filesystem::temp_directory_path() /
             ("berth-usbctl-" + std::to_string(getpid()) + "-" + std::to_string(rand()))),
        clock_(absl::FromUnixSeconds(1700000000)) {
    store_ = *OpenSqliteStore(dir_.string(), clock_);
    rec_ = NewNodeUSBDeviceReconciler(
        {*store_, no_agents_, clock_, config_, tracker_, nullptr, &agents_});
    for (const char* n : {"node-1", "node-2"}) {
      Json node = {{"apiVersion", kApiVersion}, {"kind", "Node"}, {"metadata", {{"name", n}}}};
      node["status"] = {{"address", "fake"},
                        {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}};
      REQUIRE(store_->Create(node).ok());
    }
  }
  ~World() { std::filesystem::remove_all(dir_); }

  // Node syncs, then every NodeUSBDevice, then the VMs' USB step, until nothing changes.
  void Settle() {
    for (int round = 0; round < 20; ++round) {
      uint64_t before = store_->CurrentVersion();
      for (const char* n : {"node-1", "node-2"}) {
        REQUIRE(rec_->Reconcile(ObjectKey{"NodeUSBDevice", "", std::string("node:") + n}).ok());
      }
      std::vector<Json> devices = *store_->List("NodeUSBDevice", "");
      for (const Json& d : devices) {
        auto r = rec_->Reconcile(ObjectKey::Of(d));
        REQUIRE(r.ok());
      }
      std::vector<Json> vms = *store_->List("VirtualMachine", "");
      for (Json vm : vms) {
        Json status = vm.value("status", Json::object());
        REQUIRE(ReconcileVmUsbDevices(*store_, &agents_, vm, status, JsonString(vm, "/status/node"),
                                      "dom", running_, clock_.Now())
                    .ok());
        REQUIRE(WriteStatus(*store_, vm, status).ok());
      }
      if (store_->CurrentVersion() == before) return;
      clock_.Advance(absl::Seconds(1));
    }
    FAIL("did not settle");
  }
  Json Get(const std::string& kind, const std::string& ns, const std::string& name) {
    auto obj = store_->Get(ObjectKey{kind, ns, name});
    REQUIRE(obj.ok());
    return *obj;
  }
  bool Exists(const std::string& kind, const std::string& ns, const std::string& name) {
    return store_->Get(ObjectKey{kind, ns, name}).ok();
  }
  void Assign(const std::string& ns) {
    Json d = Get("NodeUSBDevice", "", "logitech-webcam");
    d["spec"]["assignedNamespace"] = ns;
    REQUIRE(store_->Update(d).ok());
  }
  void Vm(const std::string& name, const std::string& ns, const std::string& node,
          std::vector<std::string> devices) {
    Json vm = {{"apiVersion", kApiVersion},
               {"kind", "VirtualMachine"},
               {"metadata", {{"name", name}, {"namespace", ns}}},
               {"spec", {{"usbDevices", Json::array()}}}};
    for (const auto& d : devices) vm["spec"]["usbDevices"].push_back({{"name", d}});
    auto existing = store_->Get(ObjectKey::Of(vm));
    if (existing.ok()) {
      Json upd = *existing;
      upd["spec"] = vm["spec"];
      REQUIRE(store_->Update(upd).ok());
      return;
    }
    auto created = store_->Create(vm);
    REQUIRE(created.ok());
    REQUIRE(WriteStatus(*store_, *created, {{"node", node}}).ok());
  }
  void SetVmStatus(const std::string& name, const std::string& ns, const std::string& key,
                   Json value) {
    Json vm = Get("VirtualMachine", ns, name);
    Json status = vm["status"];
    status[key] = value;
    REQUIRE(WriteStatus(*store_, vm, status).ok());
  }
  Json Entry(const std::string& vm, const std::string& ns) {
    Json list = JsonAt(Get("VirtualMachine", ns, vm), "/status/usbDevices");
    REQUIRE(list.is_array());
    REQUIRE(list.size() == 1);
    return list[0];
  }

  std::filesystem::path dir_;
  SimulatedClock clock_;
  std::unique_ptr<ObjectStore> store_;
  FakeUsbAgents agents_;
  NoAgents no_agents_;
  ControllerConfig config_;
  NodeTracker tracker_{clock_};
  std::unique_ptr<Reconciler> rec_;
  bool running_ = true;
};

std::string Cond(const Json& obj, const std::string& type) {
  Json c = GetCondition(obj, type);
  return c.value("status", "") + "/" + c.value("reason", "");
}

TEST_CASE("the spec's Quick Start, then unplug, replug, unassignment and isolation") {
  World w;
  w.agents_.nodes["node-1"].devices = {Webcam("node-1")};
  w.Settle();
  Json dev = w.Get("NodeUSBDevice", "", "logitech-webcam");
  CHECK(JsonString(dev, "/status/nodeName") == "node-1");
  CHECK(JsonString(dev, "/status/attributes/vendorID") == "046d");
  CHECK(JsonString(dev, "/status/attributes/serial") == "ABC123456");
  CHECK(JsonAt(dev, "/status/attributes/bus") == "1");  // the CRD's type: string
  CHECK(Cond(dev, "Ready") == "True/Ready");
  CHECK(Cond(dev, "Assigned") == "False/Available");
  CHECK(w.agents_.nodes["node-1"].exports.empty());

  w.Assign("my-project");
  w.Settle();
  CHECK(Cond(w.Get("NodeUSBDevice", "", "logitech-webcam"), "Assigned") == "True/Assigned");
  Json ud = w.Get("USBDevice", "my-project", "logitech-webcam");
  CHECK(JsonString(ud, "/status/attributes/manufacturer") == "Logitech");
  CHECK(JsonString(ud, "/status/nodeName") == "node-1");
  CHECK(Cond(ud, "Ready") == "True/Ready");
  CHECK(Cond(ud, "Attached") == "False/Available");
  CHECK(w.agents_.nodes["node-1"].exports == std::vector<std::string>{"1-2"});

  // A VM on the other node attaches it over USB/IP.
  w.Vm("linux-vm", "my-project", "node-2", {"logitech-webcam"});
  w.Settle();
  Json e = w.Entry("linux-vm", "my-project");
  CHECK(e["attached"] == true);
  CHECK(e["ready"] == true);
  CHECK(e["hotplugged"] == true);
  CHECK(e["address"]["bus"] == 3);
  CHECK(e["address"]["port"] == 1);
  REQUIRE(w.agents_.nodes["node-2"].attached.size() == 1);
  const auto& req = w.agents_.nodes["node-2"].attached.begin()->second;
  CHECK(req.remote_address() == "127.0.0.1:3241");
  CHECK(req.busid() == "1-2");
  CHECK(req.speed_code() == 3);
  CHECK(Cond(w.Get("NodeUSBDevice", "", "logitech-webcam"), "Attached") ==
        "True/AttachedToVirtualMachine");
  CHECK(Cond(w.Get("USBDevice", "my-project", "logitech-webcam"), "Attached") ==
        "True/AttachedToVirtualMachine");

  // A second VM of the namespace cannot take it; a VM elsewhere cannot even see it.
  w.Vm("other-vm", "my-project", "node-1", {"logitech-webcam"});
  w.Vm("foreign-vm", "elsewhere", "node-1", {"logitech-webcam"});
  w.Settle();
  CHECK(w.Entry("other-vm", "my-project")["reason"] == "InUse");
  CHECK(w.Entry("foreign-vm", "elsewhere")["reason"] == "NotFound");
  CHECK(w.Entry("foreign-vm", "elsewhere")["attached"] == false);
  CHECK(w.Entry("linux-vm", "my-project")["attached"] == true);
  w.Vm("other-vm", "my-project", "node-1", {});
  w.Vm("foreign-vm", "elsewhere", "node-1", {});

  // Unassigning while attached is deferred, and says so.
  w.Assign("");
  w.Settle();
  Json deferred = w.Get("NodeUSBDevice", "", "logitech-webcam");
  CHECK(Cond(deferred, "Assigned") == "True/InProgress");
  CHECK(GetCondition(deferred, "Assigned")["message"].get<std::string>().find("linux-vm") !=
        std::string::npos);
  CHECK(w.Exists("USBDevice", "my-project", "logitech-webcam"));
  w.Assign("my-project");
  w.Settle();

  // Unplug: Ready False NotFound, Attached False on both, the VM's attachment is released.
  w.agents_.nodes["node-1"].devices.clear();
  w.Settle();
  CHECK(Cond(w.Get("NodeUSBDevice", "", "logitech-webcam"), "Ready") == "False/NotFound");
  CHECK(Cond(w.Get("NodeUSBDevice", "", "logitech-webcam"), "Attached") == "False/Available");
  CHECK(Cond(w.Get("USBDevice", "my-project", "logitech-webcam"), "Ready") == "False/NotFound");
  CHECK(Cond(w.Get("USBDevice", "my-project", "logitech-webcam"), "Attached") == "False/Available");
  e = w.Entry("linux-vm", "my-project");
  CHECK(e["attached"] == false);
  CHECK(e["ready"] == false);
  CHECK(w.agents_.nodes["node-2"].attached.empty());

  // Re-plug into the same port: Ready again and re-attached.
  auto replugged = Webcam("node-1");
  replugged.set_device_number(9);
  w.agents_.nodes["node-1"].devices = {replugged};
  w.Settle();
  CHECK(Cond(w.Get("NodeUSBDevice", "", "logitech-webcam"), "Ready") == "True/Ready");
  CHECK(JsonAt(w.Get("NodeUSBDevice", "", "logitech-webcam"), "/status/attributes/deviceNumber") ==
        "9");
  CHECK(w.Entry("linux-vm", "my-project")["attached"] == true);

  // Hot-unplug through the spec, then unassignment removes the USBDevice.
  w.Vm("linux-vm", "my-project", "node-2", {});
  w.Settle();
  CHECK_FALSE(
      JsonAt(w.Get("VirtualMachine", "my-project", "linux-vm"), "/status/usbDevices").is_array());
  CHECK(w.agents_.nodes["node-2"].attached.empty());
  w.Assign("");
  w.Settle();
  CHECK_FALSE(w.Exists("USBDevice", "my-project", "logitech-webcam"));
  CHECK(Cond(w.Get("NodeUSBDevice", "", "logitech-webcam"), "Assigned") == "False/Available");
  CHECK(w.agents_.nodes["node-1"].exports.empty());
}

TEST_CASE("no free USB/IP port, stopped VMs and a local device") {
  World w;
  w.agents_.nodes["node-1"].devices = {Webcam("node-1")};
  w.Settle();
  w.Assign("ns");
  w.agents_.attach_error =
      absl::ResourceExhaustedError("NoFreeUSBIPPort: all 8 high-speed (USB 2.0) vhci ports");
  w.Vm("vm", "ns", "node-2", {"logitech-webcam"});
  w.Settle();
  Json e = w.Entry("vm", "ns");
  CHECK(e["attached"] == false);
  CHECK(e["reason"] == "NoFreeUSBIPPort");
  CHECK(Cond(w.Get("NodeUSBDevice", "", "logitech-webcam"), "Attached") == "False/NoFreeUSBIPPort");
  w.agents_.attach_error = absl::OkStatus();
  w.SetVmStatus("vm", "ns", "node", "node-1");  // same node as the device: direct
  w.Settle();
  REQUIRE(w.agents_.nodes["node-1"].attached.size() == 1);
  CHECK(w.agents_.nodes["node-1"].attached.begin()->second.remote_address().empty());
  w.running_ = false;
  w.Settle();
  CHECK(w.Entry("vm", "ns")["reason"] == "VirtualMachineStopped");
  CHECK(w.agents_.nodes["node-1"].attached.empty());
}

TEST_CASE("migration detaches for its duration, then attaches on the target or the source") {
  CHECK(NextUsbMigrationAction("InProgress", "Attached") == UsbMigrationAction::kDetachFromSource);
  CHECK(NextUsbMigrationAction("Succeeded", "DetachedForMigration") ==
        UsbMigrationAction::kAttachOnTarget);
  CHECK(NextUsbMigrationAction("Failed", "DetachedForMigration") ==
        UsbMigrationAction::kReattachOnSource);
  CHECK(NextUsbMigrationAction("", "Attached") == UsbMigrationAction::kNone);

  World w;
  w.agents_.nodes["node-1"].devices = {Webcam("node-1")};
  w.Settle();
  w.Assign("ns");
  w.Vm("vm", "ns", "node-1", {"logitech-webcam"});
  w.Settle();
  REQUIRE(w.Entry("vm", "ns")["attached"] == true);
  w.SetVmStatus("vm", "ns", "usbMigration",
                {{"phase", "InProgress"}, {"source", "node-1"}, {"target", "node-2"}});
  w.Settle();
  CHECK(w.Entry("vm", "ns")["state"] == "DetachedForMigration");
  CHECK(w.agents_.nodes["node-1"].attached.empty());
  CHECK(Cond(w.Get("NodeUSBDevice", "", "logitech-webcam"), "Attached") ==
        "False/DetachedForMigration");
  CHECK(Cond(w.Get("USBDevice", "ns", "logitech-webcam"), "Attached") ==
        "False/DetachedForMigration");
  SECTION("success: attached on the target over USB/IP") {
    w.SetVmStatus("vm", "ns", "usbMigration", {{"phase", "Succeeded"}});
    w.SetVmStatus("vm", "ns", "node", "node-2");
    w.Settle();
    CHECK(w.Entry("vm", "ns")["attached"] == true);
    REQUIRE(w.agents_.nodes["node-2"].attached.size() == 1);
    CHECK_FALSE(w.agents_.nodes["node-2"].attached.begin()->second.remote_address().empty());
  }
  SECTION("failure: re-attached on the source") {
    w.SetVmStatus("vm", "ns", "usbMigration", {{"phase", "Failed"}});
    w.Settle();
    CHECK(w.Entry("vm", "ns")["attached"] == true);
    CHECK(w.agents_.nodes["node-1"].attached.size() == 1);
  }
}

}  // namespace
}  // namespace berth::controller

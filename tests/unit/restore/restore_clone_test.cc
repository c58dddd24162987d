// Restore (vmop Restore), clone (vmop Clone) and clone from a snapshot (vmsop
// CreateVirtualMachine) against the real store and a fake agent: every conflict the spec names
// in every mode, the steps, idempotency and deletion while InProgress.
#include <catch2/catch.hpp>
#include <functional>
#include <set>

#include "world.h"

namespace berth::controller {
namespace {

constexpr char kOpAnnotation[] = "virtualization.deckhouse.io/berth-operation-uid";

// A running VM "vm1" with disks root and data, a provisioning Secret and a Ready snapshot
// "snap" (keepIPAddress Always).
struct Fixture {
  World w;
  std::string ip, mac, uid;

  explicit Fixture(bool take_snapshot = true) {
    w.Apply({{"kind", "Secret"},
             {"metadata", {{"name", "cloud-init"}}},
             {"data", {{"userData", "I2Nsb3VkLWNvbmZpZw=="}}}});
    w.Disk("root", "1Gi");
    Json data = w.Get("VirtualDisk", "root");
    w.Apply({{"kind", "VirtualDisk"},
             {"metadata", {{"name", "data"}, {"labels", {{"tier", "db"}}}}},
             {"spec", {{"persistentVolumeClaim", {{"size", "2Gi"}}}}}});
    w.Apply({{"kind", "VirtualMachine"},
             {"metadata", {{"name", "vm1"}, {"labels", {{"app", "db"}}}}},
             {"spec",
              {{"blockDeviceRefs", Json::array({{{"kind", "VirtualDisk"}, {"name", "root"}},
                                                {{"kind", "VirtualDisk"}, {"name", "data"}}})},
               {"runPolicy", "AlwaysOnUnlessStoppedManually"},
               {"cpu", {{"cores", 1}}},
               {"provisioning",
                {{"type", "UserDataRef"},
                 {"userDataRef", {{"kind", "Secret"}, {"name", "cloud-init"}}}}}}}});
    w.Settle();
    REQUIRE(w.Phase("VirtualMachine", "vm1") == "Running");
    Json vm = w.Get("VirtualMachine", "vm1");
    ip = JsonString(vm, "/status/ipAddress");
    mac = JsonString(vm, "/status/macAddress");
    uid = JsonString(vm, "/metadata/uid");
    REQUIRE_FALSE(ip.empty());
    REQUIRE_FALSE(mac.empty());
    if (take_snapshot) {
      w.Apply({{"kind", "VirtualMachineSnapshot"},
               {"metadata", {{"name", "snap"}}},
               {"spec",
                {{"virtualMachineName", "vm1"},
                 {"requiredConsistency", true},
                 {"keepIPAddress", "Always"}}}});
      w.Settle();
      REQUIRE(w.Phase("VirtualMachineSnapshot", "snap") == "Ready");
    }
  }

  void Restore(const std::string& name, const std::string& mode, const std::string& vm = "vm1") {
    w.Apply({{"kind", "VirtualMachineOperation"},
             {"metadata", {{"name", name}}},
             {"spec",
              {{"type", "Restore"},
               {"virtualMachineName", vm},
               {"restore", {{"mode", mode}, {"virtualMachineSnapshotName", "snap"}}}}}});
  }
  void Clone(const std::string& name, const std::string& mode, Json naming,
             const std::string& vm = "vm1") {
    naming["mode"] = mode;
    w.Apply({{"kind", "VirtualMachineOperation"},
             {"metadata", {{"name", name}}},
             {"spec", {{"type", "Clone"}, {"virtualMachineName", vm}, {"clone", naming}}}});
  }
  void FromSnapshot(const std::string& name, const std::string& mode, Json naming) {
    naming["mode"] = mode;
    w.Apply({{"kind", "VirtualMachineSnapshotOperation"},
             {"metadata", {{"name", name}}},
             {"spec",
              {{"type", "CreateVirtualMachine"},
               {"virtualMachineSnapshotName", "snap"},
               {"createVirtualMachine", naming}}}});
  }

  // Returns the status.resources entry of `kind`/`name` of an operation, or null.
  Json Entry(const std::string& op_kind, const std::string& op, const std::string& kind,
             const std::string& name) {
    for (const Json& e : JsonAt(w.Get(op_kind, op), "/status/resources")) {
      if (e.value("kind", "") == kind && e.value("name", "") == name) return e;
    }
    return Json();
  }
  std::string DiskUid(const std::string& name) {
    return JsonString(w.Get("VirtualDisk", name), "/metadata/uid");
  }
  size_t Count(const std::string& kind) { return w.Store().List(kind, "default")->size(); }
};

Json Prefixed() { return {{"customization", {{"namePrefix", "clone-"}, {"nameSuffix", "-prod"}}}}; }

// ---------------------------------------------------------------------------------------------
// Restore: the conflict table.

struct RestoreCase {
  const char* name;
  // Creates the conflict after the snapshot; returns the (kind, name) of the Failed entry.
  std::function<std::pair<std::string, std::string>(Fixture&)> make;
  bool best_effort_proceeds;
  const char* message;     // part of the entry's message
  const char* vm = "vm1";  // the operation's virtualMachineName
};

std::vector<RestoreCase> RestoreCases() {
  return {
      {"VM missing",
       [](Fixture& f) {
         f.w.Delete("VirtualMachine", "vm1");
         f.w.Settle();
         return std::make_pair(std::string("VirtualMachine"), std::string("vm1"));
       },
       false, "does not exist"},
      {"VM re-created with another uid",
       [](Fixture& f) {
         f.w.Delete("VirtualMachine", "vm1");
         f.w.Settle();
         f.w.Vm("vm1", {"root", "data"});
         f.w.Settle();
         return std::make_pair(std::string("VirtualMachine"), std::string("vm1"));
       },
       false, "another VM of the same name"},
      {"disk attached to another VM",
       [](Fixture& f) {
         f.w.Vm("other", {"data"});
         f.w.Settle();
         return std::make_pair(std::string("VirtualDisk"), std::string("data"));
       },
       false, "attached to VirtualMachine \"other\""},
      {"IP address used by another VM",
       [](Fixture& f) {
         Json other = f.w.Vm("aaa", {});
         other["spec"]["virtualMachineIPAddressName"] = "vm1";
         REQUIRE(f.w.Store().Update(other).ok());
         f.w.Settle();
         REQUIRE(JsonString(f.w.Get("VirtualMachineIPAddress", "vm1"), "/status/virtualMachine") ==
                 "aaa");
         return std::make_pair(std::string("VirtualMachineIPAddress"), std::string("vm1"));
       },
       false, "is used by VirtualMachine \"aaa\""},
      {"MAC address held by another VM",
       [](Fixture& f) {
         Json mine = f.w.Get("VirtualMachineMACAddress", "vm1");
         mine["status"]["address"] = "52:54:00:00:00:01";  // the VM was given another MAC
         REQUIRE(f.w.Store().Update(mine).ok());
         f.w.Apply({{"kind", "VirtualMachineMACAddress"},
                    {"metadata", {{"name", "other"}}},
                    {"spec", {{"address", f.mac}}}});
         f.w.Vm("other", {});
         f.w.Settle();
         REQUIRE(JsonString(f.w.Get("VirtualMachineMACAddress", "other"), "/status/address") ==
                 f.mac);
         return std::make_pair(std::string("VirtualMachineMACAddress"), std::string("vm1"));
       },
       false, "held by VirtualMachineMACAddress \"other\" of VirtualMachine \"other\""},
      {"snapshot of another VM",
       [](Fixture& f) {
         f.w.Vm("vm2", {});
         return std::make_pair(std::string("VirtualMachine"), std::string("vm2"));
       },
       false, "was taken of VirtualMachine \"vm1\", not \"vm2\"", "vm2"},
      {"provisioning Secret with other data",
       [](Fixture& f) {
         Json s = f.w.Get("Secret", "cloud-init");
         s["data"]["userData"] = "Y2hhbmdlZA==";
         REQUIRE(f.w.Store().Update(s).ok());
         return std::make_pair(std::string("Secret"), std::string("cloud-init"));
       },
       true, "other data than in the snapshot"},
  };
}

TEST_CASE("restore conflicts: DryRun reports, Strict fails, BestEffort proceeds where allowed") {
  for (const RestoreCase& c : RestoreCases()) {
    for (const char* mode : {"DryRun", "Strict", "BestEffort"}) {
      DYNAMIC_SECTION(c.name << " / " << mode) {
        Fixture f;
        auto [kind, name] = c.make(f);
        std::string root_uid = f.w.Exists("VirtualDisk", "root") ? f.DiskUid("root") : "";
        f.Restore("r", mode, c.vm);
        f.w.Settle();
        Json entry = f.Entry("VirtualMachineOperation", "r", kind, name);
        bool proceeds = std::string(mode) == "BestEffort" && c.best_effort_proceeds;
        if (proceeds) {
          CHECK(f.w.Phase("VirtualMachineOperation", "r") == "Completed");
          CHECK(entry.value("status", "") == "Completed");
          CHECK_THAT(entry.value("message", ""), Catch::Contains("kept"));
          CHECK(f.DiskUid("root") != root_uid);  // the disks were restored
        } else {
          CHECK(f.w.Phase("VirtualMachineOperation", "r") == "Failed");
          CHECK(f.w.Reason("VirtualMachineOperation", "r", "Completed") == "ConflictsFound");
          CHECK(entry.value("status", "") == "Failed");
          CHECK_THAT(entry.value("message", ""), Catch::Contains(c.message));
          CHECK_THAT(f.w.Message("VirtualMachineOperation", "r", "Completed"),
                     Catch::Contains(c.message));
          if (!root_uid.empty()) CHECK(f.DiskUid("root") == root_uid);  // nothing changed
          // Nothing was started: no resource claims to be in progress (Strict) or done.
          if (std::string(mode) != "DryRun") {
            for (const Json& e : f.w.Get("VirtualMachineOperation", "r")["status"]["resources"]) {
              CHECK(e.value("status", "") != "InProgress");
              if (e.value("status", "") == "Skipped") {
                CHECK_THAT(e.value("message", ""), Catch::Contains("ConflictsFound"));
              }
            }
          }
          CHECK_FALSE(HasFinalizer(f.w.Get("VirtualMachineOperation", "r"),
                                   "virtualization.deckhouse.io/berth-operation"));
        }
      }
    }
  }
}

TEST_CASE("restore of a running VM replaces its disks, spec, IP and MAC, and runs it again") {
  Fixture f;
  std::string root_uid = f.DiskUid("root");
  Json vm = f.w.Get("VirtualMachine", "vm1");
  vm["spec"]["cpu"]["cores"] = 4;  // changed after the snapshot
  vm["metadata"]["labels"] = {{"app", "changed"}};
  REQUIRE(f.w.Store().Update(vm).ok());
  Json ipobj = f.w.Get("VirtualMachineIPAddress", "vm1");
  ipobj["status"]["address"] = "10.66.9.9";  // the VM lost its address meanwhile
  REQUIRE(f.w.Store().Update(ipobj).ok());
  f.w.Settle();
  f.Restore("r", "Strict");
  f.w.Settle();
  Json op = f.w.Get("VirtualMachineOperation", "r");
  REQUIRE(JsonString(op, "/status/phase") == "Completed");
  for (const Json& e : op["status"]["resources"]) CHECK(e.value("status", "") == "Completed");
  vm = f.w.Get("VirtualMachine", "vm1");
  CHECK(JsonString(vm, "/status/phase") == "Running");
  CHECK(JsonString(vm, "/metadata/uid") == f.uid);
  CHECK(vm["spec"]["cpu"]["cores"] == 1);
  CHECK(vm["metadata"]["labels"]["app"] == "db");
  CHECK(JsonString(vm, "/status/ipAddress") == f.ip);
  CHECK(JsonString(vm, "/status/macAddress") == f.mac);
  CHECK_FALSE(vm["status"].contains("maintenance"));
  std::string op_uid = JsonString(op, "/metadata/uid");
  CHECK(vm["metadata"]["annotations"][kOpAnnotation] == op_uid);
  Json root = f.w.Get("VirtualDisk", "root");
  CHECK(JsonString(root, "/metadata/uid") != root_uid);
  CHECK(root["metadata"]["annotations"][kOpAnnotation] == op_uid);
  std::string snap_uid = JsonString(f.w.Get("VirtualMachineSnapshot", "snap"), "/metadata/uid");
  CHECK(JsonString(root, "/spec/dataSource/objectRef/name") == "root-" + snap_uid);
  CHECK(f.w.Get("VirtualDisk", "data")["metadata"]["labels"]["tier"] == "db");
  CHECK_FALSE(HasFinalizer(op, "virtualization.deckhouse.io/berth-operation"));
  {
    absl::MutexLock l(&f.w.Agent()->mu);
    CHECK(f.w.Agent()->volumes.size() == 2);  // the old volumes are gone, none leaked
    CHECK(f.w.Agent()->volumes.count(root_uid) == 0);
  }
  // Another pass changes nothing: every restored object carries the operation's uid.
  uint64_t before = f.w.Store().CurrentVersion();
  f.w.Pass("VirtualMachineOperation");
  CHECK(f.w.Store().CurrentVersion() == before);
}

TEST_CASE("restore of a stopped VM leaves it stopped; a DryRun changes nothing") {
  Fixture f;
  f.w.Apply({{"kind", "VirtualMachineOperation"},
             {"metadata", {{"name", "stop"}}},
             {"spec", {{"type", "Stop"}, {"virtualMachineName", "vm1"}}}});
  f.w.Settle();
  REQUIRE(f.w.Phase("VirtualMachine", "vm1") == "Stopped");
  std::string root_uid = f.DiskUid("root");
  uint64_t before = f.w.Store().CurrentVersion();
  f.Restore("dry", "DryRun");
  f.w.Settle();
  CHECK(f.w.Phase("VirtualMachineOperation", "dry") == "Completed");
  CHECK(f.w.Reason("VirtualMachineOperation", "dry", "Completed") == "DryRunCompleted");
  CHECK(f.Entry("VirtualMachineOperation", "dry", "VirtualDisk", "root").value("message", "") ==
        "dry run: would be restored from VirtualDiskSnapshot \"root-" +
            JsonString(f.w.Get("VirtualMachineSnapshot", "snap"), "/metadata/uid") + "\"");
  CHECK(f.DiskUid("root") == root_uid);
  // Only the operation itself was written.
  for (const char* kind : {"VirtualMachine", "VirtualDisk", "Secret"}) {
    std::vector<Json> objects = *f.w.Store().List(kind, "default");
    for (const Json& o : objects) {
      CHECK(std::stoull(JsonString(o, "/metadata/resourceVersion")) <= before);
    }
  }
  f.Restore("r", "Strict");
  f.w.Settle();
  CHECK(f.w.Phase("VirtualMachineOperation", "r") == "Completed");
  CHECK(f.w.Phase("VirtualMachine", "vm1") == "Stopped");
  CHECK(f.DiskUid("root") != root_uid);
}

TEST_CASE("restore with a missing image: Strict keeps the reference, BestEffort drops it") {
  for (const char* mode : {"Strict", "BestEffort", "DryRun"}) {
    DYNAMIC_SECTION(mode) {
      World w;
      w.Apply(
          {{"kind", "VirtualImage"}, {"metadata", {{"name", "img"}}}, {"spec", Json::object()}});
      w.Disk("root", "1Gi");
      Json vm = w.Vm("vm1", {"root"});
      vm["spec"]["blockDeviceRefs"].push_back({{"kind", "VirtualImage"}, {"name", "img"}});
      REQUIRE(w.Store().Update(vm).ok());
      w.Settle();
      w.Apply({{"kind", "VirtualMachineSnapshot"},
               {"metadata", {{"name", "snap"}}},
               {"spec", {{"virtualMachineName", "vm1"}, {"keepIPAddress", "Never"}}}});
      w.Settle();
      REQUIRE(w.Phase("VirtualMachineSnapshot", "snap") == "Ready");
      w.Delete("VirtualImage", "img");
      w.Apply({{"kind", "VirtualMachineOperation"},
               {"metadata", {{"name", "r"}}},
               {"spec",
                {{"type", "Restore"},
                 {"virtualMachineName", "vm1"},
                 {"restore", {{"mode", mode}, {"virtualMachineSnapshotName", "snap"}}}}}});
      w.Settle();
      CHECK(w.Phase("VirtualMachineOperation", "r") == "Completed");
      Json refs = w.Get("VirtualMachine", "vm1")["spec"]["blockDeviceRefs"];
      std::string m = mode;
      CHECK(refs.size() == (m == "BestEffort" ? 1u : 2u));
      Json entry = Json::object();
      Json op = w.Get("VirtualMachineOperation", "r");
      for (const Json& e : op["status"]["resources"]) {
        if (e["kind"] == "VirtualImage") entry = e;
      }
      CHECK_THAT(entry.value("message", ""),
                 Catch::Contains(m == "BestEffort" ? "dropped" : "stays Pending"));
    }
  }
}

TEST_CASE("deleting a Restore InProgress rolls back before the disks, finishes after") {
  SECTION("rolled back while the VM is being stopped") {
    Fixture f;
    std::string root_uid = f.DiskUid("root");
    f.Restore("r", "Strict");
    f.w.Pass("VirtualMachineOperation");  // validated: InProgress, step stop
    f.w.Pass("VirtualMachineOperation");  // the VM is held off
    REQUIRE(f.w.Phase("VirtualMachineOperation", "r") == "InProgress");
    REQUIRE(JsonAt(f.w.Get("VirtualMachine", "vm1"), "/status/maintenance") == true);
    f.w.Delete("VirtualMachineOperation", "r");
    f.w.Settle();
    CHECK_FALSE(f.w.Exists("VirtualMachineOperation", "r"));
    Json vm = f.w.Get("VirtualMachine", "vm1");
    CHECK(JsonString(vm, "/status/phase") == "Running");
    CHECK_FALSE(vm["status"].contains("maintenance"));
    CHECK_THAT(
        JsonString(vm, "/metadata/annotations/virtualization.deckhouse.io~1berth-last-restore"),
        Catch::Contains("rolled back"));
    CHECK(f.DiskUid("root") == root_uid);
  }
  SECTION("finished once a disk was replaced") {
    Fixture f;
    std::string root_uid = f.DiskUid("root");
    f.Restore("r", "Strict");
    for (int i = 0;
         i < 20 && JsonString(f.w.Get("VirtualMachineOperation", "r"), "/status/step") != "disks";
         ++i) {
      f.w.Pass("VirtualMachineOperation");
      f.w.Pass("VirtualMachine");
    }
    f.w.Pass("VirtualMachineOperation");  // the first disks are deleted
    REQUIRE(JsonString(f.w.Get("VirtualMachineOperation", "r"), "/status/step") == "disks");
    f.w.Delete("VirtualMachineOperation", "r");
    f.w.Pass("VirtualMachineOperation");
    CHECK(f.w.Reason("VirtualMachineOperation", "r", "Completed") == "FinishingBeforeDeletion");
    f.w.Settle();
    CHECK_FALSE(f.w.Exists("VirtualMachineOperation", "r"));
    Json vm = f.w.Get("VirtualMachine", "vm1");
    CHECK(JsonString(vm, "/status/phase") == "Running");
    CHECK_THAT(
        JsonString(vm, "/metadata/annotations/virtualization.deckhouse.io~1berth-last-restore"),
        Catch::Contains("finished after its deletion"));
    CHECK(f.DiskUid("root") != root_uid);
  }
}

// ---------------------------------------------------------------------------------------------
// Clone.

TEST_CASE("clone of a running VM with prefix and suffix") {
  Fixture f(/*take_snapshot=*/false);
  f.Clone("c", "Strict", Prefixed());
  f.w.Settle();
  Json op = f.w.Get("VirtualMachineOperation", "c");
  REQUIRE(JsonString(op, "/status/phase") == "Completed");
  Json clone = f.w.Get("VirtualMachine", "clone-vm1-prod");
  CHECK(JsonString(clone, "/status/phase") == "Running");
  CHECK(f.w.Phase("VirtualMachine", "vm1") == "Running");
  Json labels = JsonAt(clone, "/metadata/labels");
  CHECK((labels.is_null() || labels.empty()));
  CHECK(JsonString(clone, "/spec/runPolicy") == "AlwaysOnUnlessStoppedManually");
  CHECK(JsonString(clone, "/status/ipAddress") != f.ip);
  CHECK(JsonString(clone, "/status/macAddress") != f.mac);
  CHECK_FALSE(JsonString(clone, "/status/ipAddress").empty());
  Json refs = clone["spec"]["blockDeviceRefs"];
  CHECK(refs[0]["name"] == "clone-root-prod");
  CHECK(refs[1]["name"] == "clone-data-prod");
  Json disk = f.w.Get("VirtualDisk", "clone-data-prod");
  CHECK(disk["metadata"]["labels"]["tier"] == "db");  // disk labels are kept
  CHECK(JsonString(disk, "/status/phase") == "Ready");
  std::string source = JsonString(disk, "/spec/dataSource/objectRef/name");
  CHECK(source.rfind("data-", 0) == 0);  // <disk>-<uid of the temporary VM snapshot>
  CHECK_FALSE(f.w.Exists("VirtualDiskSnapshot", source));
  CHECK(f.Count("VirtualMachineSnapshot") == 0);  // the temporary snapshot is gone
  CHECK(f.Count("VirtualDiskSnapshot") == 0);
  CHECK(f.Count("VirtualMachine") == 2);
  CHECK(f.Count("VirtualDisk") == 4);
  {
    absl::MutexLock l(&f.w.Agent()->mu);
    CHECK(f.w.Agent()->freezes == 1);  // a consistent snapshot of the running parent
    CHECK(f.w.Agent()->snapshots.empty());
  }
  std::vector<std::string> kinds;
  for (const Json& e : op["status"]["resources"]) {
    kinds.push_back(e["kind"]);
    CHECK(e["status"] == "Completed");
  }
  CHECK(kinds == std::vector<std::string>{"VirtualMachine", "VirtualMachineIPAddress",
                                          "VirtualMachineMACAddress", "Secret", "VirtualDisk",
                                          "VirtualDisk"});
}

TEST_CASE("clone with the spec's nameReplacements; a stopped AlwaysOff parent stays off") {
  Fixture f(/*take_snapshot=*/false);
  Json vm = f.w.Get("VirtualMachine", "vm1");
  vm["spec"]["runPolicy"] = "AlwaysOff";
  REQUIRE(f.w.Store().Update(vm).ok());
  f.w.Settle();
  REQUIRE(f.w.Phase("VirtualMachine", "vm1") == "Stopped");
  f.Clone("c", "Strict",
          {{"nameReplacements",
            Json::array({{{"from", {{"kind", "VirtualMachine"}, {"name", "vm1"}}},
                          {"to", {{"name", "vm1-clone"}}}},
                         {{"from", {{"kind", "VirtualDisk"}, {"name", "root"}}},
                          {"to", {{"name", "vm1-clone-root"}}}},
                         {{"from", {{"name", "data"}}}, {"to", {{"name", "vm1-clone-data"}}}}})}});
  f.w.Settle();
  CHECK(f.w.Phase("VirtualMachineOperation", "c") == "Completed");
  CHECK(f.w.Phase("VirtualMachine", "vm1-clone") == "Stopped");
  CHECK(f.w.Exists("VirtualDisk", "vm1-clone-root"));
  CHECK(f.w.Phase("VirtualDisk", "vm1-clone-data") == "Ready");
  {
    absl::MutexLock l(&f.w.Agent()->mu);
    CHECK(f.w.Agent()->freezes == 0);  // a stopped VM needs no freeze
  }
}

struct CloneCase {
  const char* name;
  std::function<std::pair<std::string, std::string>(Fixture&)> make;
  bool best_effort_proceeds;
  const char* message;
};

std::vector<CloneCase> CloneCases() {
  return {
      {"target VM name exists",
       [](Fixture& f) {
         f.w.Vm("clone-vm1-prod", {});
         return std::make_pair(std::string("VirtualMachine"), std::string("clone-vm1-prod"));
       },
       false, "already exists"},
      {"target disk name exists",
       [](Fixture& f) {
         f.w.Disk("clone-data-prod", "1Gi");
         return std::make_pair(std::string("VirtualDisk"), std::string("clone-data-prod"));
       },
       false, "already exists"},
      {"missing image",
       [](Fixture& f) {
         Json vm = f.w.Get("VirtualMachine", "vm1");
         vm["spec"]["blockDeviceRefs"].push_back(
             {{"kind", "ClusterVirtualImage"}, {"name", "gone"}});
         REQUIRE(f.w.Store().Update(vm).ok());
         return std::make_pair(std::string("ClusterVirtualImage"), std::string("gone"));
       },
       true, "does not exist"},
      {"USB device attached",
       [](Fixture& f) {
         Json vm = f.w.Get("VirtualMachine", "vm1");
         vm["spec"]["usbDevices"] = Json::array({{{"name", "token"}}});
         REQUIRE(f.w.Store().Update(vm).ok());
         return std::make_pair(std::string("USBDevice"), std::string("token"));
       },
       true, "cannot be cloned"},
  };
}

TEST_CASE("clone conflicts: DryRun reports, Strict fails, BestEffort proceeds where allowed") {
  for (const CloneCase& c : CloneCases()) {
    for (const char* mode : {"DryRun", "Strict", "BestEffort"}) {
      for (bool from_snapshot : {false, true}) {
        DYNAMIC_SECTION(c.name << " / " << mode << (from_snapshot ? " / vmsop" : " / vmop")) {
          Fixture f(/*take_snapshot=*/false);
          auto [kind, name] = c.make(f);
          f.w.Settle();
          std::string op_kind = "VirtualMachineOperation";
          if (from_snapshot) {
            // The snapshot cannot freeze a VM that waits for a missing image: take it stopped.
            f.w.Apply({{"kind", "VirtualMachineSnapshot"},
                       {"metadata", {{"name", "snap"}}},
                       {"spec", {{"virtualMachineName", "vm1"}, {"requiredConsistency", false}}}});
            f.w.Settle();
            REQUIRE(f.w.Phase("VirtualMachineSnapshot", "snap") == "Ready");
            f.FromSnapshot("c", mode, Prefixed());
            op_kind = "VirtualMachineSnapshotOperation";
          } else {
            f.Clone("c", mode, Prefixed());
          }
          size_t vms = f.Count("VirtualMachine"), disks = f.Count("VirtualDisk");
          f.w.Settle();
          Json entry = f.Entry(op_kind, "c", kind, name);
          std::string m = mode;
          if (m == "BestEffort" && c.best_effort_proceeds) {
            CHECK(f.w.Phase(op_kind, "c") == "Completed");
            CHECK(entry.value("status", "") == "Completed");
            CHECK_THAT(entry.value("message", ""), Catch::Contains("BestEffort"));
            Json clone = f.w.Get("VirtualMachine", "clone-vm1-prod");
            CHECK(clone["spec"]["blockDeviceRefs"].size() == 2);
            CHECK_FALSE(clone["spec"].contains("usbDevices"));
          } else {
            CHECK(f.w.Phase(op_kind, "c") == "Failed");
            CHECK(entry.value("status", "") == "Failed");
            CHECK_THAT(entry.value("message", ""), Catch::Contains(c.message));
            CHECK(f.Count("VirtualMachine") == vms);  // nothing created, nothing left over
            CHECK(f.Count("VirtualDisk") == disks);
            CHECK(f.Count("VirtualMachineSnapshot") == (from_snapshot ? 1u : 0u));
          }
          if (m == "DryRun") {
            CHECK(f.Entry(op_kind, "c", "VirtualMachine", "clone-vm1-prod").is_object());
          }
        }
      }
    }
  }
}

TEST_CASE("clone from a snapshot: no temporary snapshot, disks point at the given one") {
  Fixture f;
  std::string snap_uid = JsonString(f.w.Get("VirtualMachineSnapshot", "snap"), "/metadata/uid");
  f.FromSnapshot("dry", "DryRun", Prefixed());
  f.w.Settle();
  CHECK(f.w.Phase("VirtualMachineSnapshotOperation", "dry") == "Completed");
  CHECK_FALSE(f.w.Exists("VirtualMachine", "clone-vm1-prod"));
  // Renaming only the VM (the reference platform's singular spelling) leaves the disks' names
  // taken by the source's disks: a conflict naming each, and nothing is created.
  f.FromSnapshot("clash", "Strict",
                 {{"nameReplacement",
                   Json::array({{{"from", {{"name", "vm1"}}}, {"to", {{"name", "copy"}}}}})}});
  f.w.Settle();
  CHECK(f.w.Phase("VirtualMachineSnapshotOperation", "clash") == "Failed");
  CHECK(f.Entry("VirtualMachineSnapshotOperation", "clash", "VirtualDisk", "root")
            .value("message", "") == "VirtualDisk \"root\" already exists");
  CHECK_FALSE(f.w.Exists("VirtualMachine", "copy"));
  f.FromSnapshot("c", "Strict", Prefixed());
  f.w.Settle();
  REQUIRE(f.w.Phase("VirtualMachineSnapshotOperation", "c") == "Completed");
  CHECK(f.w.Phase("VirtualMachine", "clone-vm1-prod") == "Running");
  CHECK(JsonString(f.w.Get("VirtualDisk", "clone-root-prod"), "/spec/dataSource/objectRef/name") ==
        "root-" + snap_uid);
  CHECK(f.Count("VirtualMachineSnapshot") == 1);  // the given snapshot stays, no other is made
  CHECK(f.w.Phase("VirtualMachineSnapshot", "snap") == "Ready");
}

TEST_CASE("deleting a Clone InProgress removes what it created") {
  Fixture f(/*take_snapshot=*/false);
  f.Clone("c", "Strict", Prefixed());
  for (int i = 0; i < 30 && !f.w.Exists("VirtualMachine", "clone-vm1-prod"); ++i) {
    f.w.Pass("VirtualMachineOperation");
    f.w.Pass("VirtualMachineSnapshot");
    f.w.Pass("VirtualDiskSnapshot");
  }
  REQUIRE(f.w.Exists("VirtualMachine", "clone-vm1-prod"));
  REQUIRE(f.w.Phase("VirtualMachineOperation", "c") == "InProgress");
  f.w.Delete("VirtualMachineOperation", "c");
  f.w.Settle();
  CHECK_FALSE(f.w.Exists("VirtualMachineOperation", "c"));
  CHECK_FALSE(f.w.Exists("VirtualMachine", "clone-vm1-prod"));
  CHECK_FALSE(f.w.Exists("VirtualDisk", "clone-root-prod"));
  CHECK(f.Count("VirtualMachineSnapshot") == 0);
  CHECK(f.Count("VirtualDiskSnapshot") == 0);
  CHECK(f.w.Phase("VirtualMachine", "vm1") == "Running");
}

}  // namespace
}  // namespace berth::controller

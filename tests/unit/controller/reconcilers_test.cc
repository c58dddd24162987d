// Drives the reconcilers against a real SQLite store and an in-memory fake agent, as the
// Manager does (store events, Related, requeues; world.h), until nothing changes — deterministic,
// no threads.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "world.h"

namespace berth::controller {
namespace {

TEST_CASE("disk snapshot of an unattached disk is consistent, restores, and cleans up") {
  World w;
  w.Disk("d1", "1Gi");
  w.Settle();
  REQUIRE(w.Phase("VirtualDisk", "d1") == "Ready");
  CHECK(JsonString(w.Get("VirtualDisk", "d1"), "/status/node") == "n1");
  w.Snapshot("s1", "d1");
  w.Settle();
  REQUIRE(w.Phase("VirtualDiskSnapshot", "s1") == "Ready");
  CHECK(JsonAt(w.Get("VirtualDiskSnapshot", "s1"), "/status/consistent") == true);
  std::string uid = JsonString(w.Get("VirtualDiskSnapshot", "s1"), "/metadata/uid");
  {
    absl::MutexLock l(&w.Agent()->mu);
    CHECK(w.Agent()->snapshots.count(uid) == 1);
    CHECK(w.Agent()->freezes == 0);
  }
  w.Disk("r1", "2Gi", "s1");
  w.Disk("small", "512Mi", "s1");
  w.Settle();
  CHECK(w.Phase("VirtualDisk", "r1") == "Ready");
  CHECK(w.Phase("VirtualDisk", "small") == "Failed");
  CHECK_THAT(w.Message("VirtualDisk", "small", "Ready"), Catch::Contains("smaller than"));
  w.Delete("VirtualDiskSnapshot", "s1");
  w.Settle();
  CHECK_FALSE(w.Exists("VirtualDiskSnapshot", "s1"));
  absl::MutexLock l(&w.Agent()->mu);
  CHECK(w.Agent()->snapshots.count(uid) == 0);
}

// Feeds every store event to Related as the Manager does, and returns the keys asked for.
class RelatedFeed {
 public:
  explicit RelatedFeed(World& w) : w_(w) {
    auto id = w.Store().Watch(w.Store().CurrentVersion(), [this](const StoreEvent& e) {
      absl::MutexLock l(&mu_);
      events_.push_back(e);
    });
    REQUIRE(id.ok());
    id_ = *id;
  }
  ~RelatedFeed() { w_.Store().Unwatch(id_); }

  // Passes the events so far to every reconciler of `kinds`.
  void Drain(const std::vector<std::string>& kinds) {
    std::vector<StoreEvent> events;
    {
      absl::MutexLock l(&mu_);
      events.swap(events_);
    }
    for (const StoreEvent& e : events) {
      for (const std::string& k : kinds) (void)w_.Rec(k).Related(e);
    }
  }

  // Names `kind`'s reconciler relates to a change of `about` (kind, name).
  std::set<std::string> Related(const std::string& kind, const std::string& about_kind,
                                const std::string& about) {
    Json obj = {{"kind", about_kind}, {"metadata", {{"namespace", "default"}, {"name", about}}}};
    std::set<std::string> names;
    StoreEvent e{StoreEvent::Type::kModified, w_.Store().CurrentVersion() + 1000, obj};
    for (const ObjectKey& k : w_.Rec(kind).Related(e)) {
      CHECK(k.kind == kind);
      CHECK(k.ns == "default");
      names.insert(k.name);
    }
    return names;
  }

 private:
  World& w_;
  uint64_t id_ = 0;
  absl::Mutex mu_;
  std::vector<StoreEvent> events_ ABSL_GUARDED_BY(mu_);
};

TEST_CASE("Related finds disks restored from a snapshot, kept current from the events") {
  World w;
  // Present before the reconciler sees any event: found through the index's first List.
  w.Disk("r1", "1Gi", "s1");
  w.Disk("r2", "1Gi", "s1");
  w.Disk("r3", "1Gi", "s2");
  w.Disk("blank", "1Gi");
  RelatedFeed feed(w);
  const std::vector<std::string> kinds = {"VirtualDisk"};
  CHECK(feed.Related("VirtualDisk", "VirtualDiskSnapshot", "s1") ==
        std::set<std::string>{"r1", "r2"});
  CHECK(feed.Related("VirtualDisk", "VirtualDiskSnapshot", "s2") == std::set<std::string>{"r3"});
  CHECK(feed.Related("VirtualDisk", "VirtualDiskSnapshot", "none").empty());
  CHECK(feed.Related("VirtualDisk", "VirtualMachine", "s1").empty());
  // Changes after the first lookup arrive as events.
  w.Delete("VirtualDisk", "r2");
  w.Disk("r4", "1Gi", "s1");
  w.Disk("r5", "1Gi", "s2");
  feed.Drain(kinds);
  CHECK(feed.Related("VirtualDisk", "VirtualDiskSnapshot", "s1") ==
        std::set<std::string>{"r1", "r4"});
  CHECK(feed.Related("VirtualDisk", "VirtualDiskSnapshot", "s2") ==
        std::set<std::string>{"r3", "r5"});
  // Status writes keep a disk where it is.
  w.Settle();
  feed.Drain(kinds);
  CHECK(feed.Related("VirtualDisk", "VirtualDiskSnapshot", "s1") ==
        std::set<std::string>{"r1", "r4"});
}

TEST_CASE("Related finds the unfinished snapshots of a disk, and forgets finished ones") {
  World w;
  w.Snapshot("a", "later");
  w.Snapshot("b", "later");
  w.Snapshot("c", "other");
  w.Settle();
  REQUIRE(w.Phase("VirtualDiskSnapshot", "a") == "Pending");
  RelatedFeed feed(w);
  const std::vector<std::string> kinds = {"VirtualDiskSnapshot"};
  CHECK(feed.Related("VirtualDiskSnapshot", "VirtualDisk", "later") ==
        std::set<std::string>{"a", "b"});
  CHECK(feed.Related("VirtualDiskSnapshot", "VirtualDisk", "other") == std::set<std::string>{"c"});
  CHECK(feed.Related("VirtualDiskSnapshot", "VirtualMachineSnapshot", "later").empty());
  w.Disk("later", "1Gi");
  w.Snapshot("d", "other");
  w.Settle();
  feed.Drain(kinds);
  REQUIRE(w.Phase("VirtualDiskSnapshot", "a") == "Ready");
  CHECK(feed.Related("VirtualDiskSnapshot", "VirtualDisk", "later").empty());
  CHECK(feed.Related("VirtualDiskSnapshot", "VirtualDisk", "other") ==
        std::set<std::string>{"c", "d"});
}

TEST_CASE("a snapshot of a missing disk waits, and a vanished snapshot becomes Lost") {
  World w;
  w.Snapshot("s1", "later");
  w.Settle();
  CHECK(w.Phase("VirtualDiskSnapshot", "s1") == "Pending");
  CHECK(w.Reason("VirtualDiskSnapshot", "s1", "VirtualDiskSnapshotReady") ==
        "WaitingForTheVirtualDisk");
  w.Disk("later", "1Gi");
  w.Settle();
  REQUIRE(w.Phase("VirtualDiskSnapshot", "s1") == "Ready");
  {
    absl::MutexLock l(&w.Agent()->mu);
    w.Agent()->snapshots.clear();
  }
  w.Advance(absl::Seconds(11));  // past the age of the pool listing the checks use
  w.Settle();
  CHECK(w.Phase("VirtualDiskSnapshot", "s1") == "Failed");
  CHECK(w.Reason("VirtualDiskSnapshot", "s1", "VirtualDiskSnapshotReady") == "Lost");
}

TEST_CASE("the lost check lists each pool once per half interval, not each snapshot") {
  World w;
  w.Disk("d", "1Gi");
  for (int i = 0; i < 6; ++i) w.Snapshot("s" + std::to_string(i), "d");
  w.Settle();
  for (int i = 0; i < 6; ++i)
    REQUIRE(w.Phase("VirtualDiskSnapshot", "s" + std::to_string(i)) == "Ready");
  auto calls = [&w] {
    absl::MutexLock l(&w.Agent()->mu);
    return std::pair<int, int>(w.Agent()->list_calls, w.Agent()->get_calls);
  };
  auto [lists0, gets0] = calls();
  w.Advance(absl::Seconds(30));
  w.Pass("VirtualDiskSnapshot");  // six checks, one listing
  CHECK(calls() == std::pair<int, int>(lists0 + 1, gets0));
  w.Pass("VirtualDiskSnapshot");  // a second later the listing still answers
  CHECK(calls() == std::pair<int, int>(lists0 + 1, gets0));

  // Cut after that listing: not in it, but the listing cannot tell, so it is neither asked
  // about nor condemned.
  w.Snapshot("late", "d");
  w.Pass("VirtualDiskSnapshot");
  REQUIRE(w.Phase("VirtualDiskSnapshot", "late") == "Ready");
  w.Advance(absl::Seconds(2));
  w.Pass("VirtualDiskSnapshot");
  CHECK(calls() == std::pair<int, int>(lists0 + 1, gets0));
  CHECK(w.Phase("VirtualDiskSnapshot", "late") == "Ready");

  // Data gone: the next listing misses it, the check asks about it alone and fails it. So for
  // the late snapshot, as that listing is newer than its cut.
  {
    absl::MutexLock l(&w.Agent()->mu);
    w.Agent()->snapshots.erase(JsonString(w.Get("VirtualDiskSnapshot", "s3"), "/metadata/uid"));
    w.Agent()->snapshots.erase(JsonString(w.Get("VirtualDiskSnapshot", "late"), "/metadata/uid"));
  }
  w.Advance(absl::Seconds(11));
  w.Pass("VirtualDiskSnapshot");
  CHECK(calls() == std::pair<int, int>(lists0 + 2, gets0 + 2));
  CHECK(w.Reason("VirtualDiskSnapshot", "s3", "VirtualDiskSnapshotReady") == "Lost");
  CHECK(w.Reason("VirtualDiskSnapshot", "late", "VirtualDiskSnapshotReady") == "Lost");
  for (const char* name : {"s0", "s1", "s2", "s4", "s5"}) {
    CHECK(w.Phase("VirtualDiskSnapshot", name) == "Ready");
  }

  // A pool that cannot be listed: one try per period, then each snapshot is asked about alone.
  {
    absl::MutexLock l(&w.Agent()->mu);
    w.Agent()->list_error = "listing refused";
  }
  w.Advance(absl::Seconds(11));
  w.Pass("VirtualDiskSnapshot");
  CHECK(calls() == std::pair<int, int>(lists0 + 3, gets0 + 2 + 5));
  for (const char* name : {"s0", "s1", "s2", "s4", "s5"}) {
    CHECK(w.Phase("VirtualDiskSnapshot", name) == "Ready");
  }
}

// The phase-change Events recorded for `name`, oldest first.
std::vector<std::string> PhaseEvents(World& w, const std::string& name) {
  auto events = w.Store().List("Event", "default");
  REQUIRE(events.ok());
  std::vector<std::pair<std::string, std::string>> found;  // (resourceVersion, message)
  for (const Json& e : *events) {
    if (JsonString(e, "/involvedObject/name") != name) continue;
    found.emplace_back(JsonString(e, "/metadata/resourceVersion"), e.value("message", ""));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::stoull(a.first) < std::stoull(b.first);
  });
  std::vector<std::string> messages;
  for (const auto& f : found) messages.push_back(f.second);
  return messages;
}

TEST_CASE("a quick cut records one Event, a freeze records its InProgress too") {
  World w;
  w.Disk("d", "1Gi");
  w.Settle();
  w.Snapshot("quick", "d");
  w.Settle();
  REQUIRE(w.Phase("VirtualDiskSnapshot", "quick") == "Ready");
  CHECK(PhaseEvents(w, "quick") == std::vector<std::string>{"phase InProgress -> Ready"});

  w.Disk("root", "1Gi");
  w.Vm("vm1", {"root"});
  w.Settle();
  w.Snapshot("frozen", "root");
  w.Settle();
  REQUIRE(w.Phase("VirtualDiskSnapshot", "frozen") == "Ready");
  std::vector<std::string> frozen = PhaseEvents(w, "frozen");
  REQUIRE(frozen.size() == 2);
  CHECK_THAT(frozen[0], Catch::StartsWith("phase (none) -> InProgress"));
  CHECK(frozen[1] == "phase InProgress -> Ready");
}

TEST_CASE("a running VM's disk snapshot freezes through the guest agent") {
  World w;
  w.Disk("root", "1Gi");
  w.Vm("vm1", {"root"});
  w.Settle();
  REQUIRE(w.Phase("VirtualMachine", "vm1") == "Running");
  REQUIRE(GetCondition(w.Get("VirtualMachine", "vm1"), "AgentReady").value("status", "") == "True");
  w.Snapshot("s1", "root");
  w.Settle();
  CHECK(w.Phase("VirtualDiskSnapshot", "s1") == "Ready");
  CHECK(JsonAt(w.Get("VirtualDiskSnapshot", "s1"), "/status/consistent") == true);
  absl::MutexLock l(&w.Agent()->mu);
  CHECK(w.Agent()->freezes == 1);
}

TEST_CASE("no guest agent: required consistency fails, optional consistency is unset") {
  World w;
  w.Disk("root", "1Gi");
  w.Vm("vm1", {"root"});
  {
    absl::MutexLock l(&w.Agent()->mu);
    w.Agent()->agent_ready = false;
  }
  w.Settle();
  REQUIRE(w.Phase("VirtualMachine", "vm1") == "Running");
  w.Snapshot("strict", "root");
  w.Snapshot("loose", "root", false);
  w.Settle();
  CHECK(w.Phase("VirtualDiskSnapshot", "strict") == "Failed");
  CHECK(w.Reason("VirtualDiskSnapshot", "strict", "VirtualDiskSnapshotReady") ==
        "PotentiallyInconsistent");
  CHECK_THAT(w.Message("VirtualDiskSnapshot", "strict", "VirtualDiskSnapshotReady"),
             Catch::Contains("guest agent is not ready"));
  CHECK(w.Phase("VirtualDiskSnapshot", "loose") == "Ready");
  CHECK_FALSE(w.Get("VirtualDiskSnapshot", "loose")["status"].contains("consistent"));
}

TEST_CASE("a freeze error reaches the snapshot's condition message") {
  World w;
  w.Disk("root", "1Gi");
  w.Vm("vm1", {"root"});
  w.Settle();
  {
    absl::MutexLock l(&w.Agent()->mu);
    w.Agent()->freeze_error = "guest-fsfreeze-freeze: the agent is in frozen state";
  }
  w.Snapshot("s1", "root");
  w.Settle();
  CHECK(w.Phase("VirtualDiskSnapshot", "s1") == "Failed");
  CHECK_THAT(w.Message("VirtualDiskSnapshot", "s1", "VirtualDiskSnapshotReady"),
             Catch::Contains("the agent is in frozen state"));
}

TEST_CASE("a VM snapshot freezes once, cuts every disk and records resources in order") {
  World w;
  w.Disk("root", "1Gi");
  w.Disk("data", "2Gi");
  w.Vm("vm1", {"root", "data"});
  w.Settle();
  REQUIRE(w.Phase("VirtualMachine", "vm1") == "Running");
  std::string ip = JsonString(w.Get("VirtualMachine", "vm1"), "/status/ipAddress");
  REQUIRE_FALSE(ip.empty());
  w.Apply({{"kind", "VirtualMachineSnapshot"},
           {"metadata", {{"name", "snap"}}},
           {"spec",
            {{"virtualMachineName", "vm1"},
             {"requiredConsistency", true},
             {"keepIPAddress", "Always"}}}});
  w.Settle();
  Json snap = w.Get("VirtualMachineSnapshot", "snap");
  REQUIRE(JsonString(snap, "/status/phase") == "Ready");
  CHECK(JsonAt(snap, "/status/consistent") == true);
  std::string uid = JsonString(snap, "/metadata/uid");
  CHECK(w.Phase("VirtualDiskSnapshot", "root-" + uid) == "Ready");
  CHECK(w.Phase("VirtualDiskSnapshot", "data-" + uid) == "Ready");
  std::vector<std::string> kinds;
  for (const Json& r : snap["status"]["resources"]) kinds.push_back(r["kind"]);
  CHECK(kinds == std::vector<std::string>{"VirtualMachine", "VirtualMachineIPAddress",
                                          "VirtualMachineMACAddress", "VirtualDisk",
                                          "VirtualDisk"});
  Json secret = w.Get("Secret", JsonString(snap, "/status/virtualMachineSnapshotSecretName"));
  std::string vmip;
  REQUIRE(absl::Base64Unescape(JsonString(secret, "/data/vmip"), &vmip));
  Json stored = Json::parse(vmip);
  CHECK(stored["spec"]["type"] == "Static");
  CHECK(stored["spec"]["staticIP"] == ip);
  CHECK(JsonString(w.Get("VirtualMachineIPAddress", "vm1"), "/spec/type") == "Auto");
  absl::MutexLock l(&w.Agent()->mu);
  CHECK(w.Agent()->freezes == 1);
  CHECK(w.Agent()->snapshot_calls == 2);
}

TEST_CASE("IP addresses are unique across VMs; operations stop and start a VM") {
  World w;
  std::set<std::string> ips;
  for (const char* n : {"a", "b", "c"}) {
    w.Disk(std::string(n) + "-root", "1Gi");
    w.Vm(n, {std::string(n) + "-root"});
  }
  w.Settle();
  for (const char* n : {"a", "b", "c"}) {
    ips.insert(JsonString(w.Get("VirtualMachine", n), "/status/ipAddress"));
  }
  CHECK(ips.size() == 3);
  CHECK_FALSE(ips.count(""));
  w.Apply({{"kind", "VirtualMachineOperation"},
           {"metadata", {{"name", "stop-a"}}},
           {"spec", {{"type", "Stop"}, {"virtualMachineName", "a"}}}});
  w.Settle();
  CHECK(w.Phase("VirtualMachineOperation", "stop-a") == "Completed");
  CHECK(w.Phase("VirtualMachine", "a") == "Stopped");
  w.Apply({{"kind", "VirtualMachineOperation"},
           {"metadata", {{"name", "start-a"}}},
           {"spec", {{"type", "Start"}, {"virtualMachineName", "a"}}}});
  w.Settle();
  CHECK(w.Phase("VirtualMachineOperation", "start-a") == "Completed");
  CHECK(w.Phase("VirtualMachine", "a") == "Running");
}

TEST_CASE("one operation per VM: the first claims the VM, the next waits for it") {
  World w;
  w.Disk("a-root", "1Gi");
  w.Vm("a", {"a-root"});
  w.Settle();
  REQUIRE(w.Phase("VirtualMachine", "a") == "Running");
  for (const char* name : {"restart-a", "stop-a"}) {
    w.Apply(
        {{"kind", "VirtualMachineOperation"},
         {"metadata", {{"name", name}}},
         {"spec", {{"type", name[0] == 'r' ? "Restart" : "Stop"}, {"virtualMachineName", "a"}}}});
  }
  w.Pass("VirtualMachineOperation");
  CHECK(JsonString(w.Get("VirtualMachine", "a"), "/status/activeOperation") == "restart-a");
  CHECK(w.Phase("VirtualMachineOperation", "restart-a") == "InProgress");
  CHECK(w.Phase("VirtualMachineOperation", "stop-a") == "Pending");
  CHECK(w.Reason("VirtualMachineOperation", "stop-a", "Completed") == "WaitingForOtherOperation");
  w.Settle();
  CHECK(w.Phase("VirtualMachineOperation", "restart-a") == "Completed");
  CHECK(w.Phase("VirtualMachineOperation", "stop-a") == "Completed");
  CHECK(JsonString(w.Get("VirtualMachine", "a"), "/status/activeOperation") == "stop-a");
  CHECK(w.Phase("VirtualMachine", "a") == "Stopped");
}

}  // namespace
}  // namespace berth::controller

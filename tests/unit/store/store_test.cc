#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <regex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "berth/controller/object_store.h"
#include "berth/time_util.h"
#include "store_env.h"
#include "store_test_util.h"

namespace berth::controller {
namespace {

using testing::AddOwner;
using testing::MakeObject;
using testing::TempDir;

absl::Time Start() { return absl::FromUnixSeconds(1728027905); }  // 2024-10-04T07:45:05Z

// Versions below are env->V(n) / env->Rv(n): the nth write of the test case (see StoreEnv).
std::unique_ptr<ObjectStore> MustOpen(testing::StoreEnv& env, const Clock& clock,
                                      size_t history = 100000) {
  auto store = env.Open(clock, history);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(store).value();
}

using testing::MustCreate;
using testing::MustUpdate;

std::string Rv(const Json& obj) { return obj["metadata"]["resourceVersion"].get<std::string>(); }

bool Exists(ObjectStore& store, const Json& obj) {
  auto got = store.Get(ObjectKey::Of(obj));
  if (!got.ok()) REQUIRE(absl::IsNotFound(got.status()));
  return got.ok();
}

TEST_CASE("Create fills store-owned metadata; Get and List read it back") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(Start());
  auto store = MustOpen(*env, clock);
  Json in = MakeObject("VirtualDisk", "b", "d2");
  in["metadata"]["uid"] = "caller-uid";
  in["metadata"]["resourceVersion"] = "999";
  in["status"] = {{"phase", "Pending"}};
  Json d2 = MustCreate(*store, in);
  CHECK(Rv(d2) == env->Rv(1));
  CHECK(d2["metadata"]["generation"] == 1);
  CHECK(d2["metadata"]["creationTimestamp"] == "2024-10-04T07:45:05Z");
  CHECK(d2["status"]["phase"] == "Pending");
  std::string uid = d2["metadata"]["uid"];
  CHECK(std::regex_match(uid, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                         "[0-9a-f]{12}")));
  MustCreate(*store, MakeObject("VirtualDisk", "a", "d9"));
  MustCreate(*store, MakeObject("VirtualDisk", "b", "d1"));
  MustCreate(*store, MakeObject("VirtualImage", "b", "img"));
  Json cvi = MustCreate(*store, MakeObject("ClusterVirtualImage", "", "ubuntu"));
  CHECK_FALSE(cvi["metadata"].contains("namespace"));
  CHECK(Rv(cvi) == env->Rv(5));

  auto got = store->Get(ObjectKey{"VirtualDisk", "b", "d2"});
  REQUIRE(got.ok());
  CHECK(*got == d2);
  CHECK(ObjectKey::Of(*got) == ObjectKey{"VirtualDisk", "b", "d2"});
  CHECK(store->Get(ObjectKey{"ClusterVirtualImage", "", "ubuntu"}).ok());
  auto missing = store->Get(ObjectKey{"VirtualDisk", "a", "d2"});
  CHECK(absl::IsNotFound(missing.status()));
  CHECK(std::string(missing.status().message()) == "VirtualDisk \"a/d2\" not found");

  uint64_t rv = 0;
  auto all = store->List("VirtualDisk", "", &rv);
  REQUIRE(all.ok());
  CHECK(rv == env->V(5));
  std::vector<std::string> names;
  for (const Json& o : *all)
    names.push_back(o["metadata"]["namespace"].get<std::string>() + "/" +
                    o["metadata"]["name"].get<std::string>());
  CHECK(names == std::vector<std::string>{"a/d9", "b/d1", "b/d2"});
  auto in_b = store->List("VirtualDisk", "b");
  REQUIRE(in_b.ok());
  REQUIRE(in_b->size() == 2);
  CHECK((*in_b)[0]["metadata"]["name"] == "d1");
  CHECK(store->List("ClusterVirtualImage", "")->size() == 1);
  CHECK(store->List("VirtualDisk", "nope")->empty());
  CHECK(store->CurrentVersion() == env->V(5));
}

TEST_CASE("Create rejects a taken key and malformed objects") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(Start());
  auto store = MustOpen(*env, clock);
  MustCreate(*store, MakeObject("VirtualDisk", "default", "d1"));
  auto again = store->Create(MakeObject("VirtualDisk", "default", "d1"));
  CHECK(absl::IsAlreadyExists(again.status()));
  CHECK(std::string(again.status().message()).find("VirtualDisk \"default/d1\"") !=
        std::string::npos);
  // Same name in another namespace or kind is a different key.
  MustCreate(*store, MakeObject("VirtualDisk", "other", "d1"));
  MustCreate(*store, MakeObject("VirtualImage", "default", "d1"));

  CHECK(absl::IsInvalidArgument(store->Create(Json::array()).status()));
  CHECK(absl::IsInvalidArgument(store->Create(MakeObject("VirtualDisk", "default", "")).status()));
  Json bad_refs = MakeObject("VirtualDisk", "default", "x");
  bad_refs["metadata"]["ownerReferences"] = {{{"kind", "VirtualMachine"}}};
  CHECK(absl::IsInvalidArgument(store->Create(bad_refs).status()));
  Json bad_utf8 = MakeObject("VirtualDisk", "default", "y");
  bad_utf8["spec"]["note"] = std::string("\xff\xfe");
  CHECK(absl::IsInvalidArgument(store->Create(bad_utf8).status()));
  CHECK(store->CurrentVersion() == env->V(3));
  CHECK(absl::IsNotFound(store->Get(ObjectKey{"VirtualDisk", "default", "y"}).status()));
}

TEST_CASE("Update rejects a stale or missing resourceVersion with a conflict") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(Start());
  auto store = MustOpen(*env, clock);
  Json d1 = MustCreate(*store, MakeObject("VirtualDisk", "default", "d1"));
  Json fresh = d1;
  fresh["status"]["phase"] = "Ready";
  Json updated = MustUpdate(*store, fresh);
  CHECK(Rv(updated) == env->Rv(2));

  Json stale = d1;
  stale["status"]["phase"] = "Failed";
  auto conflict = store->Update(stale);
  REQUIRE(absl::IsAborted(conflict.status()));
  CHECK(std::string(conflict.status().message()) ==
        "conflict: VirtualDisk \"default/d1\" was modified (have " + env->Rv(1) + ", stored " +
            env->Rv(2) + "); re-read and retry");
  stale["metadata"].erase("resourceVersion");
  auto missing = store->Update(stale);
  REQUIRE(absl::IsAborted(missing.status()));
  CHECK(std::string(missing.status().message()).find("conflict") != std::string::npos);
  CHECK(store->Get(ObjectKey::Of(d1))->at("status").at("phase") == "Ready");

  auto absent = store->Update(MakeObject("VirtualDisk", "default", "nope"));
  CHECK(absl::IsNotFound(absent.status()));
}

TEST_CASE("generation bumps only when spec changes; store-owned fields are kept") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(Start());
  auto store = MustOpen(*env, clock);
  Json d1 = MustCreate(*store, MakeObject("VirtualDisk", "default", "d1"));
  clock.Advance(absl::Hours(1));

  Json status_only = d1;
  status_only["status"] = {{"phase", "Ready"}, {"observedGeneration", 1}};
  status_only["metadata"]["labels"] = {{"tier", "gold"}};
  Json s = MustUpdate(*store, status_only);
  CHECK(s["metadata"]["generation"] == 1);
  CHECK(Rv(s) == env->Rv(2));

  Json spec_change = s;
  spec_change["spec"]["size"] = "2Gi";
  spec_change["metadata"]["uid"] = "forged";
  spec_change["metadata"]["creationTimestamp"] = "2000-01-01T00:00:00Z";
  spec_change["metadata"]["generation"] = 40;
  Json g = MustUpdate(*store, spec_change);
  CHECK(g["metadata"]["generation"] == 2);
  CHECK(g["metadata"]["uid"] == d1["metadata"]["uid"]);
  CHECK(g["metadata"]["creationTimestamp"] == "2024-10-04T07:45:05Z");
  CHECK(*store->Get(ObjectKey::Of(d1)) == g);

  // Writing back exactly what is stored is not a change: no new version.
  Json same = MustUpdate(*store, g);
  CHECK(same == g);
  CHECK(store->CurrentVersion() == env->V(3));

  Json sneaky = g;
  sneaky["metadata"]["deletionTimestamp"] = "2024-10-04T09:00:00Z";
  CHECK(absl::IsInvalidArgument(store->Update(sneaky).status()));
}

TEST_CASE("Delete with finalizers marks the object; removing the last finalizer removes it") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(Start());
  auto store = MustOpen(*env, clock);
  std::vector<StoreEvent> events;
  REQUIRE(store->Watch(0, [&](const StoreEvent& e) { events.push_back(e); }).ok());
  Json in = MakeObject("VirtualDiskSnapshot", "default", "s1");
  in["metadata"]["finalizers"] = {"virtualization.deckhouse.io/cleanup"};
  Json s1 = MustCreate(*store, in);
  clock.Advance(absl::Seconds(30));

  auto marked = store->Delete(ObjectKey::Of(s1));
  REQUIRE(marked.ok());
  CHECK((*marked)["metadata"]["deletionTimestamp"] == "2024-10-04T07:45:35Z");
  CHECK(Rv(*marked) == env->Rv(2));
  CHECK(Exists(*store, s1));
  clock.Advance(absl::Seconds(30));
  auto again = store->Delete(ObjectKey::Of(s1));  // deletionTimestamp is set once
  REQUIRE(again.ok());
  CHECK(*again == *marked);
  CHECK(store->CurrentVersion() == env->V(2));

  Json cleared = *marked;
  cleared["metadata"].erase("deletionTimestamp");
  CHECK(absl::IsInvalidArgument(store->Update(cleared).status()));
  Json more = *marked;
  more["metadata"]["finalizers"].push_back("another");
  CHECK(absl::IsInvalidArgument(store->Update(more).status()));

  Json done = *marked;
  done["metadata"]["finalizers"] = Json::array();
  auto removed = store->Update(done);
  REQUIRE(removed.ok());
  CHECK(Rv(*removed) == env->Rv(3));
  CHECK_FALSE(Exists(*store, s1));

  REQUIRE(events.size() == 3);
  CHECK(events[0].type == StoreEvent::Type::kAdded);
  CHECK(events[1].type == StoreEvent::Type::kModified);
  CHECK(events[1].object()["metadata"].contains("deletionTimestamp"));
  CHECK(events[2].type == StoreEvent::Type::kDeleted);
  CHECK(events[2].resource_version == env->V(3));
  CHECK(std::string(EventTypeName(events[2].type)) == "DELETED");
}

TEST_CASE("Delete without finalizers removes the object and returns its last state") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(Start());
  auto store = MustOpen(*env, clock);
  Json d1 = MustCreate(*store, MakeObject("VirtualDisk", "default", "d1"));
  auto wrong = store->Delete(ObjectKey::Of(d1), std::string("not-the-uid"));
  CHECK(absl::IsAborted(wrong.status()));
  CHECK(Exists(*store, d1));
  auto gone = store->Delete(ObjectKey::Of(d1), d1["metadata"]["uid"].get<std::string>());
  REQUIRE(gone.ok());
  CHECK((*gone)["spec"] == d1["spec"]);
  CHECK(Rv(*gone) == env->Rv(2));
  CHECK_FALSE(Exists(*store, d1));
  CHECK(absl::IsNotFound(store->Delete(ObjectKey::Of(d1)).status()));
}

TEST_CASE("Delete cascades through ownerReferences, two levels deep") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(Start());
  auto store = MustOpen(*env, clock);
  Json vm = MustCreate(*store, MakeObject("VirtualMachine", "ns", "vm"));
  Json disk_in = MakeObject("VirtualDisk", "ns", "disk");
  AddOwner(vm, &disk_in);
  Json disk = MustCreate(*store, disk_in);
  Json disk_child_in = MakeObject("VirtualDiskSnapshot", "ns", "disk-child");
  AddOwner(disk, &disk_child_in);
  Json disk_child = MustCreate(*store, disk_child_in);
  Json snap_in = MakeObject("VirtualMachineSnapshot", "ns", "snap");
  AddOwner(vm, &snap_in);
  snap_in["metadata"]["finalizers"] = {"cleanup"};
  Json snap = MustCreate(*store, snap_in);
  Json snap_child_in = MakeObject("VirtualDiskSnapshot", "ns", "snap-child");
  AddOwner(snap, &snap_child_in);
  Json snap_child = MustCreate(*store, snap_child_in);
  Json bystander = MustCreate(*store, MakeObject("VirtualDisk", "ns", "other"));

  std::vector<StoreEvent> events;
  REQUIRE(store->Watch(0, [&](const StoreEvent& e) { events.push_back(e); }).ok());
  REQUIRE(store->Delete(ObjectKey::Of(vm)).ok());
  CHECK_FALSE(Exists(*store, vm));
  CHECK_FALSE(Exists(*store, disk));
  CHECK_FALSE(Exists(*store, disk_child));
  CHECK_FALSE(Exists(*store, snap_child));
  CHECK(Exists(*store, bystander));
  auto marked = store->Get(ObjectKey::Of(snap));
  REQUIRE(marked.ok());
  CHECK((*marked)["metadata"].contains("deletionTimestamp"));
  REQUIRE(events.size() == 5);  // vm, disk, disk-child, snap (marked), snap-child
  for (size_t i = 0; i < events.size(); ++i) CHECK(events[i].resource_version == env->V(7 + i));
  CHECK(events[0].object()["metadata"]["name"] == "vm");

  // The snapshot goes once its finalizer is removed.
  Json done = *marked;
  done["metadata"]["finalizers"] = Json::array();
  REQUIRE(store->Update(done).ok());
  CHECK_FALSE(Exists(*store, snap));
  CHECK(store->CurrentVersion() == env->V(12));
}

TEST_CASE("Removing a finalizer from a deleted owner cascades to its dependents") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(Start());
  auto store = MustOpen(*env, clock);
  Json owner_in = MakeObject("VirtualMachine", "ns", "vm");
  owner_in["metadata"]["finalizers"] = {"f"};
  Json owner = MustCreate(*store, owner_in);
  REQUIRE(store->Delete(ObjectKey::Of(owner)).ok());
  // Created after the owner was marked: only the final removal can reach it.
  Json late_in = MakeObject("VirtualDisk", "ns", "late");
  AddOwner(owner, &late_in);
  Json late = MustCreate(*store, late_in);
  Json marked = *store->Get(ObjectKey::Of(owner));
  marked["metadata"].erase("finalizers");
  REQUIRE(store->Update(marked).ok());
  CHECK_FALSE(Exists(*store, owner));
  CHECK_FALSE(Exists(*store, late));
}

TEST_CASE("Objects and the version counter survive reopening") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(Start());
  Json d1;
  {
    auto store = MustOpen(*env, clock);
    d1 = MustCreate(*store, MakeObject("VirtualDisk", "default", "d1"));
    Json owner = MustCreate(*store, MakeObject("VirtualMachine", "default", "vm"));
    Json dep = MakeObject("VirtualDisk", "default", "dep");
    AddOwner(owner, &dep);
    MustCreate(*store, dep);
    d1["spec"]["size"] = "5Gi";
    d1 = MustUpdate(*store, d1);
  }
  auto store = MustOpen(*env, clock);
  CHECK(store->CurrentVersion() == env->V(4));
  CHECK(*store->Get(ObjectKey::Of(d1)) == d1);
  Json d2 = MustCreate(*store, MakeObject("VirtualDisk", "default", "d2"));
  CHECK(Rv(d2) == env->Rv(5));
  // The owner index survived too.
  REQUIRE(store->Delete(ObjectKey{"VirtualMachine", "default", "vm"}).ok());
  CHECK(absl::IsNotFound(store->Get(ObjectKey{"VirtualDisk", "default", "dep"}).status()));
  // So did the event history; a cache's starts when it is opened (here at V(4)).
  std::vector<uint64_t> seen;
  auto record = [&](const StoreEvent& e) { seen.push_back(e.resource_version); };
  if (env->is_cached()) {
    CHECK(absl::IsOutOfRange(store->Watch(env->V(3), record).status()));
    REQUIRE(store->Watch(env->V(4), record).ok());
    CHECK(seen == std::vector<uint64_t>{env->V(5), env->V(6), env->V(7)});
    return;
  }
  REQUIRE(store->Watch(env->V(3), record).ok());
  CHECK(seen == std::vector<uint64_t>{env->V(4), env->V(5), env->V(6), env->V(7)});
}

// SQLite only: this is the embedded store's own durability (WAL, synchronous=FULL) with the
// process that holds it killed. The etcd store holds nothing itself (etcd's raft log is the
// durable copy; its own tests cover that); "survive reopening" covers a new etcd store.
TEST_CASE("An acknowledged write survives kill -9") {
  if (testing::NewStoreEnv()->is_etcd()) return;
  TempDir dir;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    RealClock clock;
    auto store = OpenSqliteStore(dir.path(), clock);
    char result = 'n';
    if (store.ok()) {
      bool ok = true;
      for (int i = 0; i < 20 && ok; ++i) {
        ok = (*store)->Create(MakeObject("VirtualDisk", "k", "d" + std::to_string(i))).ok();
      }
      if (ok) result = 'y';
    }
    if (write(fds[1], &result, 1) != 1) _exit(1);
    pause();  // killed here, store still open
    _exit(0);
  }
  close(fds[1]);
  char ack = 0;
  REQUIRE(read(fds[0], &ack, 1) == 1);
  close(fds[0]);
  REQUIRE(kill(child, SIGKILL) == 0);
  int wstatus = 0;
  REQUIRE(waitpid(child, &wstatus, 0) == child);
  REQUIRE(ack == 'y');

  SimulatedClock clock(Start());
  auto opened = OpenSqliteStore(dir.path(), clock);
  REQUIRE(opened.ok());
  auto store = std::move(opened).value();
  CHECK(store->CurrentVersion() == 20);
  CHECK(store->List("VirtualDisk", "k")->size() == 20);
  CHECK(Rv(MustCreate(*store, MakeObject("VirtualDisk", "k", "after"))) == "21");
}

}  // namespace
}  // namespace berth::controller

namespace berth::controller {
namespace {

TEST_CASE("UpdateAndCreate stores the update and its follow-up in one commit") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock(absl::FromUnixSeconds(1728027905));
  auto opened = env->Open(clock);
  REQUIRE(opened.ok());
  ObjectStore& store = **opened;
  auto disk = store.Create(testing::MakeObject("VirtualDisk", "ns", "d1"));
  REQUIRE(disk.ok());
  std::vector<StoreEvent> seen;
  REQUIRE(
      store.Watch(store.CurrentVersion(), [&](const StoreEvent& e) { seen.push_back(e); }).ok());

  Json changed = *disk;
  changed["status"] = {{"phase", "Ready"}};
  auto written = store.UpdateAndCreate(changed, [&](const Json& stored) {
    CHECK(stored["status"]["phase"] == "Ready");
    Json event = testing::MakeObject("Event", "ns", "d1.ready");
    testing::AddOwner(stored, &event);
    return std::optional<Json>(event);
  });
  REQUIRE(written.ok());
  CHECK((*written)["status"]["phase"] == "Ready");
  REQUIRE(seen.size() == 2);  // published together, update first
  CHECK(seen[0].object()["kind"] == "VirtualDisk");
  CHECK(seen[1].object()["kind"] == "Event");
  CHECK(seen[1].resource_version == seen[0].resource_version + 1);
  CHECK(store.Get(ObjectKey{"Event", "ns", "d1.ready"}).ok());

  SECTION("a failed follow-up is undone alone") {
    Json again = *written;
    again["status"]["phase"] = "Failed";
    auto second = store.UpdateAndCreate(again, [](const Json&) {
      return std::optional<Json>(testing::MakeObject("Event", "ns", "d1.ready"));  // exists
    });
    REQUIRE(second.ok());
    CHECK((*second)["status"]["phase"] == "Failed");
    CHECK(seen.size() == 3);
    CHECK(store.CurrentVersion() == seen.back().resource_version);
  }
  SECTION("a failed update creates nothing") {
    Json stale = *disk;  // old resourceVersion
    stale["status"] = {{"phase", "Lost"}};
    bool called = false;
    auto conflict = store.UpdateAndCreate(stale, [&](const Json&) {
      called = true;
      return std::optional<Json>(testing::MakeObject("Event", "ns", "d1.lost"));
    });
    CHECK(absl::IsAborted(conflict.status()));
    CHECK_FALSE(called);
    CHECK(absl::IsNotFound(store.Get(ObjectKey{"Event", "ns", "d1.lost"}).status()));
    CHECK(seen.size() == 2);
  }
  SECTION("deleting the owner takes the follow-up with it") {
    REQUIRE(store.Delete(ObjectKey{"VirtualDisk", "ns", "d1"}).ok());
    CHECK(absl::IsNotFound(store.Get(ObjectKey{"Event", "ns", "d1.ready"}).status()));
  }
}

}  // namespace
}  // namespace berth::controller

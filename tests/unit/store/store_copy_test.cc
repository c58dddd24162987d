// ObjectStore::Import (both stores), CopyStore and VerifyStores: a SQLite store moved to etcd
// (the binary's private etcd, EtcdServer::Shared(), each test case under its own key prefix)
// keeps every object, its metadata and the order of its resourceVersions.

#include "berth/controller/store_copy.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "berth/controller/object_store.h"
#include "berth/controller/store_spec.h"
#include "berth/time_util.h"
#include "etcd_server.h"
#include "store/store_copy.h"
#include "store_test_util.h"

namespace berth::controller {
namespace {

using testing::AddOwner;
using testing::EtcdServer;
using testing::MakeObject;
using testing::TempDir;

absl::Time Start() { return absl::FromUnixSeconds(1728027905); }  // 2024-10-04T07:45:05Z

std::unique_ptr<ObjectStore> MustOpenSpec(const std::string& text, const Clock& clock) {
  absl::StatusOr<StoreSpec> spec = ParseStoreSpec(text);
  INFO(text << ": " << spec.status().ToString());
  REQUIRE(spec.ok());
  auto store = OpenStore(*spec, StoreOpenOptions{}, clock);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(store).value();
}

std::unique_ptr<ObjectStore> OpenSqlite(const TempDir& dir, const Clock& clock) {
  return MustOpenSpec("sqlite:" + dir.path(), clock);
}

// A fresh key prefix on the shared etcd.
std::unique_ptr<ObjectStore> OpenEtcd(const std::string& name, const Clock& clock) {
  const EtcdServer& etcd = EtcdServer::Shared();
  INFO(etcd.error());
  REQUIRE(etcd.error().empty());
  return MustOpenSpec(
      absl::StrCat("etcd:", etcd.endpoint(), "/berth-copy-test-", getpid(), "-", name, "/"), clock);
}

using testing::MustCreate;
using testing::MustUpdate;

ObjectStore::SharedObjects MustListAll(ObjectStore& store) {
  auto all = store.ListAll();
  INFO(all.status().ToString());
  REQUIRE(all.ok());
  return *all;
}

uint64_t Rv(const Json& obj) {
  auto rv = store::ResourceVersionOf(obj);
  REQUIRE(rv.ok());
  return *rv;
}

// The keys of `store`'s objects in resourceVersion order.
std::vector<std::string> KeysByVersion(ObjectStore& store) {
  ObjectStore::SharedObjects all = MustListAll(store);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return Rv(*a) < Rv(*b); });
  std::vector<std::string> keys;
  for (const auto& obj : all) keys.push_back(ObjectKey::Of(*obj).ToString());
  return keys;
}

Json WithoutVersion(Json obj) {
  obj["metadata"].erase("resourceVersion");
  return obj;
}

// Fills `store` with `disks` VirtualDisks in two namespaces, a snapshot of each owned by it,
// a cluster-scoped image, Secrets and Events; then changes early objects again (spec, status,
// labels), so neither key order nor creation order is resourceVersion order; then deletes a
// disk with a finalizer (it stays, with a deletionTimestamp, and so does its snapshot, which
// has a finalizer too). The clock moves between writes.
void Populate(ObjectStore& store, SimulatedClock& clock, int disks) {
  std::vector<Json> created_disks;
  for (int i = 0; i < disks; ++i) {
    Json disk = MakeObject("VirtualDisk", i % 2 ? "team-a" : "team-b", absl::StrCat("disk-", i));
    disk["metadata"]["labels"]["n"] = std::to_string(i);
    disk["metadata"]["annotations"]["note"] = "äöü ✓";  // kept byte for byte
    if (i == 1) disk["metadata"]["finalizers"] = {"test.berth/protect"};
    created_disks.push_back(MustCreate(store, disk));
    clock.Advance(absl::Seconds(1));
    Json snap = MakeObject("VirtualDiskSnapshot", JsonString(disk, "/metadata/namespace"),
                           absl::StrCat("snap-", i));
    AddOwner(created_disks.back(), &snap);
    if (i == 1) snap["metadata"]["finalizers"] = {"test.berth/protect"};
    MustCreate(store, snap);
  }
  MustCreate(store, MakeObject("ClusterVirtualImage", "", "base-image"));
  for (int i = 0; i < 5; ++i) {
    Json secret = {
        {"apiVersion", "v1"},
        {"kind", "Secret"},
        {"metadata", {{"name", absl::StrCat("cloud-init-", i)}, {"namespace", "team-a"}}},
        {"data", {{"userData", "I2Nsb3VkLWNvbmZpZw=="}}}};
    MustCreate(store, secret);
    Json event = {{"apiVersion", "v1"},
                  {"kind", "Event"},
                  {"metadata", {{"name", absl::StrCat("disk-0.", i)}, {"namespace", "team-b"}}},
                  {"reason", "Ready"},
                  {"count", i + 1}};
    MustCreate(store, event);
  }
  // Later writes to early objects: a spec change (generation 2), a status, a label.
  for (int i = 0; i < disks; i += 3) {
    Json disk = *store.Get(ObjectKey::Of(created_disks[i]));
    disk["spec"]["size"] = "2Gi";
    disk["status"] = {{"phase", "Ready"}, {"capacity", "2Gi"}};
    MustUpdate(store, disk);
    clock.Advance(absl::Seconds(1));
  }
  REQUIRE(store.Delete(ObjectKey::Of(created_disks[1])).ok());
}

TEST_CASE("copy: a SQLite store moves to etcd with its objects, metadata and version order") {
  SimulatedClock clock(Start());
  TempDir dir;
  auto from = OpenSqlite(dir, clock);
  Populate(*from, clock, 150);
  auto to = OpenEtcd("main", clock);
  const uint64_t to_before = to->CurrentVersion();

  std::vector<size_t> progress;
  CopyOptions options;
  options.from_name = "sqlite:" + dir.path();
  options.to_name = "etcd:test";
  options.progress = [&](size_t copied, size_t total) {
    CHECK(total == 311);
    progress.push_back(copied);
  };
  auto result = CopyStore(*from, *to, options);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->objects == 311);  // 150 disks, 150 snapshots, an image, 5 secrets, 5 events
  CHECK(progress.size() == 311);
  CHECK(progress.back() == 311);
  CHECK(result->kinds["VirtualDisk"] == 150);
  CHECK(result->kinds["VirtualDiskSnapshot"] == 150);
  CHECK(result->kinds["Event"] == 5);
  CHECK(result->from_first < result->from_last);
  CHECK(result->from_last == from->CurrentVersion());
  CHECK(result->source_version == from->CurrentVersion());
  CHECK(result->to_first > to_before);
  CHECK(result->to_last == to->CurrentVersion());
  CHECK(result->to_last - result->to_first + 1 == 311);  // one revision per object

  // Every object as it was, resourceVersion aside, in the same version order.
  auto report = VerifyStores(*from, *to);
  REQUIRE(report.ok());
  for (const std::string& d : report->differences) INFO(d);
  CHECK(report->identical());
  CHECK(report->ToStatus().ok());
  CHECK(report->from_objects == 311);
  CHECK(report->to_objects == 311);
  CHECK(KeysByVersion(*from) == KeysByVersion(*to));

  ObjectKey disk0{"VirtualDisk", "team-b", "disk-0"};
  Json src = *from->Get(disk0), dst = *to->Get(disk0);
  CHECK(WithoutVersion(src) == WithoutVersion(dst));
  CHECK(dst["metadata"]["generation"] == 2);
  CHECK(dst["metadata"]["creationTimestamp"] == "2024-10-04T07:45:05Z");
  CHECK(dst["metadata"]["annotations"]["note"] == "äöü ✓");
  CHECK(dst["status"]["phase"] == "Ready");

  // The deleted disk is still being deleted, with its finalizer; removing it removes the disk,
  // and the cascade reaches its snapshot (which keeps its own finalizer, so it is marked).
  ObjectKey disk1{"VirtualDisk", "team-a", "disk-1"};
  Json deleting = *to->Get(disk1);
  CHECK(deleting["metadata"]["deletionTimestamp"] ==
        from->Get(disk1)->at("metadata").at("deletionTimestamp"));
  CHECK(deleting["metadata"]["finalizers"] == Json::array({"test.berth/protect"}));
  deleting["metadata"]["finalizers"] = Json::array();
  MustUpdate(*to, deleting);
  CHECK(absl::IsNotFound(to->Get(disk1).status()));
  auto snap1 = to->Get(ObjectKey{"VirtualDiskSnapshot", "team-a", "snap-1"});
  REQUIRE(snap1.ok());
  CHECK(snap1->at("metadata").contains("deletionTimestamp"));

  // The owner index came along: deleting a disk in the destination deletes its snapshot.
  ObjectKey disk4{"VirtualDisk", "team-b", "disk-4"};
  ObjectKey snap4{"VirtualDiskSnapshot", "team-b", "snap-4"};
  REQUIRE(to->Get(snap4).ok());
  REQUIRE(to->Delete(disk4).ok());
  CHECK(absl::IsNotFound(to->Get(disk4).status()));
  CHECK(absl::IsNotFound(to->Get(snap4).status()));
  // The source is untouched.
  CHECK(from->Get(snap4).ok());
}

TEST_CASE("copy: etcd to SQLite works the same way") {
  SimulatedClock clock(Start());
  auto from = OpenEtcd("back", clock);
  Populate(*from, clock, 10);
  TempDir dir;
  auto to = OpenSqlite(dir, clock);
  auto result = CopyStore(*from, *to);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->objects == 31);
  CHECK(result->to_first == 1);
  CHECK(result->to_last == 31);
  auto report = VerifyStores(*from, *to);
  REQUIRE(report.ok());
  CHECK(report->identical());
  CHECK(KeysByVersion(*from) == KeysByVersion(*to));
  // The SQLite destination indexed owners too.
  REQUIRE(to->Delete(ObjectKey{"VirtualDisk", "team-a", "disk-3"}).ok());
  CHECK(absl::IsNotFound(to->Get(ObjectKey{"VirtualDiskSnapshot", "team-a", "snap-3"}).status()));
}

TEST_CASE("copy: a destination that is not empty is refused and nothing is written") {
  SimulatedClock clock(Start());
  TempDir dir;
  auto from = OpenSqlite(dir, clock);
  Populate(*from, clock, 5);
  auto to = OpenEtcd("nonempty", clock);
  MustCreate(*to, MakeObject("VirtualDisk", "team-a", "already-here"));
  const uint64_t version = to->CurrentVersion();
  CopyOptions options;
  options.to_name = "etcd:http://example:2379";
  auto result = CopyStore(*from, *to, options);
  REQUIRE_FALSE(result.ok());
  CHECK(absl::IsFailedPrecondition(result.status()));
  CHECK_THAT(std::string(result.status().message()),
             Catch::Contains("destination store etcd:http://example:2379 is not empty: 1 objects"));
  CHECK(to->CurrentVersion() == version);
  CHECK(MustListAll(*to).size() == 1);

  // The same into a SQLite destination.
  TempDir other;
  auto sqlite_to = OpenSqlite(other, clock);
  MustCreate(*sqlite_to, MakeObject("Secret", "team-a", "s"));
  auto again = CopyStore(*from, *sqlite_to);
  CHECK(absl::IsFailedPrecondition(again.status()));
  CHECK(sqlite_to->CurrentVersion() == 1);
}

TEST_CASE("verify: reports a changed, a missing and an extra object") {
  SimulatedClock clock(Start());
  TempDir dir;
  auto from = OpenSqlite(dir, clock);
  Populate(*from, clock, 20);
  auto to = OpenEtcd("verify", clock);
  REQUIRE(CopyStore(*from, *to).ok());
  REQUIRE(VerifyStores(*from, *to)->identical());

  // Changed in the destination, missing from it, only in it.
  Json changed = *to->Get(ObjectKey{"VirtualDisk", "team-b", "disk-2"});
  changed["status"]["phase"] = "Failed";
  MustUpdate(*to, changed);
  REQUIRE(to->Delete(ObjectKey{"Secret", "team-a", "cloud-init-3"}).ok());
  MustCreate(*to, MakeObject("VirtualDisk", "team-c", "newcomer"));

  auto report = VerifyStores(*from, *to);
  REQUIRE(report.ok());
  CHECK_FALSE(report->identical());
  CHECK(report->missing == 1);
  CHECK(report->extra == 1);
  CHECK(report->different == 1);
  CHECK(report->from_objects == 51);
  CHECK(report->to_objects == 51);
  std::string all;
  for (const std::string& d : report->differences) all += d + "\n";
  INFO(all);
  CHECK_THAT(all, Catch::Contains("missing: Secret \"team-a/cloud-init-3\""));
  CHECK_THAT(all, Catch::Contains("extra: VirtualDisk \"team-c/newcomer\""));
  CHECK_THAT(all, Catch::Contains("different: VirtualDisk \"team-b/disk-2\": /status: (absent) vs "
                                  "{\"phase\":\"Failed\"}"));
  absl::Status st = report->ToStatus();
  CHECK(absl::IsFailedPrecondition(st));
  CHECK_THAT(std::string(st.message()), Catch::Contains("1 missing, 1 extra, 1 different"));

  // max_listed bounds the lines, not the counts.
  auto short_report = VerifyStores(*from, *to, 1);
  REQUIRE(short_report.ok());
  CHECK(short_report->differences.size() == 1);
  CHECK(short_report->missing + short_report->extra + short_report->different == 3);
}

TEST_CASE("verify: reports objects whose versions are in another order") {
  SimulatedClock clock(Start());
  TempDir a_dir, b_dir;
  auto a = OpenSqlite(a_dir, clock);
  auto b = OpenSqlite(b_dir, clock);
  Json x = MustCreate(*a, MakeObject("VirtualDisk", "ns", "x"));
  Json y = MustCreate(*a, MakeObject("VirtualDisk", "ns", "y"));
  Json z = MustCreate(*a, MakeObject("VirtualDisk", "ns", "z"));
  for (const Json& obj : {y, x, z}) REQUIRE(b->Import(obj).ok());  // x and y swapped
  auto report = VerifyStores(*a, *b);
  REQUIRE(report.ok());
  CHECK(report->missing + report->extra + report->different == 0);
  CHECK(report->out_of_order == 1);
  REQUIRE(report->differences.size() == 1);
  CHECK(report->differences[0] ==
        "order: VirtualDisk \"ns/y\" comes after VirtualDisk \"ns/x\" in the source "
        "(resourceVersion 2 > 1) but not in the destination (1 <= 2)");
  CHECK_FALSE(report->identical());
}

TEST_CASE("import: keeps the object as given, takes the next version, refuses a taken key") {
  SimulatedClock clock(Start());
  TempDir dir;
  auto sqlite = OpenSqlite(dir, clock);
  auto etcd = OpenEtcd("import", clock);
  Json obj = MakeObject("VirtualDisk", "ns", "d");
  obj["metadata"]["uid"] = "0b0e5c1e-2f55-4f4e-9a57-3e3d1f0c2a11";
  obj["metadata"]["generation"] = 7;
  obj["metadata"]["resourceVersion"] = "123456";
  obj["metadata"]["creationTimestamp"] = "2020-01-02T03:04:05Z";
  obj["metadata"]["deletionTimestamp"] = "2020-01-03T03:04:05Z";
  obj["metadata"]["finalizers"] = {"a/b"};
  obj["metadata"]["ownerReferences"] = {{{"kind", "VirtualMachine"}, {"uid", "owner-uid"}}};
  obj["status"] = {{"phase", "Ready"}};
  for (ObjectStore* store : {sqlite.get(), etcd.get()}) {
    const uint64_t before = store->CurrentVersion();
    auto imported = store->Import(obj);
    INFO(imported.status().ToString());
    REQUIRE(imported.ok());
    CHECK(Rv(*imported) == before + 1);
    CHECK(WithoutVersion(*imported) == WithoutVersion(obj));
    auto read = store->Get(ObjectKey::Of(obj));
    REQUIRE(read.ok());
    CHECK(*read == *imported);

    // The key is taken (by the import, or by any object).
    auto twice = store->Import(obj);
    CHECK(absl::IsAlreadyExists(twice.status()));
    CHECK_THAT(std::string(twice.status().message()), Catch::Contains("already exists"));
    CHECK(store->CurrentVersion() == before + 1);

    // No uid, or gone already (deleting without finalizers): refused.
    Json no_uid = MakeObject("VirtualDisk", "ns", "other");
    CHECK(absl::IsInvalidArgument(store->Import(no_uid).status()));
    Json gone = obj;
    gone["metadata"]["name"] = "gone";
    gone["metadata"]["uid"] = "another-uid";
    gone["metadata"].erase("finalizers");
    CHECK(absl::IsInvalidArgument(store->Import(gone).status()));

    // The owner index was written: deleting the owner's uid cascades (here: marks it, since
    // it has a finalizer and already a deletionTimestamp, nothing changes).
    Json owner = MakeObject("VirtualMachine", "ns", "vm");
    owner["metadata"]["uid"] = "owner-uid";
    REQUIRE(store->Import(owner).ok());
    Json dependent = MakeObject("VirtualDiskSnapshot", "ns", "dep");
    dependent["metadata"]["uid"] = "dep-uid";
    dependent["metadata"]["ownerReferences"] = {{{"kind", "VirtualMachine"}, {"uid", "owner-uid"}}};
    REQUIRE(store->Import(dependent).ok());
    REQUIRE(store->Delete(ObjectKey::Of(owner)).ok());
    CHECK(absl::IsNotFound(store->Get(ObjectKey::Of(dependent)).status()));
  }
  // SQLite keeps uids unique: another key with a uid in use is refused.
  Json same_uid = obj;
  same_uid["metadata"]["name"] = "twin";
  CHECK(absl::IsAlreadyExists(sqlite->Import(same_uid).status()));
}

TEST_CASE("FirstDifference names the first differing field, resourceVersion aside") {
  Json a = {{"kind", "VirtualDisk"},
            {"metadata", {{"name", "d"}, {"resourceVersion", "1"}, {"labels", {{"a/b", "x"}}}}},
            {"spec", {{"items", {1, 2, 3}}}}};
  Json b = a;
  b["metadata"]["resourceVersion"] = "99";
  CHECK_FALSE(store::FirstDifference(a, b).has_value());
  b["metadata"].erase("resourceVersion");
  CHECK_FALSE(store::FirstDifference(a, b).has_value());
  b["metadata"]["labels"]["a/b"] = "y";
  CHECK(store::FirstDifference(a, b) == "/metadata/labels/a~1b: \"x\" vs \"y\"");
  b = a;
  b["spec"]["items"].push_back(4);
  CHECK(store::FirstDifference(a, b) == "/spec/items/3: (absent) vs 4");
  b = a;
  b["spec"]["extra"] = std::string(100, 'z');
  CHECK(store::FirstDifference(a, b) ==
        absl::StrCat("/spec/extra: (absent) vs \"", std::string(56, 'z'), "..."));
  b = a;
  b["zzz"] = true;
  a["aaa"] = false;
  CHECK(store::FirstDifference(a, b) == "/aaa: false vs (absent)");
}

}  // namespace
}  // namespace berth::controller

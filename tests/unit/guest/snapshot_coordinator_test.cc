// SnapshotCoordinator against fake pools (injected cut failures) and a scripted Freezer, plus
// one run against the real Freezer whose auto-thaw deadline fires mid-cut.
#include "guest/snapshot_coordinator.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "fake_guest_agent.h"

namespace berth::agent {
namespace {

// A pool of volumes and snapshots in memory; cuts of volumes in `failing` fail. `on_cut` runs
// at the start of every cut, outside the lock. Thread-safe.
class FakePool : public StorageBackend {
 public:
  explicit FakePool(std::set<std::string> volumes) : volumes_(std::move(volumes)) {}

  std::string Type() const override { return "fake"; }
  std::string Root() const override { return "/fake"; }
  absl::StatusOr<VolumeInfo> CreateVolume(const std::string&, uint64_t) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<VolumeInfo> CreateVolumeFromSnapshot(const std::string&, const std::string&,
                                                      uint64_t) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<VolumeInfo> ImportVolume(const std::string&, const std::string&,
                                          uint64_t) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<VolumeInfo> GetVolume(const std::string& id) override {
    if (!volumes_.count(id)) return absl::NotFoundError(absl::StrCat("no volume ", id));
    return VolumeInfo{id, 1 << 20, "/fake/" + id};
  }
  absl::StatusOr<bool> DeleteVolume(const std::string&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<SnapshotInfo> CreateSnapshot(const std::string& volume_id,
                                              const std::string& snapshot_id) override {
    if (on_cut) on_cut(volume_id);
    absl::MutexLock l(&mu_);
    ++cuts_;
    if (failing.count(volume_id)) return absl::ResourceExhaustedError("no space left");
    SnapshotInfo s{snapshot_id, volume_id, 1 << 20, "/fake/snap/" + snapshot_id, /*cache_dir=*/""};
    snapshots_[snapshot_id] = s;
    return s;
  }
  absl::StatusOr<SnapshotInfo> GetSnapshot(const std::string& id) override {
    absl::MutexLock l(&mu_);
    auto it = snapshots_.find(id);
    if (it == snapshots_.end()) return absl::NotFoundError(absl::StrCat("no snapshot ", id));
    return it->second;
  }
  absl::StatusOr<bool> DeleteSnapshot(const std::string& id) override {
    absl::MutexLock l(&mu_);
    deleted_.insert(id);
    return snapshots_.erase(id) > 0;
  }
  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots() override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<PoolUsage> Usage() override { return PoolUsage{}; }

  int Cuts() {
    absl::MutexLock l(&mu_);
    return cuts_;
  }
  std::set<std::string> Snapshots() {
    absl::MutexLock l(&mu_);
    std::set<std::string> ids;
    for (const auto& [id, s] : snapshots_) ids.insert(id);
    return ids;
  }
  std::set<std::string> Deleted() {
    absl::MutexLock l(&mu_);
    return deleted_;
  }
  void Put(SnapshotInfo s) {
    absl::MutexLock l(&mu_);
    snapshots_[s.id] = std::move(s);
  }

  // Set before the Snapshot call.
  std::set<std::string> failing;
  std::function<void(const std::string& volume)> on_cut;

 private:
  const std::set<std::string> volumes_;
  absl::Mutex mu_;
  std::map<std::string, SnapshotInfo> snapshots_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> deleted_ ABSL_GUARDED_BY(mu_);
  int cuts_ ABSL_GUARDED_BY(mu_) = 0;
};

// A Freezer that answers as scripted and counts holds. `on_release` runs before the answer.
class FakeFreezer : public Freezer {
 public:
  absl::StatusOr<int> Acquire(const std::string& domain) override {
    absl::MutexLock l(&mu_);
    ++acquires_;
    if (acquire.ok()) ++holders_;
    return acquire;
  }
  absl::Status Release(const std::string& domain) override {
    if (on_release) on_release();
    absl::MutexLock l(&mu_);
    ++releases_;
    --holders_;  // dropped even on error (Freezer's contract)
    return release;
  }
  absl::Status Recover() override { return absl::OkStatus(); }
  int FreezesSent() const override { return 0; }
  int ThawsSent() const override { return 0; }

  int Acquires() {
    absl::MutexLock l(&mu_);
    return acquires_;
  }
  int Releases() {
    absl::MutexLock l(&mu_);
    return releases_;
  }
  bool Held() {
    absl::MutexLock l(&mu_);
    return holders_ > 0;
  }

  // Set before the Snapshot call.
  absl::StatusOr<int> acquire = 2;
  absl::Status release;
  std::function<void()> on_release;

 private:
  absl::Mutex mu_;
  int acquires_ ABSL_GUARDED_BY(mu_) = 0;
  int releases_ ABSL_GUARDED_BY(mu_) = 0;
  int holders_ ABSL_GUARDED_BY(mu_) = 0;
};

// Two pools: p1 holds vol-a and vol-b, p2 holds vol-c.
struct Fixture {
  Fixture() {
    auto a = std::make_unique<FakePool>(std::set<std::string>{"vol-a", "vol-b"});
    auto b = std::make_unique<FakePool>(std::set<std::string>{"vol-c"});
    p1 = a.get();
    p2 = b.get();
    pools["p1"] = std::move(a);
    pools["p2"] = std::move(b);
    for (FakePool* p : {p1, p2}) {
      p->on_cut = [this](const std::string& volume) {
        clock.Advance(absl::Milliseconds(5));
        absl::MutexLock l(&mu);
        if (freezer.Held()) frozen_cuts.insert(volume);
      };
    }
  }
  SnapshotCoordinator Make(Freezer* f) {
    return SnapshotCoordinator(pools, f, clock, {"n1", absl::UnavailableError("no libvirt")});
  }
  static SnapshotRequest Request(bool freeze) {
    return {"vm", freeze, {{"p1", "vol-a", "s-a"}, {"p1", "vol-b", "s-b"}, {"p2", "vol-c", "s-c"}}};
  }
  FakePool& PoolOf(const std::string& volume) { return volume == "vol-c" ? *p2 : *p1; }
  int SnapshotsLeft() { return static_cast<int>(p1->Snapshots().size() + p2->Snapshots().size()); }

  PoolMap pools;
  FakePool* p1;
  FakePool* p2;
  FakeFreezer freezer;
  SimulatedClock clock;
  absl::Mutex mu;
  std::set<std::string> frozen_cuts ABSL_GUARDED_BY(mu);  // volumes cut while a hold existed
};

struct Case {
  const char* name;
  bool freeze;
  absl::StatusOr<int> acquire;
  std::string failing_volume;  // its cut fails
  absl::Status release;
  // Expected:
  absl::StatusCode code;
  std::string message;  // a substring of the error
  int acquires, releases, cuts, snapshots_left;
};

const std::vector<Case>& Cases() {
  using C = absl::StatusCode;
  const absl::Status ok, deadline = absl::DeadlineExceededError("auto-thawed after 10s");
  // clang-format off
  static const auto* cases = new std::vector<Case>{
      {"all cuts succeed under a freeze",
       true, 2, "", ok, C::kOk, "", 1, 1, 3, 3},
      {"one cut fails: the other cuts are rolled back, the guest is thawed",
       true, 2, "vol-b", ok, C::kResourceExhausted, "snapshot of volume vol-b: no space left",
       1, 1, 3, 0},
      {"the thaw fails: logged, the cuts (taken frozen) are kept",
       true, 2, "", absl::InternalError("guest agent gone"), C::kOk, "", 1, 1, 3, 3},
      {"the auto-thaw deadline fired before the thaw: not consistent, rolled back",
       true, 2, "", deadline, C::kDeadlineExceeded, "auto-thawed after 10s", 1, 1, 3, 0},
      {"deadline and a failed cut: the cut's error wins",
       true, 2, "vol-c", deadline, C::kResourceExhausted, "snapshot of volume vol-c", 1, 1, 3, 0},
      {"the freeze fails: nothing is cut, nothing to thaw",
       true, absl::UnavailableError("agent not running"), "", ok, C::kFailedPrecondition,
       "cannot freeze the filesystems of domain vm: agent not running", 1, 0, 0, 0},
      {"no freeze asked: cut without the freezer",
       false, 2, "", ok, C::kOk, "", 0, 0, 3, 3},
      {"no freeze asked, one cut fails: rolled back",
       false, 2, "vol-a", ok, C::kResourceExhausted, "snapshot of volume vol-a", 0, 0, 3, 0},
  };
  // clang-format on
  return *cases;
}

TEST_CASE("snapshot outcomes: freeze, cuts, thaw, rollback") {
  for (const Case& c : Cases()) {
    DYNAMIC_SECTION(c.name) {
      Fixture f;
      f.freezer.acquire = c.acquire;
      f.freezer.release = c.release;
      if (!c.failing_volume.empty()) f.PoolOf(c.failing_volume).failing = {c.failing_volume};
      absl::StatusOr<SnapshotResult> r = f.Make(&f.freezer).Snapshot(Fixture::Request(c.freeze));
      CHECK(r.status().code() == c.code);
      CHECK_THAT(std::string(r.status().message()), Catch::Contains(c.message));
      CHECK(f.freezer.Acquires() == c.acquires);
      CHECK(f.freezer.Releases() == c.releases);
      CHECK_FALSE(f.freezer.Held());
      CHECK(f.p1->Cuts() + f.p2->Cuts() == c.cuts);
      CHECK(f.SnapshotsLeft() == c.snapshots_left);
      {
        absl::MutexLock l(&f.mu);
        CHECK(f.frozen_cuts.size() == (c.freeze ? static_cast<size_t>(c.cuts) : 0u));
      }
      if (r.ok()) {
        CHECK(r->frozen == c.freeze);
        CHECK(r->frozen_filesystems == (c.freeze ? 2 : 0));
        std::vector<std::string> got;
        for (const PoolSnapshot& s : r->snapshots) {
          got.push_back(absl::StrCat(s.pool, "/", s.info.volume_id, "/", s.info.id));
        }
        CHECK(got == std::vector<std::string>{"p1/vol-a/s-a", "p1/vol-b/s-b", "p2/vol-c/s-c"});
      }
    }
  }
}

TEST_CASE("timings: cut time ends at the last cut, the freeze window at the thaw") {
  Fixture f;
  f.freezer.on_release = [&] { f.clock.Advance(absl::Milliseconds(2)); };
  absl::StatusOr<SnapshotResult> r = f.Make(&f.freezer).Snapshot(Fixture::Request(true));
  REQUIRE(r.ok());
  CHECK(r->cut_time == absl::Milliseconds(15));  // three cuts of 5 ms on the simulated clock
  CHECK(r->freeze_window == absl::Milliseconds(17));
}

TEST_CASE("every volume is cut in parallel") {
  Fixture f;
  absl::Mutex mu;
  int started = 0, timeouts = 0;
  for (FakePool* p : {f.p1, f.p2}) {
    p->on_cut = [&](const std::string&) {
      absl::MutexLock l(&mu);
      ++started;
      // Sequential cuts never see all three started: each one times out.
      auto all = [&] { return started == 3; };
      if (!mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(5))) ++timeouts;
    };
  }
  REQUIRE(f.Make(&f.freezer).Snapshot(Fixture::Request(true)).ok());
  CHECK(started == 3);
  CHECK(timeouts == 0);
}

TEST_CASE("cuts made by an earlier call are reported and never rolled back") {
  Fixture f;
  f.p1->Put({"s-a", "vol-a", 7, "/fake/snap/s-a", /*cache_dir=*/""});
  SECTION("a retry after every cut was made answers without freezing again") {
    f.p1->Put({"s-b", "vol-b", 7, "/fake/snap/s-b", /*cache_dir=*/""});
    f.p2->Put({"s-c", "vol-c", 7, "/fake/snap/s-c", /*cache_dir=*/""});
    absl::StatusOr<SnapshotResult> r = f.Make(&f.freezer).Snapshot(Fixture::Request(true));
    REQUIRE(r.ok());
    CHECK(f.freezer.Acquires() == 0);
    CHECK(r->frozen);
    CHECK(f.p1->Cuts() + f.p2->Cuts() == 0);
    CHECK(r->snapshots[0].info.size_bytes == 7);
  }
  SECTION("a failed retry deletes only its own cuts") {
    f.p1->failing = {"vol-b"};
    absl::StatusOr<SnapshotResult> r = f.Make(&f.freezer).Snapshot(Fixture::Request(true));
    CHECK(absl::IsResourceExhausted(r.status()));
    CHECK(f.freezer.Releases() == 1);
    CHECK(f.p1->Snapshots() == std::set<std::string>{"s-a"});
    CHECK(f.p1->Deleted().empty());
    CHECK(f.p2->Deleted() == std::set<std::string>{"s-c"});
  }
}

TEST_CASE("bad requests cut nothing") {
  Fixture f;
  SnapshotCoordinator coord = f.Make(&f.freezer);
  SnapshotRequest req = Fixture::Request(true);
  SECTION("no volumes") {
    req.volumes.clear();
    CHECK(coord.Snapshot(req).status() == absl::InvalidArgumentError("no volumes to snapshot"));
  }
  SECTION("unknown pool") {
    req.volumes[2].pool = "p9";
    CHECK(coord.Snapshot(req).status() ==
          absl::NotFoundError("storage pool \"p9\" is not served by node n1"));
  }
  SECTION("unknown volume") {
    req.volumes[1].volume_id = "vol-z";
    CHECK(absl::IsNotFound(coord.Snapshot(req).status()));
  }
  SECTION("a snapshot id taken by another volume") {
    f.p1->Put({"s-b", "vol-a", 7, "/fake/snap/s-b", /*cache_dir=*/""});
    CHECK(absl::IsFailedPrecondition(coord.Snapshot(req).status()));
  }
  SECTION("a freeze without a domain") {
    req.domain.clear();
    CHECK(coord.Snapshot(req).status() == absl::InvalidArgumentError("freeze needs a domain"));
  }
  CHECK(f.freezer.Acquires() == 0);
  CHECK(f.p1->Cuts() + f.p2->Cuts() == 0);
}

TEST_CASE("without a freezer only snapshots without a freeze succeed") {
  Fixture f;
  SnapshotCoordinator coord = f.Make(nullptr);
  CHECK(coord.Snapshot(Fixture::Request(true)).status() == absl::UnavailableError("no libvirt"));
  CHECK(f.SnapshotsLeft() == 0);
  CHECK(coord.Snapshot(Fixture::Request(false)).ok());
  CHECK(f.SnapshotsLeft() == 3);
}

// Waits (real time) for the freezer's timer thread to act.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 300; ++i) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return pred();
}

TEST_CASE("real freezer: the auto-thaw deadline fires mid-cut; thawed, error, rolled back") {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/berth-coord-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  Fixture f;
  FakeGuestAgent agent;
  {
    auto freezer = NewFreezer(agent, f.clock, {dir + "/journal", absl::Seconds(10)});
    bool thawed_during_cut = false;
    f.p2->on_cut = [&](const std::string&) {
      f.clock.Advance(absl::Seconds(11));
      thawed_during_cut = Eventually([&] { return !agent.IsFrozen("vm"); });
    };
    absl::StatusOr<SnapshotResult> r = f.Make(freezer.get()).Snapshot(Fixture::Request(true));
    CHECK(thawed_during_cut);
    CHECK(absl::IsDeadlineExceeded(r.status()));
    CHECK(absl::StrContains(r.status().message(), "auto-thawed"));
    CHECK_FALSE(agent.IsFrozen("vm"));
    CHECK(agent.Get(&FakeGuestAgent::freezes) == 1);
    CHECK(agent.Get(&FakeGuestAgent::thaws) == 1);
    CHECK(f.SnapshotsLeft() == 0);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace berth::agent

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/controller/object_store.h"
#include "berth/time_util.h"
#include "store_env.h"
#include "store_test_util.h"

namespace berth::controller {
namespace {

using testing::MakeObject;

// Records the versions a watch delivered; checks each event's object carries its version.
class Recorder {
 public:
  WatchCallback Callback() {
    return [this](const StoreEvent& e) {
      absl::MutexLock lock(&mu_);
      if (e.object()["metadata"]["resourceVersion"] != std::to_string(e.resource_version)) {
        mismatched_ = true;
      }
      versions_.push_back(e.resource_version);
    };
  }
  std::vector<uint64_t> versions() {
    absl::MutexLock lock(&mu_);
    return versions_;
  }
  bool mismatched() {
    absl::MutexLock lock(&mu_);
    return mismatched_;
  }

 private:
  absl::Mutex mu_;
  std::vector<uint64_t> versions_ ABSL_GUARDED_BY(mu_);
  bool mismatched_ ABSL_GUARDED_BY(mu_) = false;
};

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t v = first; v <= last; ++v) out.push_back(v);
  return out;
}

// Creates, updates and deletes objects named "<prefix>-<i>" until `count` are done.
void Churn(ObjectStore* store, const std::string& prefix, int count) {
  for (int i = 0; i < count; ++i) {
    auto created = store->Create(MakeObject("VirtualDisk", "w", prefix + "-" + std::to_string(i)));
    if (!created.ok()) continue;
    Json obj = *created;
    obj["status"]["phase"] = "Ready";
    (void)store->Update(obj);
    if (i % 3 == 0) (void)store->Delete(ObjectKey::Of(obj));
  }
}

TEST_CASE("Watch replays from a version, then follows concurrent writers without gaps") {
  auto env = testing::NewStoreEnv();
  RealClock clock;
  auto opened = env->Open(clock);
  REQUIRE(opened.ok());
  ObjectStore& store = **opened;

  Recorder from_start;
  REQUIRE(store.Watch(0, from_start.Callback()).ok());
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) writers.emplace_back(Churn, &store, "t" + std::to_string(t), 60);

  // Join mid-stream, from a version already committed, while the writers keep going.
  while (store.CurrentVersion() < env->V(100)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Recorder mid;
  uint64_t from = store.CurrentVersion() - 50;
  auto sub = store.Watch(from, mid.Callback());
  REQUIRE(sub.ok());
  Recorder late;
  uint64_t late_from = store.CurrentVersion();
  auto late_sub = store.Watch(late_from, late.Callback());
  REQUIRE(late_sub.ok());
  for (std::thread& w : writers) w.join();

  uint64_t last = store.CurrentVersion();
  CHECK(last == env->V(4 * (60 + 60 + 20)));
  CHECK(from_start.versions() == Range(env->V(1), last));
  CHECK(mid.versions() == Range(from + 1, last));
  CHECK_FALSE(from_start.mismatched());
  CHECK_FALSE(mid.mismatched());

  store.Unwatch(*sub);
  REQUIRE(store.Create(MakeObject("VirtualDisk", "w", "after-unwatch")).ok());
  CHECK(mid.versions().back() == last);
  CHECK(from_start.versions().back() == last + 1);
  CHECK(late.versions() == Range(late_from + 1, last + 1));
}

// SQLite keeps the last `history` events (5 here); etcd keeps what it has not compacted, so
// for etcd the test compacts before version 6 (KeepHistoryFrom) to retain the same 6..10.
TEST_CASE("Watch from a version older than the retained history is OutOfRange") {
  auto env = testing::NewStoreEnv();
  SimulatedClock clock;
  auto opened = env->Open(clock, /*history=*/5);
  REQUIRE(opened.ok());
  ObjectStore& store = **opened;
  auto noop = [](const StoreEvent&) {};
  CHECK(store.Watch(0, noop).ok());
  CHECK(store.Watch(env->V(1), noop).ok());  // nothing written yet, nothing lost
  for (int i = 0; i < 10; ++i) {
    REQUIRE(store.Create(MakeObject("VirtualDisk", "h", "d" + std::to_string(i))).ok());
  }
  REQUIRE(env->KeepHistoryFrom(store, env->V(6)).ok());
  // Retained: 6..10. Watching from 5 still sees every later change.
  auto too_old = store.Watch(env->V(4), noop);
  CHECK(absl::IsOutOfRange(too_old.status()));
  CHECK(absl::IsOutOfRange(store.Watch(env->V(1), noop).status()));
  Recorder edge;
  REQUIRE(store.Watch(env->V(5), edge.Callback()).ok());
  CHECK(edge.versions() == Range(env->V(6), env->V(10)));
  Recorder now;
  REQUIRE(store.Watch(env->V(10), now.Callback()).ok());
  CHECK(now.versions().empty());
  REQUIRE(store.Create(MakeObject("VirtualDisk", "h", "d10")).ok());
  CHECK(now.versions() == std::vector<uint64_t>{env->V(11)});
  CHECK(edge.versions() == Range(env->V(6), env->V(11)));
}

}  // namespace
}  // namespace berth::controller

namespace berth::controller {
namespace {

// Hidden (run with `store_test [.perf]`): prints the cost of a 10k-object store.
TEST_CASE("10k objects: create, list, update timings", "[.perf]") {
  auto env = testing::NewStoreEnv();
  RealClock clock;
  auto opened = env->Open(clock);
  REQUIRE(opened.ok());
  ObjectStore& store = **opened;
  absl::Time t0 = absl::Now();
  for (int i = 0; i < 10000; ++i) {
    REQUIRE(store
                .Create(MakeObject("VirtualDisk", "ns" + std::to_string(i % 10),
                                   "d" + std::to_string(i)))
                .ok());
  }
  absl::Time t1 = absl::Now();
  auto all = store.List("VirtualDisk", "");
  REQUIRE(all.ok());
  REQUIRE(all->size() == 10000);
  absl::Time t2 = absl::Now();
  for (int i = 0; i < 1000; ++i) {
    Json obj = (*all)[i];
    obj["status"]["phase"] = "Ready";
    REQUIRE(store.Update(obj).ok());
  }
  absl::Time t3 = absl::Now();
  WARN("create 10k: " << absl::FormatDuration(t1 - t0)
                      << ", list 10k: " << absl::FormatDuration(t2 - t1)
                      << ", update 1k: " << absl::FormatDuration(t3 - t2));
}

}  // namespace
}  // namespace berth::controller

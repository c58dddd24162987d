// Group commit in the SQLite store: concurrent writers share transactions, yet every write
// behaves as if it ran alone (conflicts, AlreadyExists, contiguous versions, ordered events).
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/controller/object_store.h"

namespace berth::controller {
namespace {

Json Object(const std::string& name) {
  return Json{{"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
              {"kind", "VirtualDisk"},
              {"metadata", {{"name", name}, {"namespace", "g"}}},
              {"spec", {{"n", 0}}}};
}

TEST_CASE("concurrent writes commit in groups with single-write semantics") {
  std::string dir = absl::StrCat("/tmp/berth-group-commit-", getpid());
  std::filesystem::remove_all(dir);
  RealClock clock;
  auto opened = OpenSqliteStore(dir, clock);
  REQUIRE(opened.ok());
  ObjectStore& store = **opened;

  absl::Mutex mu;
  std::vector<uint64_t> seen;  // event versions in delivery order
  bool rv_mismatch = false;
  REQUIRE(store
              .Watch(0,
                     [&](const StoreEvent& e) {
                       absl::MutexLock l(&mu);
                       seen.push_back(e.resource_version);
                       if (e.object()["metadata"]["resourceVersion"] !=
                           std::to_string(e.resource_version)) {
                         rv_mismatch = true;
                       }
                     })
              .ok());

  constexpr int kThreads = 8, kRounds = 40;
  std::atomic<int> writes{0}, shared_wins{0}, conflicts{0}, unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kRounds; ++k) {
        // Everyone races to create the same object: exactly one wins each round.
        auto shared = store.Create(Object(absl::StrCat("shared-", k)));
        if (shared.ok()) {
          ++shared_wins;
          ++writes;
        } else if (!absl::IsAlreadyExists(shared.status())) {
          ++unexpected;
        }
        // Own object: create, then two updates from the same read; the second is stale.
        auto mine = store.Create(Object(absl::StrCat("own-", t, "-", k)));
        if (!mine.ok()) {
          ++unexpected;
          continue;
        }
        ++writes;
        Json a = *mine, b = *mine;
        a["spec"]["n"] = 1;
        b["spec"]["n"] = 2;
        if (store.Update(a).ok())
          ++writes;
        else
          ++unexpected;
        auto stale = store.Update(b);
        if (absl::IsAborted(stale.status()))
          ++conflicts;
        else
          ++unexpected;
      }
    });
  }
  for (auto& th : threads) th.join();

  CHECK(unexpected == 0);
  CHECK(shared_wins == kRounds);
  CHECK(conflicts == kThreads * kRounds);
  const uint64_t last = store.CurrentVersion();
  CHECK(last == static_cast<uint64_t>(writes.load()));
  {
    absl::MutexLock l(&mu);
    REQUIRE(seen.size() == last);
    for (uint64_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i + 1);
    CHECK_FALSE(rv_mismatch);
  }
  // Every update that succeeded is durable and visible.
  for (int t = 0; t < kThreads; ++t) {
    auto got = store.Get(ObjectKey{"VirtualDisk", "g", absl::StrCat("own-", t, "-0")});
    REQUIRE(got.ok());
    CHECK((*got)["spec"]["n"] == 1);
  }
  // Reopening finds the same state: every group was committed.
  opened->reset();
  auto again = OpenSqliteStore(dir, clock);
  REQUIRE(again.ok());
  CHECK((*again)->CurrentVersion() == last);
  auto list = (*again)->List("VirtualDisk", "g");
  REQUIRE(list.ok());
  CHECK(list->size() == static_cast<size_t>(kRounds + kThreads * kRounds));
  again->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::controller

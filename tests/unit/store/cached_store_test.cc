// What only the watch cache (NewCachedStore) has: several caches on one etcd, read-your-writes
// under concurrent writers, its own bounded history, listing again when etcd compacts past its
// watch, and its metrics. The shared test cases (store_test.cc, store_watch_test.cc) run
// against it too (store_env_cached_etcd.cc).

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/controller/object_store.h"
#include "berth/metrics.h"
#include "berth/time_util.h"
#include "etcd_server.h"
#include "store/etcd_store.h"
#include "store_test_util.h"

namespace berth::controller {
namespace {

using testing::EtcdServer;
using testing::MakeObject;

using testing::MustCreate;
using testing::MustOpenEtcd;

EtcdStoreOptions Options(const std::string& endpoint, const std::string& name) {
  return testing::EtcdTestOptions(endpoint, "cache-" + name);
}

std::unique_ptr<ObjectStore> MustOpenCache(const EtcdStoreOptions& options, const Clock& clock,
                                           size_t history = 100000) {
  auto cache = NewCachedStore(MustOpenEtcd(options, clock), history);
  INFO(cache.status().ToString());
  REQUIRE(cache.ok());
  return std::move(cache).value();
}

uint64_t Rv(const Json& obj) {
  return std::stoull(obj["metadata"]["resourceVersion"].get<std::string>());
}

// Polls `done` until it holds or `timeout` passes; returns whether it held.
bool Eventually(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(20)) {
  absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// key ("Kind/ns/name") -> resourceVersion, of every object in `store`.
std::map<std::string, uint64_t> Contents(ObjectStore& store) {
  auto all = store.ListAll();
  REQUIRE(all.ok());
  std::map<std::string, uint64_t> out;
  for (const auto& obj : *all) out[ObjectKey::Of(*obj).ToString()] = Rv(*obj);
  return out;
}

// A watcher keeping its own copy of the store from the events, as a controller's informer
// does: starts from a list, then applies every event.
class Mirror {
 public:
  // Lists `store` and watches it from the list's version.
  void Start(ObjectStore& store) {
    uint64_t version = 0;
    auto all = store.ListAll(&version);
    REQUIRE(all.ok());
    {
      absl::MutexLock lock(&mu_);
      for (const auto& obj : *all) objects_[ObjectKey::Of(*obj).ToString()] = Rv(*obj);
    }
    REQUIRE(store.Watch(version, [this](const StoreEvent& e) { Apply(e); }).ok());
  }
  std::map<std::string, uint64_t> objects() {
    absl::MutexLock lock(&mu_);
    return objects_;
  }
  bool Saw(const std::string& entry) {
    absl::MutexLock lock(&mu_);
    for (const std::string& e : log_) {
      if (e == entry) return true;
    }
    return false;
  }
  bool ordered() {
    absl::MutexLock lock(&mu_);
    return ordered_;
  }

 private:
  void Apply(const StoreEvent& e) {
    absl::MutexLock lock(&mu_);
    std::string key = ObjectKey::Of(e.object()).ToString();
    if (e.resource_version < last_ || Rv(e.object()) != e.resource_version) ordered_ = false;
    last_ = e.resource_version;
    log_.push_back(absl::StrCat(EventTypeName(e.type), " ", key));
    if (e.type == StoreEvent::Type::kDeleted) {
      objects_.erase(key);
    } else {
      objects_[key] = e.resource_version;
    }
  }

  absl::Mutex mu_;
  std::map<std::string, uint64_t> objects_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  bool ordered_ ABSL_GUARDED_BY(mu_) = true;
};

TEST_CASE("cache: two caches on one etcd see each other's writes through their watches") {
  RealClock clock;
  EtcdStoreOptions options = Options(EtcdServer::Shared().endpoint(), "two");
  auto a = MustOpenCache(options, clock);
  auto b = MustOpenCache(options, clock);
  absl::Mutex mu;
  std::vector<std::string> seen_by_b;
  REQUIRE(b->Watch(b->CurrentVersion(), [&](const StoreEvent& e) {
             absl::MutexLock lock(&mu);
             seen_by_b.push_back(absl::StrCat(EventTypeName(e.type), " ", e.resource_version));
           }).ok());

  Json created = MustCreate(*a, MakeObject("VirtualDisk", "ns", "d1"));
  const ObjectKey key = ObjectKey::Of(created);
  REQUIRE(Eventually([&] { return b->Get(key).ok(); }));
  CHECK(*b->Get(key) == created);

  // b writes from a copy a has since changed: the conflict returns once b's cache has the
  // winner, so b's re-read sees it.
  Json from_a = created, from_b = created;
  from_a["status"]["phase"] = "Ready";
  from_b["status"]["phase"] = "Failed";
  auto won = a->Update(from_a);
  REQUIRE(won.ok());
  auto lost = b->Update(from_b);
  REQUIRE(absl::IsAborted(lost.status()));
  CHECK(b->Get(key)->at("status").at("phase") == "Ready");
  CHECK(b->Create(MakeObject("VirtualDisk", "ns", "d1")).status().code() ==
        absl::StatusCode::kAlreadyExists);

  REQUIRE(a->Delete(key).ok());
  const uint64_t deleted_at = a->CurrentVersion();
  REQUIRE(Eventually([&] { return b->CurrentVersion() >= deleted_at; }));
  CHECK(absl::IsNotFound(b->Get(key).status()));
  CHECK(b->List("VirtualDisk", "")->empty());
  absl::MutexLock lock(&mu);
  CHECK(seen_by_b == std::vector<std::string>{absl::StrCat("ADDED ", Rv(created)),
                                              absl::StrCat("MODIFIED ", Rv(*won)),
                                              absl::StrCat("DELETED ", deleted_at)});
}

TEST_CASE("cache: every write is in the cache when it returns, with other writers around") {
  RealClock clock;
  EtcdStoreOptions options = Options(EtcdServer::Shared().endpoint(), "ryw");
  auto cache = MustOpenCache(options, clock);
  auto other = MustOpenEtcd(options, clock);  // writes the cache learns only from its watch
  std::atomic<bool> stop{false};
  std::thread background([&] {
    for (int i = 0; !stop.load(); ++i) {
      (void)other->Create(MakeObject("VirtualDisk", "bg", absl::StrCat("b", i)));
    }
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto created = cache->Create(MakeObject("VirtualDisk", "w", absl::StrCat("t", t, "-", i)));
        if (!created.ok()) {
          ++failures;
          continue;
        }
        const ObjectKey key = ObjectKey::Of(*created);
        auto read = cache->Get(key);
        if (!read.ok() || *read != *created) ++failures;
        Json next = *created;
        next["status"]["phase"] = "Ready";
        auto updated = cache->Update(next);
        if (!updated.ok() || cache->Get(key).value_or(Json()) != *updated) ++failures;
        uint64_t listed = 0;
        auto list = cache->List("VirtualDisk", "w", &listed);
        if (!list.ok() || listed < Rv(*updated)) ++failures;
        if (i % 2 == 0) {
          if (!cache->Delete(key).ok() || !absl::IsNotFound(cache->Get(key).status())) {
            ++failures;
          }
        }
      }
    });
  }
  for (std::thread& w : writers) w.join();
  stop = true;
  background.join();
  CHECK(failures.load() == 0);
  CHECK(cache->List("VirtualDisk", "w")->size() == 4 * 12);
  // The background writes arrive through the watch.
  const uint64_t head = other->CurrentVersion();
  REQUIRE(Eventually([&] { return cache->CurrentVersion() >= head; }));
  CHECK(Contents(*cache) == Contents(*other));
}

TEST_CASE("cache: Watch from before the cache's history is OutOfRange") {
  RealClock clock;
  EtcdStoreOptions options = Options(EtcdServer::Shared().endpoint(), "history");
  auto writer = MustOpenEtcd(options, clock);
  MustCreate(*writer, MakeObject("VirtualDisk", "h", "before"));
  const uint64_t before_cache = writer->CurrentVersion();
  auto cache = MustOpenCache(options, clock, /*history=*/3);
  const uint64_t start = cache->CurrentVersion();
  CHECK(start == before_cache);
  auto noop = [](const StoreEvent&) {};
  // etcd still has it, but the cache started after it.
  CHECK(absl::IsOutOfRange(cache->Watch(start - 1, noop).status()));
  CHECK(cache->Watch(start, noop).ok());
  for (int i = 0; i < 5; ++i) MustCreate(*cache, MakeObject("VirtualDisk", "h", absl::StrCat(i)));
  const uint64_t last = cache->CurrentVersion();
  CHECK(last == start + 5);
  // Kept: the last 3.
  auto too_old = cache->Watch(last - 4, noop);
  CHECK(absl::IsOutOfRange(too_old.status()));
  CHECK(absl::StrContains(too_old.status().message(), "list again"));
  std::vector<uint64_t> seen;
  REQUIRE(cache->Watch(last - 3, [&](const StoreEvent& e) { seen.push_back(e.resource_version); })
              .ok());
  CHECK(seen == std::vector<uint64_t>{last - 2, last - 1, last});
  MustCreate(*cache, MakeObject("VirtualDisk", "h", "more"));
  CHECK(seen.back() == last + 1);
}

// The cache's etcd watch falls behind (its reader is held in a callback), etcd restarts (the
// stream breaks) and compacts past it: reopened, the watch is refused, and the cache lists
// again. Its watchers get the differences and end with what etcd has.
TEST_CASE("cache: when etcd compacts past the cache's watch, it lists again and converges") {
  EtcdServer server;  // its own: killed below
  REQUIRE(server.error().empty());
  RealClock clock;
  EtcdStoreOptions options = Options(server.endpoint(), "relist");
  auto writer = MustOpenEtcd(options, clock);
  auto cache = MustOpenCache(options, clock);
  metrics::Registry registry;
  ExportCacheMetrics(*cache, registry);

  Json keep = MustCreate(*writer, MakeObject("VirtualDisk", "r", "keep"));
  Json modify = MustCreate(*writer, MakeObject("VirtualDisk", "r", "modify"));
  Json remove = MustCreate(*writer, MakeObject("VirtualDisk", "r", "remove"));
  Json renew = MustCreate(*writer, MakeObject("VirtualDisk", "r", "renew"));
  Json remove_late = MustCreate(*writer, MakeObject("VirtualDisk", "r", "remove-late"));
  Json renew_late = MustCreate(*writer, MakeObject("VirtualDisk", "r", "renew-late"));
  REQUIRE(Eventually([&] { return cache->CurrentVersion() >= Rv(renew_late); }));
  Mirror mirror;
  mirror.Start(*cache);

  // Hold the cache's delivery in a watcher's callback at the "hold" object.
  absl::Notification held, release;
  REQUIRE(cache
              ->Watch(cache->CurrentVersion(),
                      [&](const StoreEvent& e) {
                        if (e.object()["metadata"]["name"] != "hold" || held.HasBeenNotified()) {
                          return;
                        }
                        held.Notify();
                        release.WaitForNotificationWithTimeout(absl::Seconds(60));
                      })
              .ok());
  // A plain etcd store's watch, held the same way, is ended and tells its on_end.
  auto plain = MustOpenEtcd(options, clock);
  absl::Notification plain_held, plain_ended;
  absl::Status plain_why;
  auto plain_watch = plain->Watch(
      plain->CurrentVersion(),
      [&](const StoreEvent& e) {
        if (e.object()["metadata"]["name"] != "hold" || plain_held.HasBeenNotified()) return;
        plain_held.Notify();
        release.WaitForNotificationWithTimeout(absl::Seconds(60));
      },
      [&](const absl::Status& why) {
        plain_why = why;
        plain_ended.Notify();
      });
  REQUIRE(plain_watch.ok());
  MustCreate(*writer, MakeObject("VirtualDisk", "r", "hold"));
  REQUIRE(held.WaitForNotificationWithTimeout(absl::Seconds(10)));
  REQUIRE(plain_held.WaitForNotificationWithTimeout(absl::Seconds(10)));

  // Changes the held watch may or may not still read from its stream.
  modify["status"]["phase"] = "Ready";
  REQUIRE(writer->Update(modify).ok());
  REQUIRE(writer->Delete(ObjectKey::Of(remove)).ok());
  REQUIRE(writer->Delete(ObjectKey::Of(renew)).ok());
  MustCreate(*writer, MakeObject("VirtualDisk", "r", "renew"));  // same key, new uid

  server.KillAndRestart();
  REQUIRE(server.error().empty());
  // Changes it never got, then the compaction that loses them.
  absl::StatusOr<Json> added = absl::UnavailableError("not tried");
  for (int i = 0; i < 100 && !added.ok(); ++i) {
    added = writer->Create(MakeObject("VirtualDisk", "r", "added"));
    if (!added.ok()) {
      REQUIRE(absl::IsUnavailable(added.status()));
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  REQUIRE(added.ok());
  Json modified_again = *writer->Get(ObjectKey::Of(modify));
  modified_again["status"]["phase"] = "Failed";
  REQUIRE(writer->Update(modified_again).ok());
  REQUIRE(writer->Delete(ObjectKey::Of(remove_late)).ok());
  REQUIRE(writer->Delete(ObjectKey::Of(renew_late)).ok());
  Json renewed = MustCreate(*writer, MakeObject("VirtualDisk", "r", "renew-late"));
  REQUIRE(CompactEtcdStore(*writer, writer->CurrentVersion()).ok());
  release.Notify();

  REQUIRE(plain_ended.WaitForNotificationWithTimeout(absl::Seconds(30)));
  CHECK(absl::IsOutOfRange(plain_why));
  CHECK(absl::StrContains(plain_why.message(), "compacted"));
  plain->Unwatch(*plain_watch);

  const std::map<std::string, uint64_t> truth = Contents(*writer);
  REQUIRE(Eventually([&] { return Contents(*cache) == truth; }, absl::Seconds(60)));
  REQUIRE(Eventually([&] { return mirror.objects() == truth; }));
  CHECK(mirror.ordered());
  CHECK(mirror.Saw("DELETED VirtualDisk/r/remove"));
  CHECK(mirror.Saw("ADDED VirtualDisk/r/added"));
  // Only the relist can tell these: the changes reached etcd after the stream broke.
  CHECK(mirror.Saw("DELETED VirtualDisk/r/remove-late"));
  CHECK(mirror.Saw("DELETED VirtualDisk/r/renew-late"));
  CHECK(cache->Get(ObjectKey::Of(renewed))->at("metadata").at("uid") == renewed["metadata"]["uid"]);
  CHECK(truth.count("VirtualDisk/r/keep") == 1);
  CHECK(truth.at("VirtualDisk/r/keep") == Rv(keep));
  CHECK(cache->Get(ObjectKey::Of(modify))->at("status").at("phase") == "Failed");
  CHECK(Eventually(
      [&] { return absl::StrContains(registry.Render(), "berth_store_relists_total 1\n"); }));

  // The new watch follows, and writes through the cache are read back as before.
  Json after = MustCreate(*cache, MakeObject("VirtualDisk", "r", "after"));
  CHECK(cache->Get(ObjectKey::Of(after)).ok());
  REQUIRE(Eventually([&] { return mirror.objects().count("VirtualDisk/r/after") == 1; }));
  MustCreate(*writer, MakeObject("VirtualDisk", "r", "after-writer"));
  REQUIRE(Eventually([&] { return Contents(*cache) == Contents(*writer); }));
}

TEST_CASE("cache: metrics") {
  RealClock clock;
  auto cache = MustOpenCache(Options(EtcdServer::Shared().endpoint(), "metrics"), clock);
  metrics::Registry registry;
  ExportCacheMetrics(*cache, registry);
  MustCreate(*cache, MakeObject("VirtualDisk", "m", "d1"));
  std::string text = registry.Render();
  CHECK(absl::StrContains(text,
                          "berth_store_request_duration_seconds_count{operation=\"list\"} 1\n"));
  CHECK(absl::StrContains(text,
                          "berth_store_request_duration_seconds_count{operation=\"create\"} 1\n"));
  CHECK(absl::StrContains(text, "berth_store_watch_lag_revisions 0\n"));
  CHECK(absl::StrContains(text, "berth_store_relists_total 0\n"));
  // The callbacks outlive the cache harmlessly.
  cache.reset();
  CHECK_FALSE(absl::StrContains(registry.Render(), "berth_store_watch_lag_revisions 0"));
}

TEST_CASE("cache: in front of the SQLite store") {
  testing::TempDir dir;
  SimulatedClock clock(absl::FromUnixSeconds(1728027905));
  auto sqlite = OpenSqliteStore(dir.path(), clock);
  REQUIRE(sqlite.ok());
  MustCreate(**sqlite, MakeObject("VirtualDisk", "s", "before"));
  auto opened = NewCachedStore(std::move(sqlite).value());
  REQUIRE(opened.ok());
  ObjectStore& cache = **opened;
  CHECK(cache.CurrentVersion() == 1);
  std::vector<uint64_t> seen;
  REQUIRE(cache.Watch(1, [&](const StoreEvent& e) { seen.push_back(e.resource_version); }).ok());
  Json d1 = MustCreate(cache, MakeObject("VirtualDisk", "s", "d1"));
  CHECK(*cache.Get(ObjectKey::Of(d1)) == d1);
  CHECK(cache.List("VirtualDisk", "s")->size() == 2);
  REQUIRE(cache.Delete(ObjectKey::Of(d1)).ok());
  CHECK(seen == std::vector<uint64_t>{2, 3});
  CHECK(cache.List("VirtualDisk", "s")->size() == 1);
}

}  // namespace
}  // namespace berth::controller

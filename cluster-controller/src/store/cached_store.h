#ifndef BERTH_CONTROLLER_STORE_CACHED_STORE_H_
#define BERTH_CONTROLLER_STORE_CACHED_STORE_H_

// The watch cache: an ObjectStore that serves reads from memory and writes through a backend
// (the etcd store: every controller of an HA cluster keeps its own, as kube-apiserver's
// cacher does). NewCachedStore (object_store.h) makes one.
//
// At start it loads every object (backend ListAll at version R), then watches the backend
// from R. Each backend event is applied to the objects, kept in a ring of the most recent
// `history` events, and handed to the cache's own watchers, all under one lock, in order.
// - Peek, List, ListShared, ListAll and CurrentVersion read memory. The version is the last
//   applied event's (List's resource_version too): the backend may be ahead by revisions that
//   changed no object (the etcd store's leader key).
// - Writes go to the backend. The etcd store (and the SQLite one) delivers a write to its
//   subscriptions, this cache's included, before the write returns, so the cache already has
//   it; the cache still waits (bounded) until it has applied the returned object's version, for
//   the time its backend watch is being re-established. A write that failed with a conflict or
//   AlreadyExists waits the same way for the stored object's version (one backend read), so
//   "re-read and retry" reads the object that won.
// - Watch replays from the ring, then follows live events: no gap, no duplicate. OutOfRange
//   from before the ring (or before the cache started: it has no older history). Callbacks
//   run on the backend's delivering thread (the etcd store: its watch reader thread) or, for
//   the replay, on the Watch caller's, with the cache's publishing lock held: quick, and never
//   calling into the cache (Unwatch included). A cache subscription ends only by Unwatch
//   (its on_end is never called).
// - When the backend watch ends (etcd compacted past it; on_end), a thread of the cache lists
//   again, replaces its objects and sends its watchers the differences, so they converge:
//   ADDED or MODIFIED with each changed object's own resourceVersion (in that order), then
//   DELETED for each object that is gone, its last state stamped with the list's version R.
//   Several of these may share a version (R, or an object's whose key changed uid: DELETED
//   then ADDED); they are delivered together, so resuming from any delivered version still
//   misses nothing. Intermediate states in between are lost, as with a relisting client.
//   Logged as a warning; retried with backoff while the backend cannot be read.
//
// Memory: one shared_ptr<const Json> per object; the ring's events share them.
// Thread-safe.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/controller/object_store.h"
#include "store/object_index.h"

namespace berth::controller::store {

// Counters the metrics read at scrape time; shared with the registry's callbacks, which may
// outlive the cache.
struct CacheStats;

class CachedStore : public ObjectStore {
 public:
  // Loads the backend's objects and starts watching it.
  static absl::StatusOr<std::unique_ptr<CachedStore>> Create(std::unique_ptr<ObjectStore> backend,
                                                             size_t history);
  ~CachedStore() override;

  absl::StatusOr<Json> Create(Json obj) override;
  absl::StatusOr<Json> Import(Json obj) override;
  absl::StatusOr<Json> Update(Json obj) override;
  absl::StatusOr<Json> UpdateAndCreate(Json obj, const FollowUp& then) override;
  absl::StatusOr<std::shared_ptr<const Json>> Peek(const ObjectKey& key) override;
  absl::StatusOr<std::vector<Json>> List(const std::string& kind, const std::string& ns,
                                         uint64_t* resource_version) override;
  absl::StatusOr<SharedObjects> ListShared(const std::string& kind, const std::string& ns,
                                           uint64_t* resource_version) override;
  absl::StatusOr<SharedObjects> ListAll(uint64_t* resource_version) override;
  absl::StatusOr<Json> Delete(const ObjectKey& key, std::optional<std::string> uid) override;
  // `on_end` is never called: a cache subscription ends only by Unwatch.
  absl::StatusOr<uint64_t> Watch(uint64_t from_version, WatchCallback callback,
                                 WatchEndCallback on_end) override;
  void Unwatch(uint64_t subscription) override;
  // The last applied version.
  uint64_t CurrentVersion() override;

  void ExportMetrics(metrics::Registry& registry);

 private:
  struct Subscription {
    uint64_t after;  // deliver only events with resource_version > after
    WatchCallback callback;
  };

  CachedStore(std::unique_ptr<ObjectStore> backend, size_t history);

  // Lists the backend, replaces the objects (unless `initial`, sending the watchers the
  // differences and logging `why`) and watches the backend from the list's version.
  absl::Status Load(bool initial, const absl::Status& why)
      ABSL_LOCKS_EXCLUDED(publish_mu_, mu_, resync_mu_);
  // The backend watch's callbacks; `generation` names the backend watch they belong to.
  void Apply(uint64_t generation, const StoreEvent& event) ABSL_LOCKS_EXCLUDED(publish_mu_, mu_);
  void BackendEnded(const absl::Status& why) ABSL_LOCKS_EXCLUDED(resync_mu_);
  // Runs on resyncer_: lists again whenever the backend watch ended, until the cache closes.
  void ResyncLoop() ABSL_LOCKS_EXCLUDED(resync_mu_);
  // Appends `event` to the ring and hands it to the watchers.
  void PublishLocked(const StoreEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(publish_mu_);

  // Runs a backend write, timed for the metrics, then waits until the cache has what it wrote.
  absl::StatusOr<Json> Write(const char* operation, const ObjectKey& key,
                             const std::function<absl::StatusOr<Json>()>& write)
      ABSL_LOCKS_EXCLUDED(publish_mu_, mu_);
  // Waits (bounded) until the applied version reaches `version`.
  void AwaitApplied(uint64_t version) ABSL_LOCKS_EXCLUDED(mu_);

  const std::unique_ptr<ObjectStore> backend_;
  const size_t history_;
  const std::shared_ptr<CacheStats> stats_;

  // Held while events are applied and published, and by Watch and Unwatch. Taken before mu_.
  absl::Mutex publish_mu_;
  std::deque<StoreEvent> ring_ ABSL_GUARDED_BY(publish_mu_);
  // Every event after it is in the ring (or was synthesized there by a relist).
  uint64_t floor_ ABSL_GUARDED_BY(publish_mu_) = 0;
  uint64_t generation_ ABSL_GUARDED_BY(publish_mu_) = 0;  // of the current backend watch
  uint64_t next_subscription_ ABSL_GUARDED_BY(publish_mu_) = 1;
  std::map<uint64_t, Subscription> subscriptions_ ABSL_GUARDED_BY(publish_mu_);

  // The objects and the version they are consistent with; written under publish_mu_ too, so
  // readers take only this.
  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(publish_mu_);
  ObjectIndex objects_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;

  // The backend subscription and the resync thread.
  absl::Mutex resync_mu_;
  uint64_t backend_watch_ ABSL_GUARDED_BY(resync_mu_) = 0;  // 0: none
  bool resync_wanted_ ABSL_GUARDED_BY(resync_mu_) = false;
  absl::Status ended_because_ ABSL_GUARDED_BY(resync_mu_);
  bool stopping_ ABSL_GUARDED_BY(resync_mu_) = false;
  std::thread resyncer_;
};

}  // namespace berth::controller::store

#endif  // BERTH_CONTROLLER_STORE_CACHED_STORE_H_

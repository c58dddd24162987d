#ifndef BERTH_CONTROLLER_OBJECT_STORE_H_
#define BERTH_CONTROLLER_OBJECT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/json.h"
#include "berth/time_util.h"

namespace berth::metrics {
class Registry;
}  // namespace berth::metrics

namespace berth::controller {

// Names one object. `ns` is empty for cluster-scoped kinds.
struct ObjectKey {
  std::string kind;
  std::string ns;
  std::string name;

  bool operator==(const ObjectKey& o) const {
    return kind == o.kind && ns == o.ns && name == o.name;
  }
  // Returns "Kind/ns/name" (or "Kind//name").
  std::string ToString() const { return kind + "/" + ns + "/" + name; }
  static ObjectKey Of(const Json& obj);
};

// One committed change. The object (and, when the store has it, its JSON text) is shared and
// immutable: the store's cache, the controller's queues and every watcher hold the same copy,
// so handing an event on costs a reference count, not a deep copy of the object.
struct StoreEvent {
  enum class Type { kAdded, kModified, kDeleted };
  StoreEvent(Type t, uint64_t rv, Json obj)
      : type(t), resource_version(rv), shared(std::make_shared<const Json>(std::move(obj))) {}
  StoreEvent(Type t, uint64_t rv, std::shared_ptr<const Json> obj,
             std::shared_ptr<const std::string> json_text = nullptr)
      : type(t), resource_version(rv), shared(std::move(obj)), text(std::move(json_text)) {}

  // The object after the change; for kDeleted, its last state.
  const Json& object() const { return *shared; }
  // object() serialized, from the stored text when there is one.
  std::string Dump() const { return text ? *text : shared->dump(); }

  Type type;
  uint64_t resource_version;
  std::shared_ptr<const Json> shared;       // never null
  std::shared_ptr<const std::string> text;  // object()'s JSON text, or null
};

const char* EventTypeName(StoreEvent::Type t);  // "ADDED", "MODIFIED", "DELETED"

// Called for every committed change in commit order, on the writer's thread, after the write is
// durable. Must be quick and must not call back into the store (hand the event to a queue).
using WatchCallback = std::function<void(const StoreEvent&)>;

// Called at most once, on any thread, when a subscription ends for a reason other than Unwatch
// (etcd compacted the history it still needed): no more events will come, and the watcher has
// to list again. The subscription still needs Unwatch. Must be quick and must not call into
// the store (hand the work to another thread).
using WatchEndCallback = std::function<void(const absl::Status&)>;

// Persists Kubernetes-shaped objects with optimistic concurrency. Thread-safe.
//
// The store owns metadata.uid, resourceVersion (one counter across all kinds, as a decimal
// string), generation (starts at 1, bumps only when `spec` changes), creationTimestamp and
// deletionTimestamp. Status is stored as given: callers decide who writes it.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Stores a new object. AlreadyExists if the key is taken. Ignores any uid/resourceVersion in
  // `obj`. Returns the stored object.
  virtual absl::StatusOr<Json> Create(Json obj) = 0;

  // Stores an object moved from another store (`berth admin store copy`) exactly as given:
  // uid (required), generation, creationTimestamp, deletionTimestamp, finalizers,
  // ownerReferences (indexed for cascades as Create does), labels, annotations, status. Only
  // metadata.resourceVersion is the destination's: the next one, so importing objects in
  // their source resourceVersion order keeps that order. No generation bump, no cascade.
  // AlreadyExists if the key (or, where the store indexes uids, the uid) is taken;
  // InvalidArgument for a deletionTimestamp without finalizers (such an object is gone).
  // Unimplemented for a store that cannot import. Returns the stored object.
  virtual absl::StatusOr<Json> Import(Json obj) {
    (void)obj;
    return absl::UnimplementedError("this store cannot import objects");
  }

  // Replaces an existing object. metadata.resourceVersion must equal the stored one, else
  // Aborted with a message containing "conflict" (never merged). NotFound if absent. When the
  // object has a deletionTimestamp and no finalizers left, it is removed (a kDeleted event)
  // and its dependents are deleted (cascade). Returns the stored object.
  virtual absl::StatusOr<Json> Update(Json obj) = 0;

  // Update, then, in the same transaction and only when the update succeeded, Create of the
  // object `then(stored)` returns for the stored result (nullopt: nothing). The create is best
  // effort: when it fails (e.g. AlreadyExists) it alone is undone and the update stands; its
  // error is not reported. Returns the update's result. One commit instead of two for a status
  // write and the core/v1 Event recording it. `then` must not call into the store.
  using FollowUp = std::function<std::optional<Json>(const Json& stored)>;
  virtual absl::StatusOr<Json> UpdateAndCreate(Json obj, const FollowUp& then) {
    absl::StatusOr<Json> stored = Update(std::move(obj));
    if (!stored.ok()) return stored;
    if (std::optional<Json> extra = then(*stored)) Create(std::move(*extra)).IgnoreError();
    return stored;
  }

  // The stored object itself, immutable and shared (a later write replaces it in the store;
  // this one stays as it was), for callers that only read. NotFound if absent.
  virtual absl::StatusOr<std::shared_ptr<const Json>> Peek(const ObjectKey& key) = 0;

  // A copy of the stored object, for callers that change it. NotFound if absent.
  absl::StatusOr<Json> Get(const ObjectKey& key) {
    absl::StatusOr<std::shared_ptr<const Json>> obj = Peek(key);
    if (!obj.ok()) return obj.status();
    return **obj;
  }

  // Lists objects of `kind`; `ns` empty lists every namespace. Sorted by namespace, then name.
  // Sets *resource_version (when given) to the store's version the list is consistent with.
  virtual absl::StatusOr<std::vector<Json>> List(const std::string& kind, const std::string& ns,
                                                 uint64_t* resource_version = nullptr) = 0;

  // List without copies: the stored objects themselves, immutable and shared, for callers that
  // only read (serializing a big list, serving one page of it).
  using SharedObjects = std::vector<std::shared_ptr<const Json>>;
  virtual absl::StatusOr<SharedObjects> ListShared(const std::string& kind, const std::string& ns,
                                                   uint64_t* resource_version = nullptr) {
    absl::StatusOr<std::vector<Json>> items = List(kind, ns, resource_version);
    if (!items.ok()) return items.status();
    SharedObjects out;
    out.reserve(items->size());
    for (Json& obj : *items) out.push_back(std::make_shared<const Json>(std::move(obj)));
    return out;
  }

  // Every object of every kind, sorted by kind, namespace, then name, consistent with one
  // version (set in *resource_version when given): what a cache loads before it watches from
  // that version. Unimplemented for a store that cannot list everything at once.
  virtual absl::StatusOr<SharedObjects> ListAll(uint64_t* resource_version = nullptr) {
    (void)resource_version;
    return absl::UnimplementedError("this store cannot list every object");
  }

  // Deletes: with finalizers, sets deletionTimestamp (once) and returns the object; without,
  // removes it and returns its last state. Either way, objects whose ownerReferences name its
  // uid are deleted the same way (cascade). `uid` (when set) must match, else Aborted.
  virtual absl::StatusOr<Json> Delete(const ObjectKey& key,
                                      std::optional<std::string> uid = std::nullopt) = 0;

  // Subscribes to changes after `from_version` (0: only future changes). Events with
  // resourceVersion > from_version that are still retained are replayed first, then live
  // ones follow, with no gap and no duplicate. OutOfRange if `from_version` is older than the
  // retained history (the client must list again). Returns a subscription id. `on_end` (when
  // given) learns that the subscription ended without Unwatch.
  virtual absl::StatusOr<uint64_t> Watch(uint64_t from_version, WatchCallback callback,
                                         WatchEndCallback on_end = nullptr) = 0;
  virtual void Unwatch(uint64_t subscription) = 0;

  virtual uint64_t CurrentVersion() = 0;
};

// Opens (creating if needed) the embedded SQLite store in `data_dir` (file `berth.db`, WAL
// journal, synchronous=FULL). Keeps the most recent `history` events for Watch replay.
absl::StatusOr<std::unique_ptr<ObjectStore>> OpenSqliteStore(const std::string& data_dir,
                                                             const Clock& clock,
                                                             size_t history = 100000);

// A watch cache in front of `backend` (for etcd: every controller of an HA cluster serves its
// reads from its own). Loads everything (ListAll), then follows the backend's Watch. Peek,
// List, Watch and CurrentVersion are served from memory; writes go to the backend and return
// once the cache has them (read your writes). Keeps the most recent `history` events for
// Watch replay: a Watch from before them, or from before the cache started, is OutOfRange.
// When the backend's watch ends (etcd compacted past it), the cache lists again and sends its
// watchers the differences (see store/cached_store.h).
absl::StatusOr<std::unique_ptr<ObjectStore>> NewCachedStore(std::unique_ptr<ObjectStore> backend,
                                                            size_t history = 100000);

// Exports the metrics of a store NewCachedStore made (nothing for another store):
// berth_store_request_duration_seconds{operation} (backend writes, the initial list),
// berth_store_watch_lag_revisions and berth_store_relists_total. The registry must outlive the
// store.
void ExportCacheMetrics(ObjectStore& cached, metrics::Registry& registry);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_OBJECT_STORE_H_

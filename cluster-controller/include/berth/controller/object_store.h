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

  // Deletes: with finalizers, sets deletionTimestamp (once) and returns the object; without,
  // removes it and returns its last state. Either way, objects whose ownerReferences name its
  // uid are deleted the same way (cascade). `uid` (when set) must match, else Aborted.
  virtual absl::StatusOr<Json> Delete(const ObjectKey& key,
                                      std::optional<std::string> uid = std::nullopt) = 0;

  // Subscribes to changes after `from_version` (0: only future changes). Events with
  // resourceVersion > from_version that are still retained are replayed first, then live
  // ones follow, with no gap and no duplicate. OutOfRange if `from_version` is older than the
  // retained history (the client must list again). Returns a subscription id.
  virtual absl::StatusOr<uint64_t> Watch(uint64_t from_version, WatchCallback callback) = 0;
  virtual void Unwatch(uint64_t subscription) = 0;

  virtual uint64_t CurrentVersion() = 0;
};

// Opens (creating if needed) the embedded SQLite store in `data_dir` (file `berth.db`, WAL
// journal, synchronous=FULL). Keeps the most recent `history` events for Watch replay.
absl::StatusOr<std::unique_ptr<ObjectStore>> OpenSqliteStore(const std::string& data_dir,
                                                             const Clock& clock,
                                                             size_t history = 100000);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_OBJECT_STORE_H_

#ifndef BERTH_CONTROLLER_STORE_OBJECT_INDEX_H_
#define BERTH_CONTROLLER_STORE_OBJECT_INDEX_H_

// Every object of a store in memory, parsed and shared, keyed by (kind, namespace, name): the
// SQLite store's read cache and the watch cache's objects. Shared pointers, so readers copy
// outside their owner's lock. Not thread-safe: each owner guards it with its own mutex.

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "berth/controller/object_store.h"
#include "berth/json.h"

namespace berth::controller::store {

class ObjectIndex {
 private:
  // Kind, then namespace, then name: a kind's objects are one range, in List's order.
  struct KeyLess {
    bool operator()(const ObjectKey& a, const ObjectKey& b) const;
  };
  using Map = std::map<ObjectKey, std::shared_ptr<const Json>, KeyLess>;

 public:
  // Stores `obj` at `key`, replacing what was there.
  void Put(ObjectKey key, std::shared_ptr<const Json> obj);
  // Stores `obj` at `key` unless it holds one already; returns whether it did.
  bool Insert(ObjectKey key, std::shared_ptr<const Json> obj);
  void Erase(const ObjectKey& key);
  // Applies a committed change: kDeleted erases the event's object, the others put it.
  void Apply(const StoreEvent& event);

  // The object at `key`; null when there is none.
  std::shared_ptr<const Json> Find(const ObjectKey& key) const;
  // The objects of `kind` in namespace `ns` ("": every namespace), by namespace, then name.
  ObjectStore::SharedObjects Range(const std::string& kind, const std::string& ns) const;
  // Every object, by kind, namespace, then name.
  ObjectStore::SharedObjects All() const;

  size_t size() const { return objects_.size(); }
  // (key, object) pairs in All's order.
  Map::const_iterator begin() const { return objects_.begin(); }
  Map::const_iterator end() const { return objects_.end(); }

 private:
  Map objects_;
};

// Deep copies of `shared`, in order: List served from ListShared, copied outside the lock.
std::vector<Json> CopyObjects(const ObjectStore::SharedObjects& shared);

}  // namespace berth::controller::store

#endif  // BERTH_CONTROLLER_STORE_OBJECT_INDEX_H_

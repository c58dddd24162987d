// The in-memory object index (object_index.h).

#include "store/object_index.h"

#include <tuple>
#include <utility>

namespace berth::controller::store {

bool ObjectIndex::KeyLess::operator()(const ObjectKey& a, const ObjectKey& b) const {
  return std::tie(a.kind, a.ns, a.name) < std::tie(b.kind, b.ns, b.name);
}

void ObjectIndex::Put(ObjectKey key, std::shared_ptr<const Json> obj) {
  objects_[std::move(key)] = std::move(obj);
}

bool ObjectIndex::Insert(ObjectKey key, std::shared_ptr<const Json> obj) {
  return objects_.emplace(std::move(key), std::move(obj)).second;
}

void ObjectIndex::Erase(const ObjectKey& key) { objects_.erase(key); }

void ObjectIndex::Apply(const StoreEvent& event) {
  ObjectKey key = ObjectKey::Of(event.object());
  if (event.type == StoreEvent::Type::kDeleted) {
    Erase(key);
  } else {
    Put(std::move(key), event.shared);
  }
}

std::shared_ptr<const Json> ObjectIndex::Find(const ObjectKey& key) const {
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

ObjectStore::SharedObjects ObjectIndex::Range(const std::string& kind,
                                              const std::string& ns) const {
  ObjectStore::SharedObjects found;
  // Keys sort by kind, namespace, name: the range is already in the documented order.
  for (auto it = objects_.lower_bound(ObjectKey{kind, ns, ""}); it != objects_.end(); ++it) {
    const ObjectKey& key = it->first;
    if (key.kind != kind || (!ns.empty() && key.ns != ns)) break;
    found.push_back(it->second);
  }
  return found;
}

ObjectStore::SharedObjects ObjectIndex::All() const {
  ObjectStore::SharedObjects found;
  found.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) found.push_back(obj);
  return found;
}

std::vector<Json> CopyObjects(const ObjectStore::SharedObjects& shared) {
  std::vector<Json> out;
  out.reserve(shared.size());
  for (const auto& obj : shared) out.push_back(*obj);
  return out;
}

}  // namespace berth::controller::store

#include "controllers/common/ref_index.h"

#include <utility>

namespace berth::controller {

RefIndex::RefIndex(ObjectStore& store, std::string kind, RefFn ref)
    : store_(store), kind_(std::move(kind)), ref_(std::move(ref)) {}

absl::Status RefIndex::SeedLocked() {
  uint64_t version = 0;
  absl::StatusOr<std::vector<Json>> objects = store_.List(kind_, "", &version);
  if (!objects.ok()) return objects.status();
  referrers_.clear();
  target_of_.clear();
  for (const Json& obj : *objects) {
    SetLocked(JsonString(obj, "/metadata/namespace"), JsonString(obj, "/metadata/name"), ref_(obj));
  }
  seeded_ = true;
  seeded_version_ = version;
  return absl::OkStatus();
}

void RefIndex::SetLocked(const std::string& ns, const std::string& name, std::string target) {
  NsName key{ns, name};
  auto it = target_of_.find(key);
  if (it != target_of_.end()) {
    if (it->second == target) return;
    auto refs = referrers_.find(NsName{ns, it->second});
    if (refs != referrers_.end()) {
      refs->second.erase(name);
      if (refs->second.empty()) referrers_.erase(refs);
    }
    target_of_.erase(it);
  }
  if (target.empty()) return;
  referrers_[NsName{ns, target}].insert(name);
  target_of_.emplace(std::move(key), std::move(target));
}

void RefIndex::Observe(const StoreEvent& event) {
  auto kind = event.object().find("kind");
  if (kind == event.object().end() || !kind->is_string() ||
      kind->get_ref<const std::string&>() != kind_) {
    return;
  }
  absl::MutexLock l(&mu_);
  // The seed lists the store as it is now, which includes this event (it was published after
  // its commit), so it is skipped below. A failed seed is retried at the next event.
  if (!seeded_ && !SeedLocked().ok()) return;
  if (event.resource_version <= seeded_version_) return;
  std::string ns = JsonString(event.object(), "/metadata/namespace");
  std::string name = JsonString(event.object(), "/metadata/name");
  SetLocked(ns, name, event.type == StoreEvent::Type::kDeleted ? "" : ref_(event.object()));
}

std::vector<ObjectKey> RefIndex::Referrers(const std::string& ns, const std::string& name) {
  std::vector<ObjectKey> keys;
  {
    absl::MutexLock l(&mu_);
    if (seeded_ || SeedLocked().ok()) {
      auto it = referrers_.find(NsName{ns, name});
      if (it != referrers_.end()) {
        for (const std::string& r : it->second) keys.push_back(ObjectKey{kind_, ns, r});
      }
      return keys;
    }
  }
  absl::StatusOr<std::vector<Json>> objects = store_.List(kind_, ns);
  if (!objects.ok()) return keys;
  for (const Json& obj : *objects) {
    if (ref_(obj) == name) keys.push_back(ObjectKey::Of(obj));
  }
  return keys;
}

}  // namespace berth::controller

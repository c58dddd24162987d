#ifndef BERTH_CONTROLLER_CONTROLLERS_COMMON_REF_INDEX_H_
#define BERTH_CONTROLLER_CONTROLLERS_COMMON_REF_INDEX_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "berth/controller/object_store.h"
#include "berth/json.h"

namespace berth::controller {

// Answers "which objects of one kind refer to the object named X in namespace N" (e.g. the
// VirtualDisks restored from a VirtualDiskSnapshot) without listing, and so copying, every
// object of the kind per question. Reconciler::Related runs for every store event; a List
// there costs O(objects of the kind) per event, which at thousands of objects is most of the
// controller's work.
//
// Kept from the store's events: the owner passes every event to Observe (Related sees each one,
// in commit order), and the index is seeded with one List on first use. Events the seed already
// covers (resourceVersion <= the list's) are skipped, so the index is exact. Thread-safe.
class RefIndex {
 public:
  // Returns the name `obj` (of the indexed kind) refers to, or "" when it is not to be found
  // through the index (refers to nothing, or no longer matters, e.g. finished).
  using RefFn = std::function<std::string(const Json& obj)>;

  RefIndex(ObjectStore& store, std::string kind, RefFn ref);

  // Records `event` when it is of the indexed kind; ignores any other. Call with every store
  // event, in commit order.
  void Observe(const StoreEvent& event);

  // Objects of the indexed kind in `ns` whose reference is `name`, sorted by name. When the
  // index cannot be seeded (the store failed), answers from a List instead.
  std::vector<ObjectKey> Referrers(const std::string& ns, const std::string& name);

 private:
  using NsName = std::pair<std::string, std::string>;

  absl::Status SeedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets (or, with `target` empty, clears) the reference of object `name` in `ns`.
  void SetLocked(const std::string& ns, const std::string& name, std::string target)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ObjectStore& store_;
  const std::string kind_;
  const RefFn ref_;

  absl::Mutex mu_;
  bool seeded_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t seeded_version_ ABSL_GUARDED_BY(mu_) = 0;
  // (namespace, referenced name) -> names of the objects referring to it.
  std::map<NsName, std::set<std::string>> referrers_ ABSL_GUARDED_BY(mu_);
  // (namespace, name) -> the name that object refers to (only objects with a reference).
  std::map<NsName, std::string> target_of_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_COMMON_REF_INDEX_H_

#ifndef BERTH_AGENT_STORAGE_KEYED_MUTEX_H_
#define BERTH_AGENT_STORAGE_KEYED_MUTEX_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace berth::agent {

// One reader/writer lock per key, created on first use and dropped when unused. Thread-safe.
// Callers that hold several keys must always take them in the same global order.
class KeyedMutex {
 public:
  struct Entry {
    std::string key;
    absl::Mutex mu;
    int users = 0;  // guarded by KeyedMutex::mu_
  };

  // Holds one key's lock until destroyed. Move-only.
  class Lock {
   public:
    Lock(KeyedMutex* owner, Entry* entry, bool shared)
        : owner_(owner), entry_(entry), shared_(shared) {}
    Lock(Lock&& other) noexcept
        : owner_(other.owner_), entry_(other.entry_), shared_(other.shared_) {
      other.entry_ = nullptr;
    }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    Lock& operator=(Lock&&) = delete;
    ~Lock();

   private:
    KeyedMutex* owner_;
    Entry* entry_;
    bool shared_;
  };

  // Blocks until `key` is held exclusively (writers) or shared (readers).
  Lock Exclusive(const std::string& key) { return Acquire(key, /*shared=*/false); }
  Lock Shared(const std::string& key) { return Acquire(key, /*shared=*/true); }

 private:
  Lock Acquire(const std::string& key, bool shared);
  void Release(Entry* entry, bool shared);

  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_STORAGE_KEYED_MUTEX_H_

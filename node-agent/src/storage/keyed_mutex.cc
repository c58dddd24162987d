#include "storage/keyed_mutex.h"

namespace berth::agent {

KeyedMutex::Lock::~Lock() {
  if (entry_ != nullptr) owner_->Release(entry_, shared_);
}

KeyedMutex::Lock KeyedMutex::Acquire(const std::string& key, bool shared) {
  Entry* entry;
  {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<Entry>& slot = entries_[key];
    if (slot == nullptr) {
      slot = std::make_unique<Entry>();
      slot->key = key;
    }
    ++slot->users;
    entry = slot.get();
  }
  // The entry outlives this call: it is erased only when `users` drops to zero.
  if (shared) {
    entry->mu.ReaderLock();
  } else {
    entry->mu.Lock();
  }
  return Lock(this, entry, shared);
}

void KeyedMutex::Release(Entry* entry, bool shared) {
  if (shared) {
    entry->mu.ReaderUnlock();
  } else {
    entry->mu.Unlock();
  }
  absl::MutexLock lock(&mu_);
  if (--entry->users == 0) {
    // Heap addresses are reused by later entries; without this, absl's deadlock detector
    // (enabled in debug builds of Abseil) would see lock-order cycles that never happened.
    entry->mu.ForgetDeadlockInfo();
    entries_.erase(entry->key);
  }
}

}  // namespace berth::agent

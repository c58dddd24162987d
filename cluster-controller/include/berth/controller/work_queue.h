#ifndef BERTH_CONTROLLER_WORK_QUEUE_H_
#define BERTH_CONTROLLER_WORK_QUEUE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/time_util.h"

namespace berth::controller {

// A de-duplicating queue of keys in the style of client-go's workqueue. A key is never handed
// to two workers at once: adding a key that is being processed marks it dirty, and it is
// queued again when the worker calls Done. Keys that fail back off exponentially per key.
// Thread-safe.
class WorkQueue {
 public:
  explicit WorkQueue(const Clock& clock, absl::Duration base_backoff = absl::Milliseconds(20),
                     absl::Duration max_backoff = absl::Seconds(30));

  // Queues `key` now (no-op if already queued).
  void Add(const std::string& key);
  // Queues `key` once `delay` has passed; an earlier pending time for the key wins.
  void AddAfter(const std::string& key, absl::Duration delay);
  // Queues `key` after its backoff (base * 2^failures, capped) and counts one more failure.
  void AddRateLimited(const std::string& key);
  // Resets the key's failure count.
  void Forget(const std::string& key);
  // Blocks until a key is ready; returns nullopt once ShutDown was called.
  std::optional<std::string> Get();
  // Marks the key processed; re-queues it if it was added meanwhile.
  void Done(const std::string& key);
  void ShutDown();
  // Empties the queue and takes keys again after ShutDown; no Get may be waiting.
  void Restart();

  size_t Len() const;
  int Failures(const std::string& key) const;

 private:
  void AddLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PromoteDueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseDelayedLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const absl::Duration base_backoff_;
  const absl::Duration max_backoff_;
  mutable absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> dirty_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> processing_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> delayed_ ABSL_GUARDED_BY(mu_);
  // delayed_ ordered by due time, so promoting due keys does not scan every delayed key.
  std::set<std::pair<absl::Time, std::string>> due_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // One waiting worker at a time sleeps until the earliest delayed key is due (the timer); the
  // others sleep until a key is queued or the timer is free, so an idle queue wakes no thread
  // but the timer, and that one only when a key is due (at least once a second, for clocks
  // that move without the queue seeing it, as a test's).
  bool timer_taken_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t earliest_changes_ ABSL_GUARDED_BY(mu_) = 0;  // the timer re-reads the earliest due
};

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_WORK_QUEUE_H_

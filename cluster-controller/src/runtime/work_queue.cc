#include "berth/controller/work_queue.h"

#include <algorithm>

namespace berth::controller {

namespace {
// The timer's longest sleep: a clock the queue cannot watch (a test's) is read this often.
constexpr absl::Duration kTimerMaxWait = absl::Seconds(1);
}  // namespace

WorkQueue::WorkQueue(const Clock& clock, absl::Duration base_backoff, absl::Duration max_backoff)
    : clock_(clock), base_backoff_(base_backoff), max_backoff_(max_backoff) {}

void WorkQueue::EraseDelayedLocked(const std::string& key) {
  auto it = delayed_.find(key);
  if (it == delayed_.end()) return;
  due_.erase({it->second, key});
  delayed_.erase(it);
}

void WorkQueue::AddLocked(const std::string& key) {
  if (shutdown_ || dirty_.count(key)) return;
  dirty_.insert(key);
  EraseDelayedLocked(key);
  if (!processing_.count(key)) queue_.push_back(key);
}

void WorkQueue::Add(const std::string& key) {
  absl::MutexLock l(&mu_);
  AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, absl::Duration delay) {
  if (delay <= absl::ZeroDuration()) return Add(key);
  absl::MutexLock l(&mu_);
  if (shutdown_ || dirty_.count(key)) return;
  absl::Time when = clock_.Now() + delay;
  auto it = delayed_.find(key);
  if (it == delayed_.end() || when < it->second) {
    EraseDelayedLocked(key);
    delayed_[key] = when;
    due_.insert({when, key});
    if (due_.begin()->second == key) ++earliest_changes_;  // the timer waits for it now
  }
}

void WorkQueue::AddRateLimited(const std::string& key) {
  absl::Duration delay;
  {
    absl::MutexLock l(&mu_);
    int n = failures_[key]++;
    delay = base_backoff_ * (1 << std::min(n, 20));
    if (delay > max_backoff_) delay = max_backoff_;
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  absl::MutexLock l(&mu_);
  failures_.erase(key);
}

void WorkQueue::PromoteDueLocked() {
  absl::Time now = clock_.Now();
  while (!due_.empty() && due_.begin()->first <= now) {
    std::string key = due_.begin()->second;
    EraseDelayedLocked(key);
    AddLocked(key);
  }
}

std::optional<std::string> WorkQueue::Get() {
  absl::MutexLock l(&mu_);
  while (true) {
    if (shutdown_) return std::nullopt;
    PromoteDueLocked();
    if (!queue_.empty()) break;
    if (timer_taken_) {
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutdown_ || !queue_.empty() || !timer_taken_;
      };
      mu_.Await(absl::Condition(&wake));
      continue;
    }
    timer_taken_ = true;
    absl::Duration wait = kTimerMaxWait;
    if (!due_.empty()) wait = std::min(wait, due_.begin()->first - clock_.Now());
    const uint64_t seen = earliest_changes_;
    auto wake = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return shutdown_ || !queue_.empty() || earliest_changes_ != seen;
    };
    mu_.AwaitWithTimeout(absl::Condition(&wake), std::max(wait, absl::Milliseconds(1)));
    timer_taken_ = false;
  }
  std::string key = queue_.front();
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

void WorkQueue::Done(const std::string& key) {
  absl::MutexLock l(&mu_);
  processing_.erase(key);
  if (dirty_.count(key)) queue_.push_back(key);
}

void WorkQueue::ShutDown() {
  absl::MutexLock l(&mu_);
  shutdown_ = true;
}

void WorkQueue::Restart() {
  absl::MutexLock l(&mu_);
  timer_taken_ = false;
  queue_.clear();
  dirty_.clear();
  processing_.clear();
  delayed_.clear();
  due_.clear();
  failures_.clear();
  shutdown_ = false;
}

size_t WorkQueue::Len() const {
  absl::MutexLock l(&mu_);
  return queue_.size();
}

int WorkQueue::Failures(const std::string& key) const {
  absl::MutexLock l(&mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

}  // namespace berth::controller

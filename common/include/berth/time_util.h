#ifndef BERTH_TIME_UTIL_H_
#define BERTH_TIME_UTIL_H_

#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace berth {

// Supplies the current time; injected so logic with deadlines is testable. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// Reads the system clock.
class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

// Returns time only when advanced by the test. Thread-safe.
class SimulatedClock : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::UnixEpoch()) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock l(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock l(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

// Formats as RFC 3339 UTC with second precision ("2024-10-04T07:45:05Z").
std::string FormatRfc3339(absl::Time t);
// Parses RFC 3339; returns absl::InfinitePast() on failure.
absl::Time ParseRfc3339(const std::string& s);
// Formats an age the way kubectl does: "45s", "3m2s", "5h12m", "3d4h".
std::string FormatAge(absl::Duration d);

}  // namespace berth

#endif  // BERTH_TIME_UTIL_H_

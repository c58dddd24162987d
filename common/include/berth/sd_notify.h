#ifndef BERTH_SD_NOTIFY_H_
#define BERTH_SD_NOTIFY_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace berth {

// Tells the service manager about the daemon's state (systemd's sd_notify protocol; sent
// non-blocking, waiting at most 2 s for room in the receiver's queue). Outside systemd
// ($NOTIFY_SOCKET unset) every call is a no-op, so daemons call these unconditionally.
//
// Returns true when a message was sent.
bool NotifyReady(const std::string& status = "");
bool NotifyStopping();
bool NotifyStatus(const std::string& status);

// Returns the watchdog period systemd expects pings within (WatchdogSec=, for this process),
// or zero when no watchdog is armed.
absl::Duration WatchdogInterval();

// Pings the service manager's watchdog (WATCHDOG=1) every half of WatchdogInterval() from an
// owned thread, while `healthy()` returns true: a wedged daemon (e.g. a deadlocked store) stops
// pinging and systemd restarts it. Does nothing without a watchdog. Thread-safe; the
// destructor stops and joins.
class WatchdogPinger {
 public:
  // `healthy` runs on the pinger's thread; it must be quick and must not block indefinitely
  // on a lock the daemon might hold forever (a blocked check is itself a missed ping, which is
  // what we want).
  explicit WatchdogPinger(std::function<bool()> healthy = nullptr);
  ~WatchdogPinger();
  WatchdogPinger(const WatchdogPinger&) = delete;
  WatchdogPinger& operator=(const WatchdogPinger&) = delete;

  bool active() const { return thread_.joinable(); }
  int pings() const { return pings_.load(); }

 private:
  void Run(absl::Duration period);

  const std::function<bool()> healthy_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int> pings_{0};
  std::thread thread_;
};

}  // namespace berth

#endif  // BERTH_SD_NOTIFY_H_

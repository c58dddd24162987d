#include "berth/sd_notify.h"

#include <systemd/sd-daemon.h>

#include <functional>

#include "absl/strings/str_cat.h"

namespace berth {

bool NotifyReady(const std::string& status) {
  std::string msg = "READY=1";
  if (!status.empty()) absl::StrAppend(&msg, "\nSTATUS=", status);
  return sd_notify(0, msg.c_str()) > 0;
}

bool NotifyStopping() { return sd_notify(0, "STOPPING=1") > 0; }

bool NotifyStatus(const std::string& status) {
  return sd_notify(0, absl::StrCat("STATUS=", status).c_str()) > 0;
}

absl::Duration WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return absl::ZeroDuration();
  return absl::Microseconds(usec);
}

WatchdogPinger::WatchdogPinger(std::function<bool()> healthy) : healthy_(std::move(healthy)) {
  absl::Duration period = WatchdogInterval();
  if (period <= absl::ZeroDuration()) return;
  thread_ = std::thread([this, period] { Run(period / 2); });
}

WatchdogPinger::~WatchdogPinger() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void WatchdogPinger::Run(absl::Duration period) {
  while (true) {
    if (!healthy_ || healthy_()) {
      if (sd_notify(0, "WATCHDOG=1") > 0) ++pings_;
    }
    absl::MutexLock l(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), period)) return;
  }
}

}  // namespace berth

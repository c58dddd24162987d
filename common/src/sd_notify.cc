#include "berth/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"

namespace berth {
namespace {

// Sends one notification to $NOTIFY_SOCKET (a path, or @name for an abstract socket) without
// ever blocking for long: libsystemd's sd_notify blocks while the receiver's queue is full,
// and a daemon must not hang in shutdown because its supervisor reads slowly. `wait` bounds
// how long to wait for room (zero for watchdog pings: a dropped ping is what a wedged daemon
// would send anyway). Returns whether the message was sent.
bool Notify(const std::string& msg, absl::Duration wait) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@')) return false;
  memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  absl::Time deadline = absl::Now() + wait;
  bool sent = false;
  while (true) {
    ssize_t n = sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                       addr_len);
    if (n == static_cast<ssize_t>(msg.size())) {
      sent = true;
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n >= 0 || errno != EAGAIN || absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(10));  // a full queue has no POLLOUT for unconnected sends
  }
  close(fd);
  return sent;
}

constexpr absl::Duration kStateWait = absl::Seconds(2);

}  // namespace

bool NotifyReady(const std::string& status) {
  std::string msg = "READY=1";
  if (!status.empty()) absl::StrAppend(&msg, "\nSTATUS=", status);
  return Notify(msg, kStateWait);
}

bool NotifyStopping() { return Notify("STOPPING=1", kStateWait); }

bool NotifyStatus(const std::string& status) {
  return Notify(absl::StrCat("STATUS=", status), kStateWait);
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
      if (Notify("WATCHDOG=1", absl::ZeroDuration())) ++pings_;
    }
    absl::MutexLock l(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), period)) return;
  }
}

}  // namespace berth

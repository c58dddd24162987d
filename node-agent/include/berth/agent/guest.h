#ifndef BERTH_AGENT_GUEST_H_
#define BERTH_AGENT_GUEST_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/agent/hypervisor.h"
#include "berth/time_util.h"

namespace berth::agent {

// Talks to qemu-guest-agent in one domain through the hypervisor. Thread-safe.
class GuestAgent {
 public:
  virtual ~GuestAgent() = default;
  virtual absl::Status Ping(const std::string& domain) = 0;
  // Returns "thawed" or "frozen".
  virtual absl::StatusOr<std::string> FsFreezeStatus(const std::string& domain) = 0;
  // Return the number of filesystems frozen / thawed.
  virtual absl::StatusOr<int> FsFreeze(const std::string& domain) = 0;
  virtual absl::StatusOr<int> FsThaw(const std::string& domain) = 0;
  // Returns the guest's IPv4/IPv6 addresses (guest-network-get-interfaces), loopback excluded.
  virtual absl::StatusOr<std::vector<std::string>> Addresses(const std::string& domain) = 0;
};

std::unique_ptr<GuestAgent> NewGuestAgent(Hypervisor& hypervisor);

// Freezes guests for snapshots so that no guest is ever left frozen:
// - idempotent: asks guest-fsfreeze-status before freezing;
// - reference-counted per domain: concurrent snapshots of one VM share one freeze, and the
//   thaw happens when the last holder releases;
// - an auto-thaw deadline per freeze fires from the Freezer's own thread even if every
//   holder (or the controller) vanished;
// - a crash journal (one file per frozen domain in `journal_dir`, written before the freeze
//   and removed after the thaw): Recover() at start-up thaws every journaled domain.
// Thread-safe. Owns one timer thread, joined by the destructor.
class Freezer {
 public:
  struct Options {
    std::string journal_dir;
    absl::Duration auto_thaw = absl::Seconds(10);
  };
  virtual ~Freezer() = default;
  // Freezes (or joins an existing freeze of) `domain`. Returns the number of frozen
  // filesystems. On error nothing stays frozen and the hold is not taken.
  virtual absl::StatusOr<int> Acquire(const std::string& domain) = 0;
  // Drops one hold; the last one thaws. Thaw errors are returned but the hold is dropped.
  virtual absl::Status Release(const std::string& domain) = 0;
  // Thaws every domain named in the journal (called once at start-up).
  virtual absl::Status Recover() = 0;
  // Counts for tests and metrics: freezes and thaws actually sent to guests.
  virtual int FreezesSent() const = 0;
  virtual int ThawsSent() const = 0;
};

std::unique_ptr<Freezer> NewFreezer(GuestAgent& agent, const Clock& clock,
                                    Freezer::Options options);

}  // namespace berth::agent

#endif  // BERTH_AGENT_GUEST_H_

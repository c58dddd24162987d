#ifndef BERTH_AGENT_GUEST_MIGRATIONS_H_
#define BERTH_AGENT_GUEST_MIGRATIONS_H_

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/agent/hypervisor.h"
#include "berth/time_util.h"

namespace berth::agent {

// What the agent knows of one domain's outgoing migration.
struct MigrationState {
  enum class Phase { kNone, kRunning, kCompleted, kFailed };
  Phase phase = Phase::kNone;
  std::string error;  // kFailed
  bool timed_out = false;
  MigrationProgress progress;  // running: now; ended: the last figures seen
};

const char* MigrationPhaseName(MigrationState::Phase p);

// The live migrations this agent drives, one per domain. Each runs Hypervisor::Migrate on its
// own thread; a watchdog thread samples its progress and aborts it at its deadline (and again
// every second until it has ended). Ended
// migrations are remembered until the domain's next migration starts or it comes back here
// (Forget; not across restarts: then the caller looks at where the domain runs). Destruction aborts
// running migrations (the guests stay on this node) and joins. Thread-safe.
class Migrations {
 public:
  Migrations(Hypervisor& hypervisor, const Clock& clock) : hv_(hypervisor), clock_(clock) {}
  ~Migrations();

  // Starts migrating `name`; joins a migration of it already running (whatever `params`).
  // `timeout` zero: no deadline.
  MigrationState Start(const std::string& name, const MigrationParams& params,
                       absl::Duration timeout);
  MigrationState Get(const std::string& name);
  // Cancels a running migration (the guest stays here) and waits until it ended.
  MigrationState Abort(const std::string& name);
  // Drops the record of an ended migration of `name`, as when the domain migrates back to this
  // node: its figures are no longer the domain's. False (and kept) while one runs.
  bool Forget(const std::string& name);

 private:
  struct Entry {
    MigrationState state;
    absl::Time deadline = absl::InfiniteFuture();
    bool aborting = false;
    // While aborting, the abort is asked for again from then on, once a second: libvirt answers
    // "no job" (and does nothing) when asked before the migration job has begun.
    absl::Time next_abort = absl::InfinitePast();
    std::thread worker;
    std::thread watchdog;
  };
  void Watch(const std::string& name, Entry* e);
  // One virDomainAbortJob; its answer logged (the watchdog repeats it while the job runs).
  void AskToAbort(const std::string& name);
  static void Join(Entry& e);

  Hypervisor& hv_;
  const Clock& clock_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_GUEST_MIGRATIONS_H_

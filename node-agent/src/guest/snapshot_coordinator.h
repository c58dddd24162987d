#ifndef BERTH_AGENT_GUEST_SNAPSHOT_COORDINATOR_H_
#define BERTH_AGENT_GUEST_SNAPSHOT_COORDINATOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/agent/guest.h"
#include "berth/agent/storage_backend.h"
#include "berth/time_util.h"

namespace berth::agent {

// One volume to cut: `snapshot_id` names the new snapshot of `volume_id` in pool `pool`.
struct VolumeCut {
  std::string pool;
  std::string volume_id;
  std::string snapshot_id;
};

struct SnapshotRequest {
  std::string domain;   // the guest using the volumes; needed only with `freeze`
  bool freeze = false;  // cut under a guest filesystem freeze (a consistent snapshot)
  std::vector<VolumeCut> volumes;
};

struct PoolSnapshot {
  std::string pool;
  SnapshotInfo info;
};

struct SnapshotResult {
  std::vector<PoolSnapshot> snapshots;  // one per requested volume, in request order
  bool frozen = false;           // as requested, also when a retry found every cut made already
  int frozen_filesystems = 0;    // as the freeze reported; 0 when no freeze was sent
  absl::Duration cut_time;       // from frozen to the last cut made; zero without a freeze
  absl::Duration freeze_window;  // from frozen to the thaw returning; zero without a freeze
};

// Takes a multi-volume snapshot, consistent across the volumes when asked: freezes the guest's
// filesystems through the Freezer, cuts every volume in parallel, thaws (always, also when a
// cut fails), and deletes the cuts it made when the snapshot as a whole fails. Idempotent per
// snapshot id: cuts that already exist are kept and reported, never deleted.
//
// Does not own the pools, the freezer or the clock; they must outlive it. Thread-safe (as the
// pools and the freezer are); each Snapshot call runs its cuts on threads of its own.
class SnapshotCoordinator {
 public:
  struct Options {
    std::string node;  // names this node in errors
    // Returned when a freeze is asked for and there is no freezer (no libvirt on the node).
    absl::Status freeze_unavailable = absl::UnavailableError("guests are not available");
    // Tests only: the freeze is held this long (real time) after the cuts.
    absl::Duration hold_freeze = absl::ZeroDuration();
  };

  // `freezer` may be null: then only snapshots without a freeze succeed.
  SnapshotCoordinator(const PoolMap& pools, Freezer* freezer, const Clock& clock, Options options);

  // Errors: InvalidArgument/NotFound/FailedPrecondition for a bad request (nothing cut);
  // FailedPrecondition when the freeze fails (nothing cut); the first failed cut's error,
  // naming its volume; DeadlineExceeded when the freezer auto-thawed before the cuts were
  // done. On every error the cuts this call made are deleted again.
  absl::StatusOr<SnapshotResult> Snapshot(const SnapshotRequest& req) const;

 private:
  struct Cut;  // one volume of a Snapshot call

  absl::StatusOr<std::vector<Cut>> PrepareCuts(const SnapshotRequest& req) const;
  static absl::Status CutAll(std::vector<Cut>& cuts);
  static void DeleteNewCuts(const std::vector<Cut>& cuts);
  // Freezes `domain`, cuts, thaws; fills the freeze fields of `result`.
  absl::Status CutFrozen(const std::string& domain, std::vector<Cut>& cuts,
                         SnapshotResult& result) const;

  const PoolMap& pools_;
  Freezer* const freezer_;
  const Clock& clock_;
  const Options options_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_GUEST_SNAPSHOT_COORDINATOR_H_

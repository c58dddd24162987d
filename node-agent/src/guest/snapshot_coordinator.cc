#include "guest/snapshot_coordinator.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "berth/log.h"
#include "berth/status_macros.h"

namespace berth::agent {

struct SnapshotCoordinator::Cut {
  StorageBackend* pool = nullptr;
  std::string pool_name;
  std::string volume_id;
  std::string snapshot_id;
  bool existed = false;  // cut by an earlier call: never deleted by this one
  bool done = false;
  SnapshotInfo info;
};

SnapshotCoordinator::SnapshotCoordinator(const PoolMap& pools, Freezer* freezer, const Clock& clock,
                                         Options options)
    : pools_(pools), freezer_(freezer), clock_(clock), options_(std::move(options)) {}

absl::StatusOr<std::vector<SnapshotCoordinator::Cut>> SnapshotCoordinator::PrepareCuts(
    const SnapshotRequest& req) const {
  if (req.volumes.empty()) return absl::InvalidArgumentError("no volumes to snapshot");
  std::vector<Cut> cuts;
  for (const VolumeCut& v : req.volumes) {
    auto it = pools_.find(v.pool);
    if (it == pools_.end()) {
      return absl::NotFoundError(
          absl::StrCat("storage pool \"", v.pool, "\" is not served by node ", options_.node));
    }
    if (v.snapshot_id.empty()) return absl::InvalidArgumentError("a volume has no snapshot_id");
    Cut c;
    c.pool = it->second.get();
    c.pool_name = v.pool;
    c.volume_id = v.volume_id;
    c.snapshot_id = v.snapshot_id;
    BERTH_RETURN_IF_ERROR(c.pool->GetVolume(v.volume_id).status());
    absl::StatusOr<SnapshotInfo> existing = c.pool->GetSnapshot(v.snapshot_id);
    if (existing.ok()) {
      if (existing->volume_id != v.volume_id) {
        return absl::FailedPreconditionError(
            absl::StrCat("snapshot ", v.snapshot_id, " already exists for volume ",
                         existing->volume_id, ", not ", v.volume_id));
      }
      c.existed = c.done = true;
      c.info = *existing;
    } else if (!absl::IsNotFound(existing.status())) {
      return existing.status();
    }
    cuts.push_back(std::move(c));
  }
  return cuts;
}

absl::Status SnapshotCoordinator::CutAll(std::vector<Cut>& cuts) {
  // Every volume's cut at once (pools lock per volume): the guest stays frozen for the slowest
  // cut, not for their sum; a btrfs snapshot is a transaction commit, tens of ms each.
  std::vector<absl::Status> results(cuts.size());
  auto cut_one = [&](size_t i) {
    Cut& c = cuts[i];
    if (c.done) return;
    absl::StatusOr<SnapshotInfo> snap = c.pool->CreateSnapshot(c.volume_id, c.snapshot_id);
    if (!snap.ok()) {
      results[i] = absl::Status(
          snap.status().code(),
          absl::StrCat("snapshot of volume ", c.volume_id, ": ", snap.status().message()));
      return;
    }
    c.info = *snap;
    c.done = true;
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < cuts.size(); ++i) threads.emplace_back(cut_one, i);
  if (!cuts.empty()) cut_one(0);
  for (std::thread& t : threads) t.join();
  for (absl::Status& r : results) {
    if (!r.ok()) return r;
  }
  return absl::OkStatus();
}

void SnapshotCoordinator::DeleteNewCuts(const std::vector<Cut>& cuts) {
  for (const Cut& c : cuts) {
    if (!c.done || c.existed) continue;
    absl::StatusOr<bool> gone = c.pool->DeleteSnapshot(c.snapshot_id);
    if (!gone.ok()) {
      log::Warning(absl::StrCat("cannot delete partial snapshot ", c.snapshot_id, ": ",
                                gone.status().ToString()),
                   {{"pool", c.pool_name}, {"volume", c.volume_id}});
    }
  }
}

absl::Status SnapshotCoordinator::CutFrozen(const std::string& domain, std::vector<Cut>& cuts,
                                            SnapshotResult& result) const {
  if (domain.empty()) return absl::InvalidArgumentError("freeze needs a domain");
  if (freezer_ == nullptr) {
    // Never OK: a freeze that cannot be sent must not become a snapshot without one.
    if (options_.freeze_unavailable.ok()) return absl::UnavailableError("no guest freezer");
    return options_.freeze_unavailable;
  }
  absl::StatusOr<int> n = freezer_->Acquire(domain);
  if (!n.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot freeze the filesystems of domain ",
                                                      domain, ": ", n.status().message()));
  }
  absl::Time frozen_at = clock_.Now();
  result.frozen_filesystems = *n;
  absl::Status cut = CutAll(cuts);
  result.cut_time = clock_.Now() - frozen_at;
  if (options_.hold_freeze > absl::ZeroDuration()) absl::SleepFor(options_.hold_freeze);
  absl::Status thaw = freezer_->Release(domain);  // thaw as soon as every cut exists
  result.freeze_window = clock_.Now() - frozen_at;
  log::Info(absl::StrCat("snapshot of ", cuts.size(), " volume(s) of domain ", domain, ": cut ",
                         absl::ToInt64Microseconds(result.cut_time), " us, freeze window ",
                         absl::ToInt64Microseconds(result.freeze_window), " us"),
            {{"domain", domain}});
  // Auto-thawed before we released: the cut may postdate the thaw, so it is not consistent.
  if (absl::IsDeadlineExceeded(thaw)) return cut.ok() ? thaw : cut;
  // Any other thaw error: the cut was taken frozen; the freezer keeps retrying the thaw.
  if (!thaw.ok()) {
    log::Warning(absl::StrCat("thaw after snapshot: ", thaw.ToString()), {{"domain", domain}});
  }
  return cut;
}

absl::StatusOr<SnapshotResult> SnapshotCoordinator::Snapshot(const SnapshotRequest& req) const {
  BERTH_ASSIGN_OR_RETURN(std::vector<Cut> cuts, PrepareCuts(req));
  bool all_existed = true;
  for (const Cut& c : cuts) all_existed = all_existed && c.existed;
  // A retry of a call that already cut everything: a cut is only ever made as asked (a failed
  // freeze cuts nothing), so answer as the first call did, without freezing again.
  bool freeze = req.freeze && !all_existed;
  SnapshotResult result;
  absl::Status cut = freeze ? CutFrozen(req.domain, cuts, result) : CutAll(cuts);
  if (!cut.ok()) {
    DeleteNewCuts(cuts);
    return cut;
  }
  result.frozen = req.freeze;
  for (const Cut& c : cuts) result.snapshots.push_back(PoolSnapshot{c.pool_name, c.info});
  return result;
}

}  // namespace berth::agent

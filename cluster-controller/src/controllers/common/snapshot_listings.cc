#include "controllers/common/snapshot_listings.h"

namespace berth::controller {

absl::StatusOr<bool> SnapshotListings::Listed(AgentClient& agent, const std::string& node,
                                              const std::string& pool, const std::string& id,
                                              absl::Time cut_by, absl::Time now,
                                              absl::Duration max_age) {
  Listing* listing;
  {
    absl::MutexLock l(&mu_);
    std::unique_ptr<Listing>& slot = listings_[{node, pool}];
    if (slot == nullptr) slot = std::make_unique<Listing>();
    listing = slot.get();  // entries are never removed
  }
  absl::MutexLock l(&listing->mu);
  if (now - listing->taken > max_age) {
    // A failure is kept as long as a listing would be, so a pool the agent cannot list (down,
    // or more snapshots than one answer may carry) costs one try per period, not one per check.
    absl::StatusOr<agentpb::ListSnapshotsResponse> listed = agent.ListSnapshots(pool);
    listing->taken = now;
    listing->ids.clear();
    listing->error = listed.status();
    if (listed.ok()) {
      for (const agentpb::Snapshot& s : listed->snapshots()) listing->ids.insert(s.id());
    }
  }
  if (!listing->error.ok()) return listing->error;
  return listing->ids.count(id) > 0 || listing->taken < cut_by;
}

}  // namespace berth::controller

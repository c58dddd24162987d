#ifndef BERTH_CONTROLLER_CONTROLLERS_COMMON_SNAPSHOT_LISTINGS_H_
#define BERTH_CONTROLLER_CONTROLLERS_COMMON_SNAPSHOT_LISTINGS_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/controller/agent_client.h"

namespace berth::controller {

// The snapshots each (node, pool) held when it was last listed. Every Ready snapshot is checked
// for lost data now and then; asking the agent about each one costs a call per snapshot per
// interval (500 calls a second for 10,000 snapshots every 20 s), while one ListSnapshots per
// pool answers for all of them. A listing is taken again once it is older than the age the
// caller accepts; concurrent callers for the same pool wait for one listing. Thread-safe.
class SnapshotListings {
 public:
  // Whether snapshot `id`, cut by `cut_by`, was in a listing of `pool` on `node` taken at most
  // `max_age` before `now` (listing again first when the last one is older). A listing taken
  // before `cut_by` cannot have it and so says nothing against it: true as well (the check
  // after the next listing decides). Snapshots come in bursts, and asking about each one cut
  // since the last listing would be one agent call per snapshot again. The listing's error
  // when the agent could not list (the caller then asks about the one snapshot).
  absl::StatusOr<bool> Listed(AgentClient& agent, const std::string& node, const std::string& pool,
                              const std::string& id, absl::Time cut_by, absl::Time now,
                              absl::Duration max_age);

 private:
  struct Listing {
    absl::Mutex mu;  // held while listing, so one call serves every waiting caller
    absl::Time taken ABSL_GUARDED_BY(mu) = absl::InfinitePast();
    std::set<std::string> ids ABSL_GUARDED_BY(mu);
    absl::Status error ABSL_GUARDED_BY(mu);  // of the last listing
  };

  absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Listing>> listings_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_COMMON_SNAPSHOT_LISTINGS_H_

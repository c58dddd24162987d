#ifndef BERTH_CONTROLLER_LEADER_H_
#define BERTH_CONTROLLER_LEADER_H_

// Leader election among controllers sharing an etcd store, and the fence that keeps a deposed
// leader's writes out.
//
// Every controller serves the APIs; only the leader runs reconcilers. The leader holds the key
// PREFIX/leader, attached to an etcd lease it keeps alive (TTL --lease_ttl_seconds). Its term is
// that key's create_revision. While reconciling, a thread holds a FenceScope naming the term:
// every etcd transaction the store commits on that thread then also compares the key's
// create_revision with the term, so a write from a controller whose lease expired (paused,
// partitioned) fails in etcd itself, whatever its clock says, once another term began or the
// key is gone.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/store_spec.h"
#include "berth/metrics.h"

namespace berth::controller {

// One leadership term, and what its fenced writes did.
struct WriteFence {
  std::string key;                     // the full etcd election key
  int64_t term = 0;                    // the key's create_revision while this controller holds it
  std::string holder;                  // this controller's id, for messages
  std::atomic<uint64_t> committed{0};  // fenced writes that committed
  std::atomic<uint64_t> refused{0};    // fenced writes etcd refused: the term had ended
  std::atomic<int64_t> last_committed{0};  // revision of the last committed fenced write
};

// While it lives, every store write on this thread carries `fence`: the etcd store adds the
// compare and answers a refused one with FailedPrecondition "… is no longer the leader …".
// The SQLite store ignores fences (one host, no election). Nests: the innermost one counts.
class FenceScope {
 public:
  explicit FenceScope(std::shared_ptr<WriteFence> fence);
  ~FenceScope();
  FenceScope(const FenceScope&) = delete;
  FenceScope& operator=(const FenceScope&) = delete;

  // The fence of the innermost scope on this thread, or null.
  static WriteFence* Current();

 private:
  std::shared_ptr<WriteFence> fence_;
  WriteFence* outer_;
};

struct ElectionOptions {
  std::string id;  // this controller, e.g. "controller-1"; shown as the leader
  absl::Duration lease_ttl = absl::Seconds(5);
};

// Campaigns on a thread of its own: calls on_elected(fence) when this controller becomes the
// leader, and on_lost() (on the same thread, after on_elected) when its term ended: the lease
// could not be renewed within its TTL, or the key changed hands. Then it campaigns again.
// Stop() resigns (deletes the key it holds, revokes the lease) so a successor takes over
// without waiting for the TTL.
class LeaderElection {
 public:
  using Elected = std::function<void(std::shared_ptr<WriteFence>)>;
  using Lost = std::function<void()>;

  virtual ~LeaderElection() = default;
  virtual void Start(Elected on_elected, Lost on_lost) = 0;
  virtual void Stop() = 0;
  virtual bool leading() const = 0;
  // The current leader's id as last seen ("" while unknown).
  virtual std::string leader() const = 0;
  // Gauges berth_leader (0/1) and counter berth_leader_transitions_total.
  virtual void ExportMetrics(metrics::Registry& registry) = 0;
};

// The election over the etcd store of `spec` (key spec.prefix + "leader"). Connects like
// OpenStore (TLS from options.etcd_tls).
absl::StatusOr<std::unique_ptr<LeaderElection>> NewEtcdElection(const StoreSpec& spec,
                                                                const StoreOpenOptions& store,
                                                                const ElectionOptions& options);

// A single controller (SQLite store): leads from Start to Stop, no fence.
std::unique_ptr<LeaderElection> NewSoleLeader(std::string id);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_LEADER_H_

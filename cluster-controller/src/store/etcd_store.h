#ifndef BERTH_CONTROLLER_STORE_ETCD_STORE_H_
#define BERTH_CONTROLLER_STORE_ETCD_STORE_H_

// ObjectStore on etcd v3 (its gRPC API, stubs from third_party/etcd/proto).
//
// Keys, under `prefix` (default "/berth/"):
//   objects/<kind>/<ns>/<name>          the object's JSON, without metadata.resourceVersion
//   owners/<owner uid>/<kind>/<ns>/<name>  one per ownerReference (value: the dependent's uid),
//                                       written in the object's own transaction; cascade index
//   objects/                            the write marker: put by every write transaction, so the
//                                       watched range sees one event per store revision
// resourceVersion is the key's etcd mod_revision (as kube-apiserver does); CurrentVersion and
// List's version are etcd header revisions.
//
// Every write is one etcd transaction that compares what it read (create_revision == 0 for a
// create, mod_revision for the rest), so a stale write is a conflict, never a merge, and every
// event has its own revision (a watcher resuming from any event's version misses nothing).
// Differences from the SQLite store, all forced by etcd:
// - A Delete that cascades is one transaction per object, owner first, in the SQLite store's
//   order (there: one transaction). Each step compares the object it changes. A cascade cut
//   short (the controller dies, etcd becomes unreachable) whose owner is still there (it has
//   finalizers) is finished by the next Delete or finalizer removal; one whose owner is gone
//   leaves its remaining dependents until a garbage collector sweeps owner-less objects
//   (as in Kubernetes; not written yet).
// - UpdateAndCreate is two transactions (update, then the best-effort create): a single one
//   would give both events the same revision.
// - A kDeleted event carries the last stored state (etcd's prev_kv) stamped with the deletion
//   revision; when the deletion came from an Update removing the last finalizer, that is the
//   state before the Update (SQLite: the state the Update wrote).
// - History is what etcd has not compacted (Compact); Watch from before it is OutOfRange.
// - Watch callbacks run on the subscription's own reader thread (one etcd watch stream per
//   subscription), in revision order. Watch returns once every retained change up to the call
//   is delivered, and a write returns once every subscription has seen it, so callers observe
//   the same ordering as with the SQLite store. A broken stream (a member down, etcd
//   restarted) is reopened from the next undelivered revision on the next endpoint, so the
//   subscription still sees no gap and no duplicate; only etcd compacting past it ends it
//   (logged, and reported to the watcher's on_end: it has to list again).
//
// Thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/controller/object_store.h"
#include "berth/tls.h"

namespace etcdserverpb {
class RangeRequest;
class RangeResponse;
class TxnRequest;
class TxnResponse;
class WatchResponse;
}  // namespace etcdserverpb

namespace berth::controller {

struct EtcdStoreOptions {
  // "http://host:port" (plaintext, e.g. tests on loopback) or "https://host:port"; several
  // members of one cluster: calls go to one, and move to the next when it is unavailable.
  std::vector<std::string> endpoints;
  // For https: tls.ca verifies the members (empty: the system roots); tls.cert and tls.key,
  // when both set, are the client certificate etcd's --client-cert-auth asks for.
  TlsFiles tls;
  // Every key lives under it; ends with '/'.
  std::string prefix = "/berth/";
  // Deadline of one etcd call.
  absl::Duration call_timeout = absl::Seconds(10);
};

// Connects to etcd (one Range as a probe, so a member that is down, not TLS or has the wrong
// CA is a clear error here).
absl::StatusOr<std::unique_ptr<ObjectStore>> OpenEtcdStore(const EtcdStoreOptions& options,
                                                           const Clock& clock);

// Compacts etcd's history before `revision` (physical: waits until it is gone). Watch from
// an older version is then OutOfRange.
absl::Status CompactEtcdStore(ObjectStore& store, uint64_t revision);

namespace store {

class EtcdClient;

class EtcdStore : public ObjectStore {
 public:
  EtcdStore(std::unique_ptr<EtcdClient> client, const Clock& clock, std::string prefix);
  ~EtcdStore() override;

  absl::StatusOr<Json> Create(Json obj) override;
  absl::StatusOr<Json> Import(Json obj) override;  // etcd_store_import.cc
  absl::StatusOr<Json> Update(Json obj) override;
  absl::StatusOr<Json> UpdateAndCreate(Json obj, const FollowUp& then) override;
  absl::StatusOr<std::shared_ptr<const Json>> Peek(const ObjectKey& key) override;
  absl::StatusOr<std::vector<Json>> List(const std::string& kind, const std::string& ns,
                                         uint64_t* resource_version) override;
  // One paged range over objects/ at one revision.
  absl::StatusOr<SharedObjects> ListAll(uint64_t* resource_version) override;
  absl::StatusOr<Json> Delete(const ObjectKey& key, std::optional<std::string> uid) override;
  absl::StatusOr<uint64_t> Watch(uint64_t from_version, WatchCallback callback,
                                 WatchEndCallback on_end) override;
  void Unwatch(uint64_t subscription) override;
  // The etcd header revision; 0 when etcd cannot be reached.
  uint64_t CurrentVersion() override;

  absl::Status Compact(uint64_t revision);

 private:
  struct Subscription;
  // An object as read from etcd, metadata.resourceVersion set from its mod_revision.
  struct Stored {
    Json obj;
    int64_t mod_revision;
  };
  // A write whose compare failed: the object changed since it was read.
  struct Changed {};

  std::string ObjectPath(const ObjectKey& key) const;
  std::string OwnerPath(const std::string& owner_uid, const ObjectKey& key) const;
  std::string Marker() const { return prefix_ + "objects/"; }

  // `serializable`: the member's own copy, without a raft round trip (may lag the cluster).
  absl::StatusOr<std::optional<Stored>> Load(const ObjectKey& key, bool serializable = false);
  // Reads every object under `prefix` in pages at one revision (set in *revision), sorted.
  absl::StatusOr<std::vector<Json>> ListPaged(const std::string& prefix, int64_t* revision);
  // Runs `txn` with the write marker added to its success branch; returns whether it
  // succeeded and, if so, the revision it committed.
  absl::StatusOr<std::optional<int64_t>> Commit(etcdserverpb::TxnRequest txn);
  // After `txn` failed with Unavailable (it may or may not have committed): reads its object
  // until etcd answers; when the object holds what `txn` wrote, answers as if `txn` succeeded,
  // else sends `txn` again. Gives up with the last Unavailable after kResolveFor. So a member
  // dying or a raft election is not an error the caller sees, and a write is never applied
  // twice or reported failed when it committed.
  absl::StatusOr<etcdserverpb::TxnResponse> Resolve(const etcdserverpb::TxnRequest& txn,
                                                    absl::Status error);
  // Writes `obj` at `key` (owner index entries naming `uid` included) in one transaction that
  // requires the key to be absent, else AlreadyExists: Create and Import. Returns `obj` with its
  // resourceVersion.
  absl::StatusOr<Json> PutNew(const ObjectKey& key, const std::string& uid, Json obj);
  absl::StatusOr<Json> UpdateOnce(const ObjectKey& key, const Json& obj, bool* changed);
  // Deletes `key` (optionally only while it has `uid`), retrying when it changes meanwhile;
  // then cascades to its dependents. `visited` holds uids already handled.
  absl::StatusOr<Json> DeleteKey(const ObjectKey& key, const std::optional<std::string>& uid,
                                 std::set<std::string>* visited);
  // One attempt of DeleteKey for `stored`: std::nullopt when the compare failed.
  absl::StatusOr<std::optional<Json>> DeleteOnce(const ObjectKey& key, const Stored& stored);
  absl::Status Cascade(const std::string& owner_uid, std::set<std::string>* visited);
  // Adds to `txn` the owner index changes from `old_owners` to `new_owners` of `key`.
  void IndexOwners(const ObjectKey& key, const std::string& uid,
                   const std::vector<std::string>& old_owners,
                   const std::vector<std::string>& new_owners, etcdserverpb::TxnRequest* txn);
  // Waits (bounded) until every subscription has delivered `revision`.
  void AwaitDelivered(int64_t revision) ABSL_LOCKS_EXCLUDED(mu_);

  // How one watch stream ended.
  struct StreamEnd {
    int64_t compacted = 0;    // etcd's compact revision: the history the stream needs is gone
    bool progressed = false;  // it delivered something (the reconnect backoff starts over)
    std::string reason;
  };
  // Runs on the subscription's thread: reads streams, reopening a broken one from the next
  // undelivered revision (on the next member), until Unwatch or compaction ends it.
  void ReadLoop(Subscription* sub) ABSL_LOCKS_EXCLUDED(mu_);
  StreamEnd ReadStream(Subscription* sub, int64_t start) ABSL_LOCKS_EXCLUDED(mu_);
  // Hands one response's events to the callback, then advances sub->delivered.
  bool DeliverResponse(Subscription* sub, const std::string& objects,
                       const etcdserverpb::WatchResponse& resp) ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<EtcdClient> client_;
  const Clock& clock_;
  const std::string prefix_;

  absl::Mutex gen_mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(gen_mu_);

  absl::Mutex mu_;
  uint64_t next_subscription_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::unique_ptr<Subscription>> subscriptions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace store
}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_STORE_ETCD_STORE_H_

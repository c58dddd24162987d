#ifndef BERTH_CONTROLLER_STORE_SQLITE_STORE_H_
#define BERTH_CONTROLLER_STORE_SQLITE_STORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "berth/controller/object_store.h"
#include "store/object_index.h"
#include "store/sqlite_db.h"

namespace berth::controller::store {

// ObjectStore on one SQLite connection. Thread-safe: one mutex serializes every read and write
// (SQLite serializes writers anyway, and reads are short indexed lookups). Watch callbacks run
// on a writer's thread after COMMIT, in commit order, with the publishing lock held; so a
// callback must not call into the store, including Unwatch.
//
// Writes are group-committed: concurrent Create/Update/Delete calls queue up, and one of the
// callers (the leader) runs every queued write in one transaction, each inside its own
// SAVEPOINT so a failing write is rolled back alone, then COMMITs once (one fsync for the
// group) and publishes the events in order. Every call still returns only after its change is
// durable, and each sees the writes queued before it, exactly as if they had run one by one.
// The leader hands the lead on as soon as its group has committed, and updates the read cache
// and publishes the group's events while the next group runs and fsyncs: commits and
// publishing overlap, but each stays in order.
//
// Get and List are served from a parsed copy of every committed object, updated from each
// commit's events (SQLite stays the only source of truth; the copy is rebuilt at open): a
// read parses no JSON, runs no SQL and, having its own lock, never waits for a commit's fsync.
// Reads inside a write transaction still go to SQLite.
class SqliteStore : public ObjectStore {
 public:
  // Opens `data_dir`/berth.db, creating the directory, file and schema when needed.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& data_dir,
                                                           const Clock& clock, size_t history);
  ~SqliteStore() override;

  absl::StatusOr<Json> Create(Json obj) override;
  // The uid must not be in use (objects.uid is unique).
  absl::StatusOr<Json> Import(Json obj) override;
  absl::StatusOr<Json> Update(Json obj) override;
  absl::StatusOr<Json> UpdateAndCreate(Json obj, const FollowUp& then) override;
  absl::StatusOr<std::shared_ptr<const Json>> Peek(const ObjectKey& key) override;
  absl::StatusOr<SharedObjects> ListShared(const std::string& kind, const std::string& ns,
                                           uint64_t* resource_version) override;
  absl::StatusOr<std::vector<Json>> List(const std::string& kind, const std::string& ns,
                                         uint64_t* resource_version) override;
  absl::StatusOr<Json> Delete(const ObjectKey& key, std::optional<std::string> uid) override;
  // From the read cache, under its lock.
  absl::StatusOr<SharedObjects> ListAll(uint64_t* resource_version) override;
  // `on_end` is never called: a subscription here ends only by Unwatch.
  absl::StatusOr<uint64_t> Watch(uint64_t from_version, WatchCallback callback,
                                 WatchEndCallback on_end) override;
  void Unwatch(uint64_t subscription) override;
  uint64_t CurrentVersion() override;

 private:
  // The changes of one write transaction, published after COMMIT.
  struct Batch {
    uint64_t version;  // the last resourceVersion handed out
    std::vector<StoreEvent> events;
  };
  struct Subscription {
    uint64_t after;  // deliver only events with resource_version > after
    WatchCallback callback;
  };
  using WriteFn = std::function<absl::StatusOr<Json>(Batch&)>;
  // One caller's write waiting for (or taken by) a group commit.
  struct PendingWrite {
    const WriteFn* fn;
    absl::StatusOr<Json> result = absl::UnknownError("write not run");
    bool taken = false;  // in a leader's group; guarded by queue_mu_
    bool done = false;   // `result` is final; guarded by queue_mu_
  };

  SqliteStore(std::unique_ptr<Database> db, const Clock& clock, size_t history, uint64_t version);

  // Checkpoints the WAL into the database file on its own connection and thread, so that
  // copying pages back and fsyncing the file happen beside the commits rather than inside
  // the COMMIT that crosses the auto-checkpoint threshold (with the store locked). Commits
  // still fsync the WAL: durability is unchanged.
  void StartCheckpointer(std::unique_ptr<Database> db);
  void CheckpointLoop();

  // Runs `fn` in one transaction; commits, then publishes the batch's events.
  absl::StatusOr<Json> Write(const WriteFn& fn) ABSL_LOCKS_EXCLUDED(mu_, queue_mu_);
  // Runs `group` in one transaction (see the class comment), sets each result, releases the
  // lead once committed, then publishes and marks the group done.
  void CommitGroup(const std::vector<PendingWrite*>& group)
      ABSL_LOCKS_EXCLUDED(mu_, publish_mu_, queue_mu_);
  // The transaction of CommitGroup; returns the committed batch (no events: nothing changed).
  absl::StatusOr<Batch> CommitGroupLocked(const std::vector<PendingWrite*>& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs one write of a group into *result; `savepoint` isolates it from the others. Returns
  // an error only when the transaction itself is broken (a savepoint could not be undone).
  absl::Status RunInGroupLocked(const WriteFn& fn, bool savepoint, Batch& batch,
                                absl::StatusOr<Json>* result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status FinishBatchLocked(const Batch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishLocked(const std::vector<StoreEvent>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(publish_mu_);

  // Transaction steps (sqlite_store_write.cc).
  absl::StatusOr<Json> CreateLocked(Batch& batch, Json obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Json> UpdateLocked(Batch& batch, Json obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes `stored` (finalizers: marks it) and cascades; `visited` holds uids already handled.
  absl::StatusOr<Json> DeleteLocked(Batch& batch, Json stored, std::set<std::string>* visited)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CascadeLocked(Batch& batch, const std::string& owner_uid,
                             std::set<std::string>* visited) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes `obj` with the next resourceVersion and records the event. `old_owners` are the
  // owner uids of the stored row (empty for a new object).
  absl::Status PutLocked(Batch& batch, StoreEvent::Type type,
                         const std::vector<std::string>& old_owners, Json* obj)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the row of `obj`, stamps the next resourceVersion on it and records kDeleted.
  absl::Status RemoveLocked(Batch& batch, Json* obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteOwnersLocked(const ObjectKey& key, const std::vector<std::string>& owners)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the event at batch.version; `text` is `obj` serialized.
  absl::Status AppendEventLocked(Batch& batch, StoreEvent::Type type, const ObjectKey& key,
                                 const Json& obj, std::shared_ptr<const std::string> text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Fills cache_ from the objects table (at open).
  absl::Status LoadCacheLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies a committed batch's events to cache_.
  void UpdateCacheLocked(const std::vector<StoreEvent>& events, uint64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(publish_mu_);

  // Reads (sqlite_store.cc).
  absl::StatusOr<std::optional<std::string>> LoadTextLocked(const ObjectKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::optional<Json>> LoadLocked(const ObjectKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<bool> UidTakenLocked(const std::string& uid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint64_t> OldestEventLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReplayLocked(uint64_t after, const WatchCallback& callback)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const size_t history_;

  // Taken before mu_, never while holding it.
  absl::Mutex queue_mu_;
  std::deque<PendingWrite*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool leader_active_ ABSL_GUARDED_BY(queue_mu_) = false;

  absl::Mutex checkpoint_mu_;
  bool stopping_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  std::unique_ptr<Database> checkpoint_db_;  // used by checkpointer_ only
  std::thread checkpointer_;

  absl::Mutex mu_;
  std::unique_ptr<Database> db_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_);  // the last committed resourceVersion
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
  // Held while a committed group is cached and published (taken while holding mu_, which is
  // then released), and by Watch and Unwatch.
  absl::Mutex publish_mu_ ABSL_ACQUIRED_AFTER(mu_);
  uint64_t next_subscription_ ABSL_GUARDED_BY(publish_mu_) = 1;
  std::map<uint64_t, Subscription> subscriptions_ ABSL_GUARDED_BY(publish_mu_);
  // Every committed object, parsed, and the version it is consistent with. Shared pointers so
  // readers copy outside the lock. Taken after publish_mu_ (by writers), or alone (by readers).
  absl::Mutex cache_mu_ ABSL_ACQUIRED_AFTER(publish_mu_);
  ObjectIndex cache_ ABSL_GUARDED_BY(cache_mu_);
  uint64_t cache_version_ ABSL_GUARDED_BY(cache_mu_) = 0;
};

// Parses a stored JSON document; Internal (naming `what`) when it is corrupt.
absl::StatusOr<Json> ParseStored(const std::string& text, const std::string& what);

}  // namespace berth::controller::store

#endif  // BERTH_CONTROLLER_STORE_SQLITE_STORE_H_

// Opening, reads and watches of the SQLite object store. Writes live in sqlite_store_write.cc.

#include "store/sqlite_store.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
#include "store/object_meta.h"

namespace berth::controller {
namespace store {
namespace {

// One row per object, keyed by (kind, namespace, name); namespace is "" for cluster-scoped
// kinds. owner_refs indexes ownerReferences by owner uid for cascading deletes. events keeps the
// most recent changes for Watch replay. meta holds the global resourceVersion counter.
constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('resource_version', 0), ('schema_version', 1);
CREATE TABLE IF NOT EXISTS objects (
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  uid TEXT NOT NULL UNIQUE,
  resource_version INTEGER NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS owner_refs (
  owner_uid TEXT NOT NULL,
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY (owner_uid, kind, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS owner_refs_by_dependent ON owner_refs (kind, namespace, name);
CREATE TABLE IF NOT EXISTS events (
  rv INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  json TEXT NOT NULL
);
)sql";

// The counter is also checked against the data, so a lost meta row can never reuse a version.
constexpr char kLoadVersion[] = R"sql(
SELECT MAX(IFNULL((SELECT value FROM meta WHERE key = 'resource_version'), 0),
           IFNULL((SELECT MAX(rv) FROM events), 0),
           IFNULL((SELECT MAX(resource_version) FROM objects), 0))
)sql";

// WAL pages the writer lets accumulate before it checkpoints in a COMMIT itself: only a backstop
// for a checkpointer that cannot keep up (it normally checkpoints every kCheckpointEvery).
constexpr int kWriterCheckpointPages = 16384;  // 64 MiB
constexpr absl::Duration kCheckpointEvery = absl::Milliseconds(250);

absl::Status ConfigureConnection(Database& db) {
  BERTH_ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode=WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat("journal_mode=WAL refused (got ", mode, ")"));
  }
  // cache_size: SQLite's default page cache is 2 MiB; at 10,000 snapshots the objects, their
  // indexes and the event history are tens of MiB, and every write that missed the cache
  // re-read its B-tree pages (the scale bench went 24-30 s -> 21-23 s with 32 MiB; 64 MiB and
  // mmap gave no more and cost RSS).
  return db.Exec(absl::StrCat("PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000; ",
                              "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-32768; ",
                              "PRAGMA wal_autocheckpoint=", kWriterCheckpointPages, ";"));
}

absl::StatusOr<uint64_t> InitSchema(Database& db) {
  Transaction txn(&db);
  BERTH_RETURN_IF_ERROR(txn.Begin());
  BERTH_RETURN_IF_ERROR(db.Exec(kSchema));
  BERTH_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(kLoadVersion));
  BERTH_ASSIGN_OR_RETURN(bool row, stmt.Step());
  uint64_t version = row ? static_cast<uint64_t>(stmt.ColumnInt(0)) : 0;
  BERTH_RETURN_IF_ERROR(txn.Commit());
  return version;
}

}  // namespace

absl::StatusOr<Json> ParseStored(const std::string& text, const std::string& what) {
  Json obj = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) return absl::InternalError(absl::StrCat(what, ": corrupt stored JSON"));
  return obj;
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& data_dir,
                                                               const Clock& clock, size_t history) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("create store directory ", data_dir, ": ", ec.message()));
  }
  std::string path = (std::filesystem::path(data_dir) / "berth.db").string();
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path));
  absl::Status st = ConfigureConnection(*db);
  absl::StatusOr<uint64_t> version = st.ok() ? InitSchema(*db) : absl::StatusOr<uint64_t>(st);
  if (!version.ok()) {
    return absl::Status(version.status().code(),
                        absl::StrCat("open ", path, ": ", version.status().message()));
  }
  // The checkpointer's connection (WAL mode is a property of the file by now).
  absl::StatusOr<std::unique_ptr<Database>> checkpoint_db = Database::Open(path);
  if (checkpoint_db.ok()) {
    absl::Status cst = (*checkpoint_db)->Exec("PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
    if (!cst.ok()) checkpoint_db = cst;
  }
  if (!checkpoint_db.ok()) {
    return absl::Status(checkpoint_db.status().code(),
                        absl::StrCat("open ", path, ": ", checkpoint_db.status().message()));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(db), clock, history, *version));
  {
    absl::MutexLock lock(&store->mu_);
    if (absl::Status st = store->LoadCacheLocked(); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("open ", path, ": ", st.message()));
    }
  }
  store->StartCheckpointer(*std::move(checkpoint_db));
  return store;
}

absl::Status SqliteStore::LoadCacheLocked() {
  BERTH_ASSIGN_OR_RETURN(Statement stmt,
                         db_->Prepare("SELECT kind, namespace, name, json FROM objects"));
  absl::MutexLock cache_lock(&cache_mu_);
  cache_version_ = version_;
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return absl::OkStatus();
    ObjectKey key{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2)};
    BERTH_ASSIGN_OR_RETURN(Json obj, ParseStored(stmt.ColumnText(3), "a stored object"));
    cache_.Put(std::move(key), std::make_shared<const Json>(std::move(obj)));
  }
}

void SqliteStore::UpdateCacheLocked(const std::vector<StoreEvent>& events, uint64_t version) {
  absl::MutexLock cache_lock(&cache_mu_);
  cache_version_ = version;
  for (const StoreEvent& e : events) cache_.Apply(e);
}

SqliteStore::SqliteStore(std::unique_ptr<Database> db, const Clock& clock, size_t history,
                         uint64_t version)
    : clock_(clock),
      history_(history),
      db_(std::move(db)),
      version_(version),
      gen_(SeededBitGen()) {}

SqliteStore::~SqliteStore() {
  {
    absl::MutexLock l(&checkpoint_mu_);
    stopping_ = true;
  }
  if (checkpointer_.joinable()) checkpointer_.join();
}

void SqliteStore::StartCheckpointer(std::unique_ptr<Database> db) {
  checkpoint_db_ = std::move(db);
  checkpointer_ = std::thread([this] { CheckpointLoop(); });
}

void SqliteStore::CheckpointLoop() {
  while (true) {
    {
      absl::MutexLock l(&checkpoint_mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(checkpoint_mu_) { return stopping_; };
      checkpoint_mu_.AwaitWithTimeout(absl::Condition(&stop), kCheckpointEvery);
      if (stopping_) return;
    }
    // PASSIVE: copies what it can without waiting for (or blocking) the writer. A failure
    // (e.g. busy) is retried next round; the writer's own auto-checkpoint is the backstop.
    checkpoint_db_->Exec("PRAGMA wal_checkpoint(PASSIVE)").IgnoreError();
  }
}

// Writes per group: bounds one transaction's size and the wait of the group's last caller.
constexpr size_t kMaxGroup = 128;

absl::StatusOr<Json> SqliteStore::Write(const WriteFn& fn) {
  PendingWrite me{&fn};
  absl::MutexLock q(&queue_mu_);
  queue_.push_back(&me);
  // A write taken into a group waits for that group's leader to finish it; an untaken one
  // leads the next group as soon as no one else does.
  auto done_or_lead = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
    return me.done || (!me.taken && !leader_active_);
  };
  while (true) {
    queue_mu_.Await(absl::Condition(&done_or_lead));
    if (me.done) return std::move(me.result);
    // Lead: commit the queued writes (FIFO, so ours is among the first kMaxGroup unless more
    // were already waiting; then this loop comes back for it).
    leader_active_ = true;
    std::vector<PendingWrite*> group;
    while (!queue_.empty() && group.size() < kMaxGroup) {
      queue_.front()->taken = true;
      group.push_back(queue_.front());
      queue_.pop_front();
    }
    queue_mu_.Unlock();
    CommitGroup(group);  // hands the lead on as soon as it has committed
    queue_mu_.Lock();
  }
}

absl::Status SqliteStore::RunInGroupLocked(const WriteFn& fn, bool savepoint, Batch& batch,
                                           absl::StatusOr<Json>* result) {
  if (savepoint) {
    absl::Status st = db_->Run("SAVEPOINT berth_write");
    if (!st.ok()) {
      *result = st;
      return st;
    }
  }
  Batch mine{batch.version, {}};
  *result = GuardJson([&] { return fn(mine); });
  if (!savepoint) {
    if (result->ok()) batch = std::move(mine);
    return absl::OkStatus();
  }
  // Undo a failed write only; the versions it took are handed out again.
  absl::Status st = result->ok() ? db_->Run("RELEASE berth_write")
                                 : db_->Exec("ROLLBACK TO berth_write; RELEASE berth_write");
  if (!st.ok()) return st;
  if (result->ok()) {
    batch.version = mine.version;
    for (StoreEvent& e : mine.events) batch.events.push_back(std::move(e));
  }
  return absl::OkStatus();
}

void SqliteStore::CommitGroup(const std::vector<PendingWrite*>& group) {
  // Ends the group: the results are final, the next leader may start.
  auto finish = [&](bool release_lead) {
    absl::MutexLock q(&queue_mu_);
    if (release_lead) leader_active_ = false;
    for (PendingWrite* p : group) p->done = true;
  };
  mu_.Lock();
  absl::StatusOr<Batch> committed = CommitGroupLocked(group);
  if (!committed.ok() || committed->events.empty()) {  // nothing of the group is stored
    mu_.Unlock();
    finish(/*release_lead=*/true);
    return;
  }
  // Publish outside the writer lock, so the next group runs and fsyncs meanwhile; publish_mu_,
  // taken before mu_ is released, keeps the groups' events in commit order. The results are
  // handed back only after the cache has the group's changes (a caller then reads its write).
  publish_mu_.Lock();
  mu_.Unlock();
  {
    absl::MutexLock q(&queue_mu_);
    leader_active_ = false;
  }
  UpdateCacheLocked(committed->events, committed->version);
  PublishLocked(committed->events);
  publish_mu_.Unlock();
  finish(/*release_lead=*/false);
}

absl::StatusOr<SqliteStore::Batch> SqliteStore::CommitGroupLocked(
    const std::vector<PendingWrite*>& group) {
  auto fail_all = [&](const absl::Status& st) {
    for (PendingWrite* p : group) p->result = st;
    return st;
  };
  Transaction txn(db_.get());
  if (absl::Status st = txn.Begin(); !st.ok()) return fail_all(st);
  Batch batch{version_, {}};
  const bool savepoints = group.size() > 1;
  for (PendingWrite* p : group) {
    absl::Status broken = RunInGroupLocked(*p->fn, savepoints, batch, &p->result);
    if (!broken.ok()) return fail_all(broken);  // the transaction is in an unknown state
  }
  if (batch.events.empty()) return batch;  // nothing changed; `txn` rolls back
  absl::Status st = FinishBatchLocked(batch);
  if (st.ok()) st = txn.Commit();
  if (!st.ok()) {  // nothing of the group is stored
    for (PendingWrite* p : group) {
      if (p->result.ok()) p->result = st;
    }
    return st;
  }
  version_ = batch.version;
  return batch;
}

absl::Status SqliteStore::FinishBatchLocked(const Batch& batch) {
  BERTH_ASSIGN_OR_RETURN(Statement counter,
                         db_->Prepare("UPDATE meta SET value = ?1 WHERE key = 'resource_version'"));
  BERTH_RETURN_IF_ERROR(counter.Bind(1, static_cast<int64_t>(batch.version)).Run());
  if (batch.version <= history_) return absl::OkStatus();
  // Versions are contiguous (one event per write), so this keeps exactly `history_` events.
  BERTH_ASSIGN_OR_RETURN(Statement trim, db_->Prepare("DELETE FROM events WHERE rv <= ?1"));
  return trim.Bind(1, static_cast<int64_t>(batch.version - history_)).Run();
}

void SqliteStore::PublishLocked(const std::vector<StoreEvent>& events) {
  for (const StoreEvent& event : events) {
    for (const auto& [id, sub] : subscriptions_) {
      if (event.resource_version > sub.after) sub.callback(event);
    }
  }
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LoadTextLocked(const ObjectKey& key) {
  BERTH_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT json FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3"));
  stmt.Bind(1, key.kind).Bind(2, key.ns).Bind(3, key.name);
  BERTH_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.ColumnText(0));
}

absl::StatusOr<std::optional<Json>> SqliteStore::LoadLocked(const ObjectKey& key) {
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> text, LoadTextLocked(key));
  if (!text.has_value()) return std::optional<Json>();
  BERTH_ASSIGN_OR_RETURN(Json obj, ParseStored(*text, Describe(key)));
  return std::optional<Json>(std::move(obj));
}

absl::StatusOr<bool> SqliteStore::UidTakenLocked(const std::string& uid) {
  BERTH_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("SELECT 1 FROM objects WHERE uid = ?1"));
  return stmt.Bind(1, uid).Step();
}

absl::StatusOr<std::shared_ptr<const Json>> SqliteStore::Peek(const ObjectKey& key) {
  std::shared_ptr<const Json> obj;
  {
    absl::MutexLock lock(&cache_mu_);
    obj = cache_.Find(key);
  }
  if (!obj) return absl::NotFoundError(absl::StrCat(Describe(key), " not found"));
  return obj;
}

absl::StatusOr<ObjectStore::SharedObjects> SqliteStore::ListShared(const std::string& kind,
                                                                   const std::string& ns,
                                                                   uint64_t* resource_version) {
  if (kind.empty()) return absl::InvalidArgumentError("list: kind is required");
  absl::MutexLock lock(&cache_mu_);
  if (resource_version != nullptr) *resource_version = cache_version_;
  return cache_.Range(kind, ns);
}

absl::StatusOr<ObjectStore::SharedObjects> SqliteStore::ListAll(uint64_t* resource_version) {
  absl::MutexLock lock(&cache_mu_);
  if (resource_version != nullptr) *resource_version = cache_version_;
  return cache_.All();  // kind, namespace, name order
}

absl::StatusOr<std::vector<Json>> SqliteStore::List(const std::string& kind, const std::string& ns,
                                                    uint64_t* resource_version) {
  BERTH_ASSIGN_OR_RETURN(SharedObjects found, ListShared(kind, ns, resource_version));
  return CopyObjects(found);  // outside the lock: the expensive part of a big list
}

absl::StatusOr<uint64_t> SqliteStore::OldestEventLocked() {
  BERTH_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("SELECT MIN(rv) FROM events"));
  BERTH_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row || stmt.ColumnIsNull(0)) return version_ + 1;
  return static_cast<uint64_t>(stmt.ColumnInt(0));
}

absl::Status SqliteStore::ReplayLocked(uint64_t after, const WatchCallback& callback) {
  BERTH_ASSIGN_OR_RETURN(
      Statement stmt, db_->Prepare("SELECT rv, type, json FROM events WHERE rv > ?1 ORDER BY rv"));
  stmt.Bind(1, static_cast<int64_t>(after));
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return absl::OkStatus();
    uint64_t rv = static_cast<uint64_t>(stmt.ColumnInt(0));
    std::optional<StoreEvent::Type> type = ParseEventType(stmt.ColumnText(1));
    std::string what = absl::StrCat("event ", rv);
    if (!type.has_value()) return absl::InternalError(absl::StrCat(what, ": unknown type"));
    std::string text = stmt.ColumnText(2);
    BERTH_ASSIGN_OR_RETURN(Json obj, ParseStored(text, what));
    callback(StoreEvent{*type, rv, std::make_shared<const Json>(std::move(obj)),
                        std::make_shared<const std::string>(std::move(text))});
  }
}

absl::StatusOr<uint64_t> SqliteStore::Watch(uint64_t from_version, WatchCallback callback,
                                            WatchEndCallback /*on_end*/) {
  if (!callback) return absl::InvalidArgumentError("watch: callback is required");
  // Replaying and registering under the writer lock leaves no gap and no duplicate: no write
  // can commit between the last replayed event and the first live one.
  absl::MutexLock lock(&mu_);
  // No commit can start (mu_) and none is still being published (publish_mu_): every change up
  // to version_ is in the events table and was delivered to the existing subscribers.
  absl::MutexLock publish_lock(&publish_mu_);
  if (from_version != 0) {
    BERTH_ASSIGN_OR_RETURN(uint64_t oldest, OldestEventLocked());
    if (from_version + 1 < oldest) {
      return absl::OutOfRangeError(absl::StrCat("watch from resourceVersion ", from_version,
                                                ": too old, history starts at ", oldest,
                                                "; list again"));
    }
    BERTH_RETURN_IF_ERROR(ReplayLocked(from_version, callback));
  }
  uint64_t id = next_subscription_++;
  // Replayed (or, for 0, before the watch): everything up to version_.
  subscriptions_.emplace(id, Subscription{std::max(from_version, version_), std::move(callback)});
  return id;
}

void SqliteStore::Unwatch(uint64_t subscription) {
  absl::MutexLock lock(&publish_mu_);
  subscriptions_.erase(subscription);
}

uint64_t SqliteStore::CurrentVersion() {
  absl::MutexLock lock(&mu_);
  return version_;
}

}  // namespace store

absl::StatusOr<std::unique_ptr<ObjectStore>> OpenSqliteStore(const std::string& data_dir,
                                                             const Clock& clock, size_t history) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<store::SqliteStore> s,
                         store::SqliteStore::Open(data_dir, clock, history));
  return std::unique_ptr<ObjectStore>(std::move(s));
}

}  // namespace berth::controller

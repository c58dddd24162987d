// Create, Update and Delete (with cascade) of the SQLite object store. Every public call is one
// transaction; events are published only after it commits.

#include <utility>

#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
#include "store/object_meta.h"
#include "store/sqlite_store.h"

namespace berth::controller::store {

absl::StatusOr<Json> SqliteStore::Create(Json obj) {
  BERTH_RETURN_IF_ERROR(ValidateShape(obj));
  return Write([&](Batch& batch) { return CreateLocked(batch, std::move(obj)); });
}

absl::StatusOr<Json> SqliteStore::Import(Json obj) {
  BERTH_RETURN_IF_ERROR(ValidateShape(obj));
  ObjectKey key = ObjectKey::Of(obj);
  BERTH_ASSIGN_OR_RETURN(const std::string uid, CheckImport(key, obj));
  return Write([&](Batch& batch) -> absl::StatusOr<Json> {
    BERTH_ASSIGN_OR_RETURN(std::optional<std::string> existing, LoadTextLocked(key));
    if (existing.has_value()) {
      return absl::AlreadyExistsError(absl::StrCat(Describe(key), " already exists"));
    }
    BERTH_ASSIGN_OR_RETURN(bool taken, UidTakenLocked(uid));
    if (taken) {
      return absl::AlreadyExistsError(
          absl::StrCat(Describe(key), ": uid ", uid, " is used by another object"));
    }
    Json stored = std::move(obj);
    stored["metadata"].erase("resourceVersion");
    BERTH_RETURN_IF_ERROR(PutLocked(batch, StoreEvent::Type::kAdded, {}, &stored));
    return stored;
  });
}

absl::StatusOr<Json> SqliteStore::Update(Json obj) {
  BERTH_RETURN_IF_ERROR(ValidateShape(obj));
  return Write([&](Batch& batch) { return UpdateLocked(batch, std::move(obj)); });
}

absl::StatusOr<Json> SqliteStore::UpdateAndCreate(Json obj, const FollowUp& then) {
  BERTH_RETURN_IF_ERROR(ValidateShape(obj));
  return Write([&](Batch& batch) -> absl::StatusOr<Json> {
    BERTH_ASSIGN_OR_RETURN(Json stored, UpdateLocked(batch, std::move(obj)));
    std::optional<Json> extra = then(stored);
    if (!extra.has_value() || !ValidateShape(*extra).ok()) return stored;
    // Best effort: a failed create is undone alone (the enclosing write's savepoint, if any,
    // still covers the update).
    BERTH_RETURN_IF_ERROR(db_->Run("SAVEPOINT berth_follow_up"));
    Batch mine{batch.version, {}};
    absl::StatusOr<Json> created = GuardJson([&] { return CreateLocked(mine, std::move(*extra)); });
    BERTH_RETURN_IF_ERROR(created.ok()
                              ? db_->Run("RELEASE berth_follow_up")
                              : db_->Exec("ROLLBACK TO berth_follow_up; RELEASE berth_follow_up"));
    if (created.ok()) {
      batch.version = mine.version;
      for (StoreEvent& e : mine.events) batch.events.push_back(std::move(e));
    }
    return stored;
  });
}

absl::StatusOr<Json> SqliteStore::Delete(const ObjectKey& key, std::optional<std::string> uid) {
  return Write([&](Batch& batch) -> absl::StatusOr<Json> {
    BERTH_ASSIGN_OR_RETURN(std::optional<Json> stored, LoadLocked(key));
    if (!stored.has_value()) return absl::NotFoundError(absl::StrCat(Describe(key), " not found"));
    if (uid.has_value() && *uid != UidOf(*stored)) {
      return absl::AbortedError(absl::StrCat("conflict: ", Describe(key), " has uid ",
                                             UidOf(*stored), ", not ", *uid,
                                             " (precondition failed)"));
    }
    std::set<std::string> visited;
    return DeleteLocked(batch, std::move(*stored), &visited);
  });
}

absl::StatusOr<Json> SqliteStore::CreateLocked(Batch& batch, Json obj) {
  ObjectKey key = ObjectKey::Of(obj);
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> existing, LoadTextLocked(key));
  if (existing.has_value()) {
    return absl::AlreadyExistsError(absl::StrCat(Describe(key), " already exists"));
  }
  std::string uid = NewUuid(gen_);
  for (int attempt = 0;; ++attempt) {  // a collision means a broken RNG; never reuse a uid
    BERTH_ASSIGN_OR_RETURN(bool taken, UidTakenLocked(uid));
    if (!taken) break;
    if (attempt == 3) return absl::InternalError(absl::StrCat("uid ", uid, " keeps repeating"));
    uid = NewUuid(gen_);
  }
  InitNewObject(uid, clock_.Now(), &obj);
  BERTH_RETURN_IF_ERROR(PutLocked(batch, StoreEvent::Type::kAdded, {}, &obj));
  return obj;
}

absl::StatusOr<Json> SqliteStore::UpdateLocked(Batch& batch, Json obj) {
  ObjectKey key = ObjectKey::Of(obj);
  BERTH_ASSIGN_OR_RETURN(std::optional<Json> stored, LoadLocked(key));
  if (!stored.has_value()) return absl::NotFoundError(absl::StrCat(Describe(key), " not found"));
  BERTH_RETURN_IF_ERROR(CheckResourceVersion(key, *stored, obj));
  BERTH_RETURN_IF_ERROR(MergeStoreOwned(key, *stored, &obj));
  // Like Kubernetes, a write that changes nothing is not a write: no new version, no event, so
  // level-triggered reconcilers do not wake themselves up.
  if (obj == *stored) return std::move(*stored);
  if (IsDeleting(obj) && !HasFinalizers(obj)) {
    std::string uid = UidOf(obj);
    BERTH_RETURN_IF_ERROR(RemoveLocked(batch, &obj));
    std::set<std::string> visited{uid};
    BERTH_RETURN_IF_ERROR(CascadeLocked(batch, uid, &visited));
    return obj;
  }
  BERTH_RETURN_IF_ERROR(PutLocked(batch, StoreEvent::Type::kModified, OwnerUids(*stored), &obj));
  return obj;
}

absl::StatusOr<Json> SqliteStore::DeleteLocked(Batch& batch, Json stored,
                                               std::set<std::string>* visited) {
  std::string uid = UidOf(stored);
  visited->insert(uid);
  if (!HasFinalizers(stored)) {
    BERTH_RETURN_IF_ERROR(RemoveLocked(batch, &stored));
  } else if (!IsDeleting(stored)) {
    stored["metadata"]["deletionTimestamp"] = FormatRfc3339(clock_.Now());
    std::vector<std::string> owners = OwnerUids(stored);
    BERTH_RETURN_IF_ERROR(PutLocked(batch, StoreEvent::Type::kModified, owners, &stored));
  }
  // Cascades even when `stored` only got (or already had) a deletionTimestamp, so dependents
  // created since the first Delete are marked too.
  BERTH_RETURN_IF_ERROR(CascadeLocked(batch, uid, visited));
  return stored;
}

absl::Status SqliteStore::CascadeLocked(Batch& batch, const std::string& owner_uid,
                                        std::set<std::string>* visited) {
  std::vector<ObjectKey> dependents;
  {
    // Collected first: the recursion below reuses this cached statement.
    BERTH_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("SELECT kind, namespace, name FROM owner_refs WHERE owner_uid = ?1"));
    stmt.Bind(1, owner_uid);
    while (true) {
      BERTH_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      dependents.push_back(ObjectKey{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2)});
    }
  }
  for (const ObjectKey& key : dependents) {
    BERTH_ASSIGN_OR_RETURN(std::optional<Json> dependent, LoadLocked(key));
    if (!dependent.has_value() || visited->count(UidOf(*dependent)) > 0) continue;
    BERTH_ASSIGN_OR_RETURN(Json ignored, DeleteLocked(batch, std::move(*dependent), visited));
    (void)ignored;
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::PutLocked(Batch& batch, StoreEvent::Type type,
                                    const std::vector<std::string>& old_owners, Json* obj) {
  ObjectKey key = ObjectKey::Of(*obj);
  uint64_t rv = ++batch.version;
  SetResourceVersion(rv, obj);
  auto text = std::make_shared<const std::string>(obj->dump());
  BERTH_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("INSERT INTO objects (kind, namespace, name, uid, resource_version, json) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, namespace, name) DO "
                   "UPDATE SET uid = excluded.uid, resource_version = excluded.resource_version, "
                   "json = excluded.json"));
  stmt.Bind(1, key.kind).Bind(2, key.ns).Bind(3, key.name).Bind(4, UidOf(*obj));
  stmt.Bind(5, static_cast<int64_t>(rv)).Bind(6, *text);
  BERTH_RETURN_IF_ERROR(stmt.Run());
  std::vector<std::string> owners = OwnerUids(*obj);
  if (owners != old_owners) BERTH_RETURN_IF_ERROR(WriteOwnersLocked(key, owners));
  return AppendEventLocked(batch, type, key, *obj, text);
}

absl::Status SqliteStore::RemoveLocked(Batch& batch, Json* obj) {
  ObjectKey key = ObjectKey::Of(*obj);
  SetResourceVersion(++batch.version, obj);
  auto text = std::make_shared<const std::string>(obj->dump());
  BERTH_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3"));
  BERTH_RETURN_IF_ERROR(stmt.Bind(1, key.kind).Bind(2, key.ns).Bind(3, key.name).Run());
  BERTH_RETURN_IF_ERROR(WriteOwnersLocked(key, {}));
  return AppendEventLocked(batch, StoreEvent::Type::kDeleted, key, *obj, text);
}

absl::Status SqliteStore::WriteOwnersLocked(const ObjectKey& key,
                                            const std::vector<std::string>& owners) {
  {
    BERTH_ASSIGN_OR_RETURN(
        Statement clear,
        db_->Prepare("DELETE FROM owner_refs WHERE kind = ?1 AND namespace = ?2 AND name = ?3"));
    BERTH_RETURN_IF_ERROR(clear.Bind(1, key.kind).Bind(2, key.ns).Bind(3, key.name).Run());
  }
  for (const std::string& owner : owners) {
    BERTH_ASSIGN_OR_RETURN(Statement insert,
                           db_->Prepare("INSERT INTO owner_refs (owner_uid, kind, namespace, name) "
                                        "VALUES (?1, ?2, ?3, ?4)"));
    insert.Bind(1, owner).Bind(2, key.kind).Bind(3, key.ns).Bind(4, key.name);
    BERTH_RETURN_IF_ERROR(insert.Run());
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::AppendEventLocked(Batch& batch, StoreEvent::Type type,
                                            const ObjectKey& key, const Json& obj,
                                            std::shared_ptr<const std::string> text) {
  BERTH_ASSIGN_OR_RETURN(Statement stmt,
                         db_->Prepare("INSERT INTO events (rv, type, kind, namespace, name, json) "
                                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  stmt.Bind(1, static_cast<int64_t>(batch.version)).Bind(2, std::string(EventTypeName(type)));
  stmt.Bind(3, key.kind).Bind(4, key.ns).Bind(5, key.name).Bind(6, *text);
  BERTH_RETURN_IF_ERROR(stmt.Run());
  // The event's copy of the object is the one the cache keeps and every watcher shares.
  batch.events.push_back(
      StoreEvent{type, batch.version, std::make_shared<const Json>(obj), std::move(text)});
  return absl::OkStatus();
}

}  // namespace berth::controller::store

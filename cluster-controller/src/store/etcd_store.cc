// Opening, reads and writes of the etcd object store. Watches live in etcd_store_watch.cc.

#include "store/etcd_store.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/controller/leader.h"
#include "berth/log.h"
#include "berth/status_macros.h"
#include "store/etcd_client.h"
#include "store/etcd_ops.h"
#include "store/object_meta.h"

namespace berth::controller {
namespace store {
namespace {

// Keys read per List request: bounds the memory of one etcd response.
constexpr int64_t kListPage = 1000;
// How long a write whose outcome etcd left open (Unavailable: a member died, the cluster is
// electing a raft leader) is resolved and retried before Unavailable reaches the caller.
constexpr absl::Duration kResolveFor = absl::Seconds(8);
// Attempts of a Delete step whose object keeps changing under it.
constexpr int kDeleteAttempts = 10;

}  // namespace

// Marks a prefix as a Berth store (OpenEtcdStore refuses a non-empty prefix without it).
constexpr char kFormatKey[] = "format";
constexpr char kFormat[] = "berth-store v1";

namespace {

// The stored text: the object without its resourceVersion (that is the key's mod_revision).
absl::StatusOr<std::string> StoredText(Json obj) {
  obj["metadata"].erase("resourceVersion");
  return GuardJson([&]() -> absl::StatusOr<std::string> { return obj.dump(); });
}

absl::StatusOr<Json> ParseKv(const mvccpb::KeyValue& kv) {
  Json obj = Json::parse(kv.value(), nullptr, /*allow_exceptions=*/false);
  if (!obj.is_object() || !obj["metadata"].is_object()) {
    return absl::InternalError(absl::StrCat(kv.key(), ": stored value is not a JSON object"));
  }
  SetResourceVersion(static_cast<uint64_t>(kv.mod_revision()), &obj);
  return obj;
}

}  // namespace

std::string EtcdStore::ObjectPath(const ObjectKey& key) const {
  return absl::StrCat(prefix_, "objects/", key.kind, "/", key.ns, "/", key.name);
}

std::string EtcdStore::OwnerPath(const std::string& owner_uid, const ObjectKey& key) const {
  return absl::StrCat(prefix_, "owners/", owner_uid, "/", key.kind, "/", key.ns, "/", key.name);
}

absl::StatusOr<std::optional<EtcdStore::Stored>> EtcdStore::Load(const ObjectKey& key,
                                                                 bool serializable) {
  etcdserverpb::RangeRequest req;
  req.set_key(ObjectPath(key));
  req.set_serializable(serializable);
  BERTH_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse resp, client_->Range(req));
  if (resp.kvs_size() == 0) return std::optional<Stored>();
  BERTH_ASSIGN_OR_RETURN(Json obj, ParseKv(resp.kvs(0)));
  return std::optional<Stored>(Stored{std::move(obj), resp.kvs(0).mod_revision()});
}

absl::StatusOr<std::optional<int64_t>> EtcdStore::Commit(etcdserverpb::TxnRequest txn) {
  *txn.add_success() = PutOp(Marker(), "");
  WriteFence* fence = FenceScope::Current();
  if (fence != nullptr) {
    // The leader's term must still be the election key's: a write from a deposed leader fails
    // here, in etcd. The failure branch reads the key to tell a refusal from a conflict.
    *txn.add_compare() = Revision(etcdserverpb::Compare::CREATE, fence->key, fence->term);
    txn.add_failure()->mutable_request_range()->set_key(fence->key);
  }
  absl::StatusOr<etcdserverpb::TxnResponse> sent = client_->Txn(txn);
  if (absl::IsUnavailable(sent.status())) sent = Resolve(txn, sent.status());
  BERTH_ASSIGN_OR_RETURN(etcdserverpb::TxnResponse resp, std::move(sent));
  if (!resp.succeeded()) {
    if (fence != nullptr && resp.responses_size() > 0) {
      const etcdserverpb::RangeResponse& holder =
          resp.responses(resp.responses_size() - 1).response_range();
      if (holder.kvs_size() == 0 || holder.kvs(0).create_revision() != fence->term) {
        fence->refused.fetch_add(1);
        log::Warning("store write refused: the leadership term ended",
                     {{"controller", fence->holder},
                      {"term", absl::StrCat(fence->term)},
                      {"leader", holder.kvs_size() == 0 ? "" : holder.kvs(0).value()}});
        return absl::FailedPreconditionError(absl::StrCat(fence->holder,
                                                          " is no longer the leader (term ",
                                                          fence->term, " ended): write refused"));
      }
    }
    return std::optional<int64_t>();
  }
  if (fence != nullptr) {
    fence->committed.fetch_add(1);
    fence->last_committed.store(resp.header().revision());
  }
  AwaitDelivered(resp.header().revision());
  return std::optional<int64_t>(resp.header().revision());
}

absl::StatusOr<etcdserverpb::TxnResponse> EtcdStore::Resolve(const etcdserverpb::TxnRequest& txn,
                                                             absl::Status error) {
  // Every write transaction starts with its object: compare(0) is on the object's key (CREATE 0
  // or its MOD revision), success(0) puts its new text or deletes it.
  if (txn.compare_size() == 0 || txn.success_size() == 0) return error;
  const etcdserverpb::Compare& read = txn.compare(0);
  const etcdserverpb::RequestOp& write = txn.success(0);
  const int64_t read_revision =
      read.target() == etcdserverpb::Compare::MOD ? read.mod_revision() : 0;
  absl::Duration backoff = absl::Milliseconds(200);
  const absl::Time deadline = absl::Now() + kResolveFor;
  while (absl::Now() < deadline) {
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
    etcdserverpb::RangeRequest get;
    get.set_key(read.key());
    absl::StatusOr<etcdserverpb::RangeResponse> now = client_->Range(get);
    if (!now.ok()) {
      error = now.status();
      continue;
    }
    const bool present = now->kvs_size() > 0;
    const bool landed = write.has_request_put()
                            ? present && now->kvs(0).value() == write.request_put().value() &&
                                  now->kvs(0).mod_revision() != read_revision
                            : !present || now->kvs(0).create_revision() > read_revision;
    if (landed) {
      etcdserverpb::TxnResponse done;
      done.set_succeeded(true);
      done.mutable_header()->set_revision(write.has_request_put() ? now->kvs(0).mod_revision()
                                                                  : now->header().revision());
      return done;
    }
    // It did not commit: nothing changed, so the same transaction is still the right one (its
    // compares fail as usual if the object changed meanwhile).
    absl::StatusOr<etcdserverpb::TxnResponse> again = client_->Txn(txn);
    if (!absl::IsUnavailable(again.status())) return again;
    error = again.status();
  }
  return error;
}

void EtcdStore::IndexOwners(const ObjectKey& key, const std::string& uid,
                            const std::vector<std::string>& old_owners,
                            const std::vector<std::string>& new_owners,
                            etcdserverpb::TxnRequest* txn) {
  for (const std::string& owner : old_owners) {
    if (std::find(new_owners.begin(), new_owners.end(), owner) == new_owners.end()) {
      *txn->add_success() = DeleteOp(OwnerPath(owner, key));
    }
  }
  for (const std::string& owner : new_owners) {
    if (std::find(old_owners.begin(), old_owners.end(), owner) == old_owners.end()) {
      *txn->add_success() = PutOp(OwnerPath(owner, key), uid);
    }
  }
}

absl::StatusOr<Json> EtcdStore::Create(Json obj) {
  BERTH_RETURN_IF_ERROR(ValidateShape(obj));
  ObjectKey key = ObjectKey::Of(obj);
  BERTH_RETURN_IF_ERROR(CheckKeyParts(key));
  std::string uid;
  {
    // A uid is random (122 bits), so unlike SQLite no uniqueness index is kept for it.
    absl::MutexLock lock(&gen_mu_);
    uid = NewUuid(gen_);
  }
  InitNewObject(uid, clock_.Now(), &obj);
  return PutNew(key, uid, std::move(obj));
}

absl::StatusOr<Json> EtcdStore::PutNew(const ObjectKey& key, const std::string& uid, Json obj) {
  BERTH_ASSIGN_OR_RETURN(std::string text, StoredText(obj));
  etcdserverpb::TxnRequest txn;
  std::string path = ObjectPath(key);
  *txn.add_compare() = Revision(etcdserverpb::Compare::CREATE, path, 0);
  *txn.add_success() = PutOp(path, text);
  IndexOwners(key, uid, {}, OwnerUids(obj), &txn);
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> revision, Commit(std::move(txn)));
  if (!revision.has_value()) {
    return absl::AlreadyExistsError(absl::StrCat(Describe(key), " already exists"));
  }
  SetResourceVersion(static_cast<uint64_t>(*revision), &obj);
  return obj;
}

absl::StatusOr<Json> EtcdStore::Update(Json obj) {
  BERTH_RETURN_IF_ERROR(ValidateShape(obj));
  ObjectKey key = ObjectKey::Of(obj);
  BERTH_RETURN_IF_ERROR(CheckKeyParts(key));
  // A failed compare means the object changed after it was read; reading it again then turns
  // that into NotFound or a conflict (its version moved), so this loop ends.
  while (true) {
    bool changed = false;
    absl::StatusOr<Json> stored = UpdateOnce(key, obj, &changed);
    if (!changed) return stored;
  }
}

absl::StatusOr<Json> EtcdStore::UpdateOnce(const ObjectKey& key, const Json& obj, bool* changed) {
  // The member's local copy first (no raft round trip): the transaction compares the revision
  // read, so a stale copy cannot make a stale write; only a copy that contradicts the caller
  // (absent, or another version) is read again through raft before it becomes an error.
  BERTH_ASSIGN_OR_RETURN(std::optional<Stored> stored, Load(key, /*serializable=*/true));
  if (!stored.has_value() || !CheckResourceVersion(key, stored->obj, obj).ok()) {
    BERTH_ASSIGN_OR_RETURN(stored, Load(key, /*serializable=*/false));
  }
  if (!stored.has_value()) return absl::NotFoundError(absl::StrCat(Describe(key), " not found"));
  BERTH_RETURN_IF_ERROR(CheckResourceVersion(key, stored->obj, obj));
  Json next = obj;
  BERTH_RETURN_IF_ERROR(MergeStoreOwned(key, stored->obj, &next));
  // Like Kubernetes, a write that changes nothing is not a write: no new version, no event.
  if (next == stored->obj) return std::move(stored->obj);
  std::string path = ObjectPath(key);
  std::string uid = UidOf(stored->obj);
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = Revision(etcdserverpb::Compare::MOD, path, stored->mod_revision);
  const bool remove = IsDeleting(next) && !HasFinalizers(next);
  if (remove) {
    *txn.add_success() = DeleteOp(path);
    IndexOwners(key, uid, OwnerUids(stored->obj), {}, &txn);
  } else {
    BERTH_ASSIGN_OR_RETURN(std::string text, StoredText(next));
    *txn.add_success() = PutOp(path, text);
    IndexOwners(key, uid, OwnerUids(stored->obj), OwnerUids(next), &txn);
  }
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> revision, Commit(std::move(txn)));
  if (!revision.has_value()) {
    *changed = true;
    return absl::AbortedError("changed");
  }
  SetResourceVersion(static_cast<uint64_t>(*revision), &next);
  if (remove) {
    std::set<std::string> visited{uid};
    BERTH_RETURN_IF_ERROR(Cascade(uid, &visited));
  }
  return next;
}

absl::StatusOr<Json> EtcdStore::UpdateAndCreate(Json obj, const FollowUp& then) {
  BERTH_ASSIGN_OR_RETURN(Json stored, Update(std::move(obj)));
  std::optional<Json> extra = then(stored);
  if (extra.has_value()) Create(std::move(*extra)).IgnoreError();  // best effort, as documented
  return stored;
}

absl::StatusOr<Json> EtcdStore::Delete(const ObjectKey& key, std::optional<std::string> uid) {
  BERTH_RETURN_IF_ERROR(CheckKeyParts(key));
  std::set<std::string> visited;
  return DeleteKey(key, uid, &visited);
}

absl::StatusOr<Json> EtcdStore::DeleteKey(const ObjectKey& key,
                                          const std::optional<std::string>& uid,
                                          std::set<std::string>* visited) {
  for (int attempt = 0; attempt < kDeleteAttempts; ++attempt) {
    // As UpdateOnce: the local copy first, through raft when it is absent or went stale.
    BERTH_ASSIGN_OR_RETURN(std::optional<Stored> stored, Load(key, /*serializable=*/attempt == 0));
    if (!stored.has_value() && attempt == 0) {
      BERTH_ASSIGN_OR_RETURN(stored, Load(key, /*serializable=*/false));
    }
    if (!stored.has_value()) return absl::NotFoundError(absl::StrCat(Describe(key), " not found"));
    std::string stored_uid = UidOf(stored->obj);
    if (uid.has_value() && *uid != stored_uid) {
      return absl::AbortedError(absl::StrCat("conflict: ", Describe(key), " has uid ", stored_uid,
                                             ", not ", *uid, " (precondition failed)"));
    }
    BERTH_ASSIGN_OR_RETURN(std::optional<Json> result, DeleteOnce(key, *stored));
    if (!result.has_value()) continue;  // changed meanwhile: read it again
    visited->insert(stored_uid);
    // Cascades even when the object only got (or already had) a deletionTimestamp, so
    // dependents created since the first Delete are marked too.
    BERTH_RETURN_IF_ERROR(Cascade(stored_uid, visited));
    return std::move(*result);
  }
  return absl::AbortedError(
      absl::StrCat("conflict: ", Describe(key), " kept changing while being deleted; retry"));
}

absl::StatusOr<std::optional<Json>> EtcdStore::DeleteOnce(const ObjectKey& key,
                                                          const Stored& stored) {
  if (HasFinalizers(stored.obj) && IsDeleting(stored.obj)) return std::optional<Json>(stored.obj);
  std::string path = ObjectPath(key);
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = Revision(etcdserverpb::Compare::MOD, path, stored.mod_revision);
  Json result = stored.obj;
  if (!HasFinalizers(stored.obj)) {
    *txn.add_success() = DeleteOp(path);
    IndexOwners(key, UidOf(stored.obj), OwnerUids(stored.obj), {}, &txn);
  } else {
    result["metadata"]["deletionTimestamp"] = FormatRfc3339(clock_.Now());
    BERTH_ASSIGN_OR_RETURN(std::string text, StoredText(result));
    *txn.add_success() = PutOp(path, text);
  }
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> revision, Commit(std::move(txn)));
  if (!revision.has_value()) return std::optional<Json>();
  SetResourceVersion(static_cast<uint64_t>(*revision), &result);
  return std::optional<Json>(std::move(result));
}

absl::Status EtcdStore::Cascade(const std::string& owner_uid, std::set<std::string>* visited) {
  // The index is written in each dependent's own transaction: every dependent committed before
  // this read is found. (One created after its owner is gone is not; Kubernetes' garbage
  // collector has the same window.)
  std::string prefix = absl::StrCat(prefix_, "owners/", owner_uid, "/");
  etcdserverpb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(PrefixEnd(prefix));
  BERTH_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse resp, client_->Range(req));
  for (const mvccpb::KeyValue& kv : resp.kvs()) {
    std::vector<std::string> parts = absl::StrSplit(kv.key().substr(prefix.size()), '/');
    if (parts.size() != 3 || visited->count(kv.value()) > 0) continue;
    ObjectKey key{parts[0], parts[1], parts[2]};
    absl::StatusOr<Json> deleted = DeleteKey(key, kv.value(), visited);
    // Gone already, or the name now holds another object: nothing of this owner's to delete.
    if (!deleted.ok() && !absl::IsNotFound(deleted.status()) &&
        !absl::StrContains(deleted.status().message(), "precondition failed")) {
      return deleted.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Json>> EtcdStore::Peek(const ObjectKey& key) {
  BERTH_RETURN_IF_ERROR(CheckKeyParts(key));
  BERTH_ASSIGN_OR_RETURN(std::optional<Stored> stored, Load(key));
  if (!stored.has_value()) return absl::NotFoundError(absl::StrCat(Describe(key), " not found"));
  return std::make_shared<const Json>(std::move(stored->obj));
}

absl::StatusOr<std::vector<Json>> EtcdStore::List(const std::string& kind, const std::string& ns,
                                                  uint64_t* resource_version) {
  if (kind.empty()) return absl::InvalidArgumentError("list: kind is required");
  BERTH_RETURN_IF_ERROR(CheckKeyParts(ObjectKey{kind, ns, "x"}));
  std::string prefix = absl::StrCat(prefix_, "objects/", kind, "/");
  if (!ns.empty()) absl::StrAppend(&prefix, ns, "/");
  // A compaction between two pages loses the list's revision: start over at a newer one.
  for (int attempt = 1;; ++attempt) {
    int64_t revision = 0;
    absl::StatusOr<std::vector<Json>> out = ListPaged(prefix, &revision);
    if (!out.ok() && attempt < 3 && absl::StrContains(out.status().message(), "compacted")) {
      continue;
    }
    if (!out.ok()) return out.status();
    if (resource_version != nullptr) *resource_version = static_cast<uint64_t>(revision);
    return out;
  }
}

absl::StatusOr<ObjectStore::SharedObjects> EtcdStore::ListAll(uint64_t* resource_version) {
  for (int attempt = 1;; ++attempt) {  // as List: a compaction between pages starts over
    int64_t revision = 0;
    absl::StatusOr<std::vector<Json>> all = ListPaged(Marker(), &revision);
    if (!all.ok() && attempt < 3 && absl::StrContains(all.status().message(), "compacted")) {
      continue;
    }
    if (!all.ok()) return all.status();
    // ListPaged orders by namespace only; here kinds come first.
    std::vector<std::pair<ObjectKey, Json>> keyed;
    keyed.reserve(all->size());
    for (Json& obj : *all) {
      ObjectKey k = ObjectKey::Of(obj);
      keyed.emplace_back(std::move(k), std::move(obj));
    }
    std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.kind, a.first.ns, a.first.name) <
             std::tie(b.first.kind, b.first.ns, b.first.name);
    });
    SharedObjects out;
    out.reserve(keyed.size());
    for (auto& [k, obj] : keyed) out.push_back(std::make_shared<const Json>(std::move(obj)));
    if (resource_version != nullptr) *resource_version = static_cast<uint64_t>(revision);
    return out;
  }
}

absl::StatusOr<std::vector<Json>> EtcdStore::ListPaged(const std::string& prefix,
                                                       int64_t* revision) {
  std::vector<Json> out;
  etcdserverpb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(PrefixEnd(prefix));
  req.set_limit(kListPage);
  while (true) {
    // Every page after the first is read at the first one's revision: one consistent list.
    BERTH_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse resp, client_->Range(req));
    if (req.revision() == 0) req.set_revision(resp.header().revision());
    for (const mvccpb::KeyValue& kv : resp.kvs()) {
      if (kv.key() == Marker()) continue;  // in range when listing all of objects/
      BERTH_ASSIGN_OR_RETURN(Json obj, ParseKv(kv));
      out.push_back(std::move(obj));
    }
    if (!resp.more() || resp.kvs_size() == 0) break;
    req.set_key(resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0'));
  }
  // Keys sort "a-b/x" before "a/x" ('-' < '/'), the contract is namespace order, then name.
  // Names within one namespace are already in order, so a stable sort by namespace does it.
  auto ns_of = [](const Json& obj) -> const std::string& {
    static const std::string kNone;
    const Json& meta = obj["metadata"];
    auto it = meta.find("namespace");
    return it != meta.end() && it->is_string() ? it->get_ref<const std::string&>() : kNone;
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](const Json& a, const Json& b) { return ns_of(a) < ns_of(b); });
  *revision = req.revision();
  return out;
}

uint64_t EtcdStore::CurrentVersion() {
  etcdserverpb::RangeRequest req;
  req.set_key(Marker());
  req.set_count_only(true);
  absl::StatusOr<etcdserverpb::RangeResponse> resp = client_->Range(req);
  return resp.ok() ? static_cast<uint64_t>(resp->header().revision()) : 0;
}

absl::Status EtcdStore::Compact(uint64_t revision) {
  return client_->Compact(static_cast<int64_t>(revision));
}

}  // namespace store

absl::StatusOr<std::unique_ptr<ObjectStore>> OpenEtcdStore(const EtcdStoreOptions& options,
                                                           const Clock& clock) {
  if (options.prefix.empty() || options.prefix.back() != '/') {
    return absl::InvalidArgumentError("etcd store: the key prefix must end with '/'");
  }
  BERTH_ASSIGN_OR_RETURN(
      std::unique_ptr<store::EtcdClient> client,
      store::EtcdClient::Create(options.endpoints, options.tls, options.call_timeout));
  // The probe: a member that is down, not TLS or has the wrong CA fails here, clearly.
  etcdserverpb::RangeRequest probe;
  probe.set_key(options.prefix);
  probe.set_range_end(store::PrefixEnd(options.prefix));
  probe.set_count_only(true);
  absl::StatusOr<etcdserverpb::RangeResponse> resp = client->Range(probe);
  if (!resp.ok()) {
    return absl::Status(resp.status().code(),
                        absl::StrCat("open etcd store: ", resp.status().message()));
  }
  // A prefix holding keys but no format marker belongs to something else: never write into it.
  const std::string format_key = options.prefix + store::kFormatKey;
  etcdserverpb::RangeRequest format;
  format.set_key(format_key);
  BERTH_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse marked, client->Range(format));
  if (marked.kvs_size() == 0 && resp->count() > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("open etcd store: prefix ", options.prefix, " on ", client->endpoint(),
                     " is not empty (", resp->count(), " keys) and holds no Berth store (no ",
                     format_key, "); choose another prefix"));
  }
  if (marked.kvs_size() > 0 && marked.kvs(0).value() != store::kFormat) {
    return absl::FailedPreconditionError(
        absl::StrCat("open etcd store: ", format_key, " is \"", marked.kvs(0).value(),
                     "\", this controller reads \"", store::kFormat, "\""));
  }
  if (marked.kvs_size() == 0) {
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = store::Revision(etcdserverpb::Compare::CREATE, format_key, 0);
    *txn.add_success() = store::PutOp(format_key, store::kFormat);
    BERTH_RETURN_IF_ERROR(client->Txn(txn).status());
  }
  return std::unique_ptr<ObjectStore>(
      new store::EtcdStore(std::move(client), clock, options.prefix));
}

absl::Status CompactEtcdStore(ObjectStore& store, uint64_t revision) {
  auto* etcd = dynamic_cast<store::EtcdStore*>(&store);
  if (etcd == nullptr) return absl::InvalidArgumentError("compact: not an etcd store");
  return etcd->Compact(revision);
}

}  // namespace berth::controller

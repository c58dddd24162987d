// Import of the etcd object store: an object moved from another store, kept as it was except
// its resourceVersion, which is the revision of its own transaction (so objects imported one by
// one in their source order get increasing versions).

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
#include "store/etcd_client.h"
#include "store/etcd_store.h"
#include "store/object_meta.h"

namespace berth::controller::store {

absl::StatusOr<Json> EtcdStore::Import(Json obj) {
  BERTH_RETURN_IF_ERROR(ValidateShape(obj));
  ObjectKey key = ObjectKey::Of(obj);
  for (const std::string* part : {&key.kind, &key.ns, &key.name}) {
    if (part->find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(key), ": kind, namespace and name cannot contain '/'"));
    }
  }
  const std::string uid = UidOf(obj);
  if (uid.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(key), ": import needs metadata.uid"));
  }
  if (IsDeleting(obj) && !HasFinalizers(obj)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(key), ": deletionTimestamp without finalizers: nothing to import"));
  }
  obj["metadata"].erase("resourceVersion");  // stored as the key's mod_revision
  BERTH_ASSIGN_OR_RETURN(std::string text,
                         GuardJson([&]() -> absl::StatusOr<std::string> { return obj.dump(); }));
  // As Create: the key must not exist, and the owner index is written in the same transaction.
  const std::string path = ObjectPath(key);
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* absent = txn.add_compare();
  absent->set_result(etcdserverpb::Compare::EQUAL);
  absent->set_target(etcdserverpb::Compare::CREATE);
  absent->set_key(path);
  absent->set_create_revision(0);
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(path);
  put->set_value(std::move(text));
  IndexOwners(key, uid, {}, OwnerUids(obj), &txn);
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> revision, Commit(std::move(txn)));
  if (!revision.has_value()) {
    return absl::AlreadyExistsError(absl::StrCat(Describe(key), " already exists"));
  }
  SetResourceVersion(static_cast<uint64_t>(*revision), &obj);
  return obj;
}

}  // namespace berth::controller::store

// Import of the etcd object store: an object moved from another store, kept as it was except
// its resourceVersion, which is the revision of its own transaction (so objects imported one by
// one in their source order get increasing versions).

#include <string>
#include <utility>

#include "berth/status_macros.h"
#include "store/etcd_ops.h"
#include "store/etcd_store.h"
#include "store/object_meta.h"

namespace berth::controller::store {

absl::StatusOr<Json> EtcdStore::Import(Json obj) {
  BERTH_RETURN_IF_ERROR(ValidateShape(obj));
  ObjectKey key = ObjectKey::Of(obj);
  BERTH_RETURN_IF_ERROR(CheckKeyParts(key));
  BERTH_ASSIGN_OR_RETURN(std::string uid, CheckImport(key, obj));
  // As Create: the key must not exist, and the owner index is written in the same transaction.
  // The resourceVersion is not stored (it is the key's mod_revision).
  return PutNew(key, uid, std::move(obj));
}

}  // namespace berth::controller::store

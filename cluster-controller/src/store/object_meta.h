#ifndef BERTH_CONTROLLER_STORE_OBJECT_META_H_
#define BERTH_CONTROLLER_STORE_OBJECT_META_H_

// Pure rules for the metadata the store owns (uid, resourceVersion, generation, timestamps,
// finalizers), shared by the SQLite and etcd stores. No I/O (but SeededBitGen's seed from the
// OS); the SQLite store applies them inside its transactions, the etcd store before its own.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "berth/controller/object_store.h"
#include "berth/json.h"

namespace berth::controller::store {

// Returns `Kind "ns/name"`, or `Kind "name"` for a cluster-scoped key, for error messages.
std::string Describe(const ObjectKey& key);

// Checks what the store relies on: an object with string `kind`, an object `metadata` with a
// non-empty string `name`, optional string `namespace`, `finalizers` as an array of strings and
// `ownerReferences` as an array of objects each with a non-empty string `uid`.
absl::Status ValidateShape(const Json& obj);

// Checks what Import needs beyond ValidateShape (InvalidArgument naming `key` otherwise): a
// metadata.uid, which it returns, and no deletionTimestamp without finalizers (nothing to keep).
absl::StatusOr<std::string> CheckImport(const ObjectKey& key, const Json& obj);

// Returns a random RFC 4122 version 4 UUID ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
std::string NewUuid(absl::BitGen& gen);
// A generator for NewUuid seeded from the OS: absl's default seeding draws from a process-wide
// pool that fork() copies, so a forked child and its parent would mint the same uids.
absl::BitGen SeededBitGen();

// Sets the store-owned metadata of an object about to be created: uid, generation 1,
// creationTimestamp `now`; drops resourceVersion and deletionTimestamp (set later).
void InitNewObject(const std::string& uid, absl::Time now, Json* obj);

// Returns OK when metadata.resourceVersion of `obj` equals the stored one, else Aborted with a
// message containing "conflict" that names the object and both versions.
absl::Status CheckResourceVersion(const ObjectKey& key, const Json& stored, const Json& obj);

// Copies the store-owned fields of `stored` into `obj` (uid, creationTimestamp,
// deletionTimestamp) and sets generation: unchanged, or +1 when `spec` differs. Rejects
// (InvalidArgument) clearing or setting deletionTimestamp through Update and adding finalizers
// to an object that is being deleted.
absl::Status MergeStoreOwned(const ObjectKey& key, const Json& stored, Json* obj);

// Returns true when metadata.finalizers is a non-empty array.
bool HasFinalizers(const Json& obj);
// Returns true when metadata.deletionTimestamp is set (not null).
bool IsDeleting(const Json& obj);
// Returns the uids in metadata.ownerReferences, without duplicates, in order.
std::vector<std::string> OwnerUids(const Json& obj);
// Returns metadata.uid ("" when absent).
std::string UidOf(const Json& obj);

// Renders `version` into metadata.resourceVersion (a decimal string).
void SetResourceVersion(uint64_t version, Json* obj);

// Parses an event type name written by EventTypeName.
std::optional<StoreEvent::Type> ParseEventType(const std::string& name);

// Runs `fn` (returning a Status or StatusOr) and turns a nlohmann exception, e.g. from
// serializing a string that is not UTF-8, into InvalidArgument: our code throws nothing.
template <typename Fn>
auto GuardJson(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid object: ", e.what()));
  }
}

}  // namespace berth::controller::store

#endif  // BERTH_CONTROLLER_STORE_OBJECT_META_H_

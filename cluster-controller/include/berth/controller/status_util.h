#ifndef BERTH_CONTROLLER_STATUS_UTIL_H_
#define BERTH_CONTROLLER_STATUS_UTIL_H_

#include <string>

#include "absl/status/statusor.h"
#include "berth/controller/object_store.h"
#include "berth/json.h"

namespace berth::controller {

inline constexpr char kVolumeFinalizer[] = "virtualization.deckhouse.io/berth-volume";
inline constexpr char kSnapshotFinalizer[] = "virtualization.deckhouse.io/berth-snapshot";

// Sets condition `type` in status.conditions the Kubernetes way: lastTransitionTime changes only
// when `status` flips.
void SetCondition(Json& status, const std::string& type, bool value, const std::string& reason,
                  const std::string& message, const Json& obj, absl::Time now);

// Returns the condition of `type` in obj.status.conditions, or an empty object.
Json GetCondition(const Json& obj, const std::string& type);

// Writes `status` (with observedGeneration) when it differs from the stored one; returns the
// object as stored afterwards.
absl::StatusOr<Json> WriteStatus(ObjectStore& store, const Json& obj, Json status);

// Whether a status write records its phase change as an Event. kSkip is for a phase that the
// same pass normally leaves again at once (e.g. InProgress before a quick cut): the next
// change's Event ("phase InProgress -> Ready") tells the story with one Event instead of two.
enum class PhaseEvent { kRecord, kSkip };

// WriteStatus and AddFinalizer in one write (and one commit): for a reconciler that must
// persist its finalizer before acting, together with the status saying what it is about to do.
absl::StatusOr<Json> WriteStatusAndAddFinalizer(ObjectStore& store, const Json& obj, Json status,
                                                const std::string& f,
                                                PhaseEvent event = PhaseEvent::kRecord);

// Stores a core/v1 Event about `obj` (owned by it, so it goes when obj goes). WriteStatus records
// one for every phase change, in the same transaction as the status; `berth describe` shows them.
absl::Status RecordEvent(ObjectStore& store, const Json& obj, const std::string& type,
                         const std::string& reason, const std::string& message);

bool HasFinalizer(const Json& obj, const std::string& finalizer);
// Adds or removes a finalizer (no write when nothing changes); returns the stored object.
absl::StatusOr<Json> AddFinalizer(ObjectStore& store, const Json& obj, const std::string& f);
absl::StatusOr<Json> RemoveFinalizer(ObjectStore& store, const Json& obj, const std::string& f);

bool IsDeleting(const Json& obj);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_STATUS_UTIL_H_

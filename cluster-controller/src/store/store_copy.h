#ifndef BERTH_CONTROLLER_STORE_STORE_COPY_H_
#define BERTH_CONTROLLER_STORE_STORE_COPY_H_

// Pure helpers of CopyStore and VerifyStores (berth/controller/store_copy.h). No I/O.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "berth/controller/object_store.h"
#include "berth/json.h"

namespace berth::controller::store {

// Parses metadata.resourceVersion (a decimal string); InvalidArgument naming the object when
// it is absent or not a number.
absl::StatusOr<uint64_t> ResourceVersionOf(const Json& obj);

// Returns where `a` and `b` first differ, metadata.resourceVersion aside: the JSON pointer and
// both values, shortened ("/spec/size: \"1Gi\" vs \"2Gi\""); nullopt when they are equal.
// Object members are visited in key order, array elements in index order.
std::optional<std::string> FirstDifference(const Json& a, const Json& b);

}  // namespace berth::controller::store

#endif  // BERTH_CONTROLLER_STORE_STORE_COPY_H_

#ifndef BERTH_JSONPATH_H_
#define BERTH_JSONPATH_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "berth/json.h"

namespace berth {

// Evaluates a kubectl-style JSONPath template such as "{.status.phase}" or
// "name={.metadata.name} {.items[*].metadata.name}". Supports field access, [N] indices,
// [*] wildcards and ['quoted.keys']. Strings print bare, other values as compact JSON; several
// matches are joined by spaces. Missing paths print nothing.
absl::StatusOr<std::string> EvaluateJsonPath(const Json& root, std::string_view tmpl);

}  // namespace berth

#endif  // BERTH_JSONPATH_H_

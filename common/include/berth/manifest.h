#ifndef BERTH_MANIFEST_H_
#define BERTH_MANIFEST_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/json.h"

namespace berth {

// Parses a manifest stream: multi-document YAML or JSON (a single object, or a List with
// `items`). Empty documents are skipped. Errors name the document number and the position.
absl::StatusOr<std::vector<Json>> ParseManifests(std::string_view text);

// Renders a JSON value as block-style YAML (keys in JSON order).
std::string ToYaml(const Json& value);

}  // namespace berth

#endif  // BERTH_MANIFEST_H_

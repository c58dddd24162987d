#ifndef BERTH_LABELS_H_
#define BERTH_LABELS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/json.h"

namespace berth {

// One term of a Kubernetes equality-based label selector.
struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kExists, kNotExists };
  std::string key;
  Op op = Op::kExists;
  std::string value;
};

// Parses "a=b,c!=d,e,!f" (also "a==b"). Empty text selects everything.
absl::StatusOr<std::vector<LabelRequirement>> ParseLabelSelector(const std::string& text);

// Returns whether obj.metadata.labels satisfy every requirement.
bool MatchesLabels(const Json& obj, const std::vector<LabelRequirement>& selector);

}  // namespace berth

#endif  // BERTH_LABELS_H_

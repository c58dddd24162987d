#ifndef BERTH_CLI_LABEL_SELECTOR_H_
#define BERTH_CLI_LABEL_SELECTOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/json.h"

namespace berth::cli {

// One requirement of an equality-based selector.
struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kExists, kNotExists };
  std::string key;
  Op op = Op::kExists;
  std::string value;
};

// A comma-joined equality-based label selector: `k=v`, `k==v`, `k!=v`, `k`, `!k`. Empty
// matches everything.
class LabelSelector {
 public:
  static absl::StatusOr<LabelSelector> Parse(const std::string& text);

  // Returns whether the object's metadata.labels satisfy every requirement.
  bool Matches(const Json& object) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<LabelRequirement> requirements_;
};

}  // namespace berth::cli

#endif  // BERTH_CLI_LABEL_SELECTOR_H_

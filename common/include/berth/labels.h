#ifndef BERTH_LABELS_H_
#define BERTH_LABELS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/json.h"

namespace berth {

// One term of a Kubernetes label selector.
struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kExists, kNotExists, kIn, kNotIn, kGreaterThan, kLessThan };
  std::string key;
  Op op = Op::kExists;
  // The operand of kEquals ("=" or "=="), kNotEquals, kGreaterThan (">") and kLessThan ("<").
  std::string value;
  // The set of kIn and kNotIn, sorted and without duplicates; {value} for the single-valued ops.
  std::vector<std::string> values;
};

// Parses a selector in kube-apiserver's grammar (k8s.io/apimachinery/pkg/labels.Parse):
// comma-joined `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, `k>1`, `k<1`,
// with whitespace between tokens, and keys and values validated as kube does. Errors are
// InvalidArgument carrying kube's message (e.g. "unable to parse requirement: found 'b',
// expected: in, notin, =, ==, !=, gt, lt"). Empty text selects everything.
absl::StatusOr<std::vector<LabelRequirement>> ParseLabelSelector(const std::string& text);

// Returns whether obj.metadata.labels satisfy every requirement.
bool MatchesLabels(const Json& obj, const std::vector<LabelRequirement>& selector);

}  // namespace berth

#endif  // BERTH_LABELS_H_

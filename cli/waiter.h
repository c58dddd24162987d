#ifndef BERTH_CLI_WAITER_H_
#define BERTH_CLI_WAITER_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "args.h"
#include "berth/json.h"
#include "berth/time_util.h"
#include "resource_client.h"

namespace berth::cli {

// What `wait --for=` waits for.
struct WaitCondition {
  enum class Type { kDelete, kCondition, kJsonPath };
  Type type = Type::kDelete;
  std::string target;  // condition type, or the JSONPath template ("{.status.phase}")
  std::string value;   // wanted condition status / JSONPath result
  bool has_value = false;
};

// Parses "delete", "condition=Ready", "condition=Ready=false",
// "jsonpath={.status.phase}=Ready" (braces optional) or "jsonpath={.status.x}" (non-empty).
absl::StatusOr<WaitCondition> ParseWaitFor(const std::string& text);

// Returns whether `object` satisfies a condition or jsonpath condition (never kDelete).
bool ConditionMet(const WaitCondition& cond, const Json& object);

// Time sources for waiting; injected so tests run on a simulated clock.
struct WaitTiming {
  const Clock* clock = nullptr;
  std::function<void(absl::Duration)> sleep;
};

inline constexpr absl::Duration kPollInterval = absl::Milliseconds(200);
inline constexpr absl::Duration kWatchSlice = absl::Seconds(10);

// Blocks until the object meets `cond` or `deadline` passes (DeadlineExceeded, message
// "timed out waiting for the condition on KINDS/NAME"). Re-reads the object with Get, then
// watches it in slices of kWatchSlice; when Watch fails, polls Get every kPollInterval.
// A missing object satisfies kDelete and fails the others with the server's NotFound.
absl::Status WaitForObject(ResourceClient& client, const ResourceRef& ref, const std::string& ns,
                           const WaitCondition& cond, absl::Time deadline,
                           const WaitTiming& timing);

}  // namespace berth::cli

#endif  // BERTH_CLI_WAITER_H_

#ifndef BERTH_CLI_ARGS_H_
#define BERTH_CLI_ARGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/json.h"
#include "berth/kinds.h"

namespace berth::cli {

// One named object on the command line.
struct ResourceRef {
  const KindInfo* kind = nullptr;
  std::string name;
};

// Positional resource arguments: `KIND [NAME...]` or `KIND/NAME [KIND/NAME...]`.
struct ResourceArgs {
  const KindInfo* kind = nullptr;  // the first kind named
  std::vector<ResourceRef> refs;   // empty: the whole kind
};

// Returns the kubectl error for a kind nobody serves.
absl::Status UnknownKindError(const std::string& name);

// Parses resource arguments; `verb` only words the error when none are given.
absl::StatusOr<ResourceArgs> ParseResourceArgs(const std::vector<std::string>& args,
                                               const std::string& verb);

// A `label`/`annotate` argument: `k=v` sets, `k-` removes (value unset).
struct MetadataChange {
  std::string key;
  std::optional<std::string> value;
};

// Splits `label` arguments into resource arguments and changes (those with '=' or a trailing
// '-').
void SplitMetadataArgs(const std::vector<std::string>& args, std::vector<std::string>* resources,
                       std::vector<std::string>* changes);
absl::StatusOr<std::vector<MetadataChange>> ParseMetadataChanges(
    const std::vector<std::string>& args);

// Applies changes to `map` (metadata.labels or .annotations, created when needed). Fails when a
// key would change value without `overwrite`; `what` is "label" or "annotation". Appends
// warnings (removing a missing key). Returns whether anything changed.
absl::StatusOr<bool> ApplyMetadataChanges(Json& map, const std::vector<MetadataChange>& changes,
                                          bool overwrite, const std::string& what,
                                          std::vector<std::string>* warnings);

// Parses a kubectl duration: "60s", "2m", "1h30m", "0", or bare seconds ("30").
absl::StatusOr<absl::Duration> ParseTimeout(const std::string& text);

// Formats an error as one line: "Error from server (NotFound): ..." or "error: ...".
std::string FormatError(const absl::Status& status, const std::string& server);

}  // namespace berth::cli

#endif  // BERTH_CLI_ARGS_H_

#ifndef BERTH_MANIFEST_H_
#define BERTH_MANIFEST_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/json.h"

namespace berth {

// Largest manifest stream (one file or stdin for `berth apply`, one object_json for the
// controller) accepted, in bytes. 4 MiB matches gRPC's default maximum receive message size, so
// anything larger could not reach the controller anyway.
inline constexpr size_t kMaxManifestBytes = 4 << 20;
// Deepest nesting of mappings/sequences (YAML) or objects/arrays (JSON) accepted. Real objects
// nest a few dozen levels; the limit keeps recursive conversion and copies off the stack's end.
inline constexpr int kMaxManifestDepth = 256;
// The parsed documents of a YAML stream may expand to at most kManifestExpansionFloor plus
// kManifestExpansionFactor times the stream's size (counting scalar bytes plus a fixed cost per
// node). Only aliases make the output larger than the input: shared templates fit easily, while
// "billion laughs" streams stop early, before they cost much time or memory.
inline constexpr size_t kManifestExpansionFloor = 256 << 10;
inline constexpr size_t kManifestExpansionFactor = 4;

// Returns InvalidArgument naming the limit when a manifest of `bytes` bytes exceeds
// `max_bytes`. For callers that parse objects themselves (the controller's object_json).
absl::Status CheckManifestSize(size_t bytes, size_t max_bytes = kMaxManifestBytes);

// Parses a manifest stream: multi-document YAML or JSON (a single object, or a List with
// `items`). Empty documents are skipped. Errors name the document number and the position.
// Pure (no I/O); never throws. Streams over `max_bytes`, nested deeper than kMaxManifestDepth
// or expanding past the alias expansion limit are InvalidArgument naming the limit.
absl::StatusOr<std::vector<Json>> ParseManifests(std::string_view text,
                                                 size_t max_bytes = kMaxManifestBytes);

// Renders a JSON value as block-style YAML (keys in JSON order).
std::string ToYaml(const Json& value);

}  // namespace berth

#endif  // BERTH_MANIFEST_H_

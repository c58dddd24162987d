#ifndef BERTH_QUANTITY_H_
#define BERTH_QUANTITY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth {

// Parses a Kubernetes quantity of bytes ("10Gi", "512Mi", "1G", "1048576") into bytes.
// Rejects negative, fractional-byte, overflowing and unknown-suffix values.
absl::StatusOr<uint64_t> ParseQuantity(std::string_view text);

// Formats bytes as the largest exact binary suffix ("10Gi"), else plain bytes.
std::string FormatQuantity(uint64_t bytes);

}  // namespace berth

#endif  // BERTH_QUANTITY_H_

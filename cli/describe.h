#ifndef BERTH_CLI_DESCRIBE_H_
#define BERTH_CLI_DESCRIBE_H_

#include <string>

#include "berth/json.h"

namespace berth::cli {

// Turns a camelCase field name into kubectl's describe label: "vendorID" -> "Vendor ID",
// "ipAddress" -> "IP Address".
std::string DescribeLabel(const std::string& key);

// Renders an object the way `kubectl describe` renders custom resources: identity lines,
// Metadata, Spec and Status as indented blocks, then a Conditions table.
std::string Describe(const Json& object);

}  // namespace berth::cli

#endif  // BERTH_CLI_DESCRIBE_H_

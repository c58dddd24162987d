// Node selection shared by placement (new disks), VMs (their disks' node against their
// nodeSelector) and migration (the target): pure functions over Node objects.
#ifndef BERTH_CONTROLLER_CONTROLLERS_COMMON_PLACEMENT_H_
#define BERTH_CONTROLLER_CONTROLLERS_COMMON_PLACEMENT_H_

#include <map>
#include <optional>
#include <string>

#include "berth/json.h"

namespace berth::controller {

using NodeSelector = std::map<std::string, std::string>;

// kubernetes.io/hostname: every node has it, its value the node's name, label or not.
inline constexpr char kHostnameLabel[] = "kubernetes.io/hostname";

// A nodeSelector object (string values; others ignored).
NodeSelector SelectorFrom(const Json& selector);

// The first "KEY=VALUE" of `selector` that the node (its name and labels) does not satisfy;
// nullopt when it satisfies all.
std::optional<std::string> Unmatched(const std::string& node_name,
                                     const std::map<std::string, std::string>& labels,
                                     const NodeSelector& selector);
// The same for a Node object.
std::optional<std::string> Unmatched(const Json& node, const NodeSelector& selector);

// "k1=v1,k2=v2".
std::string SelectorString(const NodeSelector& selector);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_COMMON_PLACEMENT_H_

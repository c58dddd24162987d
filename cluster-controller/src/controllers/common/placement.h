// Node selection shared by placement (new disks), VMs (their disks' node against their
// constraints) and migration (the target): pure functions over Node objects. A VM's
// constraints on nodes are the ones Kubernetes has: spec.nodeSelector, spec.affinity.nodeAffinity
// requiredDuringSchedulingIgnoredDuringExecution, and spec.tolerations against the Node's
// spec.taints (NoSchedule and NoExecute; PreferNoSchedule never excludes).
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

struct NodeConstraints {
  NodeSelector selector;
  Json terms = Json::array();        // nodeAffinity required nodeSelectorTerms (ORed)
  Json tolerations = Json::array();  // what taints the VM tolerates

  // From a VirtualMachine's spec.
  static NodeConstraints Of(const Json& vm_spec);
  // Whether it constrains anything besides taints (which every node may carry).
  bool Restricts() const { return !selector.empty() || !terms.empty(); }
  // "zone=b", "nodeAffinity ...", both: for messages.
  std::string Describe() const;
};

// Why the node (its name, labels and taints) does not fit: the first unmatched selector entry
// ("zone=b"), "no nodeAffinity term matches" or the untolerated taint ("taint
// dedicated=gpu:NoSchedule not tolerated"); nullopt when it fits. `running`: for a VM already
// there, where only NoExecute taints count.
std::optional<std::string> Unmet(const std::string& node_name,
                                 const std::map<std::string, std::string>& labels,
                                 const Json& taints, const NodeConstraints& c,
                                 bool running = false);
// The same for a Node object.
std::optional<std::string> Unmet(const Json& node, const NodeConstraints& c, bool running = false);

// "k1=v1,k2=v2".
std::string SelectorString(const NodeSelector& selector);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_CONTROLLERS_COMMON_PLACEMENT_H_

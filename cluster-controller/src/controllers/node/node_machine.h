// The Node state machine as pure functions (berth/controller/step.h). A Node has no phase: its
// Ready condition follows the agent's heartbeats, which the controller hears in memory
// (NodeTracker), and its pools are recorded once.
//
//   observation                                        -> next status
//   heartbeat within heartbeat_grace, no status.pools  -> (the agent's GetInfo observed first)
//                                                         pools and version recorded, then as below
//   heartbeat within grace, Ready not True             -> lastHeartbeatTime = the beat,
//                                                         Ready True AgentHeartbeat
//   heartbeat within grace, lastHeartbeatTime >= 30 s
//                                           old        -> lastHeartbeatTime = the beat,
//                                                         Ready True AgentHeartbeat
//   heartbeat within grace, otherwise                  -> Ready True AgentHeartbeat
//   no heartbeat within grace                          -> Ready False AgentNotResponding
//   every pass                                         -> requeue after heartbeat_interval
// No action: the only agent call (GetInfo) is an observation.
#ifndef BERTH_CONTROLLER_CONTROLLERS_NODE_NODE_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_NODE_NODE_MACHINE_H_

#include <optional>

#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"

namespace berth::controller::node {

enum class Action { kNone };

// lastHeartbeatTime is rewritten at most this often while the node stays Ready, so that
// heartbeats do not each cost a store write.
inline constexpr absl::Duration kHeartbeatWriteEvery = absl::Seconds(30);

struct Observation {
  absl::Time last_beat = absl::InfinitePast();  // NodeTracker::LastBeat
  std::optional<agentpb::NodeInfo> info;        // the agent's GetInfo, when NeedsInfo
};

// Whether a heartbeat arrived within `grace` of `now`.
bool HeartbeatFresh(absl::Time last_beat, absl::Time now, absl::Duration grace);

// Whether the pass asks the agent for its pools and version: the node is Ready and none are
// recorded yet.
bool NeedsInfo(const types::Node& node, bool fresh);

// The next status; requeues after `interval`.
Step<Action> Plan(const types::Node& node, const Observation& obs, absl::Time now,
                  absl::Duration grace, absl::Duration interval);

}  // namespace berth::controller::node

#endif  // BERTH_CONTROLLER_CONTROLLERS_NODE_NODE_MACHINE_H_

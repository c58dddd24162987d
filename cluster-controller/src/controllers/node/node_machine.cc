#include "controllers/node/node_machine.h"

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/time_util.h"

namespace berth::controller::node {

namespace {

Json PoolsToJson(const agentpb::NodeInfo& info) {
  Json pools = Json::array();
  for (const auto& p : info.pools()) {
    pools.push_back({{"name", p.name()},
                     {"backend", p.backend()},
                     {"path", p.path()},
                     {"capacityBytes", p.capacity_bytes()},
                     {"availableBytes", p.available_bytes()}});
  }
  return pools;
}

}  // namespace

bool HeartbeatFresh(absl::Time last_beat, absl::Time now, absl::Duration grace) {
  return now - last_beat <= grace;
}

bool NeedsInfo(const types::Node& node, bool fresh) { return fresh && !node.status().has_pools(); }

Step<Action> Plan(const types::Node& node, const Observation& obs, absl::Time now,
                  absl::Duration grace, absl::Duration interval) {
  const bool ready = HeartbeatFresh(obs.last_beat, now, grace);
  Json status = node.status().json();
  types::NodeStatusWriter w(status);
  if (ready && obs.info && !w.has_pools()) {
    w.set_pools(PoolsToJson(*obs.info));
    w.set_version(obs.info->version());
  }
  const bool was_ready = node.status().conditions().IsTrue(kReady);
  absl::Time written = ParseRfc3339(w.last_heartbeat_time());
  if (ready && (!was_ready || now - written >= kHeartbeatWriteEvery)) {
    w.set_last_heartbeat_time(FormatRfc3339(obs.last_beat));
  }
  if (ready) {
    SetCondition(status, kReady, true, kReasonAgentHeartbeat, "node agent is sending heartbeats",
                 node.json(), now);
  } else {
    // The message is stable while NotReady, so the status is not rewritten every poll.
    SetCondition(
        status, kReady, false, kReasonAgentNotResponding,
        absl::StrCat("no heartbeat from the node agent within ", absl::FormatDuration(grace)),
        node.json(), now);
  }
  Step<Action> step;
  step.status = std::move(status);
  step.requeue = interval;
  return step;
}

}  // namespace berth::controller::node

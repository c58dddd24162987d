// Keeps each Node's Ready condition in step with its agent's heartbeats, and records the pools
// the agent serves.
#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kHeartbeatWriteEvery = absl::Seconds(30);

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

class NodeReconciler : public Reconciler {
 public:
  NodeReconciler(ObjectStore& store, AgentDirectory& agents, NodeTracker& tracker,
                 const Clock& clock, const ControllerConfig& config)
      : store_(store), agents_(agents), tracker_(tracker), clock_(clock), config_(config) {}

  std::string Kind() const override { return "Node"; }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto obj = store_.Get(key);
    if (absl::IsNotFound(obj.status())) return ReconcileResult{};
    if (!obj.ok()) return obj.status();
    absl::Time now = clock_.Now();
    absl::Time last = tracker_.LastBeat(key.name);
    bool ready = now - last <= config_.heartbeat_grace;
    Json status = obj->value("status", Json::object());
    if (ready && !status.contains("pools")) {
      BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(key.name));
      BERTH_ASSIGN_OR_RETURN(agentpb::NodeInfo info, agent->GetInfo());
      status["pools"] = PoolsToJson(info);
      status["version"] = info.version();
    }
    bool was_ready = GetCondition(*obj, "Ready").value("status", "") == "True";
    absl::Time written = ParseRfc3339(status.value("lastHeartbeatTime", ""));
    if (ready && (!was_ready || now - written >= kHeartbeatWriteEvery)) {
      status["lastHeartbeatTime"] = FormatRfc3339(last);
    }
    if (ready) {
      SetCondition(status, "Ready", true, "AgentHeartbeat", "node agent is sending heartbeats",
                   *obj, now);
    } else {
      // The message is stable while NotReady, so the status is not rewritten every poll.
      std::string msg = absl::StrCat("no heartbeat from the node agent within ",
                                     absl::FormatDuration(config_.heartbeat_grace));
      SetCondition(status, "Ready", false, "AgentNotResponding", msg, *obj, now);
    }
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, *obj, status).status());
    return ReconcileResult{config_.heartbeat_interval};
  }

 private:
  ObjectStore& store_;
  AgentDirectory& agents_;
  NodeTracker& tracker_;
  const Clock& clock_;
  const ControllerConfig& config_;
};

}  // namespace

std::unique_ptr<Reconciler> NewNodeReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<NodeReconciler>(deps.store, deps.agents, deps.tracker, deps.clock,
                                          deps.config);
}

}  // namespace berth::controller

// Keeps each Node's Ready condition in step with its agent's heartbeats, and records the pools
// the agent serves. The state machine is node_machine.h; this file observes and stores.
#include "berth/controller/controllers.h"
#include "berth/status_macros.h"
#include "controllers/node/node_machine.h"

namespace berth::controller {
namespace {

class NodeReconciler : public Reconciler {
 public:
  NodeReconciler(ObjectStore& store, AgentDirectory& agents, NodeTracker& tracker,
                 const Clock& clock, const ControllerConfig& config)
      : store_(store), agents_(agents), tracker_(tracker), clock_(clock), config_(config) {}

  std::string Kind() const override { return kinds::kNode; }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Peek(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    std::shared_ptr<const Json> obj = *std::move(got);
    types::Node n(*obj);
    absl::Time now = clock_.Now();
    node::Observation obs;
    obs.last_beat = tracker_.LastBeat(key.name);
    if (node::NeedsInfo(n, node::HeartbeatFresh(obs.last_beat, now, config_.heartbeat_grace))) {
      BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(key.name));
      BERTH_ASSIGN_OR_RETURN(obs.info, agent->GetInfo());
    }
    Step<node::Action> step =
        node::Plan(n, obs, now, config_.heartbeat_grace, config_.heartbeat_interval);
    BERTH_RETURN_IF_ERROR(StoreStep(store_, *obj, step).status());
    return step.Result();
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

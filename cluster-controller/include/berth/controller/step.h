// The shape of every reconciler (KubeVirt's snapshot controller's): observe what the object
// depends on, compute the next status in a pure function of (object, observations, now),
// act, and write the status once if it changed.
//
//   Observe  reads the store (and, where a kind needs it, an agent) into an Observation struct;
//   Plan     is pure: (typed object, Observation, now) -> Step<Action>;
//   Act      carries out step.action (agent calls) after storing step.status when the action
//            must be durable first (write-ahead: a finalizer and the status that announces a
//            node-side change are stored before the node is asked for it);
//   Finish   is pure too: (object, status, the action's outcome, now) -> the Step to store.
//
// So the state machine of each kind is a set of pure functions, and its tests are tables of
// (object, observations) -> (next status, action).
#ifndef BERTH_CONTROLLER_STEP_H_
#define BERTH_CONTROLLER_STEP_H_

#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/object_store.h"
#include "berth/controller/reconciler.h"
#include "berth/controller/status_util.h"
#include "berth/json.h"

namespace berth::controller {

// What a pure step function decides. `Action` is the kind's enum of node-side actions; its
// value-initialized state (0) must mean "nothing to do".
template <typename Action>
struct Step {
  std::optional<Json> status;  // the next status; nullopt: nothing to store
  Action action{};             // carried out after `status` is stored
  bool add_finalizer = false;  // the status write also adds the kind's finalizer
  PhaseEvent event = PhaseEvent::kRecord;
  absl::Duration requeue = absl::ZeroDuration();

  ReconcileResult Result() const { return ReconcileResult{requeue}; }
};

// Stores step.status (and the finalizer, when step.add_finalizer) if it changes the object;
// returns the object as stored afterwards (`obj` itself when there was nothing to store).
template <typename Action>
absl::StatusOr<Json> StoreStep(ObjectStore& store, const Json& obj, const Step<Action>& step,
                               const std::string& finalizer = "") {
  if (!step.status) return obj;
  if (step.add_finalizer) {
    return WriteStatusAndAddFinalizer(store, obj, *step.status, finalizer, step.event);
  }
  return WriteStatus(store, obj, *step.status);
}

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_STEP_H_

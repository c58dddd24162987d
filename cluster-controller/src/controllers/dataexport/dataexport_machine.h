// The DataExport state machine as pure functions (berth/controller/step.h). An export asks the
// agent holding a VirtualDisk's or VirtualDiskSnapshot's data to serve it over HTTPS for a
// while. The agent's lease is idle time: each request extends it, so a long download does not
// expire mid-way; the controller follows the agent's expiry and releases the export
// (StopExport) when it has run out or when the object is deleted. Every pass of an unfinished
// export first stores the finalizer.
//
//   phase          observation                                  -> next phase, action
//   Failed|Expired (any)                                        -> (finished)
//   not Ready      spec.ttl not a positive duration             -> Failed InvalidTTL
//   not Ready      the target missing                           -> Failed ExportRefused
//   not Ready      the target not Ready                         -> Pending WaitingForTarget, 1 s
//   not Ready      spec.since missing                           -> Failed ExportRefused
//   not Ready      spec.since not Ready                         -> Pending WaitingForTarget, 1 s
//   not Ready      spec.since taken after the target snapshot   -> Failed ExportRefused
//   not Ready      a VirtualDisk target a running VM uses       -> Failed ExportRefused
//   not Ready      otherwise                                    -> kStart, then FinishStart:
//   (started)      refused (NotFound, InvalidArgument)          -> Failed ExportFailed
//   (started)      serving                                      -> Ready Serving (node, url,
//                                                                  publicURL, token, caCert,
//                                                                  sizeBytes, expiresAt)
//   Ready          the agent unreachable (Unavailable)          -> (wait) 10 s
//   Ready          GetExport failed otherwise                   -> the error (retried)
//   Ready          the agent no longer has the export, or it
//                  expired                                      -> kRelease, then Expired
//   Ready          serving                                      -> Ready, expiresAt followed
//  Ready and (started) requeue one second after expiresAt, between 1 and 10 s from now.
//   deleting       node recorded, finalizer                     -> kRelease (a node that no longer
//                                                                  exists has nothing to release),
//                                                                  then the finalizer removed
//   deleting       otherwise                                    -> finalizer removed
#ifndef BERTH_CONTROLLER_CONTROLLERS_DATAEXPORT_DATAEXPORT_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_DATAEXPORT_DATAEXPORT_MACHINE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent.pb.h"
#include "berth/controller/data_export.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"

namespace berth::controller::dataexport {

using Phase = types::DataExportPhase;

// Failed and Expired exports wait for nothing.
bool Finished(const types::DataExport& e);

enum class Action {
  kNone,
  kStart,    // StartExport(Planned::node, Planned::request), then FinishStart
  kRelease,  // StopExport on status.node; BEFORE the status is stored (Expired is final: it is
             // stored only once the data is released) or the finalizer removed
  kRemoveFinalizer,
};

// What a pass looked at besides the export.
struct Observation {
  // Phase Ready: the agent's GetExport of it.
  std::optional<absl::StatusOr<agentpb::ExportInfo>> lease;
  // Other phases: spec.targetRef's object and spec.since's snapshot (null: not found), and the
  // errors other than NotFound reading them.
  const Json* target = nullptr;
  absl::Status target_error;
  const Json* since = nullptr;
  absl::Status since_error;
  // A VirtualDisk target: a VM (FindVmUsing) that has it attached and is not stopped.
  const Json* vm_using = nullptr;
  absl::Status vms_error;
};

// What Plan decides: the step, and what kStart needs.
struct Planned : Step<Action> {
  std::string node;
  agentpb::StartExportRequest request;
};

inline constexpr absl::Duration kPendingPoll = absl::Seconds(1);
inline constexpr absl::Duration kMaxReadyPoll = absl::Seconds(10);

// The first of `vms` that has VirtualDisk `disk` attached and is not stopped; null when none.
const Json* FindVmUsing(const std::vector<Json>& vms, const std::string& disk);

// Exports neither finished nor being deleted (their finalizer is stored). Errors: the
// observation's, where the pass needed what failed to be read.
absl::StatusOr<Planned> Plan(const types::DataExport& e, const Observation& obs, absl::Time now);

// Folds kStart's outcome in. Errors that say nothing about the export are returned, to retry.
absl::StatusOr<Step<Action>> FinishStart(const types::DataExport& e, const std::string& node,
                                         const absl::StatusOr<agentpb::ExportInfo>& info,
                                         absl::Time now);

// An export being deleted.
Step<Action> PlanDeletion(const types::DataExport& e);

// Whether deletion's kRelease is done: StopExport's outcome, and whether the node is gone.
absl::Status Released(const absl::Status& stopped, bool node_gone);

}  // namespace berth::controller::dataexport

#endif  // BERTH_CONTROLLER_CONTROLLERS_DATAEXPORT_DATAEXPORT_MACHINE_H_

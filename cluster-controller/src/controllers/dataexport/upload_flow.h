// The Upload data source, shared by VirtualDisk and VirtualImage: a blank volume on the chosen
// node, an upload export on its agent (status.upload carries URL, token and CA for the CLI),
// then Ready once the agent has verified the uploaded content's digest.
//
// The flow starts once status.node and status.pool are stored (the kind's machine places the
// object first, so a crash never makes the volume twice). Each pass acts (AdvanceUpload), then
// folds what the node said into the status (FinishUpload):
//
//   phase               what the node said                          -> next phase
//   not WaitForUserUpload
//                       CreateVolume refused (InvalidArgument,
//                       FailedPrecondition)                         -> Failed ProvisioningFailed
//   (any)               the export Completed (stopped)              -> Ready (sizeBytes, capacity)
//   (any)               the export Expired (stopped)                -> Failed UploadExpired
//   (any)               the export serving                          -> WaitForUserUpload,
//                                                                      status.upload; poll 1 s
// Any other error (the node unreachable) is returned, to retry.
#ifndef BERTH_CLUSTER_CONTROLLER_SRC_CONTROLLERS_DATAEXPORT_UPLOAD_FLOW_H_
#define BERTH_CLUSTER_CONTROLLER_SRC_CONTROLLERS_DATAEXPORT_UPLOAD_FLOW_H_

#include <optional>
#include <string>

#include "berth/controller/data_export.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"
#include "berth/quantity.h"

namespace berth::controller {

struct UploadVolume {
  uint64_t size_bytes = 0;  // the volume's size (resizable: a placeholder)
  bool resizable = false;   // the upload sets the final size (images)
  absl::Duration ttl = absl::Minutes(10);
  // An incremental upload (spec.dataSource.upload.since): the volume starts as this snapshot
  // (in the object's pool) and the client sends only the leaves that differ.
  std::string since_snapshot_id;
};

inline constexpr absl::Duration kUploadPoll = absl::Seconds(1);

// What one pass of the upload flow found on the node.
struct UploadProgress {
  // CreateVolume's refusal (InvalidArgument, FailedPrecondition); no export was started then.
  absl::Status refused;
  std::optional<std::string> path;  // the volume this pass made
  agentpb::ExportInfo info;         // the upload export; stopped when Completed or Expired
};

// Act: makes the volume `uid` in `pool` on `node` unless `volume_made` (the phase is
// WaitForUserUpload already), starts the upload export (StartExport of a live one returns it),
// and stops it once it has Completed or Expired.
absl::StatusOr<UploadProgress> AdvanceUpload(AgentDirectory& agents, ExportAgents& exports,
                                             const std::string& node, const std::string& pool,
                                             const std::string& uid, bool volume_made,
                                             const UploadVolume& volume);

// Finish (pure): `status` (the object's) after AdvanceUpload. Writer: the kind's status writer
// (types::VirtualDiskStatusWriter, VirtualImageStatusWriter, ClusterVirtualImageStatusWriter).
template <typename Writer, typename Action>
Step<Action> FinishUpload(const Json& obj, Json status, const UploadProgress& p, absl::Time now) {
  Writer w(status);
  using Phase = decltype(w.phase());
  Step<Action> step;
  if (!p.refused.ok()) {
    w.set_phase(Phase::kFailed);
    SetCondition(status, common::kReady, false, dataexport::kReasonUploadProvisioningFailed,
                 std::string(p.refused.message()), obj, now);
    step.status = std::move(status);
    return step;
  }
  if (p.path) w.set_path(*p.path);
  if (p.info.state() == "Completed") {
    w.clear_upload();
    w.set_size_bytes(static_cast<int64_t>(p.info.size_bytes()));
    w.set_capacity(FormatQuantity(p.info.size_bytes()));
    w.set_phase(Phase::kReady);
    SetCondition(status, common::kReady, true, dataexport::kReasonUploadReady, p.info.message(),
                 obj, now);
  } else if (p.info.state() == "Expired") {
    w.clear_upload();
    w.set_phase(Phase::kFailed);
    SetCondition(status, common::kReady, false, dataexport::kReasonUploadExpired,
                 "no upload arrived before the upload endpoint expired; delete and recreate", obj,
                 now);
  } else {
    w.set_upload(Json{{"url", p.info.url()},
                      {"publicURL", p.info.public_url()},
                      {"token", p.info.token()},
                      {"caCert", p.info.ca_cert()}});
    w.set_phase(Phase::kWaitForUserUpload);
    SetCondition(status, common::kReady, false, dataexport::kReasonWaitForUserUpload,
                 "waiting for the data: berth data import upload", obj, now);
    step.requeue = kUploadPoll;
  }
  step.status = std::move(status);
  return step;
}

// Releases the unfinished upload export `uid` on `node` (on deletion). OK when there is none,
// when no node was chosen, or when uploads are off (`exports` null).
absl::Status StopUpload(ExportAgents* exports, const std::string& node, const std::string& uid);

}  // namespace berth::controller

#endif  // BERTH_CLUSTER_CONTROLLER_SRC_CONTROLLERS_DATAEXPORT_UPLOAD_FLOW_H_

#include "controllers/dataexport/upload_flow.h"

#include <algorithm>

#include "berth/status_macros.h"

namespace berth::controller {

absl::StatusOr<UploadProgress> AdvanceUpload(AgentDirectory& agents, ExportAgents& exports,
                                             const std::string& node, const std::string& pool,
                                             const std::string& uid, bool volume_made,
                                             const UploadVolume& volume) {
  UploadProgress p;
  if (!volume_made) {
    BERTH_ASSIGN_OR_RETURN(auto agent, agents.ForNode(node));
    agentpb::CreateVolumeRequest req;
    req.set_pool(pool);
    req.set_id(uid);
    req.set_size_bytes(volume.size_bytes);
    if (!volume.since_snapshot_id.empty()) {
      req.set_source_snapshot_pool(pool);
      req.set_source_snapshot_id(volume.since_snapshot_id);
    }
    auto vol = agent->CreateVolume(req);
    if (absl::IsInvalidArgument(vol.status()) || absl::IsFailedPrecondition(vol.status())) {
      p.refused = vol.status();
      return p;
    }
    // A resizable volume may already have been resized by a previous pass's upload.
    if (!vol.ok() && !(volume.resizable && absl::IsAlreadyExists(vol.status()))) {
      return vol.status();
    }
    if (vol.ok()) p.path = vol->path();
  }
  agentpb::StartExportRequest req;
  req.set_id(uid);
  req.set_pool(pool);
  req.set_volume_id(uid);
  req.set_upload(true);
  req.set_resizable(volume.resizable);
  req.set_since_snapshot_id(volume.since_snapshot_id);
  req.set_ttl_seconds(std::max<int64_t>(1, absl::ToInt64Seconds(volume.ttl)));
  BERTH_ASSIGN_OR_RETURN(p.info, exports.StartExport(node, req));
  if (p.info.state() == "Completed" || p.info.state() == "Expired") {
    BERTH_RETURN_IF_ERROR(exports.StopExport(node, uid).status());
  }
  return p;
}

absl::Status StopUpload(ExportAgents* exports, const std::string& node, const std::string& uid) {
  if (exports == nullptr || node.empty()) return absl::OkStatus();
  auto stopped = exports->StopExport(node, uid);
  return stopped.ok() || absl::IsNotFound(stopped.status()) ? absl::OkStatus() : stopped.status();
}

}  // namespace berth::controller

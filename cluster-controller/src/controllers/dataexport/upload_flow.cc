#include "controllers/dataexport/upload_flow.h"

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kUploadPoll = absl::Seconds(1);

absl::StatusOr<ReconcileResult> Write(ObjectStore& store, const Clock& clock, const Json& obj,
                                      Json status, const std::string& phase, bool ready,
                                      const std::string& reason, const std::string& message,
                                      absl::Duration requeue) {
  status["phase"] = phase;
  SetCondition(status, "Ready", ready, reason, message, obj, clock.Now());
  BERTH_RETURN_IF_ERROR(WriteStatus(store, obj, status).status());
  return ReconcileResult{requeue};
}

}  // namespace

absl::StatusOr<ReconcileResult> DriveUpload(ObjectStore& store, AgentDirectory& agents,
                                            ExportAgents& exports, const Clock& clock,
                                            const Json& obj, const UploadVolume& volume) {
  Json status = obj.value("status", Json::object());
  std::string node = status.value("node", ""), pool = status.value("pool", "");
  std::string uid = JsonString(obj, "/metadata/uid");
  if (status.value("phase", "") != kUploadPhase) {
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
      return Write(store, clock, obj, status, "Failed", false, "ProvisioningFailed",
                   std::string(vol.status().message()), absl::ZeroDuration());
    }
    // A resizable volume may already have been resized by a previous pass's upload.
    if (!vol.ok() && !(volume.resizable && absl::IsAlreadyExists(vol.status()))) {
      return vol.status();
    }
    if (vol.ok()) status["path"] = vol->path();
  }
  agentpb::StartExportRequest req;
  req.set_id(uid);
  req.set_pool(pool);
  req.set_volume_id(uid);
  req.set_upload(true);
  req.set_resizable(volume.resizable);
  req.set_since_snapshot_id(volume.since_snapshot_id);
  req.set_ttl_seconds(std::max<int64_t>(1, absl::ToInt64Seconds(volume.ttl)));
  auto info = exports.StartExport(node, req);
  if (!info.ok()) return info.status();
  if (info->state() == "Completed") {
    BERTH_RETURN_IF_ERROR(exports.StopExport(node, uid).status());
    status.erase("upload");
    status["sizeBytes"] = info->size_bytes();
    status["capacity"] = FormatQuantity(info->size_bytes());
    return Write(store, clock, obj, status, "Ready", true, "Ready", info->message(),
                 absl::ZeroDuration());
  }
  if (info->state() == "Expired") {
    BERTH_RETURN_IF_ERROR(exports.StopExport(node, uid).status());
    status.erase("upload");
    return Write(store, clock, obj, status, "Failed", false, "UploadExpired",
                 "no upload arrived before the upload endpoint expired; delete and recreate",
                 absl::ZeroDuration());
  }
  status["upload"] = Json{{"url", info->url()},
                          {"publicURL", info->public_url()},
                          {"token", info->token()},
                          {"caCert", info->ca_cert()}};
  return Write(store, clock, obj, status, kUploadPhase, false, kUploadPhase,
               "waiting for the data: berth data import upload", kUploadPoll);
}

absl::Status StopUpload(ExportAgents* exports, const Json& obj) {
  std::string node = JsonString(obj, "/status/node");
  if (exports == nullptr || node.empty() || !IsUploadSource(obj)) return absl::OkStatus();
  auto stopped = exports->StopExport(node, JsonString(obj, "/metadata/uid"));
  return stopped.ok() || absl::IsNotFound(stopped.status()) ? absl::OkStatus() : stopped.status();
}

}  // namespace berth::controller

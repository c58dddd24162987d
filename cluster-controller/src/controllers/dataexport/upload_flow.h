// The Upload data source, shared by VirtualDisk and VirtualImage: a blank volume on the chosen
// node, an upload export on its agent (status.upload carries URL, token and CA for the CLI),
// then Ready once the agent has verified the uploaded content's digest.
#ifndef BERTH_CLUSTER_CONTROLLER_SRC_CONTROLLERS_DATAEXPORT_UPLOAD_FLOW_H_
#define BERTH_CLUSTER_CONTROLLER_SRC_CONTROLLERS_DATAEXPORT_UPLOAD_FLOW_H_

#include <string>

#include "berth/controller/data_export.h"

namespace berth::controller {

struct UploadVolume {
  uint64_t size_bytes = 0;  // the volume's size (resizable: a placeholder)
  bool resizable = false;   // the upload sets the final size (images)
  absl::Duration ttl = absl::Minutes(10);
  // An incremental upload (spec.dataSource.upload.since): the volume starts as this snapshot
  // (in the object's pool) and the client sends only the leaves that differ.
  std::string since_snapshot_id;
};

// Drives `obj` (status.node and status.pool already recorded) through WaitForUserUpload to
// Ready or Failed. `agents`/`exports` talk to the node; writes status only when it changed.
absl::StatusOr<ReconcileResult> DriveUpload(ObjectStore& store, AgentDirectory& agents,
                                            ExportAgents& exports, const Clock& clock,
                                            const Json& obj, const UploadVolume& volume);

// Releases an unfinished upload export of `obj` (on deletion). OK when there is none.
absl::Status StopUpload(ExportAgents* exports, const Json& obj);

// Returns whether obj.spec.dataSource.type is Upload.
inline bool IsUploadSource(const Json& obj) {
  return JsonString(obj, "/spec/dataSource/type") == "Upload";
}

}  // namespace berth::controller

#endif  // BERTH_CLUSTER_CONTROLLER_SRC_CONTROLLERS_DATAEXPORT_UPLOAD_FLOW_H_

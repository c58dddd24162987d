// VirtualImage and ClusterVirtualImage: the image is a volume in a pool on one node.
//  - dataSource Upload: in the pool of spec.persistentVolumeClaim.storageClassName (else the
//    default class), filled by `berth data import upload vi/NAME`.
//    Pending -> WaitForUserUpload -> Ready.
//  - dataSource ObjectRef to a VirtualDiskSnapshot, VirtualDisk, VirtualImage or
//    ClusterVirtualImage: a copy-on-write copy in the source's pool on the source's node (a disk
//    is cut through a temporary node-side snapshot; a disk in use by a running VM waits).
//    Pending -> Provisioning -> Ready.
// Failed on errors; Terminating while deleting. Other data source types wait with a condition.
#include <map>

#include "absl/strings/str_cat.h"
#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"
#include "controllers/dataexport/upload_flow.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kPendingPoll = absl::Seconds(2);
constexpr uint64_t kPlaceholderSize = 1 << 20;  // the upload sets the real size

class VirtualImageReconciler : public Reconciler {
 public:
  VirtualImageReconciler(std::string kind, const ReconcilerDeps& deps)
      : kind_(std::move(kind)),
        store_(deps.store),
        agents_(deps.agents),
        clock_(deps.clock),
        config_(deps.config),
        exports_(deps.exports) {}

  std::string Kind() const override { return kind_; }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    if (IsDeleting(obj)) return Finalize(obj);
    std::string phase = JsonString(obj, "/status/phase");
    if (phase == "Ready" || phase == "Failed") return ReconcileResult{};
    if (JsonString(obj, "/spec/dataSource/type") == "ObjectRef") return FromObjectRef(obj);
    if (!IsUploadSource(obj) || exports_ == nullptr) {
      return SetPhase(obj, "Pending", "DataSourceNotSupported",
                      absl::StrCat("dataSource type \"", JsonString(obj, "/spec/dataSource/type"),
                                   "\" is not supported by Berth yet; use Upload"));
    }
    BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kVolumeFinalizer));
    if (JsonString(obj, "/status/node").empty()) return Place(obj);
    UploadVolume volume{kPlaceholderSize, /*resizable=*/true, config_.upload_ttl};
    auto result = DriveUpload(store_, agents_, *exports_, clock_, obj, volume);
    if (result.ok()) Annotate(key);
    return result;
  }

 private:
  // A copy of another disk, snapshot or image, on the node and in the pool that hold it.
  absl::StatusOr<ReconcileResult> FromObjectRef(Json obj) {
    Json ref = JsonAt(obj, "/spec/dataSource/objectRef");
    std::string kind = JsonString(ref, "/kind"), name = JsonString(ref, "/name");
    std::string ns = kind == "ClusterVirtualImage"
                         ? ""
                         : JsonString(ref, "/namespace", JsonString(obj, "/metadata/namespace"));
    auto src = store_.Get(ObjectKey{kind, ns, name});
    if (!src.ok() || JsonString(*src, "/status/phase") != "Ready") {
      if (!src.ok() && !absl::IsNotFound(src.status())) return src.status();
      return SetPhase(obj, "Pending", "WaitingForSource",
                      absl::StrCat(kind, " \"", name, "\" is ", src.ok() ? "not Ready" : "missing"),
                      kPendingPoll);
    }
    if (kind == "VirtualDisk") {
      BERTH_ASSIGN_OR_RETURN(auto users, VmsUsingDisk(store_, ns, name));
      for (const Json& vm : users) {
        if (VmActive(JsonString(vm, "/status/phase"))) {
          return SetPhase(obj, "Pending", "SourceInUse",
                          absl::StrCat("VirtualDisk \"", name,
                                       "\" is attached to running "
                                       "VirtualMachine \"",
                                       JsonString(vm, "/metadata/name"),
                                       "\"; stop it to make an image of the disk"),
                          kPendingPoll);
        }
      }
    }
    BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kVolumeFinalizer));
    Json status = obj.value("status", Json::object());
    std::string node = JsonString(*src, "/status/node"), pool = JsonString(*src, "/status/pool");
    if (status.value("node", "").empty()) {  // recorded before any agent call
      status["node"] = node;
      status["pool"] = pool;
      status["phase"] = "Provisioning";
      SetCondition(status, "Ready", false, "Provisioning",
                   absl::StrCat("copying ", kind, " \"", name, "\""), obj, clock_.Now());
      BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
      return ReconcileResult{};
    }
    BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(node));
    std::string uid = JsonString(obj, "/metadata/uid");
    agentpb::CreateVolumeRequest req;
    req.set_pool(pool);
    req.set_id(uid);
    req.set_size_bytes(JsonAt(*src, "/status/sizeBytes").is_number()
                           ? (*src)["status"]["sizeBytes"].get<uint64_t>()
                           : 0);
    req.set_source_snapshot_pool(pool);
    std::string temp;  // a volume is cut through a snapshot of our own, deleted afterwards
    if (kind == "VirtualDiskSnapshot") {
      req.set_source_snapshot_id(JsonString(*src, "/metadata/uid"));
    } else {
      temp = absl::StrCat("image-", uid);
      agentpb::CreateSnapshotRequest cut;
      cut.set_pool(pool);
      cut.set_volume_id(JsonString(*src, "/metadata/uid"));
      cut.set_id(temp);
      auto snap = agent->CreateSnapshot(cut);
      if (!snap.ok()) return snap.status();
      req.set_source_snapshot_id(temp);
      if (req.size_bytes() == 0) req.set_size_bytes(snap->size_bytes());
    }
    auto vol = agent->CreateVolume(req);
    if (!temp.empty()) BERTH_RETURN_IF_ERROR(agent->DeleteSnapshot(pool, temp).status());
    if (absl::IsInvalidArgument(vol.status()) || absl::IsFailedPrecondition(vol.status()) ||
        absl::IsNotFound(vol.status())) {
      return SetPhase(obj, "Failed", "ProvisioningFailed", std::string(vol.status().message()));
    }
    if (!vol.ok()) return vol.status();
    status["phase"] = "Ready";
    status["path"] = vol->path();
    status["sizeBytes"] = vol->size_bytes();
    std::string size = FormatQuantity(vol->size_bytes());
    status["size"] = Json{{"stored", size}, {"unpacked", size}};
    SetCondition(status, "Ready", true, "Ready", "", obj, clock_.Now());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
    return ReconcileResult{};
  }

  // Adds status.size (stored/unpacked) once Ready; the upload flow writes sizeBytes.
  void Annotate(const ObjectKey& key) {
    auto obj = store_.Get(key);
    if (!obj.ok() || JsonString(*obj, "/status/phase") != "Ready") return;
    Json status = (*obj)["status"];
    std::string size = FormatQuantity(status.value("sizeBytes", uint64_t{0}));
    status["size"] = Json{{"stored", size}, {"unpacked", size}};
    WriteStatus(store_, *obj, status).status().IgnoreError();
  }

  absl::StatusOr<ReconcileResult> Finalize(const Json& obj) {
    Json status = obj.value("status", Json::object());
    std::string node = status.value("node", "");
    if (!node.empty() && HasFinalizer(obj, kVolumeFinalizer)) {
      BERTH_RETURN_IF_ERROR(StopUpload(exports_, obj));
      BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(node));
      BERTH_RETURN_IF_ERROR(
          agent->DeleteVolume(status.value("pool", ""), JsonString(obj, "/metadata/uid")).status());
    }
    BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, obj, kVolumeFinalizer).status());
    return ReconcileResult{};
  }

  absl::StatusOr<ReconcileResult> SetPhase(const Json& obj, const std::string& phase,
                                           const std::string& reason, const std::string& msg,
                                           absl::Duration requeue = absl::ZeroDuration()) {
    Json status = obj.value("status", Json::object());
    status["phase"] = phase;
    SetCondition(status, "Ready", false, reason, msg, obj, clock_.Now());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
    return ReconcileResult{requeue};
  }

  // Chooses the pool and node and records them before any agent call.
  absl::StatusOr<ReconcileResult> Place(const Json& obj) {
    std::string cls = JsonString(obj, "/spec/persistentVolumeClaim/storageClassName",
                                 config_.default_storage_class);
    auto pool = config_.storage_classes.find(cls);
    if (pool == config_.storage_classes.end()) {
      return SetPhase(obj, "Pending", "StorageClassNotFound",
                      absl::StrCat("storage class \"", cls, "\" is not configured"),
                      absl::Seconds(10));
    }
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> nodes, store_.List("Node", ""));
    std::string best;
    for (const Json& n : nodes) {
      if (GetCondition(n, "Ready").value("status", "") != "True") continue;
      for (const Json& p : JsonAt(n, "/status/pools")) {
        if (p.value("name", "") == pool->second && best.empty()) {
          best = JsonString(n, "/metadata/name");
        }
      }
    }
    if (best.empty()) {
      return SetPhase(obj, "Pending", "WaitingForNode",
                      absl::StrCat("no Ready node serves storage pool \"", pool->second, "\""),
                      kPendingPoll);
    }
    Json status = obj.value("status", Json::object());
    status["node"] = best;
    status["pool"] = pool->second;
    status["storageClassName"] = cls;
    status["phase"] = "Provisioning";
    SetCondition(status, "Ready", false, "Provisioning", "creating the volume", obj, clock_.Now());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
    return ReconcileResult{};
  }

  const std::string kind_;
  ObjectStore& store_;
  AgentDirectory& agents_;
  const Clock& clock_;
  const ControllerConfig& config_;
  ExportAgents* exports_;  // null: off
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualImageReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VirtualImageReconciler>("VirtualImage", deps);
}

std::unique_ptr<Reconciler> NewClusterVirtualImageReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VirtualImageReconciler>("ClusterVirtualImage", deps);
}

}  // namespace berth::controller

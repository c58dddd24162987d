// VirtualImage with dataSource Upload: the image is a volume in a pool on one node (the pool of
// spec.persistentVolumeClaim.storageClassName, else the default class), filled by
// `berth data import upload vi/NAME`. Pending -> WaitForUserUpload -> Ready (or Failed;
// Terminating while deleting). Other data source types wait with a condition saying so.
#include <map>

#include "absl/strings/str_cat.h"
#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"
#include "controllers/dataexport/upload_flow.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kPendingPoll = absl::Seconds(2);
constexpr uint64_t kPlaceholderSize = 1 << 20;  // the upload sets the real size

class VirtualImageReconciler : public Reconciler {
 public:
  VirtualImageReconciler(ObjectStore& store, AgentDirectory& agents, const Clock& clock,
                         const ControllerConfig& config)
      : store_(store), agents_(agents), clock_(clock), config_(config) {}

  std::string Kind() const override { return "VirtualImage"; }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    if (IsDeleting(obj)) return Finalize(obj);
    std::string phase = JsonString(obj, "/status/phase");
    if (phase == "Ready" || phase == "Failed") return ReconcileResult{};
    if (!IsUploadSource(obj) || config_.export_agents == nullptr) {
      return SetPhase(obj, "Pending", "DataSourceNotSupported",
                      absl::StrCat("dataSource type \"", JsonString(obj, "/spec/dataSource/type"),
                                   "\" is not supported by Berth yet; use Upload"));
    }
    BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kVolumeFinalizer));
    if (JsonString(obj, "/status/node").empty()) return Place(obj);
    UploadVolume volume{kPlaceholderSize, /*resizable=*/true, config_.upload_ttl};
    auto result = DriveUpload(store_, agents_, *config_.export_agents, clock_, obj, volume);
    if (result.ok()) Annotate(key);
    return result;
  }

 private:
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
      BERTH_RETURN_IF_ERROR(StopUpload(config_.export_agents, obj));
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

  ObjectStore& store_;
  AgentDirectory& agents_;
  const Clock& clock_;
  const ControllerConfig& config_;
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualImageReconciler(ObjectStore& store, AgentDirectory& agents,
                                                      const Clock& clock,
                                                      const ControllerConfig& config) {
  return std::make_unique<VirtualImageReconciler>(store, agents, clock, config);
}

}  // namespace berth::controller

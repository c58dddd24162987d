// Provisions VirtualDisks on a node's storage pool: blank, or restored from a
// VirtualDiskSnapshot (copy-on-write on the snapshot's node). The node is chosen once and
// recorded in status before the agent is asked, so a crash never provisions a disk twice.
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"
#include "controllers/common/ref_index.h"
#include "controllers/dataexport/upload_flow.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kPendingPoll = absl::Seconds(2);

// What the disk's data comes from, once resolved.
struct Source {
  std::string snapshot_name;
  std::string node;
  std::string pool;
  std::string snapshot_id;
  uint64_t size = 0;
};

class VirtualDiskReconciler : public Reconciler {
 public:
  explicit VirtualDiskReconciler(const ReconcilerDeps& deps)
      : store_(deps.store),
        agents_(deps.agents),
        clock_(deps.clock),
        config_(deps.config),
        exports_(deps.exports),
        restored_from_(deps.store, "VirtualDisk", [](const Json& disk) {
          if (JsonString(disk, "/spec/dataSource/objectRef/kind") != "VirtualDiskSnapshot") {
            return std::string();
          }
          return JsonString(disk, "/spec/dataSource/objectRef/name");
        }) {}

  std::string Kind() const override { return "VirtualDisk"; }

  // A VirtualDiskSnapshot's changes concern the disks restored from it (they wait for it to
  // be Ready). Looked up in an index: snapshots come in thousands, and listing every disk for
  // each of their events was most of the dispatcher's work.
  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    restored_from_.Observe(event);
    if (event.object().value("kind", "") != "VirtualDiskSnapshot") return {};
    return restored_from_.Referrers(JsonString(event.object(), "/metadata/namespace"),
                                    JsonString(event.object(), "/metadata/name"));
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    if (IsDeleting(obj)) return Finalize(obj);
    std::string phase = JsonString(obj, "/status/phase");
    if (phase == "Ready" || phase == "Failed") return ReconcileResult{};
    BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kVolumeFinalizer));
    return Provision(obj);
  }

 private:
  absl::StatusOr<ReconcileResult> Finalize(const Json& obj) {
    Json status = obj.value("status", Json::object());
    if (status.value("phase", "") != "Terminating") {
      status["phase"] = "Terminating";
      BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
      return ReconcileResult{};  // the status write queues another pass
    }
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

  absl::StatusOr<ReconcileResult> SetPhase(const Json& obj, const std::string& phase, bool ready,
                                           const std::string& reason, const std::string& msg,
                                           absl::Duration requeue = absl::ZeroDuration()) {
    Json status = obj.value("status", Json::object());
    status["phase"] = phase;
    SetCondition(status, "Ready", ready, reason, msg, obj, clock_.Now());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
    return ReconcileResult{requeue};
  }

  // Resolves dataSource; returns nullopt-like empty Source for a blank disk.
  absl::StatusOr<Source> ResolveSource(const Json& obj) {
    Source src;
    Json ds = JsonAt(obj, "/spec/dataSource");
    if (ds.is_null()) return src;
    if (ds.value("type", "") != "ObjectRef" ||
        JsonString(ds, "/objectRef/kind") != "VirtualDiskSnapshot") {
      return absl::UnimplementedError(
          "spec.dataSource: only ObjectRef to a VirtualDiskSnapshot is supported for disks");
    }
    src.snapshot_name = JsonString(ds, "/objectRef/name");
    auto snap = store_.Get(ObjectKey{"VirtualDiskSnapshot", JsonString(obj, "/metadata/namespace"),
                                     src.snapshot_name});
    if (!snap.ok() || JsonString(*snap, "/status/phase") != "Ready") {
      return absl::FailedPreconditionError(
          absl::StrCat("waiting for VirtualDiskSnapshot \"", src.snapshot_name, "\" to be Ready"));
    }
    src.node = JsonString(*snap, "/status/node");
    src.pool = JsonString(*snap, "/status/pool");
    src.snapshot_id = JsonString(*snap, "/metadata/uid");
    src.size = JsonAt(*snap, "/status/sizeBytes").is_number()
                   ? (*snap)["status"]["sizeBytes"].get<uint64_t>()
                   : 0;
    return src;
  }

  // Picks the Ready node serving `pool` with the fewest disks for `disk`, counting the picks
  // of other passes that are not stored yet (disks created together are placed in parallel,
  // and would otherwise all see the same loads and pile onto one node). The caller ends the
  // pick with Placed once it has written (or failed to write) the choice.
  absl::StatusOr<std::string> PickNode(const std::string& pool, const ObjectKey& disk) {
    absl::MutexLock l(&place_mu_);
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> nodes, store_.List("Node", ""));
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> disks, store_.List("VirtualDisk", ""));
    std::map<std::string, int> load;
    std::map<std::string, std::string> placing = placing_;
    for (const Json& d : disks) {
      std::string node = JsonString(d, "/status/node");
      if (!node.empty()) placing.erase(ObjectKey::Of(d).ToString());
      load[node]++;
    }
    for (const auto& [key, node] : placing) load[node]++;
    std::string best;
    for (const Json& n : nodes) {
      if (GetCondition(n, "Ready").value("status", "") != "True") continue;
      bool serves = false;
      for (const Json& p : JsonAt(n, "/status/pools")) serves |= p.value("name", "") == pool;
      std::string name = JsonString(n, "/metadata/name");
      if (serves && (best.empty() || load[name] < load[best])) best = name;
    }
    if (best.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("no Ready node serves storage pool \"", pool, "\""));
    }
    placing_[disk.ToString()] = best;
    return best;
  }

  // Ends a PickNode for `disk`: its choice is stored, or was not and will be made again.
  void Placed(const ObjectKey& disk) {
    absl::MutexLock l(&place_mu_);
    placing_.erase(disk.ToString());
  }

  absl::StatusOr<ReconcileResult> Provision(const Json& obj) {
    std::string cls = JsonString(obj, "/spec/persistentVolumeClaim/storageClassName",
                                 config_.default_storage_class);
    auto pool_it = config_.storage_classes.find(cls);
    if (pool_it == config_.storage_classes.end()) {
      return SetPhase(obj, "Pending", false, "StorageClassNotFound",
                      absl::StrCat("storage class \"", cls, "\" is not configured"),
                      absl::Seconds(10));
    }
    std::string pool = pool_it->second;
    if (IsUploadSource(obj)) return ProvisionUpload(obj, pool);
    auto src = ResolveSource(obj);
    if (absl::IsFailedPrecondition(src.status())) {
      return SetPhase(obj, "Pending", false, "WaitingForDataSource",
                      std::string(src.status().message()), kPendingPoll);
    }
    if (!src.ok())
      return SetPhase(obj, "Failed", false, "ProvisioningFailed",
                      std::string(src.status().message()));
    uint64_t size = src->size;
    std::string size_text = JsonString(obj, "/spec/persistentVolumeClaim/size");
    if (!size_text.empty()) {
      BERTH_ASSIGN_OR_RETURN(size, ParseQuantity(size_text));
    }
    if (size < src->size) {
      return SetPhase(
          obj, "Failed", false, "ProvisioningFailed",
          absl::StrCat("spec.persistentVolumeClaim.size ", size_text,
                       " is smaller than VirtualDiskSnapshot \"", src->snapshot_name, "\" (",
                       FormatQuantity(src->size), "); use at least ", FormatQuantity(src->size)));
    }
    return CreateOnNode(obj, pool, *src, size);
  }

  // dataSource type Upload: a blank volume of spec size, filled by `berth data import upload`
  // through an upload export on the node (controllers/dataexport/upload_flow.cc).
  absl::StatusOr<ReconcileResult> ProvisionUpload(const Json& obj, std::string pool) {
    std::string size_text = JsonString(obj, "/spec/persistentVolumeClaim/size");
    auto size = ParseQuantity(size_text);
    if (exports_ == nullptr || !size.ok() || *size == 0) {
      return SetPhase(obj, "Failed", false, "ProvisioningFailed",
                      exports_ == nullptr
                          ? "uploads are not enabled on this controller"
                          : "dataSource Upload needs spec.persistentVolumeClaim.size");
    }
    UploadVolume volume{*size, /*resizable=*/false, config_.upload_ttl};
    std::string since = JsonString(obj, "/spec/dataSource/upload/since/name");
    std::string since_node, since_pool;
    if (!since.empty()) {
      // The volume starts as the snapshot's data, so it lives where the snapshot does.
      auto snap = store_.Get(
          ObjectKey{"VirtualDiskSnapshot", JsonString(obj, "/metadata/namespace"), since});
      if (absl::IsNotFound(snap.status())) {
        return SetPhase(obj, "Failed", false, "ProvisioningFailed",
                        absl::StrCat("spec.dataSource.upload.since: VirtualDiskSnapshot \"", since,
                                     "\" not found"));
      }
      if (!snap.ok()) return snap.status();
      if (JsonString(*snap, "/status/phase") != "Ready") {
        return SetPhase(obj, "Pending", false, "WaitingForDataSource",
                        absl::StrCat("waiting for VirtualDiskSnapshot \"", since, "\" to be Ready"),
                        kPendingPoll);
      }
      uint64_t snap_size = JsonAt(*snap, "/status/sizeBytes").is_number_unsigned()
                               ? (*snap)["status"]["sizeBytes"].get<uint64_t>()
                               : 0;
      if (*size < snap_size) {
        return SetPhase(obj, "Failed", false, "ProvisioningFailed",
                        absl::StrCat("spec.persistentVolumeClaim.size ", *size,
                                     " is smaller than VirtualDiskSnapshot \"", since, "\" (",
                                     snap_size, " bytes)"));
      }
      since_node = JsonString(*snap, "/status/node");
      since_pool = JsonString(*snap, "/status/pool");
      volume.since_snapshot_id = JsonString(*snap, "/metadata/uid");
    }
    if (JsonString(obj, "/status/node").empty()) {
      if (!since_pool.empty()) pool = since_pool;
      auto picked = since.empty() ? PickNode(pool, ObjectKey::Of(obj))
                                  : absl::StatusOr<std::string>(since_node);
      if (!picked.ok()) {
        return SetPhase(obj, "Pending", false, "WaitingForNode",
                        std::string(picked.status().message()), kPendingPoll);
      }
      Json status = obj.value("status", Json::object());
      status["node"] = *picked;
      status["pool"] = pool;
      status["storageClassName"] = JsonString(obj, "/spec/persistentVolumeClaim/storageClassName",
                                              config_.default_storage_class);
      status["phase"] = "Provisioning";
      SetCondition(status, "Ready", false, "Provisioning", "creating the volume", obj,
                   clock_.Now());
      absl::Status written = WriteStatus(store_, obj, status).status();
      Placed(ObjectKey::Of(obj));
      BERTH_RETURN_IF_ERROR(written);
      return ReconcileResult{};  // the write queues the next pass
    }
    return DriveUpload(store_, agents_, *exports_, clock_, obj, volume);
  }

  absl::StatusOr<ReconcileResult> CreateOnNode(const Json& obj, const std::string& pool,
                                               const Source& src, uint64_t size) {
    Json status = obj.value("status", Json::object());
    std::string node = status.value("node", "");
    if (node.empty()) {
      auto picked = src.node.empty() ? PickNode(pool, ObjectKey::Of(obj))
                                     : absl::StatusOr<std::string>(src.node);
      if (!picked.ok()) {
        return SetPhase(obj, "Pending", false, "WaitingForNode",
                        std::string(picked.status().message()), kPendingPoll);
      }
      status["node"] = *picked;
      status["pool"] = pool;
      status["storageClassName"] = JsonString(obj, "/spec/persistentVolumeClaim/storageClassName",
                                              config_.default_storage_class);
      status["phase"] = "Provisioning";
      SetCondition(status, "Ready", false, "Provisioning", "creating the volume", obj,
                   clock_.Now());
      absl::Status written = WriteStatus(store_, obj, status).status();
      Placed(ObjectKey::Of(obj));
      BERTH_RETURN_IF_ERROR(written);
      return ReconcileResult{};  // the write queues the next pass
    }
    BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(node));
    agentpb::CreateVolumeRequest req;
    req.set_pool(status.value("pool", pool));
    req.set_id(JsonString(obj, "/metadata/uid"));
    req.set_size_bytes(size);
    req.set_source_snapshot_pool(src.pool);
    req.set_source_snapshot_id(src.snapshot_id);
    auto vol = agent->CreateVolume(req);
    // ResourceExhausted is the pool out of space (ENOSPC); the agent removed the partial volume.
    if (absl::IsInvalidArgument(vol.status()) || absl::IsFailedPrecondition(vol.status()) ||
        absl::IsNotFound(vol.status()) || absl::IsResourceExhausted(vol.status())) {
      return SetPhase(obj, "Failed", false, "ProvisioningFailed",
                      std::string(vol.status().message()));
    }
    if (!vol.ok()) return vol.status();
    status["phase"] = "Ready";
    status["capacity"] = FormatQuantity(vol->size_bytes());
    status["sizeBytes"] = vol->size_bytes();
    status["path"] = vol->path();
    SetCondition(status, "Ready", true, "Ready", "", obj, clock_.Now());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
    return ReconcileResult{};
  }

  ObjectStore& store_;
  AgentDirectory& agents_;
  const Clock& clock_;
  const ControllerConfig& config_;
  ExportAgents* exports_;  // null: off
  // VirtualDisks by the VirtualDiskSnapshot their spec.dataSource names.
  RefIndex restored_from_;
  absl::Mutex place_mu_;
  // Disk key -> node picked for it but not yet stored in its status.
  std::map<std::string, std::string> placing_ ABSL_GUARDED_BY(place_mu_);
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualDiskReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VirtualDiskReconciler>(deps);
}

}  // namespace berth::controller

// VirtualImage and ClusterVirtualImage: the image is a volume in a pool on one node.
//  - dataSource Upload: in the pool of spec.persistentVolumeClaim.storageClassName (else the
//    default class), filled by `berth data import upload vi/NAME`.
//    Pending -> Provisioning -> WaitForUserUpload -> Ready.
//  - dataSource ObjectRef to a VirtualDiskSnapshot, VirtualDisk, VirtualImage or
//    ClusterVirtualImage: a copy-on-write copy in the source's pool on the source's node (a disk
//    is cut through a temporary node-side snapshot; a disk in use by a running VM waits).
//    Pending -> Provisioning -> Ready.
// Failed on errors. Other data source types wait with a condition. The state machine itself is
// vi_machine.h; this file observes and acts.
#include <optional>

#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"
#include "controllers/dataexport/upload_flow.h"
#include "controllers/virtualimage/vi_machine.h"

namespace berth::controller {
namespace {

// Image: types::VirtualImage or types::ClusterVirtualImage.
template <typename Image>
class VirtualImageReconciler : public Reconciler {
 public:
  explicit VirtualImageReconciler(const ReconcilerDeps& deps)
      : store_(deps.store),
        agents_(deps.agents),
        clock_(deps.clock),
        config_(deps.config),
        exports_(deps.exports) {}

  std::string Kind() const override { return Image::kKind; }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    Image image(obj);
    if (image.deleting()) return Delete(obj);
    if (vi::Finished(image)) return ReconcileResult{};

    vi::Observation obs;
    std::optional<Json> source;
    std::vector<Json> vms;
    ObjectKey source_key = vi::SourceKey(image);
    if (!source_key.kind.empty()) {
      auto src = store_.Get(source_key);
      if (src.ok()) {
        source = *std::move(src);
        obs.source = &*source;
      } else if (!absl::IsNotFound(src.status())) {
        obs.source_error = src.status();
      }
      if (source && source_key.kind == kinds::kVirtualDisk) {
        auto users = VmsUsingDisk(store_, source_key.ns, source_key.name);
        if (users.ok()) {
          vms = *std::move(users);
          for (const Json& vm : vms) {
            // The phase as stored: VmActive knows phases the CRD's enum does not ("Pausing").
            if (VmActive(JsonString(vm, "/status/phase"))) {
              obs.running_vm = &vm;
              break;
            }
          }
        } else {
          obs.vms_error = users.status();
        }
      }
    }

    BERTH_ASSIGN_OR_RETURN(vi::Planned planned,
                           vi::Plan(image, obs, config_, exports_ != nullptr, clock_.Now()));
    // The finalizer goes in on its own write, before the status and any agent call.
    if (planned.add_finalizer) {
      BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kVolumeFinalizer));
    }
    Image stored(obj);
    switch (planned.action) {
      case vi::Action::kPickNode: {
        BERTH_ASSIGN_OR_RETURN(std::vector<Json> nodes, store_.List(kinds::kNode, ""));
        return Store(obj,
                     vi::Place(stored, nodes, planned.pool, planned.storage_class, clock_.Now()));
      }
      case vi::Action::kCopy:
        return CopyVolume(obj, planned.copy);
      case vi::Action::kUpload: {
        BERTH_ASSIGN_OR_RETURN(
            UploadProgress progress,
            AdvanceUpload(agents_, *exports_, stored.status().node(), stored.status().pool(),
                          stored.uid(), stored.status().phase() == Image::Phase::kWaitForUserUpload,
                          planned.upload));
        Step<vi::Action> done = FinishUpload<vi::StatusWriter<Image>, vi::Action>(
            obj, stored.status().json(), progress, clock_.Now());
        BERTH_ASSIGN_OR_RETURN(Json written, StoreStep(store_, obj, done));
        // status.size goes in with a write of its own, and a failed one is not retried.
        StoreStep(store_, written, vi::WithSize(Image(written))).status().IgnoreError();
        return done.Result();
      }
      default:
        return Store(obj, planned);
    }
  }

 private:
  absl::StatusOr<ReconcileResult> Store(const Json& obj, const Step<vi::Action>& step) {
    BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, step, kVolumeFinalizer).status());
    return step.Result();
  }

  absl::StatusOr<ReconcileResult> Delete(const Json& obj) {
    Image image(obj);
    Step<vi::Action> step = vi::PlanDeletion(image);
    if (step.action == vi::Action::kDelete) {
      if (vi::IsUpload(image)) {
        BERTH_RETURN_IF_ERROR(StopUpload(exports_, image.status().node(), image.uid()));
      }
      BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(image.status().node()));
      BERTH_RETURN_IF_ERROR(agent->DeleteVolume(image.status().pool(), image.uid()).status());
    }
    BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, obj, kVolumeFinalizer).status());
    return step.Result();
  }

  // kCopy on the source's node, then FinishCopy.
  absl::StatusOr<ReconcileResult> CopyVolume(const Json& obj, const vi::Copy& copy) {
    BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(copy.node));
    agentpb::CreateVolumeRequest req = copy.volume;
    const std::string& temp = copy.temp_snapshot_id;
    if (!temp.empty()) {
      agentpb::CreateSnapshotRequest cut;
      cut.set_pool(req.pool());
      cut.set_volume_id(copy.cut_volume_id);
      cut.set_id(temp);
      BERTH_ASSIGN_OR_RETURN(agentpb::Snapshot snap, agent->CreateSnapshot(cut));
      req.set_source_snapshot_id(temp);
      if (req.size_bytes() == 0) req.set_size_bytes(snap.size_bytes());
    }
    absl::StatusOr<agentpb::Volume> vol = agent->CreateVolume(req);
    if (!temp.empty()) BERTH_RETURN_IF_ERROR(agent->DeleteSnapshot(req.pool(), temp).status());
    BERTH_ASSIGN_OR_RETURN(Step<vi::Action> done, vi::FinishCopy(Image(obj), vol, clock_.Now()));
    return Store(obj, done);
  }

  ObjectStore& store_;
  AgentDirectory& agents_;
  const Clock& clock_;
  const ControllerConfig& config_;
  ExportAgents* exports_;  // null: off
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualImageReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VirtualImageReconciler<types::VirtualImage>>(deps);
}

std::unique_ptr<Reconciler> NewClusterVirtualImageReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VirtualImageReconciler<types::ClusterVirtualImage>>(deps);
}

}  // namespace berth::controller

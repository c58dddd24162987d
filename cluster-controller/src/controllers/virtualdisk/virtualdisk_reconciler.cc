// Provisions VirtualDisks on a node's storage pool: blank, restored from a VirtualDiskSnapshot
// (copy-on-write on the snapshot's node), or uploaded. The state machine itself is vd_machine.h;
// this file observes and acts.
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "controllers/common/placement.h"
#include "controllers/common/ref_index.h"
#include "controllers/common/vm_common.h"
#include "controllers/dataexport/upload_flow.h"
#include "controllers/virtualdisk/vd_machine.h"

namespace berth::controller {
namespace {

using types::VirtualDisk;

class VirtualDiskReconciler : public Reconciler {
 public:
  explicit VirtualDiskReconciler(const ReconcilerDeps& deps)
      : store_(deps.store),
        agents_(deps.agents),
        clock_(deps.clock),
        config_(deps.config),
        exports_(deps.exports),
        restored_from_(deps.store, kinds::kVirtualDisk, [](const Json& d) {
          types::VirtualDiskSpecDataSourceObjectRef ref =
              VirtualDisk(d).spec().data_source().object_ref();
          return ref.kind() == types::VirtualDiskSpecDataSourceObjectRefKind::kVirtualDiskSnapshot
                     ? ref.name()
                     : std::string();
        }) {}

  std::string Kind() const override { return kinds::kVirtualDisk; }

  // A VirtualDiskSnapshot's changes concern the disks restored from it (they wait for it to
  // be Ready). Looked up in an index: snapshots come in thousands, and listing every disk for
  // each of their events was most of the dispatcher's work.
  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    restored_from_.Observe(event);
    types::VirtualDiskSnapshot obj(event.object());  // any kind: only metadata and kind are read
    if (obj.kind() != kinds::kVirtualDiskSnapshot) return {};
    return restored_from_.Referrers(obj.namespace_(), obj.name());
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    if (VirtualDisk(obj).deleting()) return Delete(obj);
    if (vd::Finished(VirtualDisk(obj))) return ReconcileResult{};
    BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kVolumeFinalizer));
    return Provision(obj);
  }

 private:
  absl::StatusOr<ReconcileResult> Delete(const Json& obj) {
    VirtualDisk disk(obj);
    Step<vd::Action> step = vd::PlanDeletion(disk);
    BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, step).status());
    if (step.action == vd::Action::kDelete) {
      if (vd::IsUpload(disk)) {
        BERTH_RETURN_IF_ERROR(StopUpload(exports_, disk.status().node(), disk.uid()));
      }
      BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(disk.status().node()));
      BERTH_RETURN_IF_ERROR(agent->DeleteVolume(disk.status().pool(), disk.uid()).status());
    }
    if (step.action != vd::Action::kNone) {
      BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, obj, kVolumeFinalizer).status());
    }
    return step.Result();
  }

  // Observe -> Plan -> (pick a node | create the volume | a pass of the upload) -> store.
  absl::StatusOr<ReconcileResult> Provision(const Json& obj) {
    VirtualDisk disk(obj);
    vd::Observation obs;
    std::optional<Json> snapshot;
    std::string snapshot_name = vd::SnapshotName(disk);
    if (!snapshot_name.empty()) {
      auto got =
          store_.Get(ObjectKey{kinds::kVirtualDiskSnapshot, disk.namespace_(), snapshot_name});
      if (got.ok()) {
        snapshot = *std::move(got);
        obs.snapshot = &*snapshot;
      } else if (!absl::IsNotFound(got.status())) {
        obs.snapshot_error = got.status();
      }
    }
    BERTH_ASSIGN_OR_RETURN(vd::Planned planned,
                           vd::Plan(disk, obs, config_, exports_ != nullptr, clock_.Now()));
    switch (planned.action) {
      case vd::Action::kPickNode: {
        ObjectKey key = ObjectKey::Of(obj);
        absl::StatusOr<std::string> node = PickNode(planned.pool, key);
        Step<vd::Action> step = vd::Place(disk, node, planned.pool, config_, clock_.Now());
        absl::Status written = StoreStep(store_, obj, step).status();
        if (node.ok()) Placed(key);
        BERTH_RETURN_IF_ERROR(written);
        return step.Result();
      }
      case vd::Action::kCreateVolume: {
        BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(disk.status().node()));
        absl::StatusOr<agentpb::Volume> vol = agent->CreateVolume(planned.volume);
        BERTH_ASSIGN_OR_RETURN(Step<vd::Action> done, vd::FinishCreate(disk, vol, clock_.Now()));
        BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, done).status());
        return done.Result();
      }
      case vd::Action::kUpload: {
        BERTH_ASSIGN_OR_RETURN(
            UploadProgress progress,
            AdvanceUpload(agents_, *exports_, disk.status().node(), disk.status().pool(),
                          disk.uid(), disk.status().phase() == vd::Phase::kWaitForUserUpload,
                          planned.upload));
        Step<vd::Action> done = FinishUpload<types::VirtualDiskStatusWriter, vd::Action>(
            obj, disk.status().json(), progress, clock_.Now());
        BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, done).status());
        return done.Result();
      }
      default:
        BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, planned).status());
        return planned.Result();
    }
  }

  // Picks the Ready node serving `pool` with the fewest disks for `disk`, counting the picks
  // of other passes that are not stored yet (disks created together are placed in parallel,
  // and would otherwise all see the same loads and pile onto one node). The caller ends a
  // successful pick with Placed once it has written (or failed to write) the choice.
  absl::StatusOr<std::string> PickNode(const std::string& pool, const ObjectKey& disk) {
    absl::MutexLock l(&place_mu_);
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> nodes, store_.List(kinds::kNode, ""));
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> disks, store_.List(kinds::kVirtualDisk, ""));
    std::map<std::string, int> load;
    std::map<std::string, std::string> placing = placing_;
    for (const Json& d : disks) {
      std::string node = VirtualDisk(d).status().node();
      if (!node.empty()) placing.erase(ObjectKey::Of(d).ToString());
      load[node]++;
    }
    for (const auto& [key, node] : placing) load[node]++;
    std::vector<vd::Consumer> consumers;
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> vms, VmsUsingDisk(store_, disk.ns, disk.name));
    for (const Json& vm : vms) {
      types::VirtualMachine view(vm);
      consumers.push_back({view.name(), NodeConstraints::Of(view.spec().json())});
    }
    BERTH_ASSIGN_OR_RETURN(std::string best, vd::LeastLoaded(nodes, load, pool, consumers));
    placing_[disk.ToString()] = best;
    return best;
  }

  // Ends a PickNode for `disk`: its choice is stored, or was not and will be made again.
  void Placed(const ObjectKey& disk) {
    absl::MutexLock l(&place_mu_);
    placing_.erase(disk.ToString());
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

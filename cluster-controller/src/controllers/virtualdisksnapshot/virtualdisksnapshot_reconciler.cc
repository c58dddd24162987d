// Takes VirtualDiskSnapshots on the node holding the disk. The snapshot's uid is the node-side
// id, so a pass repeated after a crash finds the snapshot made before it instead of making a
// second one. Ready snapshots are checked now and then, against their pool's listing: vanished
// data turns them Failed/Lost. The state machine itself is vds_machine.h; this file observes
// and acts.
#include <optional>

#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "berth/time_util.h"
#include "controllers/common/ref_index.h"
#include "controllers/common/snapshot_listings.h"
#include "controllers/common/vm_common.h"
#include "controllers/virtualdisksnapshot/vds_machine.h"

namespace berth::controller {
namespace {

using types::VirtualDiskSnapshot;

class VirtualDiskSnapshotReconciler : public Reconciler {
 public:
  VirtualDiskSnapshotReconciler(ObjectStore& store, AgentDirectory& agents, const Clock& clock,
                                const ControllerConfig& config)
      : store_(store),
        agents_(agents),
        clock_(clock),
        config_(config),
        by_disk_(store, kinds::kVirtualDiskSnapshot,
                 [](const Json& s) {
                   VirtualDiskSnapshot snap(s);
                   return vds::Finished(snap) ? std::string() : snap.spec().virtual_disk_name();
                 }),
        by_vm_snapshot_(store, kinds::kVirtualDiskSnapshot, [](const Json& s) {
          VirtualDiskSnapshot snap(s);
          return vds::Finished(snap) ? std::string()
                                     : snap.metadata().annotation(vds::kManagedByAnnotation);
        }) {}

  std::string Kind() const override { return kinds::kVirtualDiskSnapshot; }
  // A pass is mostly waiting: for a commit, then for the agent's (fsynced) cut, then for
  // another commit. Snapshots come in thousands (one per disk per schedule), and the agents
  // and the group commit both do better with more of them in flight: btrfs commits the
  // snapshots that arrive together in one transaction, so one loop-mounted btrfs cut about 310
  // snapshots a second with 16 passes in flight and over 500 with 64 (bench/scale).
  int Workers(int workers_per_kind) const override { return 16 * workers_per_kind; }

  // Unfinished snapshots wait for their disk, or for the VirtualMachineSnapshot cutting them.
  // Both are looked up in indexes that hold only unfinished snapshots: listing (copying) every
  // snapshot for each disk or VM snapshot event costs O(snapshots) per event.
  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    by_disk_.Observe(event);
    by_vm_snapshot_.Observe(event);
    types::VirtualDisk obj(event.object());  // any kind: only metadata and kind are read
    std::string kind = obj.kind();
    if (kind != kinds::kVirtualDisk && kind != kinds::kVirtualMachineSnapshot) return {};
    return (kind == kinds::kVirtualDisk ? by_disk_ : by_vm_snapshot_)
        .Referrers(obj.namespace_(), obj.name());
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Peek(key);  // read-only: every write below copies what it changes
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    std::shared_ptr<const Json> obj = *std::move(got);
    VirtualDiskSnapshot snap(*obj);
    if (snap.deleting()) return Delete(*obj);
    vds::Phase phase = snap.status().phase();
    if (phase == vds::Phase::kFailed) return ReconcileResult{};
    if (phase == vds::Phase::kReady) return CheckLost(*obj);
    // The finalizer must be stored before the agent is asked for anything. In phase InProgress
    // the cut comes next, so it goes in on its own; otherwise the status write that always
    // precedes a cut carries it, saving a commit.
    if (phase == vds::Phase::kInProgress && !snap.metadata().HasFinalizer(kSnapshotFinalizer)) {
      BERTH_ASSIGN_OR_RETURN(Json added, AddFinalizer(store_, *obj, kSnapshotFinalizer));
      obj = std::make_shared<const Json>(std::move(added));
    }
    return TakeSnapshot(*obj);
  }

 private:
  absl::StatusOr<ReconcileResult> Delete(const Json& obj) {
    VirtualDiskSnapshot snap(obj);
    Step<vds::Action> step = vds::PlanDeletion(snap);
    BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, step).status());
    if (step.action == vds::Action::kDelete) {
      BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(snap.status().node()));
      BERTH_RETURN_IF_ERROR(agent->DeleteSnapshot(snap.status().pool(), snap.uid()).status());
    }
    if (step.action != vds::Action::kNone) {
      BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, obj, kSnapshotFinalizer).status());
    }
    return step.Result();
  }

  absl::StatusOr<ReconcileResult> CheckLost(const Json& obj) {
    VirtualDiskSnapshot snap(obj);
    // The pass that the Ready write itself triggers comes right after the agent returned the
    // snapshot: nothing to look at yet (at scale that would be one more agent call per
    // snapshot). Checked again at the usual interval.
    std::string ready_text =
        snap.status().conditions().Get(vds::kVirtualDiskSnapshotReady).last_transition_time();
    // Unknown for snapshots stored without one: then taken as cut long ago.
    absl::Time ready_since = ready_text.empty() ? absl::InfinitePast() : ParseRfc3339(ready_text);
    if (clock_.Now() - ready_since < absl::Seconds(1)) {
      return ReconcileResult{config_.lost_check_interval};
    }
    std::string node = snap.status().node();
    std::string pool = snap.status().pool();
    BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(node));
    // Most checks are answered by the pool's listing (one agent call per pool per half
    // interval); a snapshot missing from a listing taken after it was cut, or no listing, is
    // asked about alone, so a failed listing never condemns it.
    absl::StatusOr<bool> listed = listings_.Listed(*agent, node, pool, snap.uid(), ready_since,
                                                   clock_.Now(), config_.lost_check_interval / 2);
    if (listed.ok() && *listed) return ReconcileResult{config_.lost_check_interval};
    auto found = agent->GetSnapshot(pool, snap.uid());
    if (absl::IsNotFound(found.status())) {
      Step<vds::Action> step = vds::Fail(snap, vds::kReasonLost,
                                         absl::StrCat("the snapshot's data is gone from node ",
                                                      node, ": ", found.status().message()),
                                         clock_.Now());
      BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, step).status());
      return step.Result();
    }
    // An unreachable node says nothing about the data: look again later.
    return ReconcileResult{config_.lost_check_interval};
  }

  // Observe -> Plan -> (store) -> cut -> Finish -> store.
  absl::StatusOr<ReconcileResult> TakeSnapshot(const Json& obj) {
    VirtualDiskSnapshot snap(obj);
    const std::string ns = snap.namespace_();
    vds::Observation obs;
    auto disk = store_.Peek(ObjectKey{kinds::kVirtualDisk, ns, snap.spec().virtual_disk_name()});
    if (disk.ok()) obs.disk = disk->get();
    const bool managed = snap.metadata().HasAnnotation(vds::kManagedByAnnotation);
    const bool announced = snap.status().phase() == vds::Phase::kInProgress;
    std::vector<Json> vms;
    std::optional<Json> vm_snapshot;
    if (obs.disk != nullptr && !announced && !managed) {
      BERTH_ASSIGN_OR_RETURN(vms, VmsUsingDisk(store_, ns, snap.spec().virtual_disk_name()));
      for (const Json& vm : vms) {
        if (VmActive(JsonString(vm, "/status/phase"))) obs.running_vm = &vm;
      }
    }
    if (announced && managed) {
      auto got = store_.Get(ObjectKey{kinds::kVirtualMachineSnapshot, ns,
                                      snap.metadata().annotation(vds::kManagedByAnnotation)});
      if (got.ok()) vm_snapshot = *std::move(got);
      if (vm_snapshot) obs.vm_snapshot = &*vm_snapshot;
    }

    Step<vds::Action> step = vds::Plan(snap, obs, clock_.Now());
    Json stored = obj;
    if (step.add_finalizer || step.action == vds::Action::kNone) {  // write-ahead, or the result
      BERTH_ASSIGN_OR_RETURN(stored, StoreStep(store_, obj, step, kSnapshotFinalizer));
    }
    if (step.action == vds::Action::kNone) return step.Result();
    // The status the cut's outcome is folded into: as stored, or (already announced) as planned.
    Json status = step.add_finalizer ? stored.value("status", Json::object()) : *step.status;
    VirtualDiskSnapshot cut_snap(stored);
    BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(cut_snap.status().node()));
    absl::StatusOr<agentpb::Snapshot> cut = Cut(*agent, cut_snap, step.action);
    BERTH_ASSIGN_OR_RETURN(
        Step<vds::Action> done,
        vds::Finish(cut_snap, std::move(status), cut, clock_.Now(), config_.lost_check_interval));
    BERTH_RETURN_IF_ERROR(StoreStep(store_, stored, done).status());
    return done.Result();
  }

  // Cuts the snapshot (kCut), or fetches the one a VirtualMachineSnapshot cut (kCollectCut:
  // CreateSnapshot of an existing id returns it).
  absl::StatusOr<agentpb::Snapshot> Cut(AgentClient& agent, const VirtualDiskSnapshot& snap,
                                        vds::Action action) {
    types::VirtualDiskSnapshotStatus st = snap.status();
    std::string domain = st.freeze_domain();
    if (action == vds::Action::kCollectCut || domain.empty()) {
      agentpb::CreateSnapshotRequest req;
      req.set_pool(st.pool());
      req.set_volume_id(st.virtual_disk_uid());
      req.set_id(snap.uid());
      return agent.CreateSnapshot(req);
    }
    agentpb::SnapshotVolumesRequest req;
    req.set_domain(domain);
    req.set_freeze(true);
    agentpb::VolumeRef* v = req.add_volumes();
    v->set_pool(st.pool());
    v->set_volume_id(st.virtual_disk_uid());
    v->set_snapshot_id(snap.uid());
    BERTH_ASSIGN_OR_RETURN(agentpb::SnapshotVolumesResponse resp, agent.SnapshotVolumes(req));
    if (resp.snapshots_size() != 1) return absl::InternalError("agent returned no snapshot");
    return resp.snapshots(0);
  }

  ObjectStore& store_;
  AgentDirectory& agents_;
  const Clock& clock_;
  const ControllerConfig& config_;
  // Unfinished snapshots by spec.virtualDiskName, and by the VirtualMachineSnapshot that
  // manages them.
  RefIndex by_disk_;
  RefIndex by_vm_snapshot_;
  SnapshotListings listings_;  // for the lost check
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualDiskSnapshotReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VirtualDiskSnapshotReconciler>(deps.store, deps.agents, deps.clock,
                                                         deps.config);
}

}  // namespace berth::controller

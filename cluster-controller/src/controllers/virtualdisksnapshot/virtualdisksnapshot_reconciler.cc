// Takes VirtualDiskSnapshots on the node holding the disk. The snapshot's uid is the node-side
// id, so a pass repeated after a crash finds the snapshot made before it instead of making a
// second one. Ready snapshots are checked now and then, against their pool's listing: vanished
// data turns them Failed/Lost.
#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "berth/time_util.h"
#include "controllers/common/ref_index.h"
#include "controllers/common/snapshot_listings.h"
#include "controllers/common/vm_common.h"

namespace berth::controller {
namespace {

constexpr char kDiskReady[] = "VirtualDiskReady";
constexpr char kSnapReady[] = "VirtualDiskSnapshotReady";
constexpr absl::Duration kPendingPoll = absl::Seconds(2);

// Marks a snapshot cut by a VirtualMachineSnapshot (all disks of a VM at one instant): its value
// is the VirtualMachineSnapshot's name.
constexpr char kManagedBy[] = "virtualization.deckhouse.io/berth-vmsnapshot";

// Ready and Failed snapshots wait for nothing.
bool Finished(const Json& snap) {
  std::string phase = JsonString(snap, "/status/phase");
  return phase == "Ready" || phase == "Failed";
}

class VirtualDiskSnapshotReconciler : public Reconciler {
 public:
  VirtualDiskSnapshotReconciler(ObjectStore& store, AgentDirectory& agents, const Clock& clock,
                                const ControllerConfig& config)
      : store_(store),
        agents_(agents),
        clock_(clock),
        config_(config),
        by_disk_(store, "VirtualDiskSnapshot",
                 [](const Json& s) {
                   return Finished(s) ? std::string() : JsonString(s, "/spec/virtualDiskName");
                 }),
        by_vm_snapshot_(store, "VirtualDiskSnapshot", [](const Json& s) {
          if (Finished(s)) return std::string();
          Json ann = JsonAt(s, "/metadata/annotations");
          return ann.is_object() ? ann.value(kManagedBy, "") : std::string();
        }) {}

  std::string Kind() const override { return "VirtualDiskSnapshot"; }
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
    std::string kind = event.object().value("kind", "");
    if (kind != "VirtualDisk" && kind != "VirtualMachineSnapshot") return {};
    std::string ns = JsonString(event.object(), "/metadata/namespace");
    std::string name = JsonString(event.object(), "/metadata/name");
    return (kind == "VirtualDisk" ? by_disk_ : by_vm_snapshot_).Referrers(ns, name);
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Peek(key);  // read-only: every write below copies what it changes
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    std::shared_ptr<const Json> obj = *std::move(got);
    if (IsDeleting(*obj)) return Finalize(*obj);
    std::string phase = JsonString(*obj, "/status/phase");
    if (phase == "Failed") return ReconcileResult{};
    if (phase == "Ready") return CheckLost(*obj);
    // The finalizer must be stored before the agent is asked for anything. In phase InProgress
    // the cut comes next, so it goes in on its own; otherwise the status write below (which
    // always happens before a cut) carries it, saving a commit.
    if (phase == "InProgress" && !HasFinalizer(*obj, kSnapshotFinalizer)) {
      BERTH_ASSIGN_OR_RETURN(Json added, AddFinalizer(store_, *obj, kSnapshotFinalizer));
      obj = std::make_shared<const Json>(std::move(added));
    }
    return TakeSnapshot(*obj);
  }

 private:
  absl::StatusOr<ReconcileResult> Finalize(const Json& obj) {
    Json status = obj.value("status", Json::object());
    if (status.value("phase", "") != "Terminating") {
      status["phase"] = "Terminating";
      BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
      return ReconcileResult{};
    }
    std::string node = status.value("node", "");
    if (!node.empty() && HasFinalizer(obj, kSnapshotFinalizer)) {
      BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(node));
      BERTH_RETURN_IF_ERROR(
          agent->DeleteSnapshot(status.value("pool", ""), JsonString(obj, "/metadata/uid"))
              .status());
    }
    BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, obj, kSnapshotFinalizer).status());
    return ReconcileResult{};
  }

  absl::StatusOr<ReconcileResult> CheckLost(const Json& obj) {
    // The pass that the Ready write itself triggers comes right after the agent returned the
    // snapshot: nothing to look at yet (at scale that would be one more agent call per
    // snapshot). Checked again at the usual interval.
    std::string ready_text = GetCondition(obj, kSnapReady).value("lastTransitionTime", "");
    // Unknown for snapshots stored without one: then taken as cut long ago.
    absl::Time ready_since = ready_text.empty() ? absl::InfinitePast() : ParseRfc3339(ready_text);
    if (clock_.Now() - ready_since < absl::Seconds(1)) {
      return ReconcileResult{config_.lost_check_interval};
    }
    std::string node = JsonString(obj, "/status/node");
    std::string pool = JsonString(obj, "/status/pool");
    std::string uid = JsonString(obj, "/metadata/uid");
    BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(node));
    // Most checks are answered by the pool's listing (one agent call per pool per half
    // interval); a snapshot missing from a listing taken after it was cut, or no listing, is
    // asked about alone, so a failed listing never condemns it.
    absl::StatusOr<bool> listed = listings_.Listed(*agent, node, pool, uid, ready_since,
                                                   clock_.Now(), config_.lost_check_interval / 2);
    if (listed.ok() && *listed) return ReconcileResult{config_.lost_check_interval};
    auto snap = agent->GetSnapshot(pool, uid);
    if (absl::IsNotFound(snap.status())) {
      return Fail(obj, "Lost",
                  absl::StrCat("the snapshot's data is gone from node ", node, ": ",
                               snap.status().message()));
    }
    // An unreachable node says nothing about the data: look again later.
    return ReconcileResult{config_.lost_check_interval};
  }

  absl::StatusOr<ReconcileResult> Write(const Json& obj, Json status, const std::string& phase,
                                        absl::Duration requeue = absl::ZeroDuration()) {
    status["phase"] = phase;
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, std::move(status)).status());
    return ReconcileResult{requeue};
  }

  // Write for a snapshot not yet cut: adds the finalizer in the same write when missing.
  absl::StatusOr<Json> WriteBeforeCut(const Json& obj, Json status, const std::string& phase,
                                      PhaseEvent event = PhaseEvent::kRecord) {
    status["phase"] = phase;
    return WriteStatusAndAddFinalizer(store_, obj, std::move(status), kSnapshotFinalizer, event);
  }

  // `before_cut`: also adds the finalizer (see WriteBeforeCut).
  absl::StatusOr<ReconcileResult> Fail(const Json& obj, const std::string& reason,
                                       const std::string& msg, bool before_cut = false) {
    Json status = obj.value("status", Json::object());
    if (status.value("phase", "") != "Ready") status.erase("consistent");  // never cut
    SetCondition(status, kSnapReady, false, reason, msg, obj, clock_.Now());
    if (before_cut) {
      BERTH_RETURN_IF_ERROR(WriteBeforeCut(obj, std::move(status), "Failed").status());
      return ReconcileResult{};
    }
    return Write(obj, status, "Failed");
  }

  absl::StatusOr<ReconcileResult> TakeSnapshot(const Json& obj) {
    Json status = obj.value("status", Json::object());
    std::string ns = JsonString(obj, "/metadata/namespace");
    std::string disk_name = JsonString(obj, "/spec/virtualDiskName");
    absl::Time now = clock_.Now();
    auto disk = store_.Peek(ObjectKey{"VirtualDisk", ns, disk_name});
    if (!disk.ok() || JsonString(**disk, "/status/phase") != "Ready" || IsDeleting(**disk)) {
      std::string why = disk.ok() ? absl::StrCat("VirtualDisk \"", disk_name, "\" is not Ready")
                                  : absl::StrCat("VirtualDisk \"", disk_name, "\" not found");
      SetCondition(status, kDiskReady, false, "VirtualDiskNotReadyForSnapshotting", why, obj, now);
      SetCondition(status, kSnapReady, false, "WaitingForTheVirtualDisk", why, obj, now);
      BERTH_RETURN_IF_ERROR(WriteBeforeCut(obj, std::move(status), "Pending").status());
      return ReconcileResult{kPendingPoll};
    }
    SetCondition(status, kDiskReady, true, "VirtualDiskReady", "", obj, now);
    if (status.value("phase", "") == "InProgress") return Cut(obj, status);
    status["node"] = JsonString(**disk, "/status/node");
    status["pool"] = JsonString(**disk, "/status/pool");
    status["virtualDiskUID"] = JsonString(**disk, "/metadata/uid");
    Json managed = JsonAt(obj, "/metadata/annotations");
    if (managed.is_object() && managed.contains(kManagedBy)) {
      SetCondition(status, kSnapReady, false, "Snapshotting",
                   "cut together with the other disks of its VirtualMachineSnapshot", obj, now);
      BERTH_RETURN_IF_ERROR(WriteBeforeCut(obj, std::move(status), "InProgress").status());
      return ReconcileResult{};
    }
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> vms, VmsUsingDisk(store_, ns, disk_name));
    const Json* running = nullptr;
    for (const Json& vm : vms) {
      if (VmActive(JsonString(vm, "/status/phase"))) running = &vm;
    }
    bool required = obj["spec"].value("requiredConsistency", true);
    if (!running) {
      status["consistent"] = true;  // no guest writes to it
    } else if (!required) {
      status.erase("consistent");  // cut without freezing: consistency unknown
    } else if (GetCondition(*running, "AgentReady").value("status", "") == "True" &&
               JsonString(*running, "/status/phase") == "Running") {
      status["freezeDomain"] = DomainName(*running);
      status["consistent"] = true;
    } else {
      return Fail(obj, "PotentiallyInconsistent",
                  absl::StrCat(
                      "VirtualDisk \"", disk_name, "\" is attached to running VirtualMachine \"",
                      JsonString(*running, "/metadata/name"), "\" whose guest agent is not ready (",
                      GetCondition(*running, "AgentReady").value("message", "no report"),
                      "), so its filesystems cannot be frozen; install and start "
                      "qemu-guest-agent, stop the VM, or set requiredConsistency: false"),
                  /*before_cut=*/true);
    }
    SetCondition(status, kSnapReady, false,
                 status.contains("freezeDomain") ? "FileSystemFreezing" : "Snapshotting",
                 "taking the snapshot", obj, now);
    // InProgress (with the node, pool and finalizer) is durable before the cut; the cut then
    // follows in this same pass instead of in the one the write's own event would trigger.
    // Without a freeze the cut takes milliseconds: the Event of its outcome ("phase InProgress
    // -> Ready", or "-> Failed") is the only one. A freeze can take seconds and is recorded.
    const PhaseEvent event =
        status.contains("freezeDomain") ? PhaseEvent::kRecord : PhaseEvent::kSkip;
    BERTH_ASSIGN_OR_RETURN(Json written,
                           WriteBeforeCut(obj, std::move(status), "InProgress", event));
    return Cut(written, written.value("status", Json::object()));
  }

  // Waits for the owning VirtualMachineSnapshot to have cut every disk; returns an error text
  // when it failed, empty when the cut exists, nullopt-like "wait" otherwise.
  absl::StatusOr<ReconcileResult> CutByVmSnapshot(const Json& obj, Json status) {
    std::string owner = obj["metadata"]["annotations"].value(kManagedBy, "");
    auto vms = store_.Get(
        ObjectKey{"VirtualMachineSnapshot", JsonString(obj, "/metadata/namespace"), owner});
    if (!vms.ok() || JsonString(*vms, "/status/phase") == "Failed") {
      return Fail(
          obj, "VirtualDiskSnapshotFailed",
          absl::StrCat("VirtualMachineSnapshot \"", owner, "\" ", vms.ok() ? "failed" : "is gone"));
    }
    if (!JsonAt(*vms, "/status/cutDone").is_boolean()) return ReconcileResult{kPendingPoll};
    Json consistent = JsonAt(*vms, "/status/consistent");
    if (consistent.is_boolean()) status["consistent"] = consistent;
    return Finish(obj, status, [&](AgentClient& agent) {
      agentpb::CreateSnapshotRequest req;
      req.set_pool(status.value("pool", ""));
      req.set_volume_id(status.value("virtualDiskUID", ""));
      req.set_id(JsonString(obj, "/metadata/uid"));
      return agent.CreateSnapshot(req);  // already cut: returns it
    });
  }

  absl::StatusOr<ReconcileResult> Cut(const Json& obj, Json status) {
    Json ann = JsonAt(obj, "/metadata/annotations");
    if (ann.is_object() && ann.contains(kManagedBy)) return CutByVmSnapshot(obj, status);
    std::string domain = status.value("freezeDomain", "");
    return Finish(obj, status, [&](AgentClient& agent) -> absl::StatusOr<agentpb::Snapshot> {
      if (domain.empty()) {  // nothing to freeze
        agentpb::CreateSnapshotRequest req;
        req.set_pool(status.value("pool", ""));
        req.set_volume_id(status.value("virtualDiskUID", ""));
        req.set_id(JsonString(obj, "/metadata/uid"));
        return agent.CreateSnapshot(req);
      }
      agentpb::SnapshotVolumesRequest req;
      req.set_domain(domain);
      req.set_freeze(!domain.empty());
      agentpb::VolumeRef* v = req.add_volumes();
      v->set_pool(status.value("pool", ""));
      v->set_volume_id(status.value("virtualDiskUID", ""));
      v->set_snapshot_id(JsonString(obj, "/metadata/uid"));
      BERTH_ASSIGN_OR_RETURN(agentpb::SnapshotVolumesResponse resp, agent.SnapshotVolumes(req));
      if (resp.snapshots_size() != 1) return absl::InternalError("agent returned no snapshot");
      return resp.snapshots(0);
    });
  }

  template <typename CutFn>
  absl::StatusOr<ReconcileResult> Finish(const Json& obj, Json status, CutFn cut) {
    BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(status.value("node", "")));
    absl::StatusOr<agentpb::Snapshot> snap = cut(*agent);
    // ResourceExhausted is the pool out of space (ENOSPC): the agent removed the partial copy;
    // fail with its message rather than retry unseen in InProgress.
    if (absl::IsNotFound(snap.status()) || absl::IsInvalidArgument(snap.status()) ||
        absl::IsFailedPrecondition(snap.status()) || absl::IsResourceExhausted(snap.status())) {
      return Fail(obj, "VirtualDiskSnapshotFailed", std::string(snap.status().message()));
    }
    if (!snap.ok()) return snap.status();
    status["sizeBytes"] = snap->size_bytes();
    status["path"] = snap->path();
    SetCondition(status, kSnapReady, true, "VirtualDiskSnapshotReady", "", obj, clock_.Now());
    return Write(obj, status, "Ready", config_.lost_check_interval);
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

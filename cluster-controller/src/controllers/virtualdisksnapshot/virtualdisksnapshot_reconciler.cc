// Takes VirtualDiskSnapshots on the node holding the disk. The snapshot's uid is the node-side
// id, so a pass repeated after a crash finds the snapshot made before it instead of making a
// second one. Ready snapshots are checked now and then: vanished data turns them Failed/Lost.
#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"

namespace berth::controller {
namespace {

constexpr char kDiskReady[] = "VirtualDiskReady";
constexpr char kSnapReady[] = "VirtualDiskSnapshotReady";
constexpr absl::Duration kPendingPoll = absl::Seconds(2);

// VM phases in which the guest may be writing to its disks.
bool VmActive(const std::string& phase) {
  return phase == "Running" || phase == "Starting" || phase == "Stopping" || phase == "Migrating" ||
         phase == "Pause" || phase == "Pausing";
}

bool VmUsesDisk(const Json& vm, const std::string& disk) {
  for (const Json& ref : JsonAt(vm, "/spec/blockDeviceRefs")) {
    if (ref.value("kind", "") == "VirtualDisk" && ref.value("name", "") == disk) return true;
  }
  return false;
}

class VirtualDiskSnapshotReconciler : public Reconciler {
 public:
  VirtualDiskSnapshotReconciler(ObjectStore& store, AgentDirectory& agents, const Clock& clock,
                                const ControllerConfig& config)
      : store_(store), agents_(agents), clock_(clock), config_(config) {}

  std::string Kind() const override { return "VirtualDiskSnapshot"; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    std::vector<ObjectKey> keys;
    if (event.object.value("kind", "") != "VirtualDisk") return keys;
    std::string ns = JsonString(event.object, "/metadata/namespace");
    std::string name = JsonString(event.object, "/metadata/name");
    auto snaps = store_.List("VirtualDiskSnapshot", ns);
    if (!snaps.ok()) return keys;
    for (const Json& s : *snaps) {
      std::string phase = JsonString(s, "/status/phase");
      if (JsonString(s, "/spec/virtualDiskName") == name && phase != "Ready" && phase != "Failed") {
        keys.push_back(ObjectKey::Of(s));
      }
    }
    return keys;
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    if (IsDeleting(obj)) return Finalize(obj);
    std::string phase = JsonString(obj, "/status/phase");
    if (phase == "Failed") return ReconcileResult{};
    if (phase == "Ready") return CheckLost(obj);
    BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kSnapshotFinalizer));
    return TakeSnapshot(obj);
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
    std::string node = JsonString(obj, "/status/node");
    BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(node));
    auto snap =
        agent->GetSnapshot(JsonString(obj, "/status/pool"), JsonString(obj, "/metadata/uid"));
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

  absl::StatusOr<ReconcileResult> Fail(const Json& obj, const std::string& reason,
                                       const std::string& msg) {
    Json status = obj.value("status", Json::object());
    SetCondition(status, kSnapReady, false, reason, msg, obj, clock_.Now());
    return Write(obj, status, "Failed");
  }

  absl::StatusOr<ReconcileResult> TakeSnapshot(const Json& obj) {
    Json status = obj.value("status", Json::object());
    std::string ns = JsonString(obj, "/metadata/namespace");
    std::string disk_name = JsonString(obj, "/spec/virtualDiskName");
    absl::Time now = clock_.Now();
    auto disk = store_.Get(ObjectKey{"VirtualDisk", ns, disk_name});
    if (!disk.ok() || JsonString(*disk, "/status/phase") != "Ready" || IsDeleting(*disk)) {
      std::string why = disk.ok() ? absl::StrCat("VirtualDisk \"", disk_name, "\" is not Ready")
                                  : absl::StrCat("VirtualDisk \"", disk_name, "\" not found");
      SetCondition(status, kDiskReady, false, "VirtualDiskNotReadyForSnapshotting", why, obj, now);
      SetCondition(status, kSnapReady, false, "WaitingForTheVirtualDisk", why, obj, now);
      return Write(obj, status, "Pending", kPendingPoll);
    }
    SetCondition(status, kDiskReady, true, "VirtualDiskReady", "", obj, now);
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> vms, store_.List("VirtualMachine", ns));
    for (const Json& vm : vms) {
      std::string vm_phase = JsonString(vm, "/status/phase");
      if (!VmUsesDisk(vm, disk_name) || !VmActive(vm_phase)) continue;
      if (obj["spec"].value("requiredConsistency", true)) {
        return Fail(obj, "VirtualDiskSnapshotFailed",
                    absl::StrCat("VirtualDisk \"", disk_name, "\" is attached to VirtualMachine \"",
                                 JsonString(vm, "/metadata/name"), "\" in phase ", vm_phase,
                                 ", and a consistent snapshot of it needs a guest filesystem "
                                 "freeze, which this controller cannot do yet; stop the VM or "
                                 "set spec.requiredConsistency: false"));
      }
      status["consistent"] = false;
    }
    if (!status.contains("consistent")) status["consistent"] = true;
    if (status.value("phase", "") != "InProgress") {
      status["node"] = JsonString(*disk, "/status/node");
      status["pool"] = JsonString(*disk, "/status/pool");
      status["virtualDiskUID"] = JsonString(*disk, "/metadata/uid");
      SetCondition(status, kSnapReady, false, "Snapshotting", "taking the snapshot", obj, now);
      return Write(obj, status, "InProgress");
    }
    return Cut(obj, status);
  }

  absl::StatusOr<ReconcileResult> Cut(const Json& obj, Json status) {
    BERTH_ASSIGN_OR_RETURN(auto agent, agents_.ForNode(status.value("node", "")));
    agentpb::CreateSnapshotRequest req;
    req.set_pool(status.value("pool", ""));
    req.set_volume_id(status.value("virtualDiskUID", ""));
    req.set_id(JsonString(obj, "/metadata/uid"));
    auto snap = agent->CreateSnapshot(req);
    if (absl::IsNotFound(snap.status()) || absl::IsInvalidArgument(snap.status()) ||
        absl::IsFailedPrecondition(snap.status())) {
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
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualDiskSnapshotReconciler(ObjectStore& store,
                                                             AgentDirectory& agents,
                                                             const Clock& clock,
                                                             const ControllerConfig& config) {
  return std::make_unique<VirtualDiskSnapshotReconciler>(store, agents, clock, config);
}

}  // namespace berth::controller

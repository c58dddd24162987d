#include "controllers/virtualdisk/vd_machine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"
#include "controllers/common/placement.h"

namespace berth::controller::vd {

using types::VirtualDiskSnapshot;
using SnapshotPhase = types::VirtualDiskSnapshotPhase;

bool Finished(const types::VirtualDisk& disk) {
  Phase phase = disk.status().phase();
  return phase == Phase::kReady || phase == Phase::kFailed;
}

bool IsUpload(const types::VirtualDisk& disk) {
  return disk.spec().data_source().type() == types::VirtualDiskSpecDataSourceType::kUpload;
}

namespace {

// spec.dataSource is given (a null one is none).
bool HasDataSource(const types::VirtualDisk& disk) {
  return disk.spec().has_data_source() && !disk.spec().json().at("dataSource").is_null();
}

bool FromSnapshot(const types::VirtualDisk& disk) {
  types::VirtualDiskSpecDataSource ds = disk.spec().data_source();
  return ds.type() == types::VirtualDiskSpecDataSourceType::kObjectRef &&
         ds.object_ref().kind() ==
             types::VirtualDiskSpecDataSourceObjectRefKind::kVirtualDiskSnapshot;
}

std::string StorageClass(const types::VirtualDisk& disk, const ControllerConfig& config) {
  types::VirtualDiskSpecPersistentVolumeClaim pvc = disk.spec().persistent_volume_claim();
  return pvc.has_storage_class_name() ? pvc.storage_class_name() : config.default_storage_class;
}

// spec.persistentVolumeClaim.size when it is a string (a quantity); "" otherwise.
std::string SizeText(const types::VirtualDisk& disk) {
  const Json& size = disk.spec().persistent_volume_claim().size_json();
  return size.is_string() ? size.get<std::string>() : std::string();
}

// The stored status in `phase`, its Ready condition false with `reason`.
Planned Write(const types::VirtualDisk& disk, Phase phase, const char* reason,
              const std::string& message, absl::Time now,
              absl::Duration requeue = absl::ZeroDuration()) {
  Json status = disk.status().json();
  types::VirtualDiskStatusWriter(status).set_phase(phase);
  SetCondition(status, kReady, false, reason, message, disk.json(), now);
  Planned p;
  p.status = std::move(status);
  p.requeue = requeue;
  return p;
}

Planned Failed(const types::VirtualDisk& disk, const std::string& message, absl::Time now) {
  return Write(disk, Phase::kFailed, kReasonProvisioningFailed, message, now);
}

Planned FromStep(Step<Action> step) {
  Planned p;
  static_cast<Step<Action>&>(p) = std::move(step);
  return p;
}

Planned PickNode(const std::string& pool) {
  Planned p;
  p.action = Action::kPickNode;
  p.pool = pool;
  return p;
}

absl::StatusOr<Planned> PlanUpload(const types::VirtualDisk& disk, const Observation& obs,
                                   const ControllerConfig& config, bool uploads, std::string pool,
                                   absl::Time now) {
  auto size = ParseQuantity(SizeText(disk));
  if (!uploads || !size.ok() || *size == 0) {
    return Failed(disk,
                  !uploads ? "uploads are not enabled on this controller"
                           : "dataSource Upload needs spec.persistentVolumeClaim.size",
                  now);
  }
  Planned p;
  p.upload = UploadVolume{*size, /*resizable=*/false, config.upload_ttl, /*since_snapshot_id=*/""};
  std::string since = disk.spec().data_source().upload().since().name();
  std::string since_node, since_pool;
  if (!since.empty()) {
    // The volume starts as the snapshot's data, so it lives where the snapshot does.
    BERTH_RETURN_IF_ERROR(obs.snapshot_error);
    if (obs.snapshot == nullptr) {
      return Failed(disk,
                    absl::StrCat("spec.dataSource.upload.since: VirtualDiskSnapshot \"", since,
                                 "\" not found"),
                    now);
    }
    VirtualDiskSnapshot snap(*obs.snapshot);
    if (snap.status().phase() != SnapshotPhase::kReady) {
      return Write(disk, Phase::kPending, kReasonWaitingForDataSource,
                   absl::StrCat("waiting for VirtualDiskSnapshot \"", since, "\" to be Ready"), now,
                   kPendingPoll);
    }
    uint64_t snap_size = static_cast<uint64_t>(std::max<int64_t>(0, snap.status().size_bytes()));
    if (*size < snap_size) {
      return Failed(disk,
                    absl::StrCat("spec.persistentVolumeClaim.size ", *size,
                                 " is smaller than VirtualDiskSnapshot \"", since, "\" (",
                                 snap_size, " bytes)"),
                    now);
    }
    since_node = snap.status().node();
    since_pool = snap.status().pool();
    p.upload.since_snapshot_id = snap.uid();
  }
  if (disk.status().node().empty()) {
    if (!since_pool.empty()) pool = since_pool;
    if (since.empty()) return PickNode(pool);
    return FromStep(Place(disk, since_node, pool, config, now));
  }
  p.action = Action::kUpload;
  return p;
}

}  // namespace

std::string SnapshotName(const types::VirtualDisk& disk) {
  if (IsUpload(disk)) return disk.spec().data_source().upload().since().name();
  if (HasDataSource(disk) && FromSnapshot(disk))
    return disk.spec().data_source().object_ref().name();
  return "";
}

absl::StatusOr<Planned> Plan(const types::VirtualDisk& disk, const Observation& obs,
                             const ControllerConfig& config, bool uploads, absl::Time now) {
  const std::string cls = StorageClass(disk, config);
  auto pool_it = config.storage_classes.find(cls);
  if (pool_it == config.storage_classes.end()) {
    return Write(disk, Phase::kPending, kReasonStorageClassNotFound,
                 absl::StrCat("storage class \"", cls, "\" is not configured"), now,
                 kStorageClassPoll);
  }
  const std::string& pool = pool_it->second;
  if (IsUpload(disk)) return PlanUpload(disk, obs, config, uploads, pool, now);

  // Blank, or restored from a snapshot: where the data comes from.
  std::string src_name, src_node, src_pool, src_id;
  uint64_t src_size = 0;
  if (HasDataSource(disk)) {
    if (!FromSnapshot(disk)) {
      return Failed(
          disk, "spec.dataSource: only ObjectRef to a VirtualDiskSnapshot is supported for disks",
          now);
    }
    src_name = disk.spec().data_source().object_ref().name();
    // Any error reading the snapshot is waited out like a snapshot not yet Ready.
    if (obs.snapshot == nullptr ||
        VirtualDiskSnapshot(*obs.snapshot).status().phase() != SnapshotPhase::kReady) {
      return Write(disk, Phase::kPending, kReasonWaitingForDataSource,
                   absl::StrCat("waiting for VirtualDiskSnapshot \"", src_name, "\" to be Ready"),
                   now, kPendingPoll);
    }
    VirtualDiskSnapshot snap(*obs.snapshot);
    src_node = snap.status().node();
    src_pool = snap.status().pool();
    src_id = snap.uid();
    src_size = static_cast<uint64_t>(snap.status().size_bytes());
  }
  uint64_t size = src_size;
  std::string size_text = SizeText(disk);
  if (!size_text.empty()) {
    BERTH_ASSIGN_OR_RETURN(size, ParseQuantity(size_text));
  }
  if (size < src_size) {
    return Failed(
        disk,
        absl::StrCat("spec.persistentVolumeClaim.size ", size_text,
                     " is smaller than VirtualDiskSnapshot \"", src_name, "\" (",
                     FormatQuantity(src_size), "); use at least ", FormatQuantity(src_size)),
        now);
  }
  types::VirtualDiskStatus st = disk.status();
  if (st.node().empty()) {
    // A restored disk is a copy-on-write copy: it lives on the snapshot's node.
    if (src_node.empty()) return PickNode(pool);
    return FromStep(Place(disk, src_node, pool, config, now));
  }
  Planned p;
  p.action = Action::kCreateVolume;
  p.volume.set_pool(st.has_pool() ? st.pool() : pool);
  p.volume.set_id(disk.uid());
  p.volume.set_size_bytes(size);
  p.volume.set_source_snapshot_pool(src_pool);
  p.volume.set_source_snapshot_id(src_id);
  return p;
}

absl::StatusOr<std::string> LeastLoaded(const std::vector<Json>& nodes,
                                        const std::map<std::string, int>& load,
                                        const std::string& pool,
                                        const std::vector<Consumer>& consumers) {
  auto load_of = [&](const std::string& node) {
    auto it = load.find(node);
    return it == load.end() ? 0 : it->second;
  };
  std::string best, excluded;
  for (const Json& n : nodes) {
    types::Node node(n);
    if (!node.status().conditions().IsTrue(node::kReady)) continue;
    if (node.spec().unschedulable()) continue;  // cordoned: nothing new goes there
    bool serves = false;
    for (const Json& p : node.status().pools()) {
      serves |= p.is_object() && p.value("name", "") == pool;
    }
    if (!serves) continue;
    bool allowed = true;
    for (const Consumer& c : consumers) {  // the VMs using the disk: their constraints
      if (std::optional<std::string> miss = Unmet(n, c.constraints)) {
        if (excluded.empty()) {
          excluded = absl::StrCat(" fits the node constraints of VirtualMachine \"", c.vm, "\" (",
                                  *miss, ")");
        }
        allowed = false;
        break;
      }
    }
    if (allowed && (best.empty() || load_of(node.name()) < load_of(best))) best = node.name();
  }
  if (best.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no Ready, schedulable node serving storage pool \"", pool, "\"", excluded));
  }
  return best;
}

Step<Action> Place(const types::VirtualDisk& disk, const absl::StatusOr<std::string>& node,
                   const std::string& pool, const ControllerConfig& config, absl::Time now) {
  if (!node.ok()) {
    return Write(disk, Phase::kPending, kReasonWaitingForNode, std::string(node.status().message()),
                 now, kPendingPoll);
  }
  Json status = disk.status().json();
  types::VirtualDiskStatusWriter w(status);
  w.set_node(*node);
  w.set_pool(pool);
  w.set_storage_class_name(StorageClass(disk, config));
  w.set_phase(Phase::kProvisioning);
  SetCondition(status, kReady, false, kReasonProvisioning, "creating the volume", disk.json(), now);
  Step<Action> step;
  step.status = std::move(status);  // its write queues the next pass, which creates the volume
  return step;
}

absl::StatusOr<Step<Action>> FinishCreate(const types::VirtualDisk& disk,
                                          const absl::StatusOr<agentpb::Volume>& vol,
                                          absl::Time now) {
  // ResourceExhausted is the pool out of space (ENOSPC); the agent removed the partial volume.
  const absl::Status& s = vol.status();
  if (absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) || absl::IsNotFound(s) ||
      absl::IsResourceExhausted(s)) {
    return Failed(disk, std::string(s.message()), now);
  }
  if (!vol.ok()) return s;
  Json status = disk.status().json();
  types::VirtualDiskStatusWriter w(status);
  w.set_phase(Phase::kReady);
  w.set_capacity(FormatQuantity(vol->size_bytes()));
  w.set_size_bytes(static_cast<int64_t>(vol->size_bytes()));
  w.set_path(vol->path());
  SetCondition(status, kReady, true, kReasonReady, "", disk.json(), now);
  Step<Action> step;
  step.status = std::move(status);
  return step;
}

Step<Action> PlanDeletion(const types::VirtualDisk& disk) {
  Step<Action> step;
  if (disk.status().phase() != Phase::kTerminating) {
    Json status = disk.status().json();
    types::VirtualDiskStatusWriter(status).set_phase(Phase::kTerminating);
    step.status = std::move(status);  // its write queues the next pass
    return step;
  }
  step.action = !disk.status().node().empty() && disk.metadata().HasFinalizer(kVolumeFinalizer)
                    ? Action::kDelete
                    : Action::kRemoveFinalizer;
  return step;
}

}  // namespace berth::controller::vd

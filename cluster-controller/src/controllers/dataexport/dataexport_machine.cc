#include "controllers/dataexport/dataexport_machine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "berth/time_util.h"

namespace berth::controller::dataexport {

bool Finished(const types::DataExport& e) {
  Phase phase = e.status().phase();
  return phase == Phase::kFailed || phase == Phase::kExpired;
}

namespace {

using TargetKind = types::DataExportSpecTargetRefKind;

// The stored status in `phase` (not Ready), its Ready condition false with `reason`.
Planned Write(const types::DataExport& e, Phase phase, const char* reason,
              const std::string& message, absl::Time now,
              absl::Duration requeue = absl::ZeroDuration()) {
  Json status = e.status().json();
  types::DataExportStatusWriter(status).set_phase(phase);
  SetCondition(status, kReady, false, reason, message, e.json(), now);
  Planned p;
  p.status = std::move(status);
  p.requeue = requeue;
  return p;
}

Planned Refuse(const types::DataExport& e, const std::string& message, absl::Time now) {
  return Write(e, Phase::kFailed, kReasonExportRefused, message, now);
}

// `status` Ready until the agent's expiry; looked at again a second after it (at most 10 s on).
Planned Serving(const types::DataExport& e, Json status, const agentpb::ExportInfo& info,
                absl::Time now) {
  absl::Time expires = absl::FromUnixSeconds(info.expires_at_unix());
  types::DataExportStatusWriter w(status);
  w.set_phase(Phase::kReady);
  w.set_expires_at(FormatRfc3339(expires));
  SetCondition(status, kReady, true, kReasonServing, "", e.json(), now);
  Planned p;
  p.status = std::move(status);
  p.requeue = std::clamp(expires - now + absl::Seconds(1), absl::Seconds(1), kMaxReadyPoll);
  return p;
}

bool TargetReady(TargetKind kind, const Json& target) {
  if (kind == TargetKind::kVirtualDiskSnapshot) {
    return types::VirtualDiskSnapshot(target).status().phase() ==
           types::VirtualDiskSnapshotPhase::kReady;
  }
  return types::VirtualDisk(target).status().phase() == types::VirtualDiskPhase::kReady;
}

// Follows the agent's idle lease.
absl::StatusOr<Planned> PlanLease(const types::DataExport& e,
                                  const absl::StatusOr<agentpb::ExportInfo>& lease,
                                  absl::Time now) {
  if (absl::IsUnavailable(lease.status())) {
    Planned p;
    p.requeue = kMaxReadyPoll;
    return p;
  }
  bool gone = absl::IsNotFound(lease.status());
  if (!gone && !lease.ok()) return lease.status();
  if (gone || lease->state() == "Expired") {
    Planned p = Write(e, Phase::kExpired, kReasonExpired,
                      gone ? "the node no longer serves this export (agent restarted?)"
                           : "the export's time to live ran out; create a new export",
                      now);
    p.action = Action::kRelease;
    return p;
  }
  return Serving(e, e.status().json(), *lease, now);
}

// A new export: what to serve, from where.
absl::StatusOr<Planned> PlanStart(const types::DataExport& e, const Observation& obs,
                                  absl::Time now) {
  absl::Duration ttl;
  if (!absl::ParseDuration(e.spec().ttl(), &ttl) || ttl <= absl::ZeroDuration()) {
    return Write(e, Phase::kFailed, kReasonInvalidTTL, "spec.ttl is not a positive duration", now);
  }
  const std::string ns = e.namespace_();
  types::DataExportSpecTargetRef ref = e.spec().target_ref();
  const std::string kind(types::Name(ref.kind()));
  const std::string name = ref.name();
  BERTH_RETURN_IF_ERROR(obs.target_error);
  if (obs.target == nullptr) {
    return Refuse(e, absl::StrCat(kind, " \"", name, "\" not found"), now);
  }
  if (!TargetReady(ref.kind(), *obs.target)) {
    return Write(e, Phase::kPending, kReasonWaitingForTarget,
                 absl::StrCat("waiting for ", kind, " \"", name, "\" to be Ready"), now,
                 kPendingPoll);
  }
  // Both kinds of target record where their data is the same way.
  types::VirtualDisk target(*obs.target);
  Planned p;
  p.action = Action::kStart;
  p.node = target.status().node();
  p.request.set_id(e.uid());
  p.request.set_pool(target.status().pool());

  // spec.since: the snapshot an incremental export is compared with. On the target's node and
  // pool the agent compares with it directly (extent maps); elsewhere the client's leaf digests
  // do.
  std::string since_name = e.spec().since().name();
  if (!since_name.empty()) {
    BERTH_RETURN_IF_ERROR(obs.since_error);
    if (obs.since == nullptr) {
      return Refuse(e,
                    absl::StrCat("spec.since: VirtualDiskSnapshot \"", since_name,
                                 "\" not found in namespace \"", ns, "\""),
                    now);
    }
    types::VirtualDiskSnapshot since(*obs.since);
    if (since.status().phase() != types::VirtualDiskSnapshotPhase::kReady) {
      return Write(e, Phase::kPending, kReasonWaitingForTarget,
                   absl::StrCat("waiting for VirtualDiskSnapshot \"", since_name,
                                "\" (spec.since) to be Ready"),
                   now, kPendingPoll);
    }
    if (ref.kind() == TargetKind::kVirtualDiskSnapshot &&
        ParseRfc3339(since.metadata().creation_timestamp()) >
            ParseRfc3339(target.metadata().creation_timestamp())) {
      return Refuse(e,
                    absl::StrCat("spec.since: VirtualDiskSnapshot \"", since_name,
                                 "\" was taken after \"", target.name(),
                                 "\"; an incremental export goes from an older snapshot to a "
                                 "newer one"),
                    now);
    }
    if (since.status().node() == p.node && since.status().pool() == p.request.pool()) {
      p.request.set_since_snapshot_id(since.uid());
    }
  }
  if (ref.kind() == TargetKind::kVirtualDiskSnapshot) {
    p.request.set_snapshot_id(target.uid());
  } else {
    BERTH_RETURN_IF_ERROR(obs.vms_error);
    if (obs.vm_using != nullptr) {
      types::VirtualMachine vm(*obs.vm_using);
      return Refuse(
          e,
          absl::StrCat("VirtualDisk \"", name, "\" is in use: VirtualMachine \"", vm.name(),
                       "\" is ", JsonString(*obs.vm_using, "/status/phase"),
                       "; stop the VM first (or export a VirtualDiskSnapshot of the disk, which "
                       "is always allowed)"),
          now);
    }
    p.request.set_volume_id(target.uid());
  }
  p.request.set_ttl_seconds(std::max<int64_t>(1, absl::ToInt64Seconds(ttl)));
  return p;
}

}  // namespace

const Json* FindVmUsing(const std::vector<Json>& vms, const std::string& disk) {
  for (const Json& vm : vms) {
    // The phase as stored: phases the CRD's enum does not know count as not stopped.
    std::string phase = JsonString(vm, "/status/phase");
    if (phase.empty() || phase == types::Name(types::VirtualMachinePhase::kStopped)) continue;
    for (const auto& ref : types::VirtualMachine(vm).spec().block_device_refs()) {
      if (ref.kind() == types::VirtualMachineSpecBlockDeviceRefKind::kVirtualDisk &&
          ref.name() == disk) {
        return &vm;
      }
    }
  }
  return nullptr;
}

absl::StatusOr<Planned> Plan(const types::DataExport& e, const Observation& obs, absl::Time now) {
  if (e.status().phase() == Phase::kReady) {
    if (!obs.lease) return absl::InternalError("DataExport: a Ready export's lease not observed");
    return PlanLease(e, *obs.lease, now);
  }
  return PlanStart(e, obs, now);
}

absl::StatusOr<Step<Action>> FinishStart(const types::DataExport& e, const std::string& node,
                                         const absl::StatusOr<agentpb::ExportInfo>& info,
                                         absl::Time now) {
  const absl::Status& s = info.status();
  if (absl::IsNotFound(s) || absl::IsInvalidArgument(s)) {
    return Write(e, Phase::kFailed, kReasonExportFailed, std::string(s.message()), now);
  }
  if (!info.ok()) return s;
  Json status = e.status().json();
  types::DataExportStatusWriter w(status);
  w.set_node(node);
  w.set_url(info->url());
  w.set_public_url(info->public_url());
  w.set_token(info->token());
  w.set_ca_cert(info->ca_cert());
  w.set_size_bytes(static_cast<int64_t>(info->size_bytes()));
  return Serving(e, std::move(status), *info, now);
}

Step<Action> PlanDeletion(const types::DataExport& e) {
  Step<Action> step;
  step.action = !e.status().node().empty() && e.metadata().HasFinalizer(kExportFinalizer)
                    ? Action::kRelease
                    : Action::kRemoveFinalizer;
  return step;
}

absl::Status Released(const absl::Status& stopped, bool node_gone) {
  // A node that no longer exists holds no data to release.
  return stopped.ok() || node_gone ? absl::OkStatus() : stopped;
}

}  // namespace berth::controller::dataexport

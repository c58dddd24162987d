#include "server/domain_rpcs.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "berth/grpc_status.h"
#include "berth/status_macros.h"
#include "platform/cloud_init_iso.h"
#include "platform/files.h"

namespace berth::agent {

namespace pb = ::berth::agent::v1;

namespace {

// Domain names become file names under the state directory: keep them plain.
absl::Status CheckDomainName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 200 && name[0] != '.';
  for (char c : name) {
    ok = ok &&
         (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("domain name \"", name, "\" must be 1-200 of [A-Za-z0-9._-]"));
}

template <typename Fn>
grpc::Status Reply(Fn fn) {
  return ToGrpcStatus(fn());
}

}  // namespace

// A freeze needs libvirt: without it the coordinator gets no freezer and answers a freeze with
// Available()'s reason.
DomainRpcs::DomainRpcs(std::string node, const PoolMap& pools, GuestServices guests)
    : node_(std::move(node)),
      guests_(std::move(guests)),
      snapshots_(pools, guests_.hypervisor != nullptr ? guests_.freezer : nullptr,
                 guests_.clock != nullptr ? *guests_.clock : real_clock_,
                 SnapshotCoordinator::Options{node_, Available(), guests_.debug_hold_freeze}) {
  if (guests_.hypervisor != nullptr) {
    migrations_ = std::make_unique<Migrations>(
        *guests_.hypervisor, guests_.clock != nullptr ? *guests_.clock : real_clock_);
  }
}

std::string DomainRpcs::SerialLog(const std::string& name) const {
  return absl::StrCat(guests_.state_dir, "/console/", name, ".log");
}

std::string DomainRpcs::CloudInitIso(const std::string& name) const {
  return absl::StrCat(guests_.state_dir, "/cloud-init/", name, ".iso");
}

absl::Status DomainRpcs::Available() const {
  if (guests_.hypervisor != nullptr) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("libvirt is not available on node ", node_, ": ", guests_.unavailable_reason));
}

absl::StatusOr<DomainSpec> DomainRpcs::ToSpec(const pb::DefineDomainRequest& req) {
  BERTH_RETURN_IF_ERROR(CheckDomainName(req.name()));
  DomainSpec spec;
  spec.name = req.name();
  spec.uuid = req.uuid();
  spec.vcpus = req.vcpus() > 0 ? req.vcpus() : 1;
  if (req.memory_bytes() > 0) spec.memory_bytes = req.memory_bytes();
  for (const pb::DomainDisk& d : req.disks()) {
    if (d.path().empty() || d.target().empty()) {
      return absl::InvalidArgumentError("every disk needs a path and a target (vda, vdb, ...)");
    }
    spec.disks.push_back(DiskAttachment{d.path(), d.target(), d.read_only()});
  }
  spec.kernel = req.kernel();
  spec.initrd = req.initrd();
  spec.cmdline = req.cmdline();
  spec.mac_address = req.mac_address();
  std::string state = guests_.state_dir;
  spec.serial_log = SerialLog(req.name());
  BERTH_RETURN_IF_ERROR(platform::MakeDirs(absl::StrCat(state, "/console"), 0700));
  if (!req.cloud_init_user_data().empty()) {
    spec.cloud_init_iso = CloudInitIso(req.name());
    std::string id = req.uuid().empty() ? req.name() : req.uuid();
    std::string meta = absl::StrCat("instance-id: ", id, "\nlocal-hostname: ", req.name(), "\n");
    BERTH_RETURN_IF_ERROR(
        platform::WriteNoCloudIso(spec.cloud_init_iso, req.cloud_init_user_data(), meta));
  }
  return spec;
}

absl::Status DomainRpcs::FillStatus(const std::string& name, bool probe_agent,
                                    pb::DomainStatus* out) {
  BERTH_ASSIGN_OR_RETURN(DomainState state, guests_.hypervisor->State(name));
  out->set_name(name);
  out->set_state(DomainStateName(state));
  out->set_accelerator(guests_.hypervisor->Accelerator());
  if (!probe_agent || state != DomainState::kRunning || guests_.agent == nullptr) {
    return absl::OkStatus();
  }
  absl::Status ping = guests_.agent->Ping(name);
  out->set_agent_ready(ping.ok());
  if (!ping.ok()) {
    out->set_agent_error(std::string(ping.message()));
    return absl::OkStatus();
  }
  if (auto fs = guests_.agent->FsFreezeStatus(name); fs.ok()) out->set_fsfreeze_status(*fs);
  // Fails while frozen (the agent refuses most commands then): addresses stay empty.
  if (auto addrs = guests_.agent->Addresses(name); addrs.ok()) {
    for (const std::string& a : *addrs) out->add_addresses(a);
  }
  return absl::OkStatus();
}

grpc::Status DomainRpcs::Define(const pb::DefineDomainRequest& req, pb::DomainStatus* resp) {
  return Reply([&]() -> absl::Status {
    BERTH_RETURN_IF_ERROR(Available());
    BERTH_ASSIGN_OR_RETURN(DomainSpec spec, ToSpec(req));
    BERTH_RETURN_IF_ERROR(guests_.hypervisor->Define(spec));
    return FillStatus(req.name(), false, resp);
  });
}

grpc::Status DomainRpcs::Start(const pb::DomainRequest& req, pb::DomainStatus* resp) {
  return Reply([&]() -> absl::Status {
    BERTH_RETURN_IF_ERROR(Available());
    BERTH_RETURN_IF_ERROR(guests_.hypervisor->Start(req.name()));
    return FillStatus(req.name(), false, resp);
  });
}

grpc::Status DomainRpcs::Stop(const pb::StopDomainRequest& req, pb::DomainStatus* resp) {
  return Reply([&]() -> absl::Status {
    BERTH_RETURN_IF_ERROR(Available());
    absl::Status s = req.force() ? guests_.hypervisor->Destroy(req.name())
                                 : guests_.hypervisor->Shutdown(req.name());
    if (!s.ok() && !absl::IsNotFound(s)) return s;
    return FillStatus(req.name(), false, resp);
  });
}

grpc::Status DomainRpcs::Delete(const pb::DomainRequest& req, pb::DeleteResponse* resp) {
  return Reply([&]() -> absl::Status {
    BERTH_RETURN_IF_ERROR(Available());
    BERTH_ASSIGN_OR_RETURN(DomainState state, guests_.hypervisor->State(req.name()));
    BERTH_RETURN_IF_ERROR(guests_.hypervisor->Undefine(req.name()));
    if (CheckDomainName(req.name()).ok()) {
      platform::RemoveFile(CloudInitIso(req.name())).IgnoreError();
    }
    resp->set_existed(state != DomainState::kNotFound);
    return absl::OkStatus();
  });
}

grpc::Status DomainRpcs::Get(const pb::DomainRequest& req, pb::DomainStatus* resp) {
  return Reply([&]() -> absl::Status {
    BERTH_RETURN_IF_ERROR(Available());
    return FillStatus(req.name(), true, resp);
  });
}

SnapshotRequest DomainRpcs::ToRequest(const pb::SnapshotVolumesRequest& req) {
  SnapshotRequest out;
  out.domain = req.domain();
  out.freeze = req.freeze();
  for (const pb::VolumeRef& v : req.volumes()) {
    out.volumes.push_back(VolumeCut{v.pool(), v.volume_id(), v.snapshot_id()});
  }
  return out;
}

absl::Status DomainRpcs::Snapshot(const pb::SnapshotVolumesRequest& req,
                                  pb::SnapshotVolumesResponse* resp) {
  BERTH_ASSIGN_OR_RETURN(SnapshotResult result, snapshots_.Snapshot(ToRequest(req)));
  resp->set_frozen(result.frozen);
  resp->set_frozen_filesystems(result.frozen_filesystems);
  resp->set_freeze_window_us(absl::ToInt64Microseconds(result.freeze_window));
  for (const PoolSnapshot& p : result.snapshots) {
    pb::Snapshot* s = resp->add_snapshots();
    s->set_pool(p.pool);
    s->set_id(p.info.id);
    s->set_volume_id(p.info.volume_id);
    s->set_size_bytes(p.info.size_bytes);
    s->set_path(p.info.path);
  }
  return absl::OkStatus();
}

grpc::Status DomainRpcs::SnapshotVolumes(const pb::SnapshotVolumesRequest& req,
                                         pb::SnapshotVolumesResponse* resp) {
  return Reply([&] { return Snapshot(req, resp); });
}

grpc::Status DomainRpcs::PrepareMigration(const pb::DefineDomainRequest& req,
                                          pb::PreparedMigration* resp) {
  return Reply([&]() -> absl::Status {
    BERTH_RETURN_IF_ERROR(Available());
    if (guests_.migration_uri.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node ", node_, " accepts no migrations: its agent runs without --migration_uri"));
    }
    BERTH_ASSIGN_OR_RETURN(DomainState state, guests_.hypervisor->State(req.name()));
    if (state == DomainState::kRunning || state == DomainState::kPaused) {
      return absl::FailedPreconditionError(
          absl::StrCat("domain ", req.name(), " already runs on node ", node_));
    }
    // The domain comes back: the figures of its migration away are not the incoming one's
    // (GetMigration reports libvirt's record of the incoming job instead).
    if (!migrations_->Forget(req.name())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "an earlier migration of domain ", req.name(), " from node ", node_, " has not ended"));
    }
    BERTH_ASSIGN_OR_RETURN(DomainSpec spec, ToSpec(req));  // writes the seed image
    resp->set_hypervisor_uri(guests_.migration_uri);
    resp->set_serial_log(spec.serial_log);
    resp->set_cloud_init_iso(spec.cloud_init_iso);
    return absl::OkStatus();
  });
}

void DomainRpcs::FillMigration(const std::string& name, const MigrationState& m,
                               pb::MigrationStatus* out) {
  out->set_name(name);
  out->set_state(MigrationPhaseName(m.phase));
  out->set_error(m.error);
  out->set_timed_out(m.timed_out);
  out->set_data_total_bytes(m.progress.data_total);
  out->set_data_processed_bytes(m.progress.data_processed);
  out->set_data_remaining_bytes(m.progress.data_remaining);
  out->set_downtime_ms(m.progress.downtime_ms);
  out->set_elapsed_ms(m.progress.elapsed_ms);
}

grpc::Status DomainRpcs::Migrate(const pb::MigrateDomainRequest& req, pb::MigrationStatus* resp) {
  return Reply([&]() -> absl::Status {
    BERTH_RETURN_IF_ERROR(Available());
    BERTH_RETURN_IF_ERROR(CheckDomainName(req.name()));
    if (req.target().hypervisor_uri().empty()) {
      return absl::InvalidArgumentError("target.hypervisor_uri: the target's hypervisor is unset");
    }
    if (req.target().hypervisor_uri() == guests_.migration_uri) {
      return absl::InvalidArgumentError(
          absl::StrCat("target ", req.target().hypervisor_uri(), " is this node's hypervisor"));
    }
    MigrationState now = migrations_->Get(req.name());
    if (now.phase != MigrationState::Phase::kRunning) {
      BERTH_ASSIGN_OR_RETURN(DomainState state, guests_.hypervisor->State(req.name()));
      if (state != DomainState::kRunning) {
        return absl::FailedPreconditionError(
            absl::StrCat("domain ", req.name(), " is ", DomainStateName(state), " on node ", node_,
                         ": only a running guest migrates live"));
      }
    }
    MigrationParams params;
    params.dest_uri = req.target().hypervisor_uri();
    for (const pb::PathRewrite& d : req.disks()) {
      if (d.from().empty() || d.to().empty()) {
        return absl::InvalidArgumentError("every disk rewrite needs both paths");
      }
      params.rewrites.emplace_back(d.from(), d.to());
    }
    params.rewrites.emplace_back(SerialLog(req.name()), req.target().serial_log());
    if (!req.target().cloud_init_iso().empty()) {
      params.rewrites.emplace_back(CloudInitIso(req.name()), req.target().cloud_init_iso());
    }
    if (req.max_downtime_ms() > 0) params.max_downtime = absl::Milliseconds(req.max_downtime_ms());
    absl::Duration timeout = absl::Seconds(req.timeout_seconds());
    FillMigration(req.name(), migrations_->Start(req.name(), params, timeout), resp);
    return absl::OkStatus();
  });
}

grpc::Status DomainRpcs::GetMigration(const pb::DomainRequest& req, pb::MigrationStatus* resp) {
  return Reply([&]() -> absl::Status {
    BERTH_RETURN_IF_ERROR(Available());
    MigrationState m = migrations_->Get(req.name());
    if (m.phase == MigrationState::Phase::kNone) {
      // Not started by this process. A migration job libvirtd still runs (this agent restarted
      // while it migrated: libvirtd carries a peer-to-peer migration on alone) is Running;
      // otherwise the figures of the last one completed, e.g. an incoming migration's.
      auto now = guests_.hypervisor->Progress(req.name(), false);
      if (now.ok() && now->active) {
        m.phase = MigrationState::Phase::kRunning;
        m.progress = *now;
      } else if (auto done = guests_.hypervisor->Progress(req.name(), true); done.ok()) {
        m.progress = *done;
      }
    }
    FillMigration(req.name(), m, resp);
    return absl::OkStatus();
  });
}

grpc::Status DomainRpcs::AbortMigration(const pb::DomainRequest& req, pb::MigrationStatus* resp) {
  return Reply([&]() -> absl::Status {
    BERTH_RETURN_IF_ERROR(Available());
    FillMigration(req.name(), migrations_->Abort(req.name()), resp);
    return absl::OkStatus();
  });
}

}  // namespace berth::agent

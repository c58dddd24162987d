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
                 SnapshotCoordinator::Options{node_, Available(), guests_.debug_hold_freeze}) {}

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
  spec.serial_log = absl::StrCat(state, "/console/", req.name(), ".log");
  BERTH_RETURN_IF_ERROR(platform::MakeDirs(absl::StrCat(state, "/console"), 0700));
  if (!req.cloud_init_user_data().empty()) {
    spec.cloud_init_iso = absl::StrCat(state, "/cloud-init/", req.name(), ".iso");
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
      platform::RemoveFile(absl::StrCat(guests_.state_dir, "/cloud-init/", req.name(), ".iso"))
          .IgnoreError();
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

}  // namespace berth::agent

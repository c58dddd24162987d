#include "server/domain_rpcs.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "berth/grpc_status.h"
#include "berth/status_macros.h"
#include "platform/cloud_init_iso.h"
#include "platform/files.h"

namespace berth::agent {

namespace pb = ::berth::agent::v1;

struct DomainRpcs::Cut {
  StorageBackend* pool = nullptr;
  std::string pool_name;
  std::string volume_id;
  std::string snapshot_id;
  bool existed = false;  // cut by an earlier call: never deleted by this one
  bool done = false;
  SnapshotInfo info;
};

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

absl::StatusOr<std::vector<DomainRpcs::Cut>> DomainRpcs::PrepareCuts(
    const pb::SnapshotVolumesRequest& req) {
  if (req.volumes().empty()) return absl::InvalidArgumentError("no volumes to snapshot");
  std::vector<Cut> cuts;
  for (const pb::VolumeRef& v : req.volumes()) {
    auto it = pools_.find(v.pool());
    if (it == pools_.end()) {
      return absl::NotFoundError(
          absl::StrCat("storage pool \"", v.pool(), "\" is not served by node ", node_));
    }
    if (v.snapshot_id().empty()) return absl::InvalidArgumentError("a volume has no snapshot_id");
    Cut c;
    c.pool = it->second.get();
    c.pool_name = v.pool();
    c.volume_id = v.volume_id();
    c.snapshot_id = v.snapshot_id();
    BERTH_RETURN_IF_ERROR(c.pool->GetVolume(v.volume_id()).status());
    absl::StatusOr<SnapshotInfo> existing = c.pool->GetSnapshot(v.snapshot_id());
    if (existing.ok()) {
      if (existing->volume_id != v.volume_id()) {
        return absl::FailedPreconditionError(
            absl::StrCat("snapshot ", v.snapshot_id(), " already exists for volume ",
                         existing->volume_id, ", not ", v.volume_id()));
      }
      c.existed = c.done = true;
      c.info = *existing;
    } else if (!absl::IsNotFound(existing.status())) {
      return existing.status();
    }
    cuts.push_back(std::move(c));
  }
  return cuts;
}

absl::Status DomainRpcs::CutAll(std::vector<Cut>& cuts) {
  // Every volume's cut at once (pools lock per volume): the guest stays frozen for the slowest
  // cut, not for their sum; a btrfs snapshot is a transaction commit, tens of ms each.
  std::vector<absl::Status> results(cuts.size());
  auto cut_one = [&](size_t i) {
    Cut& c = cuts[i];
    if (c.done) return;
    absl::StatusOr<SnapshotInfo> snap = c.pool->CreateSnapshot(c.volume_id, c.snapshot_id);
    if (!snap.ok()) {
      results[i] = absl::Status(
          snap.status().code(),
          absl::StrCat("snapshot of volume ", c.volume_id, ": ", snap.status().message()));
      return;
    }
    c.info = *snap;
    c.done = true;
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < cuts.size(); ++i) threads.emplace_back(cut_one, i);
  if (!cuts.empty()) cut_one(0);
  for (std::thread& t : threads) t.join();
  for (absl::Status& r : results) {
    if (!r.ok()) return r;
  }
  return absl::OkStatus();
}

void DomainRpcs::DeleteNewCuts(const std::vector<Cut>& cuts) {
  for (const Cut& c : cuts) {
    if (!c.done || c.existed) continue;
    absl::StatusOr<bool> gone = c.pool->DeleteSnapshot(c.snapshot_id);
    if (!gone.ok()) {
      std::cerr << "berth-agent: cannot delete partial snapshot " << c.snapshot_id << ": "
                << gone.status() << "\n";
    }
  }
}

absl::Status DomainRpcs::CutFrozen(const std::string& domain, std::vector<Cut>& cuts,
                                   pb::SnapshotVolumesResponse* resp) {
  if (domain.empty()) return absl::InvalidArgumentError("freeze needs a domain");
  BERTH_RETURN_IF_ERROR(Available());
  using Steady = std::chrono::steady_clock;
  auto us = [](Steady::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  };
  absl::StatusOr<int> n = guests_.freezer->Acquire(domain);
  if (!n.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot freeze the filesystems of domain ",
                                                      domain, ": ", n.status().message()));
  }
  Steady::time_point frozen_at = Steady::now();
  resp->set_frozen_filesystems(*n);
  absl::Status cut = CutAll(cuts);
  Steady::time_point cut_at = Steady::now();
  if (guests_.debug_hold_freeze > absl::ZeroDuration()) {
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(guests_.debug_hold_freeze));
  }
  absl::Status thaw = guests_.freezer->Release(domain);  // thaw as soon as every cut exists
  resp->set_freeze_window_us(us(Steady::now() - frozen_at));
  std::cerr << "berth-agent: snapshot of " << cuts.size() << " volume(s) of domain " << domain
            << ": cut " << us(cut_at - frozen_at) << " us, freeze window "
            << resp->freeze_window_us() << " us\n";
  // Auto-thawed before we released: the cut may postdate the thaw, so it is not consistent.
  if (absl::IsDeadlineExceeded(thaw)) return cut.ok() ? thaw : cut;
  // Any other thaw error: the cut was taken frozen; the freezer keeps retrying the thaw.
  if (!thaw.ok()) std::cerr << "berth-agent: thaw after snapshot: " << thaw << "\n";
  return cut;
}

absl::Status DomainRpcs::Snapshot(const pb::SnapshotVolumesRequest& req,
                                  pb::SnapshotVolumesResponse* resp) {
  BERTH_ASSIGN_OR_RETURN(std::vector<Cut> cuts, PrepareCuts(req));
  bool all_existed = true;
  for (const Cut& c : cuts) all_existed = all_existed && c.existed;
  // A retry of a call that already cut everything: a cut is only ever made as asked (a failed
  // freeze cuts nothing), so answer as the first call did, without freezing again.
  bool freeze = req.freeze() && !all_existed;
  absl::Status cut = freeze ? CutFrozen(req.domain(), cuts, resp) : CutAll(cuts);
  if (!cut.ok()) {
    DeleteNewCuts(cuts);
    return cut;
  }
  resp->set_frozen(req.freeze());
  for (const Cut& c : cuts) {
    pb::Snapshot* s = resp->add_snapshots();
    s->set_pool(c.pool_name);
    s->set_id(c.info.id);
    s->set_volume_id(c.info.volume_id);
    s->set_size_bytes(c.info.size_bytes);
    s->set_path(c.info.path);
  }
  return absl::OkStatus();
}

grpc::Status DomainRpcs::SnapshotVolumes(const pb::SnapshotVolumesRequest& req,
                                         pb::SnapshotVolumesResponse* resp) {
  return Reply([&] { return Snapshot(req, resp); });
}

}  // namespace berth::agent

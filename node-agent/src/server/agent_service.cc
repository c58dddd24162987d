#include "berth/agent/agent_service.h"

#include "absl/strings/str_cat.h"
#include "berth/grpc_status.h"
#include "berth/status_macros.h"
#include "server/domain_rpcs.h"

namespace berth::agent {
namespace {

namespace pb = ::berth::agent::v1;

void ToProto(const VolumeInfo& v, const std::string& pool, pb::Volume* out) {
  out->set_pool(pool);
  out->set_id(v.id);
  out->set_size_bytes(v.size_bytes);
  out->set_path(v.path);
}

void ToProto(const SnapshotInfo& s, const std::string& pool, pb::Snapshot* out) {
  out->set_pool(pool);
  out->set_id(s.id);
  out->set_volume_id(s.volume_id);
  out->set_size_bytes(s.size_bytes);
  out->set_path(s.path);
}

class NodeAgentService : public pb::NodeAgent::Service {
 public:
  NodeAgentService(std::string node, const PoolMap& pools, GuestServices guests)
      : node_(std::move(node)), pools_(pools), domains_(node_, pools, std::move(guests)) {}

  grpc::Status GetInfo(grpc::ServerContext*, const pb::GetInfoRequest*,
                       pb::NodeInfo* resp) override {
    resp->set_node_name(node_);
    resp->set_version(kAgentVersion);
    resp->set_hypervisor_uri(domains_.migration_uri());
    for (const auto& [name, backend] : pools_) {
      pb::Pool* p = resp->add_pools();
      p->set_name(name);
      p->set_backend(backend->Type());
      p->set_path(backend->Root());
      if (auto usage = backend->Usage(); usage.ok()) {
        p->set_capacity_bytes(usage->capacity_bytes);
        p->set_available_bytes(usage->available_bytes);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status CreateVolume(grpc::ServerContext*, const pb::CreateVolumeRequest* req,
                            pb::Volume* resp) override {
    auto vol = DoCreateVolume(*req);
    if (!vol.ok()) return ToGrpcStatus(vol.status());
    ToProto(*vol, req->pool(), resp);
    return grpc::Status::OK;
  }

  grpc::Status GetVolume(grpc::ServerContext*, const pb::GetVolumeRequest* req,
                         pb::Volume* resp) override {
    auto pool = Pool(req->pool());
    if (!pool.ok()) return ToGrpcStatus(pool.status());
    auto vol = (*pool)->GetVolume(req->id());
    if (!vol.ok()) return ToGrpcStatus(vol.status());
    ToProto(*vol, req->pool(), resp);
    return grpc::Status::OK;
  }

  grpc::Status DeleteVolume(grpc::ServerContext*, const pb::DeleteVolumeRequest* req,
                            pb::DeleteResponse* resp) override {
    auto pool = Pool(req->pool());
    if (!pool.ok()) return ToGrpcStatus(pool.status());
    auto existed = (*pool)->DeleteVolume(req->id());
    if (!existed.ok()) return ToGrpcStatus(existed.status());
    resp->set_existed(*existed);
    return grpc::Status::OK;
  }

  grpc::Status CreateSnapshot(grpc::ServerContext*, const pb::CreateSnapshotRequest* req,
                              pb::Snapshot* resp) override {
    auto pool = Pool(req->pool());
    if (!pool.ok()) return ToGrpcStatus(pool.status());
    auto snap = (*pool)->CreateSnapshot(req->volume_id(), req->id());
    if (!snap.ok()) return ToGrpcStatus(snap.status());
    ToProto(*snap, req->pool(), resp);
    return grpc::Status::OK;
  }

  grpc::Status GetSnapshot(grpc::ServerContext*, const pb::GetSnapshotRequest* req,
                           pb::Snapshot* resp) override {
    auto pool = Pool(req->pool());
    if (!pool.ok()) return ToGrpcStatus(pool.status());
    auto snap = (*pool)->GetSnapshot(req->id());
    if (!snap.ok()) return ToGrpcStatus(snap.status());
    ToProto(*snap, req->pool(), resp);
    return grpc::Status::OK;
  }

  grpc::Status DeleteSnapshot(grpc::ServerContext*, const pb::DeleteSnapshotRequest* req,
                              pb::DeleteResponse* resp) override {
    auto pool = Pool(req->pool());
    if (!pool.ok()) return ToGrpcStatus(pool.status());
    auto existed = (*pool)->DeleteSnapshot(req->id());
    if (!existed.ok()) return ToGrpcStatus(existed.status());
    resp->set_existed(*existed);
    return grpc::Status::OK;
  }

  grpc::Status ListSnapshots(grpc::ServerContext*, const pb::ListSnapshotsRequest* req,
                             pb::ListSnapshotsResponse* resp) override {
    auto pool = Pool(req->pool());
    if (!pool.ok()) return ToGrpcStatus(pool.status());
    auto snaps = (*pool)->ListSnapshots();
    if (!snaps.ok()) return ToGrpcStatus(snaps.status());
    for (const SnapshotInfo& s : *snaps) ToProto(s, req->pool(), resp->add_snapshots());
    return grpc::Status::OK;
  }

  grpc::Status DefineDomain(grpc::ServerContext*, const pb::DefineDomainRequest* req,
                            pb::DomainStatus* resp) override {
    return domains_.Define(*req, resp);
  }
  grpc::Status StartDomain(grpc::ServerContext*, const pb::DomainRequest* req,
                           pb::DomainStatus* resp) override {
    return domains_.Start(*req, resp);
  }
  grpc::Status StopDomain(grpc::ServerContext*, const pb::StopDomainRequest* req,
                          pb::DomainStatus* resp) override {
    return domains_.Stop(*req, resp);
  }
  grpc::Status DeleteDomain(grpc::ServerContext*, const pb::DomainRequest* req,
                            pb::DeleteResponse* resp) override {
    return domains_.Delete(*req, resp);
  }
  grpc::Status PrepareMigration(grpc::ServerContext*, const pb::DefineDomainRequest* req,
                                pb::PreparedMigration* resp) override {
    return domains_.PrepareMigration(*req, resp);
  }
  grpc::Status MigrateDomain(grpc::ServerContext*, const pb::MigrateDomainRequest* req,
                             pb::MigrationStatus* resp) override {
    return domains_.Migrate(*req, resp);
  }
  grpc::Status GetMigration(grpc::ServerContext*, const pb::DomainRequest* req,
                            pb::MigrationStatus* resp) override {
    return domains_.GetMigration(*req, resp);
  }
  grpc::Status AbortMigration(grpc::ServerContext*, const pb::DomainRequest* req,
                              pb::MigrationStatus* resp) override {
    return domains_.AbortMigration(*req, resp);
  }
  grpc::Status GetDomain(grpc::ServerContext*, const pb::DomainRequest* req,
                         pb::DomainStatus* resp) override {
    return domains_.Get(*req, resp);
  }
  grpc::Status SnapshotVolumes(grpc::ServerContext*, const pb::SnapshotVolumesRequest* req,
                               pb::SnapshotVolumesResponse* resp) override {
    return domains_.SnapshotVolumes(*req, resp);
  }

 private:
  absl::StatusOr<StorageBackend*> Pool(const std::string& name) {
    auto it = pools_.find(name);
    if (it == pools_.end()) {
      return absl::NotFoundError(
          absl::StrCat("storage pool \"", name, "\" is not served by node ", node_));
    }
    return it->second.get();
  }

  absl::StatusOr<VolumeInfo> DoCreateVolume(const pb::CreateVolumeRequest& req) {
    BERTH_ASSIGN_OR_RETURN(StorageBackend * pool, Pool(req.pool()));
    if (req.source_snapshot_id().empty()) return pool->CreateVolume(req.id(), req.size_bytes());
    if (req.source_snapshot_pool() == req.pool()) {
      return pool->CreateVolumeFromSnapshot(req.id(), req.source_snapshot_id(), req.size_bytes());
    }
    // Another pool on this node: copy the snapshot's data across.
    BERTH_ASSIGN_OR_RETURN(StorageBackend * source, Pool(req.source_snapshot_pool()));
    BERTH_ASSIGN_OR_RETURN(SnapshotInfo snap, source->GetSnapshot(req.source_snapshot_id()));
    if (req.size_bytes() < snap.size_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("requested size ", req.size_bytes(),
                                                     " bytes is smaller than the snapshot's ",
                                                     snap.size_bytes, " bytes"));
    }
    return pool->ImportVolume(req.id(), snap.path, req.size_bytes());
  }

  const std::string node_;
  const PoolMap& pools_;
  DomainRpcs domains_;  // the guest RPCs
};

}  // namespace

std::unique_ptr<pb::NodeAgent::Service> NewNodeAgentService(const std::string& node_name,
                                                            const PoolMap& pools,
                                                            GuestServices guests) {
  return std::make_unique<NodeAgentService>(node_name, pools, std::move(guests));
}

}  // namespace berth::agent
